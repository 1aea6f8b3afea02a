import { afterEach, describe, expect, it } from 'vitest';
import { completeGrudge, grudgeLinks, isolateEachGrudge, majority, visibleFrom } from '../../../faults/grudge.js';
import { createNemesis, handoverTiming } from '../../../faults/nemesis.js';
import type { HealableNet } from '../../../jepsen-style/types.js';
import { faultPackages } from '../../../jepsen-style/vocabulary.js';
import { drawFault, generateSchedule, partitionShapeWeights, type StartValue } from '../../../faults/schedule.js';
import type { CutMode, Db, NodeInfo, NodeStatus } from '../../../jepsen-style/types.js';
import { createPrng } from '../../../src/core/prng.js';

const cluster = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

describe('handover: schedule', () => {
  it('keeps the fixed shapes at 2:2:1:1:1 and draws handover 4 times in 11, always silent', () => {
    const { handover, ...fixed } = partitionShapeWeights;
    expect(fixed).toEqual({ halves: 2, 'minority-with-leader': 2, leader: 1, ring: 1, bridge: 1 });
    expect(handover).toBe(4);
    const prng = createPrng(7);
    const counts: Record<string, number> = {};
    const draws = 22_000;
    for (let i = 0; i < draws; i++) {
      const spec = drawFault(prng, 'partition');
      if (spec.package !== 'partition') throw new Error('not a partition');
      counts[spec.shape] = (counts[spec.shape] ?? 0) + 1;
      if (spec.shape === 'handover') expect(spec.mode).toBe('silent');
    }
    expect(counts['handover']! / draws).toBeGreaterThan(4 / 11 - 0.02);
    expect(counts['handover']! / draws).toBeLessThan(4 / 11 + 0.02);
    expect(counts['halves']! / counts['leader']!).toBeGreaterThan(1.8);
    expect(counts['halves']! / counts['leader']!).toBeLessThan(2.2);
  });

  it('with all, 5 s interval and 60 s, seeds 1-3 each hold a handover; the same seed gives the same one', () => {
    for (const seed of [1, 2, 3]) {
      const schedule = generateSchedule([...faultPackages], seed, 5, 60);
      const handovers = schedule.map((s) => s.op.value as StartValue).filter((v) => 'pick' in v && v.package === 'partition' && v.shape === 'handover');
      expect(handovers.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(generateSchedule([...faultPackages], seed, 5, 60))).toBe(JSON.stringify(schedule));
    }
  });
});

describe('handover: grudge', () => {
  it.each([3, 5, 7])('isolateEachGrudge on %i nodes: each isolated node alone, the rest together, symmetric', (n) => {
    const nodes = cluster(n);
    const alone = ['n2', 'n1'];
    const grudge = isolateEachGrudge(alone, nodes);
    for (const [node, dropped] of Object.entries(grudge)) {
      expect(nodes).toContain(node);
      expect(dropped).not.toContain(node);
    }
    for (const node of alone) expect(visibleFrom(grudge, nodes, node)).toEqual([node]);
    const rest = nodes.filter((node) => !alone.includes(node));
    for (const node of rest) expect(visibleFrom(grudge, nodes, node)).toEqual(rest);
    const links = grudgeLinks(grudge).map(([a, b]) => `${a}>${b}`);
    for (const [a, b] of grudgeLinks(grudge)) expect(links).toContain(`${b}>${a}`);
    expect(grudge).toEqual(completeGrudge([['n2'], ['n1'], rest]));
    if (n >= 5) expect(rest.length).toBeGreaterThanOrEqual(majority(n));
  });
});

/**
 * A cluster whose status follows the cuts: while its leader is cut off, the next node (in the
 * order given) becomes leader after `electPolls` status calls, then logs a proposal of the next
 * epoch after `proposePolls` more.
 */
class FakeCluster {
  readonly calls: string[] = [];
  private polls = 0;
  private readonly isolated = new Set<string>();
  private leaderName: string | undefined;
  /** Each node's last logged zxid; only a leader logs anything new (its followers are cut off). */
  private readonly zxids = new Map<string, number>();
  private electedAt: number | undefined;

  constructor(readonly names: string[], private readonly successors: string[], private readonly electPolls = 3, private readonly proposePolls = 2) {
    this.leaderName = names[0];
  }

  readonly net: HealableNet = {
    cut: async (from: string, to: string, mode: CutMode) => { this.calls.push(`cut ${from}>${to} ${mode}`); this.noteCut(from, to); },
    latency: async (from: string, to: string) => { this.calls.push(`latency ${from}>${to}`); },
    sealedLatency: async (from: string, to: string, ms: number) => { this.calls.push(`sealed ${from}>${to} ${ms}`); },
    bandwidth: async () => {},
    reset: async () => {},
    slice: async () => {},
    healAll: async () => {},
    heal: async (from: string, to: string, kind) => { this.calls.push(`heal ${kind} ${from}>${to}`); },
  };

  readonly db: Db = {
    system: 'zabkit',
    nodes: () => this.names.map((name, i): NodeInfo => ({ name, id: i + 1, clientHost: '127.0.0.1', clientPort: 1, dataDir: '', logFile: '' })),
    setup: async () => {},
    teardown: async () => {},
    kill: async () => {},
    start: async () => {},
    pause: async () => {},
    resume: async () => {},
    leader: async () => this.leaderName,
    awaitHealthy: async () => true,
    status: async () => this.status(),
  };

  private noteCut(from: string, to: string): void {
    for (const node of [from, to]) {
      if (node === this.leaderName && !this.isolated.has(node)) {
        this.isolated.add(node);
        this.leaderName = undefined;
        this.polls = 0;
        this.electedAt = undefined;
      }
    }
  }

  private status(): NodeStatus[] {
    this.polls++;
    if (this.leaderName === undefined && this.polls >= this.electPolls) {
      const next = this.successors.find((name) => !this.isolated.has(name));
      if (next) {
        this.leaderName = next;
        this.electedAt = this.polls;
      }
    }
    if (this.electedAt !== undefined && this.leaderName !== undefined && this.polls - this.electedAt === this.proposePolls) {
      const own = this.zxids.get(this.leaderName) ?? 0x1_0000_0005;
      this.zxids.set(this.leaderName, (Math.floor(own / 0x1_0000_0000) + 1) * 0x1_0000_0000 + 1);
    }
    return this.names.map((name) => {
      const leading = name === this.leaderName || (this.isolated.has(name) && name === this.names[0]);
      return {
        name, pid: 1, alive: true, paused: false, answers: true,
        role: leading ? 'leading' : 'following', phase: 'broadcast', epoch: 1,
        lastZxid: `0x${(this.zxids.get(name) ?? 0x1_0000_0005).toString(16)}`,
      };
    });
  }
}

describe('handover: nemesis', () => {
  const saved = { ...handoverTiming };
  afterEach(() => { Object.assign(handoverTiming, saved); });

  it('slows every link, cuts off the leader, then the next leader once it has proposed; the undo heals it all', async () => {
    const fake = new FakeCluster(cluster(5), ['n3', 'n4']);
    const nemesis = createNemesis({ db: fake.db, net: fake.net, seed: 1 });
    const started = await nemesis.invoke({ f: 'partition', value: { id: 9, package: 'partition', shape: 'handover', mode: 'silent', pick: 5 } });
    const value = started.value as { grudge: Record<string, string[]>; leader: string; mode: string; handover: Record<string, unknown> };
    expect(value.leader).toBe('n1');
    expect(value.mode).toBe('silent');
    expect(value.handover).toMatchObject({ latencyMs: handoverTiming.latencyMs, sealed: true, oldLeader: 'n1', isolated: 'n1', newLeader: 'n3', thirdLeader: 'n4' });
    expect(value.handover['newLeaderProposed']).toBe('0x200000001');
    // Both logged (2,1): only the first is cut off before anyone else has it.
    expect(value.handover['thirdLeaderProposed']).toBe('0x200000001');
    expect(value.grudge).toEqual(isolateEachGrudge(['n1', 'n3'], cluster(5)));

    // Order: all 20 links slowed first, then the old leader's 8 cuts, then the new leader's 6.
    const sealed = fake.calls.filter((c) => c.startsWith('sealed'));
    expect(sealed).toHaveLength(20);
    expect(fake.calls.slice(0, 20)).toEqual(sealed);
    const cuts = fake.calls.filter((c) => c.startsWith('cut'));
    expect(cuts).toHaveLength(14);
    expect(cuts.every((c) => c.endsWith(' silent'))).toBe(true);
    expect(cuts.slice(0, 8).every((c) => /\bn1\b/.test(c))).toBe(true);
    expect(cuts.slice(8).every((c) => /\bn3\b/.test(c) && !/\bn1\b/.test(c))).toBe(true);
    expect(nemesis.activeFaults()).toEqual([{ id: 9, package: 'partition' }]);

    fake.calls.length = 0;
    await nemesis.invoke({ f: 'heal', value: { id: 9, package: 'partition' } });
    const heals = fake.calls.filter((c) => c.startsWith('heal'));
    expect(heals.filter((c) => c.startsWith('heal cut'))).toHaveLength(14);
    expect(heals.filter((c) => c.startsWith('heal latency'))).toHaveLength(20);
    const lastCut = heals.map((c) => c.startsWith('heal cut')).lastIndexOf(true);
    expect(heals.findIndex((c) => c.startsWith('heal latency'))).toBeGreaterThan(lastCut);
    expect(nemesis.activeFaults()).toEqual([]);
  });

  it('on 3 nodes lets the old leader back in when the new one is cut off (two isolated would leave no majority)', async () => {
    const fake = new FakeCluster(cluster(3), ['n2', 'n3']);
    const nemesis = createNemesis({ db: fake.db, net: fake.net, seed: 1 });
    const started = await nemesis.invoke({ f: 'partition', value: { id: 1, package: 'partition', shape: 'handover', mode: 'silent', pick: 3 } });
    const value = started.value as { grudge: Record<string, string[]>; handover: Record<string, unknown> };
    expect(value.handover).toMatchObject({ oldLeader: 'n1', newLeader: 'n2', restored: 'n1' });
    expect(value.grudge).toEqual(isolateEachGrudge(['n2'], cluster(3)));
    expect(fake.calls.filter((c) => c.startsWith('heal cut'))).toHaveLength(2);
  });

  it('records a missing new leader and still undoes the latency and the cut', async () => {
    handoverTiming.waitMs = 30;
    const fake = new FakeCluster(cluster(5), []);
    const nemesis = createNemesis({ db: fake.db, net: fake.net, seed: 1 });
    const started = await nemesis.invoke({ f: 'partition', value: { id: 2, package: 'partition', shape: 'handover', mode: 'silent', pick: 3 } });
    expect((started.value as { handover: Record<string, unknown> }).handover).toMatchObject({ oldLeader: 'n1', newLeader: null });
    fake.calls.length = 0;
    await nemesis.invoke({ f: 'heal', value: { id: 2, package: 'partition' } });
    expect(fake.calls.filter((c) => c.startsWith('heal cut'))).toHaveLength(8);
    expect(fake.calls.filter((c) => c.startsWith('heal latency'))).toHaveLength(20);
  });
});
