/** The nightly matrix: its canonical plan, shards that cover it exactly once, and merging shards' summaries. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inShard, mergeNightly, MergeError, planNightly, type NightlyCell, type NightlyMeta, type NightlyOptions } from '../../../jepsen-style/nightly.js';
import { parseNightlyRows, parsePackages } from '../../../jepsen-style/vocabulary.js';

const options: NightlyOptions = {
  packages: ['kill', 'all'], scenarios: ['zk-4925'], versions: ['3.9.3', '3.9.4'], seeds: [1, 2, 3], system: 'zookeeper', nodes: 5,
  timeLimitSeconds: 60, rate: 200, bug: undefined, out: 'n', toxiproxyUrl: undefined, cli: 'main.js', extraArgs: [],
};

describe('the nightly plan', () => {
  it('lists versions x rows x seeds in one order, each cell a zabkit test command line', () => {
    const plan = planNightly(options, '/store');
    expect(plan).toHaveLength(2 * 3 * 3);
    expect(plan.map((cell) => cell.index)).toEqual(plan.map((_, k) => k));
    expect(plan[0]).toMatchObject({ version: '3.9.3', row: 'kill', seed: 1, name: 'nightly-3.9.3-kill-seed1' });
    expect(plan[7]).toMatchObject({ version: '3.9.3', row: 'scenario:zk-4925', seed: 2 });
    expect(plan[0]!.args).toEqual(expect.arrayContaining(['--nemesis', 'kill', '--zookeeper-version', '3.9.3', '--seed', '1', '--nodes', '5']));
    // A scenario fixes its own node count; `all` stays one row, run with --nemesis all.
    expect(plan[7]!.args).not.toContain('--nodes');
    expect(plan[3]!.args).toEqual(expect.arrayContaining(['--nemesis', 'all']));
    expect(JSON.stringify(planNightly(options, '/store'))).toBe(JSON.stringify(plan));
  });

  it('shards K/N cover every cell exactly once, balanced', () => {
    const plan = planNightly(options, '/store');
    for (const count of [1, 2, 3, 4, 7, 18, 25]) {
      const sizes = Array.from({ length: count }, (_, k) => plan.filter((cell) => inShard(cell, { index: k + 1, count })).length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(plan.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      for (const cell of plan) expect(Array.from({ length: count }, (_, k) => inShard(cell, { index: k + 1, count })).filter(Boolean)).toHaveLength(1);
    }
  });

  it('one meaning of all: one interleaved row in nightly as in test; each expands into a row per package', () => {
    expect(parseNightlyRows('all')).toEqual(['all']);
    expect(parseNightlyRows('kill,all,kill')).toEqual(['kill', 'all']);
    expect(parseNightlyRows('each')).toEqual(['kill', 'pause', 'power', 'partition', 'one-way', 'latency', 'bandwidth', 'reset', 'slice', 'rejoin', 'disk']);
    expect(() => parseNightlyRows('kill,meteor')).toThrow(/unknown fault package "meteor"/);
    expect(() => parsePackages('each')).toThrow(/a word of zabkit nightly/);
  });
});

describe('nightly merge', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zabkit-merge-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const meta = (shard?: { index: number; count: number }): NightlyMeta => ({
    system: 'zabkit', nodes: 3, timeLimitSeconds: 5, seeds: [1, 2], packages: ['kill', 'pause'], scenarios: [], versions: [], cellsInMatrix: 4, ...(shard ? { shard } : {}),
  });
  const cell = (index: number, shardOut: string, valid: NightlyCell['valid'] = true): NightlyCell => ({
    index, package: index < 2 ? 'kill' : 'pause', seed: 1 + (index % 2), name: `cell${index}`, exitCode: valid === true ? 0 : valid === false ? 1 : 2, valid,
    runDir: path.join(shardOut, 'runs', `cell${index}`, 'latest'), anomalies: valid === false ? { lost: 2 } : {}, acknowledged: 10, seconds: 1, replay: `zabkit test ${index}`, error: undefined,
  });
  /** A shard's folder as a CI artifact lands: its summary.json says where it ran (elsewhere). */
  const shard = (name: string, k: number, count: number, indices: number[], valid: NightlyCell['valid'] = true): string => {
    const folder = path.join(dir, name);
    mkdirSync(folder);
    const ranAt = `/runner-${k}/nightly`;
    writeFileSync(path.join(folder, 'summary.json'), JSON.stringify({ exitCode: 0, meta: meta({ index: k, count }), out: ranAt, cells: indices.map((i) => cell(i, ranAt, valid)) }));
    return folder;
  };

  it('joins shards in matrix order, finds run folders under the shard folders, exit code the worst verdict', () => {
    const a = shard('a', 1, 2, [0, 2]);
    const b = shard('b', 2, 2, [1, 3], false);
    const out = path.join(dir, 'merged');
    const { cells, exitCode } = mergeNightly([b, a], out, () => undefined);
    expect(cells.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(exitCode).toBe(1);
    expect(cells[0]!.runDir).toBe(path.join(a, 'runs', 'cell0', 'latest'));
    const summary = JSON.parse(readFileSync(path.join(out, 'summary.json'), 'utf8')) as { meta: NightlyMeta; cells: NightlyCell[]; exitCode: number };
    expect(summary.meta.shard).toBeUndefined();
    expect(summary.exitCode).toBe(1);
    expect(readFileSync(path.join(out, 'junit.xml'), 'utf8')).toContain('tests="4" failures="2" errors="0"');
    expect(readFileSync(path.join(out, 'summary.html'), 'utf8')).toContain(`href="../a/runs/cell0/latest/index.html"`);
  });

  it('a missing shard is named and counts as crashed; overlapping shards and other matrices are refused', () => {
    const a = shard('a', 1, 2, [0, 2]);
    const missing = mergeNightly([a], path.join(dir, 'm1'), () => undefined);
    expect(missing.exitCode).toBe(255);
    expect(readFileSync(path.join(dir, 'm1', 'summary.html'), 'utf8')).toContain('missing shard 2 of 2: 2 cells never ran');
    const again = shard('again', 2, 2, [2, 3]);
    expect(() => mergeNightly([a, again], path.join(dir, 'm2'), () => undefined)).toThrow(/in both .* overlapping shards/);
    const other = shard('other', 2, 3, [1]);
    expect(() => mergeNightly([a, other], path.join(dir, 'm3'), () => undefined)).toThrow(MergeError);
    writeFileSync(path.join(dir, 'bad.json'), '{');
    mkdirSync(path.join(dir, 'bad'));
    writeFileSync(path.join(dir, 'bad', 'summary.json'), '{"cells": []}');
    expect(() => mergeNightly([path.join(dir, 'bad')], path.join(dir, 'm4'), () => undefined)).toThrow(/not a nightly summary/);
  });
});
