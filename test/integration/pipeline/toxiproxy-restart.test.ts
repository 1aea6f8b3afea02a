/**
 * The testbed's own failure is never the system's: a `zabkit test` whose Toxiproxy (the one it
 * started) is killed with SIGKILL in the middle of the fault phase restores it (every proxy and
 * active fault rebuilt), records that in the history as nemesis events, and goes on to a verdict
 * about the system: VALID on the correct server, not INVALID and not crashed.
 */
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../../../jepsen-style/async.js';
import { cliPath } from '../helpers.js';

const store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-toxiproxy-restart-'));

afterAll(() => rmSync(store, { recursive: true, force: true }));

/** The toxiproxy-server pid of the run, from its cluster.json, once the cluster is up (bounded). */
async function toxiproxyPidOf(runsDir: string): Promise<number> {
  for (let attempt = 0; attempt < 600; attempt++) {
    const latest = path.join(runsDir, 'latest', 'cluster.json');
    if (existsSync(latest)) {
      const pid = (JSON.parse(readFileSync(latest, 'utf8')) as { toxiproxy?: { pid?: number } }).toxiproxy?.pid;
      if (typeof pid === 'number') return pid;
    }
    await sleep(100);
  }
  throw new Error(`no cluster.json with a Toxiproxy pid under ${runsDir}`);
}

describe('a run whose Toxiproxy is SIGKILLed mid-run', () => {
  it('restores it, records it in the history, and ends valid', async () => {
    const run = execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', '14', '--nemesis', 'partition,latency', '--nemesis-interval', '2',
      '--rate', '100', '--concurrency', '4', '--seed', '5', '--store', store, '--name', 'restart'], { reject: false, timeout: 240_000 });
    const pid = await toxiproxyPidOf(path.join(store, 'restart'));
    // Kill it in the middle of the fault phase (setup and warm-up take a few seconds).
    await sleep(9_000);
    process.kill(pid, 'SIGKILL');
    const result = await run;
    const runDir = path.join(store, 'restart', 'latest');
    const history = readFileSync(path.join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { f: string; process: unknown; error?: string });
    const down = history.filter((op) => op.process === 'nemesis' && op.f === 'toxiproxy-down');
    const restored = history.filter((op) => op.process === 'nemesis' && op.f === 'toxiproxy-restored');
    expect(down.length, result.stderr.slice(-2000)).toBeGreaterThanOrEqual(1);
    expect(down.every((op) => op.error === undefined)).toBe(true);
    expect(restored.length).toBeGreaterThanOrEqual(1);
    const results = JSON.parse(readFileSync(path.join(runDir, 'results.json'), 'utf8')) as { valid: unknown; crashed?: string };
    expect(results.crashed).toBeUndefined();
    expect(results.valid, result.stderr.slice(-2000)).toBe(true);
    expect(result.exitCode).toBe(0);
  });
});
