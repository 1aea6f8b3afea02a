/** `zabkit nightly` end to end with the smallest matrix: one package, one seed, a short run. */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cliPath } from '../helpers.js';

describe('zabkit nightly', () => {
  const out = mkdtempSync(path.join(os.tmpdir(), 'zabkit-nightly-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('runs the matrix and writes summary.html, summary.json and junit.xml; the exit code is the verdict', async () => {
    const result = await execa('node', [cliPath, 'nightly', '--packages', 'kill', '--seed-list', '11', '--nodes', '3', '--time-limit', '6', '--rate', '100', '--out', out],
      { reject: false, all: true, timeout: 300_000 });
    expect(result.exitCode, result.all).toBe(0);
    for (const file of ['summary.html', 'summary.json', 'junit.xml']) expect(existsSync(path.join(out, file)), file).toBe(true);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { exitCode: number; seeds: number[]; cells: { package: string; seed: number; valid: unknown; replay: string; runDir: string }[] };
    expect(summary.seeds).toEqual([11]);
    expect(summary.cells).toHaveLength(1);
    expect(summary.cells[0]).toMatchObject({ package: 'kill', seed: 11, valid: true });
    expect(summary.cells[0]!.replay).toContain('--seed 11');
    expect(existsSync(path.join(summary.cells[0]!.runDir, 'index.html'))).toBe(true);
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    expect(junit).toContain('tests="1" failures="0" errors="0"');
  });

  it('rejects an unknown fault package with exit 254 and names the valid ones', async () => {
    const result = await execa('node', [cliPath, 'nightly', '--packages', 'kill,meteor', '--out', out], { reject: false, all: true, timeout: 60_000 });
    expect(result.exitCode).toBe(254);
    expect(result.all).toMatch(/meteor/);
    expect(result.all).toMatch(/partition/);
  });
});
