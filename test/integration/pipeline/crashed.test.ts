/**
 * Crashed is its own verdict. A run against a Toxiproxy given by --toxiproxy-url (which the testbed
 * cannot restart) loses that Toxiproxy mid-run (kill -9): the testbed supervisor reports it fatal,
 * the run stops early (no final phase), tears down and ends crashed: exit 255, the cause in one line
 * on stderr, results.json `"valid": "unknown"` plus `"crashed"`, the report's banner CRASHED.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath, toxiproxyBinary } from '../helpers.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';

describe('a run whose Toxiproxy dies for good', () => {
  let toxiproxy: ResultPromise | undefined;
  let url = '';
  let store = '';
  let ports: PortBlock | undefined;

  beforeAll(async () => {
    store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-crashed-'));
    ports = await allocatePorts({ count: 1, owner: `it-crashed-${process.pid}` });
    url = `http://127.0.0.1:${ports.take()}`;
    toxiproxy = execa(toxiproxyBinary(), ['-host', '127.0.0.1', '-port', new URL(url).port], { env: { LOG_LEVEL: 'warn' }, reject: false });
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await fetch(`${url}/version`).then((response) => response.ok, () => false)) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('toxiproxy did not start');
  });

  afterAll(async () => {
    toxiproxy?.kill('SIGKILL');
    await toxiproxy?.catch(() => undefined);
    ports?.release();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it('ends crashed: exit 255, the cause on stderr, results.json unknown + crashed, report CRASHED', async () => {
    const run = execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', '30', '--nemesis', 'partition', '--nemesis-interval', '2',
      '--rate', '100', '--concurrency', '4', '--seed', '3', '--toxiproxy-url', url, '--store', store, '--name', 'crashed'],
    { reject: false, timeout: 240_000 });
    // Kill Toxiproxy once the faults have begun (the first nemesis line), not at a guessed time.
    let killed = false;
    run.stderr?.on('data', (chunk: Buffer) => {
      if (!killed && chunk.toString().includes('nemesis: ')) {
        killed = true;
        toxiproxy?.kill('SIGKILL');
      }
    });
    const result = await run;
    expect(killed, result.stderr).toBe(true);
    expect(result.exitCode, result.stderr).toBe(255);
    const lines = result.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(/^zabkit test: CRASHED: \S.*$/);

    const runDir = path.join(store, 'crashed', 'latest');
    const results = JSON.parse(readFileSync(path.join(runDir, 'results.json'), 'utf8')) as { valid: unknown; crashed?: unknown };
    expect(results.valid).toBe('unknown');
    expect(typeof results.crashed).toBe('string');
    expect(lines[lines.length - 1]).toContain(String(results.crashed));

    const history = readFileSync(path.join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { f: string; process: unknown; error?: string });
    // The supervisor's events are in the history; the run stopped early: healed, but no final phase.
    expect(history.some((op) => op.process === 'nemesis' && op.f.startsWith('toxiproxy') && op.error !== undefined)).toBe(true);
    expect(history.filter((op) => op.f === 'heal')).toHaveLength(2);
    expect(history.some((op) => op.f === 'final-phase')).toBe(false);

    const html = readFileSync(path.join(runDir, 'index.html'), 'utf8');
    expect(html).toContain('<span class="word">CRASHED</span>');
  });
});
