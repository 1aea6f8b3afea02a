/**
 * The power and disk packages through the nemesis (faults/nemesis.ts) on a model Db: with a fault
 * filesystem a power cut is a real one (its mode drawn from the op's pick, what each disk lost
 * recorded) and a disk fault lands on one node and heals, restarting a node it made exit; without
 * one, power is a kill -9 and says so, and a disk fault is not dealt and says why.
 */
import { describe, expect, it } from 'vitest';
import { createNemesis } from '../../../faults/nemesis.js';
import type { Db, DiskFaults, NodeStatus, PowerCutMode } from '../../../jepsen-style/types.js';

function modelDb(faultFilesystem: boolean) {
  const names = ['n1', 'n2', 'n3'];
  const alive = new Set(names);
  const calls: string[] = [];
  const disks = new Map<string, DiskFaults>();
  const db: Db = {
    system: 'zabkit',
    nodes: () => names.map((name, k) => ({ name, id: k + 1, clientHost: '127.0.0.1', clientPort: 1, dataDir: '', logFile: '' })),
    setup: async () => undefined,
    teardown: async () => undefined,
    kill: async (name) => { alive.delete(name); calls.push(`kill ${name}`); },
    killMany: async (list) => { for (const name of list) alive.delete(name); calls.push(`killMany ${list.join(',')}`); },
    start: async (name) => { alive.add(name); calls.push(`start ${name}`); },
    pause: async () => undefined,
    resume: async () => undefined,
    leader: async () => 'n1',
    status: async () => names.map((name): NodeStatus => ({ name, pid: alive.has(name) ? 1 : undefined, alive: alive.has(name), paused: false, answers: alive.has(name), role: name === 'n1' ? 'leading' : 'following' })),
    awaitHealthy: async () => true,
    ...(faultFilesystem ? {
      faultFilesystem: true,
      powerCut: async (list: readonly string[], mode: PowerCutMode) => {
        for (const name of list) alive.delete(name);
        calls.push(`powerCut ${list.join(',')} ${mode}`);
        return Object.fromEntries(list.map((name) => [name, { lostBytes: 10, keptBytes: 0 }]));
      },
      diskFault: async (name: string, faults: DiskFaults) => {
        disks.set(name, faults);
        calls.push(`disk ${name} ${JSON.stringify(faults)}`);
        // A failing or full disk makes the node exit, as zabkit does on a StorageError.
        if (faults.eio !== undefined || faults.enospc === true) alive.delete(name);
      },
    } : {}),
  };
  return { db, calls, alive, disks };
}

describe('power with and without the fault filesystem', () => {
  it('is a real power cut with one: a mode from the pick, what each disk lost, and a restart at the end', async () => {
    const modes = new Set<string>();
    for (let pick = 1; pick <= 30; pick++) {
      const model = modelDb(true);
      const nemesis = createNemesis({ db: model.db, seed: 1 });
      const started = await nemesis.invoke({ f: 'power-off', value: { id: 1, package: 'power', targets: 'all', pick } });
      const value = started.value as { nodes: string[]; faultFilesystem: boolean; mode: string; disks: Record<string, { lostBytes: number }> };
      expect(value.faultFilesystem).toBe(true);
      expect(value.nodes.sort()).toEqual(['n1', 'n2', 'n3']);
      expect(value.disks['n2']?.lostBytes).toBe(10);
      modes.add(value.mode);
      // The same pick, the same mode.
      const again = await createNemesis({ db: modelDb(true).db, seed: 1 }).invoke({ f: 'power-off', value: { id: 1, package: 'power', targets: 'all', pick } });
      expect((again.value as { mode: string }).mode).toBe(value.mode);
      await nemesis.invoke({ f: 'power-on', value: { id: 1, package: 'power' } });
      expect([...model.alive].sort()).toEqual(['n1', 'n2', 'n3']);
    }
    expect([...modes].sort()).toEqual(['lose', 'reorder', 'torn']);
  });

  it('is a kill -9 without one, and says so', async () => {
    const model = modelDb(false);
    const started = await createNemesis({ db: model.db, seed: 1 }).invoke({ f: 'power-off', value: { id: 1, package: 'power', targets: 'majority', pick: 5 } });
    expect(started.value).toMatchObject({ faultFilesystem: false });
    expect(model.calls[0]).toMatch(/^killMany /);
  });
});

describe("a scenario's fault aimed at one node", () => {
  it('a power cut of `node` alone, with its mode fixed; a slow disk with its delay fixed; the other choices of the pick unchanged', async () => {
    const model = modelDb(true);
    const nemesis = createNemesis({ db: model.db, seed: 1 });
    const cut = await nemesis.invoke({ f: 'power-off', value: { id: 1, package: 'power', targets: 'all', node: 'n2', mode: 'lose', pick: 9 } });
    expect(cut.value).toMatchObject({ nodes: ['n2'], faultFilesystem: true, mode: 'lose' });
    expect(model.calls).toEqual(['powerCut n2 lose']);
    const slow = await nemesis.invoke({ f: 'disk-fault', value: { id: 2, package: 'disk', kind: 'slow', targets: 'one', node: 'n3', fsyncDelayMs: 2000, pick: 9 } });
    expect(slow.value).toMatchObject({ nodes: ['n3'], faults: { fsyncDelayMs: 2000 } });
    const paused = await nemesis.invoke({ f: 'kill', value: { id: 3, package: 'kill', targets: 'leader', node: 'n3', pick: 9 } });
    expect(paused.value).toMatchObject({ nodes: ['n3'] });
  });

  it('a node the cluster does not have is an error, not a fault dealt elsewhere', async () => {
    const model = modelDb(true);
    await expect(createNemesis({ db: model.db, seed: 1 }).invoke({ f: 'power-off', value: { id: 1, package: 'power', targets: 'all', node: 'n7', pick: 1 } })).rejects.toThrow(/no node n7/);
    expect(model.calls).toEqual([]);
  });
});

describe('the disk package', () => {
  it('puts the drawn fault on one node and heals it, restarting the node when the fault made it exit', async () => {
    for (const [kind, faults] of [['slow', undefined], ['stall', { fsyncStall: true }], ['eio-write', { eio: 'write' }], ['eio-fsync', { eio: 'fsync' }], ['full', { enospc: true }]] as const) {
      const model = modelDb(true);
      const nemesis = createNemesis({ db: model.db, seed: 1 });
      const started = await nemesis.invoke({ f: 'disk-fault', value: { id: 1, package: 'disk', kind, targets: 'follower', pick: 3 } });
      const value = started.value as { nodes: string[]; faults: DiskFaults };
      expect(value.nodes).toHaveLength(1);
      expect(value.nodes[0]).not.toBe('n1');
      if (faults === undefined) expect([20, 100, 500]).toContain(value.faults.fsyncDelayMs);
      else expect(value.faults).toEqual(faults);
      const ended = await nemesis.invoke({ f: 'disk-heal', value: { id: 1, package: 'disk' } });
      const exits = kind === 'eio-write' || kind === 'eio-fsync' || kind === 'full';
      expect(ended.value).toMatchObject({ nodes: value.nodes, restarted: exits });
      expect(model.disks.get(value.nodes[0]!)).toEqual({});
      expect(model.alive.size).toBe(3);
    }
  });

  it('without a fault filesystem deals nothing and says why', async () => {
    const model = modelDb(false);
    const started = await createNemesis({ db: model.db, seed: 1 }).invoke({ f: 'disk-fault', value: { id: 1, package: 'disk', kind: 'full', targets: 'one', pick: 3 } });
    expect(started.value).toMatchObject({ dealt: false, why: 'no fault filesystem under the nodes' });
    expect(model.calls).toEqual([]);
  });

  it('the final heal heals every disk before it restarts what is down', async () => {
    const model = modelDb(true);
    const nemesis = createNemesis({ db: model.db, seed: 1 });
    await nemesis.invoke({ f: 'disk-fault', value: { id: 1, package: 'disk', kind: 'full', targets: 'leader', pick: 3 } });
    expect(model.alive.has('n1')).toBe(false);
    await nemesis.healAll();
    const healIndex = model.calls.findIndex((call) => call === 'disk n1 {}');
    expect(healIndex).toBeGreaterThan(0);
    expect(model.calls.indexOf('start n1')).toBeGreaterThan(healIndex);
    expect(model.alive.has('n1')).toBe(true);
  });
});
