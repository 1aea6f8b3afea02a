/**
 * Real power cuts (the fault filesystem under every node's data, tools/faultfs): a kill -9 at one
 * instant, then what each disk held unsynced lost whole, torn after a random byte, or page by page.
 *   - 5 zabkit nodes through repeated whole-cluster and majority cuts of all three kinds: valid,
 *     nothing acknowledged lost, every node back by itself (each answers its final read);
 *   - `--bug ack-before-fsync` (ACKs once the bytes are in the page cache, before the fdatasync),
 *     which a kill -9 cannot catch, is caught by the power cuts of seed 1;
 *   - ZooKeeper 3.9.4 with forceSync=no (its documented unsafe setting) loses acknowledged writes to
 *     the cuts that forceSync=yes survives;
 *   - the disk package: slow, stalled, failing and full disks on zabkit, healed, valid.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSchedule } from '../../../faults/schedule.js';
import { createNemesis } from '../../../faults/nemesis.js';
import { livenessAnomalies } from '../../../faults/shrink.js';
import type { Db, NodeStatus, PowerCutMode } from '../../../jepsen-style/types.js';
import { cliPath, nodeLogTails } from '../helpers.js';

interface Event { process: string | number; type: string; f: string; node?: string; value: unknown; error?: string }

function history(runDir: string): Event[] {
  return readFileSync(path.join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Event);
}

/** The cut mode each power op of a seed's schedule will draw, as the nemesis draws it (from the op's pick). */
async function modesOf(seed: number, nodes: number, interval: number, timeLimit: number): Promise<{ modes: string[]; targets: string[] }> {
  const names = Array.from({ length: nodes }, (_, k) => `n${k + 1}`);
  const modes: string[] = [];
  const db: Db = {
    system: 'zabkit', faultFilesystem: true,
    nodes: () => names.map((name, k) => ({ name, id: k + 1, clientHost: '127.0.0.1', clientPort: 1, dataDir: '', logFile: '' })),
    setup: async () => undefined, teardown: async () => undefined, kill: async () => undefined, start: async () => undefined,
    pause: async () => undefined, resume: async () => undefined, leader: async () => 'n1', awaitHealthy: async () => true,
    status: async () => names.map((name): NodeStatus => ({ name, pid: 1, alive: true, paused: false, answers: true, role: 'following' })),
    powerCut: async (list: readonly string[], mode: PowerCutMode) => { modes.push(mode); return Object.fromEntries(list.map((n) => [n, { lostBytes: 0, keptBytes: 0 }])); },
  };
  const nemesis = createNemesis({ db, seed });
  const starts = generateSchedule(['power'], seed, interval, timeLimit).filter((e) => e.op.f === 'power-off');
  for (const start of starts) await nemesis.invoke(start.op);
  return { modes, targets: starts.map((e) => (e.op.value as { targets: string }).targets) };
}

describe('real power cuts', () => {
  const store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-power-'));
  afterAll(() => rmSync(store, { recursive: true, force: true }));

  it('5 zabkit nodes survive whole-cluster and majority cuts that lose, tear and reorder what was not fsynced', async () => {
    // The first seed whose 30 s schedule cuts the whole cluster and a majority, with all three kinds of loss.
    let seed = 0;
    for (let s = 1; s < 200 && seed === 0; s++) {
      const { modes, targets } = await modesOf(s, 5, 3, 30);
      if (new Set(modes).size === 3 && targets.includes('all') && targets.includes('majority')) seed = s;
    }
    expect(seed).toBeGreaterThan(0);
    const result = await execa('node', [cliPath, 'test', '--nodes', '5', '--time-limit', '30', '--nemesis', 'power', '--nemesis-interval', '3',
      '--seed', String(seed), '--fault-filesystem', 'on', '--store', store, '--name', 'cuts'], { reject: false, all: true, timeout: 280_000 });
    expect(result.exitCode, `${result.all}${nodeLogTails(path.join(store, 'cuts', 'latest'))}`).toBe(0);
    const runDir = path.join(store, 'cuts', 'latest');
    expect(JSON.parse(readFileSync(path.join(runDir, 'test.json'), 'utf8'))).toMatchObject({ faultFilesystem: true });
    const events = history(runDir);
    const cuts = events.filter((e) => e.f === 'power-off' && (e.value as { mode?: string }).mode !== undefined).map((e) => e.value as { mode: string; faultFilesystem: boolean; disks: Record<string, { lostBytes: number }> });
    expect(new Set(cuts.map((c) => c.mode))).toEqual(new Set(['lose', 'torn', 'reorder']));
    expect(cuts.every((c) => c.faultFilesystem)).toBe(true);
    // Every cut reached the disk of every node it took (zabkit writes at sync time, so what each lost is
    // often nothing: CI once saw 0 bytes lost in all five cuts).
    expect(cuts.every((c) => Object.values(c.disks).every((d) => d.lostBytes >= 0))).toBe(true);
    expect(cuts.some((c) => Object.keys(c.disks).length === 5)).toBe(true);
    // Every node came back by itself and answered its final read.
    const reads = events.filter((e) => e.f === 'read' && e.type === 'ok').map((e) => e.node);
    expect(new Set(reads)).toEqual(new Set(['n1', 'n2', 'n3', 'n4', 'n5']));
    const results = JSON.parse(readFileSync(path.join(runDir, 'results.json'), 'utf8')) as { valid: unknown; stats: { acknowledged: number } };
    expect(results.valid).toBe(true);
    expect(results.stats.acknowledged).toBeGreaterThan(500);
    // No node's recovery found corruption; torn tails were cut and reported.
    for (const node of readdirSync(path.join(runDir, 'nodes'))) {
      expect(readFileSync(path.join(runDir, 'nodes', node, 'node.log'), 'utf8')).not.toContain('WalCorruptionError');
    }
  });

  it('without the fault filesystem a power cut is a kill -9, and test.json, the history and the report say so', async () => {
    const result = await execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', '8', '--nemesis', 'power', '--nemesis-interval', '2',
      '--seed', '1', '--fault-filesystem', 'off', '--store', store, '--name', 'off'], { reject: false, all: true, timeout: 200_000 });
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain('no fault filesystem (--fault-filesystem off): a power cut is a kill -9');
    const runDir = path.join(store, 'off', 'latest');
    expect(JSON.parse(readFileSync(path.join(runDir, 'test.json'), 'utf8'))).toMatchObject({ faultFilesystem: false, faultFilesystemWhy: '--fault-filesystem off' });
    const cuts = history(runDir).filter((e) => e.f === 'power-off' && (e.value as { faultFilesystem?: boolean }).faultFilesystem !== undefined);
    expect(cuts.length).toBeGreaterThan(0);
    expect(cuts.every((e) => (e.value as { faultFilesystem: boolean }).faultFilesystem === false)).toBe(true);
    expect(readFileSync(path.join(runDir, 'index.html'), 'utf8')).toContain('kill -9 only (--fault-filesystem off)');
    expect(readdirSync(path.join(runDir, 'nodes', 'n1'))).not.toContain('data.disk');
  });

  it('--bug ack-before-fsync: caught by the real power cuts of seed 1 (lost acknowledged broadcasts)', async () => {
    const result = await execa('node', [cliPath, 'test', '--nodes', '5', '--time-limit', '60', '--nemesis', 'power', '--seed', '1',
      '--bug', 'ack-before-fsync', '--fault-filesystem', 'on', '--store', store, '--name', 'abf'], { reject: false, all: true, timeout: 290_000 });
    expect(result.exitCode, result.all).toBe(1);
    const results = JSON.parse(readFileSync(path.join(store, 'abf', 'latest', 'results.json'), 'utf8')) as { anomalies: Record<string, { count: number }> };
    expect(results.anomalies['lost']?.count ?? 0).toBeGreaterThan(0);
  });

  it('ZooKeeper with forceSync=no loses acknowledged writes to the same real power cuts that forceSync=yes survives', async () => {
    // 3.9.4: a release that starts on an empty transaction log (ZOOKEEPER-2332). A seed whose cuts lose
    // or tear, and whose first cut takes the whole ensemble: a reordered cut of a log that was never
    // fsynced leaves a header of zeros ("invalid magic number 0"), and then no release restarts at
    // all (unavailable, not lost; 3.8.0 with forceSync=no does that after any cut).
    let seed = 0;
    for (let s = 1; s < 500 && seed === 0; s++) {
      const { modes, targets } = await modesOf(s, 3, 4, 40);
      if (modes.length >= 3 && !modes.includes('reorder') && targets[0] === 'all') seed = s;
    }
    expect(seed).toBeGreaterThan(0);
    const run = (forceSync: string) => execa('node', [cliPath, 'test', '--system', 'zookeeper', '--zookeeper-version', '3.9.4', '--nodes', '3',
      '--time-limit', '40', '--nemesis', 'power', '--nemesis-interval', '4', '--seed', String(seed), '--zk-property', `forceSync=${forceSync}`,
      '--fault-filesystem', 'on', '--store', store, '--name', `zk-${forceSync}`], { reject: false, all: true, timeout: 290_000 });
    const unsafe = await run('no');
    expect(unsafe.exitCode, unsafe.all).toBe(1);
    const lost = JSON.parse(readFileSync(path.join(store, 'zk-no', 'latest', 'results.json'), 'utf8')) as { anomalies: Record<string, { count: number }> };
    expect(lost.anomalies['lost']?.count ?? 0).toBeGreaterThan(0);
    // The claim is durability: with forceSync=yes no acknowledged write is lost. Whether ZooKeeper
    // serves again soon after repeated whole-ensemble cuts is another question (CI once saw 3.9.4's n3
    // not acknowledge a broadcast within 30 s of the heal: `unavailable`, a liveness finding about
    // ZooKeeper), so a liveness anomaly alone does not fail this test; any safety anomaly does.
    const safe = await run('yes');
    expect([0, 1], safe.all).toContain(safe.exitCode);
    const survived = JSON.parse(readFileSync(path.join(store, 'zk-yes', 'latest', 'results.json'), 'utf8')) as { valid: unknown; anomalies: Record<string, { count: number }> };
    const safety = Object.entries(survived.anomalies).filter(([name, anomaly]) => anomaly.count > 0 && !livenessAnomalies.includes(name)).map(([name]) => name);
    expect(safety, safe.all).toEqual([]);
    expect(survived.anomalies['lost']?.count ?? 0).toBe(0);
    if (survived.valid !== true) console.log(`forceSync=yes: no write lost, but ${Object.keys(survived.anomalies).join(', ')} (ZooKeeper's liveness after the cuts)`);
  });

  it('the disk package on zabkit: slow, stalled, failing and full disks, healed: valid, and the nodes a disk stopped are back', async () => {
    const result = await execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', '30', '--nemesis', 'disk', '--nemesis-interval', '2',
      '--seed', '3', '--fault-filesystem', 'on', '--store', store, '--name', 'disk'], { reject: false, all: true, timeout: 280_000 });
    expect(result.exitCode, `${result.all}${nodeLogTails(path.join(store, 'disk', 'latest'))}`).toBe(0);
    const events = history(path.join(store, 'disk', 'latest'));
    const kinds = events.filter((e) => e.f === 'disk-fault' && (e.value as { faults?: unknown }).faults !== undefined).map((e) => (e.value as { kind: string }).kind);
    expect(kinds.length).toBeGreaterThanOrEqual(3);
    expect(events.filter((e) => e.f === 'read' && e.type === 'ok').map((e) => e.node).sort()).toEqual(['n1', 'n2', 'n3']);
  });
});
