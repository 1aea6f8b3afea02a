/**
 * A runner (`zabkit cluster up --foreground`) torn down by SIGTERM cleans up after itself; one
 * killed with SIGKILL leaves its cluster running, and the next run cleans it up: no process, no
 * proxy, no lock file, no registry entry left. Needs the build.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupStaleClusters, registeredClusters } from '../../../cluster/cluster-file.js';
import { locksOf } from '../../../cluster/ports.js';
import { isAlive } from '../../../cluster/proc.js';
import { waitFor } from '../../../jepsen-style/async.js';
import type { ClusterFile } from '../../../cluster/types.js';

const cli = resolve(import.meta.dirname, '../../../dist/cli/main.js');
let dir: string | undefined;
let runner: ResultPromise | undefined;

afterEach(async () => {
  if (runner?.pid && isAlive(runner.pid)) runner.kill('SIGKILL');
  await runner?.catch(() => {});
  runner = undefined;
  await cleanupStaleClusters();
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function startRunner(): Promise<ClusterFile> {
  dir = mkdtempSync(join(tmpdir(), 'zabkit-runner-'));
  runner = execa(process.execPath, [cli, 'cluster', 'up', '--foreground', '--nodes', '3', '--dir', dir], { reject: false, all: true, timeout: 120_000 });
  const file = join(dir, 'cluster.json');
  let output = '';
  runner.all?.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const ready = await waitFor(() => output.includes('"leader"') || !isAlive(runner!.pid), 60_000, 100);
  expect(ready && existsSync(file), output).toBe(true);
  return JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
}

function pidsOf(cluster: ClusterFile): number[] {
  return [...cluster.nodes.map((node) => node.pid!), cluster.toxiproxy!.pid!];
}

describe('runner teardown and cleanup', () => {
  it('SIGTERM of a runner tears its cluster down', async () => {
    const cluster = await startRunner();
    expect(pidsOf(cluster).every((pid) => isAlive(pid))).toBe(true);
    runner!.kill('SIGTERM');
    await runner;
    expect(await waitFor(() => pidsOf(cluster).every((pid) => !isAlive(pid)), 10_000)).toBe(true);
    expect(locksOf(cluster.clusterId)).toEqual([]);
    expect(registeredClusters().map((c) => c.clusterId)).not.toContain(cluster.clusterId);
  });

  it('a runner killed with SIGKILL leaves its cluster; the next run cleans it up', async () => {
    const cluster = await startRunner();
    expect(cluster.runnerPid).toBe(runner!.pid);
    runner!.kill('SIGKILL');
    await runner;
    // the leftovers: nodes, Toxiproxy (with its proxies), port locks, registry entry
    expect(pidsOf(cluster).every((pid) => isAlive(pid))).toBe(true);
    expect(locksOf(cluster.clusterId).length).toBeGreaterThan(0);
    const lines: string[] = [];
    expect(await cleanupStaleClusters((line) => lines.push(line))).toBeGreaterThanOrEqual(1);
    expect(lines.join('\n')).toContain(cluster.clusterId);
    expect(pidsOf(cluster).every((pid) => !isAlive(pid))).toBe(true);
    expect(locksOf(cluster.clusterId)).toEqual([]);
    expect(registeredClusters().map((c) => c.clusterId)).not.toContain(cluster.clusterId);
    // the proxies went with the Toxiproxy we started: its API no longer answers
    await expect(fetch(`${cluster.toxiproxy!.url}/proxies`)).rejects.toThrow();
  });
});
