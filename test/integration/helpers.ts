/** Shared helpers of the integration tests: where the built CLI and Toxiproxy are. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { locksOf } from '../../cluster/ports.js';
import { isAlive } from '../../cluster/proc.js';
import type { ZabkitDb } from '../../cluster/zabkit/db.js';

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

/** Tears a test's zabkit cluster down and checks that no node, Toxiproxy or port lock is left. */
export async function tearDownAndCheck(db: ZabkitDb): Promise<void> {
  const pids = db.clusterFile().nodes.map((node) => node.pid);
  const toxiproxyPid = db.clusterFile().toxiproxy?.pid;
  const clusterId = db.clusterId;
  await db.teardown();
  for (const pid of [...pids, toxiproxyPid]) expect(isAlive(pid)).toBe(false);
  expect(locksOf(clusterId)).toEqual([]);
}
