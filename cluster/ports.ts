/**
 * Port allocation that two concurrent runs on one machine never share: a random run of 100-port
 * units in [20000, 32000) (below Linux's ephemeral range, so a disabled proxy's port is not taken
 * by an outgoing connection), each unit claimed by an O_EXCL lock file under os.tmpdir(), and every
 * port handed out probed by binding it on 127.0.0.1 first.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAlive } from './proc.js';

export const portRangeStart = 20000;
export const portRangeEnd = 32000;
export const portUnitSize = 100;
/** Why bounded: each attempt binds up to a few hundred ports; 60 attempts cover the range twice. */
const maxAllocationAttempts = 60;

export function lockDirectory(): string {
  return join(tmpdir(), 'zabkit-port-locks');
}

interface LockContent {
  readonly pid: number;
  readonly owner: string;
}

export interface PortBlock {
  /** First port of the block. */
  readonly base: number;
  /** The lock files held (absolute paths). */
  readonly lockFiles: readonly string[];
  /** Take the next free port of the block (each was probed at allocation). */
  take(): number;
  readonly ports: readonly number[];
  /** Remove the lock files. Idempotent, never throws. */
  release(): void;
}

function unitLockFile(unit: number): string {
  return join(lockDirectory(), `unit-${portRangeStart + unit * portUnitSize}.lock`);
}

/**
 * A lock is stale when its pid is dead and `isOwnerLive(owner)` says nobody keeps it on purpose
 * (a background cluster from `zabkit cluster up` keeps its locks until `cluster down`).
 */
function lockIsStale(file: string, isOwnerLive: (owner: string) => boolean): boolean {
  try {
    const content = JSON.parse(readFileSync(file, 'utf8')) as LockContent;
    return !isAlive(content.pid) && !isOwnerLive(content.owner);
  } catch {
    return false; // being written right now, or unreadable: leave it
  }
}

function tryLock(file: string, content: LockContent, isOwnerLive: (owner: string) => boolean): boolean {
  try {
    writeFileSync(file, JSON.stringify(content), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (!lockIsStale(file, isOwnerLive)) return false;
  rmSync(file, { force: true });
  try {
    writeFileSync(file, JSON.stringify(content), { flag: 'wx' });
    return true;
  } catch {
    return false;
  }
}

export function probePort(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface AllocateOptions {
  readonly count: number;
  /** Recorded in the lock files; `isOwnerLive` is asked about it when the pid is dead. */
  readonly owner: string;
  readonly pid?: number;
  readonly isOwnerLive?: (owner: string) => boolean;
  /** Source of randomness for the starting unit (ports need not be replayable). */
  readonly random?: () => number;
}

export async function allocatePorts(options: AllocateOptions): Promise<PortBlock> {
  const units = Math.ceil(options.count / portUnitSize);
  const totalUnits = Math.floor((portRangeEnd - portRangeStart) / portUnitSize);
  if (units < 1 || units > totalUnits) throw new RangeError(`cannot allocate ${options.count} ports`);
  mkdirSync(lockDirectory(), { recursive: true });
  const random = options.random ?? Math.random;
  const isOwnerLive = options.isOwnerLive ?? (() => false);
  const content: LockContent = { pid: options.pid ?? process.pid, owner: options.owner };
  for (let attempt = 0; attempt < maxAllocationAttempts; attempt++) {
    const first = Math.floor(random() * (totalUnits - units + 1));
    const held: string[] = [];
    let ok = true;
    for (let unit = first; unit < first + units; unit++) {
      const file = unitLockFile(unit);
      if (!tryLock(file, content, isOwnerLive)) { ok = false; break; }
      held.push(file);
    }
    const base = portRangeStart + first * portUnitSize;
    const ports: number[] = [];
    if (ok) {
      for (let port = base; port < base + units * portUnitSize && ports.length < options.count; port++) {
        if (await probePort(port)) ports.push(port);
      }
      ok = ports.length === options.count;
    }
    if (!ok) {
      for (const file of held) rmSync(file, { force: true });
      continue;
    }
    let next = 0;
    let released = false;
    return {
      base,
      lockFiles: held,
      ports,
      take: () => {
        const port = ports[next++];
        if (port === undefined) throw new RangeError(`port block at ${base} exhausted (${ports.length} ports)`);
        return port;
      },
      release: () => {
        if (released) return;
        released = true;
        for (const file of held) {
          try {
            const lock = JSON.parse(readFileSync(file, 'utf8')) as LockContent;
            if (lock.owner === options.owner) rmSync(file, { force: true });
          } catch {
            // already gone
          }
        }
      },
    };
  }
  throw new Error(`no free block of ${options.count} ports in ${portRangeStart}-${portRangeEnd} after ${maxAllocationAttempts} attempts (locks in ${lockDirectory()})`);
}

/** Remove every lock file whose owner is dead and not kept alive on purpose. Returns the removed files. */
export function sweepStaleLocks(isOwnerLive: (owner: string) => boolean): string[] {
  const removed: string[] = [];
  let files: string[];
  try {
    files = readdirSync(lockDirectory());
  } catch {
    return removed;
  }
  for (const name of files) {
    const file = join(lockDirectory(), name);
    if (lockIsStale(file, isOwnerLive)) {
      rmSync(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}

/** Lock files currently held by `owner`. */
export function locksOf(owner: string): string[] {
  let files: string[];
  try {
    files = readdirSync(lockDirectory());
  } catch {
    return [];
  }
  return files
    .map((name) => join(lockDirectory(), name))
    .filter((file) => {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as LockContent).owner === owner;
      } catch {
        return false;
      }
    });
}
