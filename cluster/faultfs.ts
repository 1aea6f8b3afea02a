/**
 * The fault filesystem (tools/faultfs, Go, on go-fuse): a FUSE passthrough under a node's data
 * directory that keeps every write not covered by an fsync of its file in memory, so that a power
 * cut really loses it (whole, torn after a random byte, or page by page out of order), and that can
 * slow or stall fsync, fail writes or fsyncs with EIO, and report a full disk. Like the kernel it
 * writes back what has been dirty for 30 s (Linux's dirty_expire_centisecs), so a cut loses at most
 * the last 30 s of unsynced writes. This file finds the
 * binary, mounts one filesystem per directory (its own process, in its own process group), talks to
 * its control API on 127.0.0.1, and unmounts it without leaving a mount behind.
 *
 * Without /dev/fuse or the binary, `faultFsSupport()` says why, and the testbed falls back to a
 * kill -9 for a power cut (which loses nothing the kernel already had).
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, killGroup, signalGroup } from './proc.js';
import { waitFor } from '../jepsen-style/async.js';
import type { DiskFaults, PowerCutMode } from '../jepsen-style/types.js';

/** Limits of the fault filesystem (docs/LIMITS.md). */
export const faultFsLimits = {
  /** The mount must be up (its ready line printed) within this. */
  mountTimeoutMs: 10_000,
  /** A control call is bounded. */
  controlTimeoutMs: 10_000,
  /** A clean unmount (write back, unmount, exit) within this, then SIGKILL and a lazy unmount. */
  unmountTimeoutMs: 10_000,
  /** tools/faultfs: the longest fsync delay it accepts, and how long a stalled fsync waits for its heal before EIO. */
  maxFsyncDelayMs: 60_000,
  maxStallMs: 120_000,
} as const;

export type { DiskFaults, PowerCutMode } from '../jepsen-style/types.js';

export interface PowerCutResult {
  readonly mode: PowerCutMode;
  readonly lostBytes: number;
  readonly keptBytes: number;
  readonly files: readonly { path: string; lostBytes: number; keptBytes: number }[];
}

export interface FaultFsStatus {
  readonly dirtyFiles: number;
  readonly dirtyBytes: number;
  readonly writes: number;
  readonly fsyncs: number;
  readonly powerCuts: number;
  readonly faults: DiskFaults;
}

/** Where the binary is: the project's own (.tools/bin, `go install ./tools/faultfs` by .ci/ensure-deps), or PATH. */
export function faultFsBinary(repoRoot: string): string | undefined {
  const local = path.join(repoRoot, '.tools/bin/faultfs');
  if (existsSync(local)) return local;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir !== '' && existsSync(path.join(dir, 'faultfs'))) return path.join(dir, 'faultfs');
  }
  return undefined;
}

/** Can this machine mount it? `{ ok: false, why }` says what is missing. */
export function faultFsSupport(repoRoot: string): { ok: true; binary: string } | { ok: false; why: string } {
  if (!existsSync('/dev/fuse')) return { ok: false, why: 'no /dev/fuse on this machine' };
  const binary = faultFsBinary(repoRoot);
  if (binary === undefined) return { ok: false, why: 'tools/faultfs is not installed (bash .ci/ensure-deps installs it into .tools/bin)' };
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { ok: false, why: 'mounting needs root (the filesystem mounts with the mount system call)' };
  return { ok: true, binary };
}

/**
 * The binary, built first if it is missing and Go is there (like Toxiproxy: `go install` of this
 * repository's own module tools/faultfs into .tools/bin, about 10 s the first time); undefined
 * (the caller says why) when it cannot be.
 */
export async function ensureFaultFsBinary(repoRoot: string, log: (line: string) => void): Promise<string | undefined> {
  const found = faultFsBinary(repoRoot);
  if (found !== undefined || !existsSync(path.join(repoRoot, 'tools/faultfs/go.mod'))) return found;
  const binDir = path.join(repoRoot, '.tools/bin');
  log(`zabkit: the fault filesystem is not built; building tools/faultfs with go install into ${binDir} ...`);
  mkdirSync(binDir, { recursive: true });
  const result = await execa('go', ['install', '.'], { cwd: path.join(repoRoot, 'tools/faultfs'), env: { GOBIN: binDir }, reject: false, timeout: 600_000, all: true });
  if (result.exitCode !== 0) {
    log(`zabkit: building tools/faultfs failed (${String(result.exitCode ?? result.signal)}): ${String(result.all ?? '').slice(-300)}`);
    return undefined;
  }
  return faultFsBinary(repoRoot);
}

/** Is `dir` a mount point now (per /proc/self/mountinfo)? */
export function isMounted(dir: string): boolean {
  const target = path.resolve(dir);
  try {
    return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((line) => line.split(' ')[4] === target);
  } catch {
    return false;
  }
}

export class FaultFsError extends Error {
  override name = 'FaultFsError';
}

/** One mounted fault filesystem. */
export class FaultFs {
  private constructor(
    readonly mountpoint: string,
    readonly backing: string,
    readonly control: string,
    readonly pid: number,
  ) {}

  /** Mount `backing` at `mountpoint` (both created if missing); resolves once the mount is up. */
  static async mount(binary: string, backing: string, mountpoint: string, logFile: string): Promise<FaultFs> {
    mkdirSync(backing, { recursive: true });
    mkdirSync(mountpoint, { recursive: true });
    if (isMounted(mountpoint)) throw new FaultFsError(`${mountpoint} is already a mount point`);
    const child = execa(binary, ['-backing', backing, '-mount', mountpoint, '-control', '127.0.0.1:0'], {
      detached: true,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: { file: logFile },
      reject: false,
      cleanup: false,
    });
    const pid = child.pid;
    if (pid === undefined) throw new FaultFsError(`faultfs did not start: ${binary}`);
    const ready = await new Promise<{ control: string } | string>((resolve) => {
      let text = '';
      const timer = setTimeout(() => resolve(`no ready line within ${faultFsLimits.mountTimeoutMs} ms`), faultFsLimits.mountTimeoutMs);
      child.stdout!.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        const line = text.split('\n')[0];
        if (text.includes('\n') && line !== undefined) {
          clearTimeout(timer);
          try {
            resolve(JSON.parse(line) as { control: string });
          } catch {
            resolve(`not a ready line: ${line.slice(0, 200)}`);
          }
        }
      });
      void child.then((result) => {
        clearTimeout(timer);
        resolve(`faultfs exited (${String(result.exitCode ?? result.signal)}): ${readTail(logFile)}`);
      });
    });
    // The child runs on its own: it is stopped by unmount(), never by this process's exit.
    child.stdout?.destroy();
    child.unref();
    if (typeof ready === 'string') {
      await killGroup(pid, 2_000);
      throw new FaultFsError(`could not mount ${mountpoint}: ${ready}`);
    }
    return new FaultFs(mountpoint, backing, ready.control, pid);
  }

  /** Lose what was not fsynced (the processes writing here must already be dead). */
  async powerCut(mode: PowerCutMode, seed: number): Promise<PowerCutResult> {
    return (await this.call('POST', `/power-cut?mode=${mode}&seed=${Math.floor(seed)}`)) as PowerCutResult;
  }

  /** Write back everything cached (sync(1)): from here on a power cut loses only later writes. */
  async sync(): Promise<void> {
    await this.call('POST', '/sync');
  }

  async setFaults(faults: DiskFaults): Promise<void> {
    await this.call('PUT', '/faults', faults);
  }

  async heal(): Promise<void> {
    await this.call('DELETE', '/faults');
  }

  async status(): Promise<FaultFsStatus> {
    return (await this.call('GET', '/status')) as FaultFsStatus;
  }

  /** Write back what is cached, unmount, and stop; a mount that will not go is killed and lazily unmounted. Never throws. */
  async unmount(): Promise<void> {
    if (isAlive(this.pid)) {
      signalGroup(this.pid, 'SIGCONT');
      signalGroup(this.pid, 'SIGTERM');
      await waitFor(() => !isAlive(this.pid), faultFsLimits.unmountTimeoutMs, 50);
      if (isAlive(this.pid)) await killGroup(this.pid);
    }
    if (isMounted(this.mountpoint)) await execa('umount', ['-l', this.mountpoint], { reject: false, timeout: 10_000 });
  }

  private async call(method: string, route: string, body?: unknown): Promise<unknown> {
    const response = await fetch(`http://${this.control}${route}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(faultFsLimits.controlTimeoutMs),
    }).catch((error: unknown) => {
      throw new FaultFsError(`faultfs ${this.mountpoint}: ${method} ${route}: ${(error as Error).message}`);
    });
    const value = (await response.json().catch(() => ({}))) as { error?: string };
    if (!response.ok) throw new FaultFsError(`faultfs ${this.mountpoint}: ${method} ${route}: ${response.status} ${value.error ?? ''}`);
    return value;
  }
}

function readTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ').slice(0, 300);
  } catch {
    return '(no log)';
  }
}
