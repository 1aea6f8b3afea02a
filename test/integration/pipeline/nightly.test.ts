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
    // `none` is a row without faults (it crashed at setup once: the parsed empty list was read as "--nemesis is empty").
    const result = await execa('node', [cliPath, 'nightly', '--packages', 'kill,none', '--seed-list', '11', '--nodes', '3', '--time-limit', '6', '--rate', '100', '--out', out],
      { reject: false, all: true, timeout: 300_000 });
    expect(result.exitCode, result.all).toBe(0);
    for (const file of ['summary.html', 'summary.json', 'junit.xml']) expect(existsSync(path.join(out, file)), file).toBe(true);
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { exitCode: number; seeds: number[]; cells: { package: string; seed: number; valid: unknown; replay: string; runDir: string }[] };
    expect(summary.seeds).toEqual([11]);
    expect(summary.cells).toHaveLength(2);
    expect(summary.cells[0]).toMatchObject({ package: 'kill', seed: 11, valid: true });
    expect(summary.cells[1]).toMatchObject({ package: 'none', seed: 11, valid: true });
    expect(summary.cells[0]!.replay).toContain('--seed 11');
    expect(existsSync(path.join(summary.cells[0]!.runDir, 'index.html'))).toBe(true);
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    expect(junit).toContain('tests="2" failures="0" errors="0"');
  });

  it('two shards run here and merged equal the unsharded nightly: the same cells, verdicts and JUnit cases', async () => {
    const matrix = ['--nemesis', 'kill,pause', '--seed-list', '3,4', '--nodes', '3', '--time-limit', '4', '--rate', '100'];
    const run = (args: string[]) => execa('node', [cliPath, 'nightly', ...matrix, ...args], { reject: false, all: true, timeout: 400_000 });
    const whole = await run(['--out', path.join(out, 'whole')]);
    const first = await run(['--shard', '1/2', '--out', path.join(out, 'shard1')]);
    const second = await run(['--shard', '2/2', '--out', path.join(out, 'shard2')]);
    expect([whole.exitCode, first.exitCode, second.exitCode], whole.all).toEqual([0, 0, 0]);
    const merged = await execa('node', [cliPath, 'nightly', 'merge', path.join(out, 'shard1'), path.join(out, 'shard2'), '--out', path.join(out, 'merged')], { reject: false, all: true, timeout: 60_000 });
    expect(merged.exitCode, merged.all).toBe(0);
    type Summary = { cells: { index: number; name: string; package: string; seed: number; valid: unknown }[] };
    const cellsOf = (dir: string): unknown[] => (JSON.parse(readFileSync(path.join(out, dir, 'summary.json'), 'utf8')) as Summary).cells
      .map((cell) => [cell.index, cell.name, cell.package, cell.seed, cell.valid]);
    expect(cellsOf('shard1')).toHaveLength(2);
    expect(cellsOf('merged')).toEqual(cellsOf('whole'));
    const cases = (dir: string): number => (readFileSync(path.join(out, dir, 'junit.xml'), 'utf8').match(/<testcase /g) ?? []).length;
    expect(cases('merged')).toBe(cases('whole'));
    expect(cases('merged')).toBe(4);
  });

  it('takes scenarios as rows of the matrix, beside packages', async () => {
    const dir = path.join(out, 'scenarios');
    const result = await execa('node', [cliPath, 'nightly', '--scenarios', 'zk-4785', '--packages', 'kill', '--seed-list', '2', '--nodes', '3', '--time-limit', '5', '--rate', '100', '--out', dir],
      { reject: false, all: true, timeout: 300_000 });
    expect(result.exitCode, result.all).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { scenarios: string[]; cells: { package: string; valid: unknown; replay: string }[] };
    expect(summary.scenarios).toEqual(['zk-4785']);
    expect(summary.cells.map((cell) => [cell.package, cell.valid])).toEqual([['kill', true], ['scenario:zk-4785', true]]);
    expect(summary.cells[1]!.replay).toContain('--scenario zk-4785');
    expect(summary.cells[1]!.replay).not.toContain('--nodes');
  });

  it('refuses --zookeeper-versions for zabkit and an unknown scenario, with exit 254', async () => {
    const versions = await execa('node', [cliPath, 'nightly', '--zookeeper-versions', '3.9.3', '--out', out], { reject: false, all: true, timeout: 60_000 });
    expect(versions.exitCode).toBe(254);
    expect(versions.all).toMatch(/--zookeeper-versions applies to --system zookeeper only/);
    const scenario = await execa('node', [cliPath, 'nightly', '--scenarios', 'zk-0000', '--out', out], { reject: false, all: true, timeout: 60_000 });
    expect(scenario.exitCode).toBe(254);
    expect(scenario.all).toMatch(/zk-4785, zk-4925/);
  });

  it('rejects an unknown fault package with exit 254 and names the valid ones', async () => {
    const result = await execa('node', [cliPath, 'nightly', '--packages', 'kill,meteor', '--out', out], { reject: false, all: true, timeout: 60_000 });
    expect(result.exitCode).toBe(254);
    expect(result.all).toMatch(/meteor/);
    expect(result.all).toMatch(/partition/);
  });
});
