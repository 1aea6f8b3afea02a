/**
 * `zabkit bench` end to end (built CLI, real processes): zabkit and ZooKeeper in turn with small
 * settings; the JSON file has the interfaces.md shape and both systems commit.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { zookeeperAvailable } from '../../../cluster/zookeeper/db.js';
import { longestGap, mustReopen, parseConcurrency } from '../../../bench/bench.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
const main = path.join(repoRoot, 'dist', 'cli', 'main.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'zabkit-bench-test-'));

interface Row {
  system: string;
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  failover_ms: number | null;
  ops: number;
  rss_max_mib: Record<string, number>;
  restart: { node: string; restart_ms: number | null; rss_mib: number | null } | null;
}

async function bench(args: string[]): Promise<Row[]> {
  const json = path.join(dir, `bench-${Date.now()}.json`);
  const result = await execa(process.execPath, [main, 'bench', ...args, '--json', json], { reject: false, timeout: 240_000, all: true });
  if (result.exitCode !== 0) throw new Error(`bench exited ${result.exitCode}: ${String(result.all).slice(-3000)}`);
  console.log(result.stdout);
  const parsed = JSON.parse(readFileSync(json, 'utf8')) as { results: Row[] };
  expect(Object.keys(parsed)).toContain('results');
  return parsed.results;
}

function expectRow(row: Row, system: string, failover: boolean): void {
  expect(row.system).toBe(system);
  for (const key of ['ops_per_s', 'p50_ms', 'p99_ms', 'max_ms'] as const) expect(typeof row[key]).toBe('number');
  expect(row.ops_per_s).toBeGreaterThan(0);
  expect(row.p50_ms).toBeGreaterThan(0);
  expect(row.p99_ms).toBeGreaterThanOrEqual(row.p50_ms);
  expect(row.max_ms).toBeGreaterThanOrEqual(row.p99_ms);
  if (failover) {
    expect(typeof row.failover_ms).toBe('number');
    expect(row.failover_ms).toBeGreaterThan(0);
  } else {
    expect(row.failover_ms).toBeNull();
  }
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench helpers', () => {
  it('parses clients x in-flight', () => {
    expect(parseConcurrency('3x64')).toEqual({ clients: 3, inFlight: 64 });
    expect(parseConcurrency('8')).toEqual({ clients: 8, inFlight: 1 });
    expect(() => parseConcurrency('x')).toThrow();
  });
  it('reopens a session only when its node was killed or its connection is gone', () => {
    // A live zabkit session that got 'fail' between leaders stays open (closing it would fail its
    // other in-flight ops and start a reconnect storm that outlasts the election).
    expect(mustReopen({ node: 'n1', dead: () => false }, false, 'n3')).toBe(false);
    expect(mustReopen({ node: 'n1', dead: () => true }, false, 'n3')).toBe(true);
    expect(mustReopen({ node: 'n3', dead: () => false }, false, 'n3')).toBe(true);
    expect(mustReopen({ node: 'n1' }, false, undefined)).toBe(true);
    expect(mustReopen({ node: 'n1' }, true, 'n3')).toBe(false);
    expect(mustReopen({ node: 'n3' }, true, 'n3')).toBe(true);
  });

  it('measures the longest gap without commits, edges included', () => {
    expect(longestGap(Float64Array.from([1, 2, 10, 11]), 0, 12)).toBe(8);
    expect(longestGap(Float64Array.from([]), 5, 9)).toBe(4);
  });
});

describe.skipIf(!zookeeperAvailable() || !existsSync(main))('zabkit bench (built CLI)', () => {
  it('runs both systems over direct links and writes the JSON rows', async () => {
    const rows = await bench(['--systems', 'zabkit,zookeeper', '--nodes', '3', '--seconds', '2', '--warmup', '1', '--concurrency', '2x8']);
    expect(rows).toHaveLength(2);
    expectRow(rows[0]!, 'zabkit', false);
    expectRow(rows[1]!, 'zookeeper', false);
  });

  it('a long run ends after --messages; each server\'s peak memory, and with --restart a follower\'s time to serve again', async () => {
    const rows = await bench(['--systems', 'zabkit,zookeeper', '--messages', '3000', '--restart', '--warmup', '1', '--concurrency', '2x8']);
    expect(rows.map((r) => r.system)).toEqual(['zabkit', 'zookeeper']);
    for (const row of rows) {
      expect(row.ops).toBeGreaterThanOrEqual(3000);
      expect(Object.keys(row.rss_max_mib).sort()).toEqual(['n1', 'n2', 'n3']);
      for (const mib of Object.values(row.rss_max_mib)) expect(mib).toBeGreaterThan(10);
      expect(row.restart).not.toBeNull();
      expect(row.restart!.restart_ms).toBeGreaterThan(0);
      expect(row.restart!.rss_mib).toBeGreaterThan(10);
    }
    const usage = await execa(process.execPath, [main, 'bench', '--messages', '10', '--failover'], { reject: false });
    expect(usage.exitCode).toBe(254);
    expect(usage.stderr).toContain('--messages and --failover');
  });

  it('--zk-jvm-flag and --zk-property reach every ZooKeeper server (a bigger heap for a fair long run); without ZooKeeper they are refused', async () => {
    const kept = path.join(dir, 'tuned');
    await bench(['--systems', 'zookeeper', '--seconds', '2', '--warmup', '0', '--concurrency', '1x4', '--zk-jvm-flag', '-Xmx384m', '--zk-jvm-flag', '-XX:+PrintFlagsFinal', '--zk-property', 'snapCount=5000', '--dir', kept]);
    const found = (name: string, at = kept): string[] => readdirSync(at, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? found(name, path.join(at, e.name)) : e.name === name ? [path.join(at, e.name)] : []));
    const stdouts = found('stdout.log');
    expect(stdouts).toHaveLength(3);
    // The testbed's own -Xmx256m comes first; the flag given last is the one the JVM keeps.
    for (const file of stdouts) expect(readFileSync(file, 'utf8')).toMatch(/MaxHeapSize\s+= 402653184 /);
    for (const file of found('zoo.cfg')) expect(readFileSync(file, 'utf8')).toMatch(/^snapCount=5000$/m);
    const refused = await execa(process.execPath, [main, 'bench', '--systems', 'zabkit', '--zk-jvm-flag', '-Xmx1g'], { reject: false });
    expect(refused.exitCode).toBe(254);
    expect(refused.stderr).toContain('add zookeeper to --systems');
    const bad = await execa(process.execPath, [main, 'bench', '--zk-jvm-flag', 'n7:-Xmx1g'], { reject: false });
    expect(bad.exitCode).toBe(254);
    expect(bad.stderr).toContain('there is no n7 among 3 nodes');
  });

  it('SIGTERM mid-run stops every server and removes the folder the bench made (exit 143)', async () => {
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'zabkit-bench-signal-'));
    try {
      const run = execa(process.execPath, [main, 'bench', '--systems', 'zabkit', '--seconds', '60', '--warmup', '0', '--concurrency', '1x4'], { reject: false, env: { TMPDIR: tmp }, all: true });
      let output = '';
      run.all?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      for (let i = 0; i < 300 && !output.includes('bench: zabkit:'); i++) await new Promise((r) => setTimeout(r, 100));
      const benchDir = readdirSync(tmp).find((name) => name.startsWith('zabkit-bench-'));
      expect(benchDir).toBeDefined();
      // The cluster is up once its nodes' logs exist; then the load is running.
      const logs = (): string[] => readdirSync(path.join(tmp, benchDir!, 'zabkit', 'nodes')).filter((n) => existsSync(path.join(tmp, benchDir!, 'zabkit', 'nodes', n, 'node.log')));
      for (let i = 0; i < 300 && (!existsSync(path.join(tmp, benchDir!, 'zabkit', 'nodes')) || logs().length < 3); i++) await new Promise((r) => setTimeout(r, 100));
      // The bench's servers: the processes whose command line names a config in its folder.
      const servers = (): number[] => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(path.join(tmp, benchDir!));
        } catch {
          return false;
        }
      }).map(Number);
      expect(servers()).toHaveLength(3);
      await new Promise((r) => setTimeout(r, 2000));
      run.kill('SIGTERM');
      const result = await run;
      expect(result.exitCode).toBe(143);
      expect(servers()).toEqual([]);
      expect(readdirSync(tmp).filter((name) => name.startsWith('zabkit-bench-'))).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('measures failover through Toxiproxy', async () => {
    const rows = await bench(['--systems', 'zookeeper,zabkit', '--seconds', '3', '--warmup', '1', '--concurrency', '2x8', '--failover', '--through-proxy']);
    expect(rows.map((r) => r.system)).toEqual(['zookeeper', 'zabkit']);
    expectRow(rows[0]!, 'zookeeper', true);
    expectRow(rows[1]!, 'zabkit', true);
  });
});
