/** Shared helpers of the integration tests: where the built CLI and Toxiproxy are, a zabkit cluster per test. */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, expect } from 'vitest';
import { locksOf } from '../../cluster/ports.js';
import { logTail, nodeLogLimits } from '../../jepsen-style/report/node-logs.js';
import { isAlive } from '../../cluster/proc.js';
import { createZabkitDb, type ZabkitDb, type ZabkitDbOptions } from '../../cluster/zabkit/db.js';
import { ZabClient } from '../../src/client/zab-client.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'dist/cli/main.js');

/** The real Toxiproxy: on PATH, or the project-local copy .ci/ensure-deps installs. */
export function toxiproxyBinary(): string {
  const local = path.join(repoRoot, '.tools/bin/toxiproxy-server');
  if (existsSync(local)) return local;
  try {
    return execFileSync('sh', ['-c', 'command -v toxiproxy-server'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('toxiproxy-server not found: run bash .ci/ensure-deps');
  }
}

/**
 * The last `lines` lines of every node's log in a stored run (`RUN/nodes/NAME/node.log`), one line
 * each (time, level, message), for an assertion's message: a failed run in CI says what its nodes
 * did last before its store is removed.
 */
export function nodeLogTails(runDir: string, lines = 25): string {
  const nodesDir = path.join(runDir, 'nodes');
  if (!existsSync(nodesDir)) return '';
  const levels: Record<number, string> = { 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  return readdirSync(nodesDir).sort().map((name) => {
    const tail = logTail(path.join(nodesDir, name, 'node.log'), nodeLogLimits.tailBytes).trimEnd().split('\n').filter((line) => line !== '').slice(-lines).map((line) => {
      try {
        const entry = JSON.parse(line) as { time?: string; level?: number; pid?: number; msg?: string; role?: string };
        return `${entry.time ?? '?'} ${levels[entry.level ?? 0] ?? entry.level} pid=${entry.pid ?? '?'} ${entry.role ?? ''} ${entry.msg ?? ''}`;
      } catch {
        return line.slice(0, 200);
      }
    });
    return `\n--- ${name}: last ${tail.length} lines of node.log\n${tail.join('\n')}`;
  }).join('');
}

/** Tears a test's zabkit cluster down and checks that no node, Toxiproxy or port lock is left. */
export async function tearDownAndCheck(db: ZabkitDb): Promise<void> {
  const pids = db.clusterFile().nodes.map((node) => node.pid);
  const toxiproxyPid = db.clusterFile().toxiproxy?.pid;
  const clusterId = db.clusterId;
  await db.teardown();
  for (const pid of [...pids, toxiproxyPid]) expect(isAlive(pid)).toBe(false);
  expect(locksOf(clusterId)).toEqual([]);
}

/**
 * One zabkit cluster per test, in a temp folder of its own: `create` makes it; after each test it
 * is torn down (tearDownAndCheck) and its folder removed. Construct it at a test file's top level.
 */
export class ZabkitDbFixture {
  private current: ZabkitDb | undefined;
  private dir: string | undefined;

  constructor(private readonly prefix: string) {
    afterEach(async () => {
      if (this.current) await tearDownAndCheck(this.current);
      this.current = undefined;
      if (this.dir) rmSync(this.dir, { recursive: true, force: true });
      this.dir = undefined;
    });
  }

  create(options: Omit<ZabkitDbOptions, 'dir'>): ZabkitDb {
    this.dir = mkdtempSync(path.join(tmpdir(), this.prefix));
    this.current = createZabkitDb({ ...options, dir: this.dir });
    return this.current;
  }

  get db(): ZabkitDb {
    if (this.current === undefined) throw new Error('no cluster: call create() first');
    return this.current;
  }

  /** A client of node `name`'s client port. */
  client(name: string, timeoutMs = 5000): Promise<ZabClient> {
    const info = this.db.nodes().find((n) => n.name === name);
    if (info === undefined) throw new Error(`no node ${name}`);
    return ZabClient.connect({ host: info.clientHost, port: info.clientPort, timeoutMs });
  }
}
