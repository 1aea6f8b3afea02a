/** `zabkit check` as a user runs it: verdict summary, --out, exit codes 0/1/2/254/255. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerCheckCommand } from '../../../cli/check.js';
import { UsageError } from '../../../cli/exit.js';
import { H, z } from './builder.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zabkit-check-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  process.exitCode = undefined;
  vi.restoreAllMocks();
});

async function run(args: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
  const program = new Command().exitOverride();
  registerCheckCommand(program);
  process.exitCode = undefined;
  await program.parseAsync(['node', 'zabkit', 'check', ...args]);
  const code = typeof process.exitCode === 'number' ? process.exitCode : undefined;
  vi.restoreAllMocks();
  return { code, stdout, stderr };
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('zabkit check', () => {
  it('valid: exit 0, a one-line verdict, results.json written', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.reads([['a', z(1, 1)]]);
    const out = join(dir, 'results.json');
    const r = await run([file('valid.jsonl', h.jsonl()), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^VALID: 8 events, 1 acknowledged broadcasts/);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ valid: true, anomalies: {} });
  });
  it('invalid: exit 1, each anomaly with its first cited indices', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.reads([], 1);
    const r = await run([file('invalid.jsonl', h.jsonl())]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^INVALID/);
    expect(r.stdout).toMatch(/lost: 1 \(first at history 0, 1, 3\)/);
  });
  it('unknown: exit 2, with the reason', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const r = await run([file('unknown.jsonl', h.jsonl())]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/could not decide: no final read/);
  });
  it('malformed: exit 255 naming the line and the problem', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const lines = h.jsonl().split('\n');
    lines.splice(1, 0, '{"index":1,"time":1,"process":2,"type":"ok","f":"broadcast","value":{"id":"x","zxid":"0x1"}}');
    const r = await run([file('bad.jsonl', lines.join('\n'))]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/bad\.jsonl line 2: /);
  });
  it('malformed: a broadcast info without its message id exits 255 naming the line', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'b');
    h.raw(2, 'info', 'broadcast', {}, 'n1');
    h.reads([['a', z(1, 1)]]);
    const r = await run([file('no-id.jsonl', h.jsonl())]);
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(/no-id\.jsonl line 4: broadcast info is missing value\.id/);
    expect(r.stdout).toBe('');
  });
  it('unknown after a testbed failure: exit 2, the reason printed, results.json with reason and indices', async () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const failed = h.nemesisFailed('heal', null, 'proxy wedged');
    h.marker(100, ['n1', 'n2']);
    h.bcast(10, 'p', z(1, 2), 'n1');
    h.reads([['a', z(1, 1)], ['p', z(1, 2)]], 2);
    const out = join(dir, 'testbed.json');
    const r = await run([file('testbed.jsonl', h.jsonl()), '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/^UNKNOWN/);
    expect(r.stdout).toMatch(/unavailable: 1/);
    expect(r.stdout).toMatch(/could not decide: the testbed failed/);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ valid: 'unknown', reason: expect.stringMatching(/testbed failed/), testbedFailures: [failed], anomalies: { unavailable: { count: 1 } } });
  });
  it('a missing file is a usage error (exit 254 in main)', async () => {
    await expect(run([join(dir, 'nope.jsonl')])).rejects.toBeInstanceOf(UsageError);
  });
});
