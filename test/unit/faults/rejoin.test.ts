/** The rejoin package (faults/rejoin.ts) on a model cluster: the churn it promises, and a majority up throughout. */
import { describe, expect, it } from 'vitest';
import { rejoin } from '../../../faults/rejoin.js';
import { createPrng } from '../../../src/core/prng.js';
import type { Db, NodeStatus } from '../../../jepsen-style/types.js';

const fast = { budgetMs: 5_000, gapMinMs: 0, gapMaxMs: 1, settleMs: 50, quietWaitMs: 20, pollMs: 1 };

/** A cluster that elects the highest-id live node whenever its leader is gone; every change is logged. */
function modelDb(n: number, restartedNeverFollow = false): { db: Db; maxDown: () => number; events: string[]; up: () => string[] } {
  const names = Array.from({ length: n }, (_, k) => `n${k + 1}`);
  const alive = new Set(names);
  const restarted = new Set<string>();
  let leader = names[0]!;
  let maxDown = 0;
  const events: string[] = [];
  const change = (event: string): void => {
    events.push(event);
    maxDown = Math.max(maxDown, n - alive.size);
    if (!alive.has(leader) && alive.size > n / 2) leader = [...alive].sort().at(-1)!;
  };
  const status = (name: string): NodeStatus => ({
    name, pid: alive.has(name) ? 1 : undefined, alive: alive.has(name), paused: false, answers: alive.has(name),
    role: !alive.has(name) ? 'unknown' : restartedNeverFollow && restarted.has(name) ? 'looking' : name === leader && alive.size > n / 2 ? 'leading' : 'following', lastZxid: '0x100000001',
  });
  const db: Db = {
    system: 'zabkit',
    nodes: () => names.map((name, k) => ({ name, id: k + 1, clientHost: '127.0.0.1', clientPort: 1, dataDir: '', logFile: '' })),
    setup: async () => undefined,
    teardown: async () => undefined,
    kill: async (name) => { alive.delete(name); change(`kill ${name}`); },
    stop: async (name) => { alive.delete(name); change(`stop ${name}`); },
    start: async (name) => { alive.add(name); restarted.add(name); change(`start ${name}`); },
    pause: async () => undefined,
    resume: async () => undefined,
    leader: async () => leader,
    status: async () => names.map(status),
    awaitHealthy: async () => true,
  };
  return { db, maxDown: () => maxDown, events, up: () => [...alive] };
}

describe('the rejoin fault', () => {
  for (const n of [3, 5, 7]) {
    it(`on ${n} nodes keeps a majority up, takes followers down and back, and its undo restarts the rest`, async () => {
      let leaderKills = 0;
      let secondFollower = 0;
      for (let pick = 1; pick <= 40; pick++) {
        const model = modelDb(n);
        const leader = await model.db.leader();
        const { result, undo } = await rejoin(model.db, createPrng(pick), fast);
        expect(model.maxDown()).toBeLessThanOrEqual(Math.floor((n - 1) / 2));
        const steps = result['steps'] as { action: string; node: string }[];
        // The first change is a follower going down; every follower taken down comes back.
        expect(['stop', 'kill']).toContain(steps[0]!.action);
        expect(steps[0]!.node).not.toBe(leader);
        if (steps.some((step) => step.node === leader && step.action === 'kill')) leaderKills += 1;
        if (new Set(steps.filter((step) => step.node !== leader && step.action !== 'start').map((step) => step.node)).size >= 2) secondFollower += 1;
        await undo();
        expect(model.up().length).toBe(n);
      }
      expect(leaderKills).toBeGreaterThan(10);
      if (n >= 5) expect(secondFollower).toBeGreaterThan(10);
      else expect(secondFollower).toBe(0);
    });
  }

  it('keeps to its budget when restarted nodes never follow again, and still brings the first follower back', async () => {
    for (let pick = 1; pick <= 4; pick++) {
      const model = modelDb(5, true);
      const began = Date.now();
      // Without the budget, the waits for a follower that never comes back alone would take 2-3 s.
      const { result } = await rejoin(model.db, createPrng(pick), { budgetMs: 300, gapMinMs: 20, gapMaxMs: 40, settleMs: 1_000, quietWaitMs: 50, pollMs: 5 });
      expect(Date.now() - began).toBeLessThan(1_500);
      const steps = result['steps'] as { action: string; node: string }[];
      expect(steps.some((step) => step.action === 'start' && step.node === steps[0]!.node)).toBe(true);
    }
  });

  it('is the same sequence for the same pick', async () => {
    const a = modelDb(5);
    const b = modelDb(5);
    await rejoin(a.db, createPrng(7), fast);
    await rejoin(b.db, createPrng(7), fast);
    expect(a.events).toEqual(b.events);
  });
});
