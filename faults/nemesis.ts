/**
 * The nemesis: starts and heals the faults of faults/schedule.ts on a real cluster, through the Db
 * (process faults) and the Net (link faults through Toxiproxy). Each start op returns what it
 * actually did (the nodes and links resolved at run time) for the history; its end op (same `id`)
 * undoes exactly that. `healAll` resumes, restarts and heals everything and never throws.
 *
 * Role targets use Db.leader(); when no single leader is known, a seeded random node stands in
 * (recorded as `leader: null`). Every random choice at run time comes from the op's seeded `pick`.
 */
import { powerCutModes, type Db, type DiskFaults, type HealableNet, type Nemesis, type NemesisEvent, type NodeStatus } from '../jepsen-style/types.js';
import { createPrng, type Prng } from '../src/core/prng.js';
import { zxidEpoch } from '../jepsen-style/zxid.js';
import { grudgeLinks, halvesGrudge, isolateEachGrudge, isolateGrudge, majoritiesRingGrudge, bridgeGrudge, shuffle, majority, type Grudge } from './grudge.js';
import { isFaultPackage, packageOps, type FaultPackage } from '../jepsen-style/vocabulary.js';
import { diskFaultParameters, type FaultSpec, type LinkScope, type NodeTarget, type PartitionShape } from './schedule.js';
import { rejoin } from './rejoin.js';

/**
 * The `handover` partition shape (faults/schedule.ts), a leader handover under a slow network:
 *   1. `latencyMs` on every link, both ways (sealed: a later cut also drops what is queued);
 *   2. the leader is cut off, silently, both ways;
 *   3. node status is polled over the client ports (direct, not proxied) until another node
 *      reports leading + broadcast (a newly established leader), within `waitMs`;
 *   4. that new leader is cut off too, silently, both ways, as soon as it has logged a proposal
 *      of its own epoch (its status lastZxid moves on; bounded by `proposalWaitMs`, then it is
 *      cut off anyway). Its first proposals are still queued in Toxiproxy's latency
 *      toxics, and the cut drops them: they exist only in its own log. The rest (a majority of
 *      5) elect a third leader; the start returns once that leader has logged a proposal of its
 *      own epoch (each wait bounded by `waitMs`). With fewer than 5 nodes two isolated nodes
 *      leave no majority, so the old leader is let back in when the new one is cut off.
 * The undo removes the cuts, then the latency. The start's value records who was cut off when
 * (`handover`: oldLeader, newLeader, thirdLeader, their epochs, milliseconds between the steps);
 * `cutTookMs` (its first proposal seen → its links cut) well below `latencyMs` means the race was
 * won; `newLeaderProposed` is its last zxid when cut off (null: it had logged nothing new).
 * A newly established leader that loses its first proposals is where ZOOKEEPER-335 (an epoch
 * known only from the log, reused by the next quorum), -790 and -3911 class bugs live.
 */
export const handoverTiming = {
  /**
   * Why 100: it must outlast step 4 (a status poll that sees the first proposal logged, then 16
   * Toxiproxy calls: 5-10 ms measured, tens of ms on a busy box), while discovery + synchronization (5 one-way trips, FOLLOWERINFO to the ACK of
   * NEWLEADER) fit initLimit (20 ticks x 50 ms = 1 s) and a ping round trip stays well under
   * syncLimit (500 ms).
   */
  latencyMs: 100,
  /** Bound on each wait for a leader: loss noticed (<= initLimit) + election + discovery + sync. */
  waitMs: 5000,
  /**
   * Bound on waiting for the new leader's first proposal. Why it can be long: what must not reach
   * anyone is that first proposal, so the cut must land within `latencyMs` of it, not of the
   * broadcast; seen in the new leader's lastZxid one poll after it is logged, it is cut off a few
   * ms later (`cutTookMs`). A leader whose clients sent nothing yet has nothing to lose.
   */
  proposalWaitMs: 2000,
  pollMs: 5,
};

/** Is zxid `a` ("0x" hex) in a later epoch than `b`? */
function newerEpoch(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined) return false;
  const epoch = (zxid: string | undefined): bigint => (zxid === undefined ? -1n : zxidEpoch(zxid));
  return epoch(a) > epoch(b);
}

type Undo = () => Promise<Record<string, unknown>>;

interface ActiveFault {
  readonly package: FaultPackage;
  readonly undo: Undo;
}

export interface NemesisOptions {
  readonly db: Db;
  /** Absent: network packages fail (e.g. a Db without proxies). */
  readonly net?: HealableNet;
  /** Seed for ops that carry no `pick` (hand-written ops). */
  readonly seed?: number;
}

export class ZabNemesis implements Nemesis {
  private readonly active = new Map<number, ActiveFault>();
  private nextId = 1_000_000;
  private readonly fallback: Prng;

  constructor(private readonly options: NemesisOptions) {
    this.fallback = createPrng(options.seed ?? 0);
  }

  private names(): string[] {
    return this.options.db.nodes().map((node) => node.name);
  }

  private requireNet(): HealableNet {
    if (!this.options.net) throw new Error('this nemesis has no network (Toxiproxy) to fault');
    return this.options.net;
  }

  /** Faults started and not yet ended, by id. */
  activeFaults(): { id: number; package: FaultPackage }[] {
    return [...this.active.entries()].map(([id, fault]) => ({ id, package: fault.package }));
  }

  async invoke(op: NemesisEvent): Promise<NemesisEvent> {
    const value = (op.value ?? {}) as Record<string, unknown>;
    const stopOf = Object.entries(packageOps).find(([, ops]) => ops.stop === op.f && ops.start !== op.f);
    if (stopOf && value.pick === undefined && typeof value.id === 'number') {
      const fault = this.active.get(value.id);
      if (!fault) return { f: op.f, value: { ...value, result: 'nothing to undo' } };
      this.active.delete(value.id);
      return { f: op.f, value: { id: value.id, package: fault.package, ...(await fault.undo()) } };
    }
    const pkg = (Object.entries(packageOps).find(([, ops]) => ops.start === op.f)?.[0] ?? value.package) as string;
    if (!isFaultPackage(pkg)) throw new Error(`nemesis: unknown op ${op.f}`);
    const id = typeof value.id === 'number' ? value.id : this.nextId++;
    const prng = typeof value.pick === 'number' ? createPrng(value.pick) : this.fallback.fork();
    const spec = { ...value, package: pkg } as unknown as FaultSpec;
    const { result, undo } = await this.start(spec, prng);
    this.active.set(id, { package: pkg, undo });
    return { f: packageOps[pkg].start, value: { ...value, id, package: pkg, ...result } };
  }

  private async start(spec: FaultSpec, prng: Prng): Promise<{ result: Record<string, unknown>; undo: Undo }> {
    const db = this.options.db;
    switch (spec.package) {
      case 'kill': {
        const { nodes, leader } = await this.targetsOf(spec, spec.targets ?? 'one', prng);
        await Promise.all(nodes.map((node) => db.kill(node)));
        return { result: { nodes, leader }, undo: async () => { await Promise.all(nodes.map((node) => db.start(node))); return { nodes }; } };
      }
      case 'pause': {
        const { nodes, leader } = await this.targetsOf(spec, spec.targets ?? 'one', prng);
        await Promise.all(nodes.map((node) => db.pause(node)));
        return { result: { nodes, leader }, undo: async () => { await Promise.all(nodes.map((node) => db.resume(node))); return { nodes }; } };
      }
      case 'power': {
        const { nodes } = await this.targetsOf(spec, spec.targets ?? 'all', prng);
        const restart: Undo = async () => { await Promise.all(nodes.map((node) => db.start(node))); return { nodes }; };
        if (db.faultFilesystem === true && db.powerCut) {
          // A real power cut: what the disks held unsynced is lost, whole, torn or reordered.
          const drawn = powerCutModes[prng.int(powerCutModes.length)]!;
          const mode = spec.mode ?? drawn;
          const disks = await db.powerCut(nodes, mode, prng.int(0x7fff_ffff));
          return { result: { nodes, faultFilesystem: true, mode, disks }, undo: restart };
        }
        if (db.killMany) await db.killMany(nodes);
        else await Promise.all(nodes.map((node) => db.kill(node)));
        return { result: { nodes, faultFilesystem: false }, undo: restart };
      }
      case 'disk':
        return this.disk(spec, prng);
      case 'partition': {
        const net = this.requireNet();
        if (spec.shape === 'handover') return this.handover(net, prng);
        const { grudge, leader } = await this.partitionGrudge(spec.shape ?? 'halves', prng);
        const links = grudgeLinks(grudge);
        const mode = spec.mode ?? 'silent';
        await Promise.all(links.map(([from, to]) => net.cut(from, to, mode)));
        return { result: { grudge, leader, mode }, undo: async () => { await Promise.all(links.map(([from, to]) => net.heal(from, to, 'cut'))); return { grudge }; } };
      }
      case 'one-way': {
        const net = this.requireNet();
        const leader = await this.options.db.leader();
        const names = this.names();
        const direction = spec.direction ?? 'random';
        let from: string, to: string;
        if (leader && direction !== 'random' && names.length > 1) {
          const other = shuffle(prng, names.filter((n) => n !== leader))[0]!;
          [from, to] = direction === 'from-leader' ? [leader, other] : [other, leader];
        } else {
          const pair = shuffle(prng, names);
          [from, to] = [pair[0]!, pair[1] ?? pair[0]!];
        }
        await net.cut(from, to, 'silent');
        return { result: { from, to, leader: leader ?? null }, undo: async () => { await net.heal(from, to, 'cut'); return { from, to }; } };
      }
      case 'rejoin':
        return rejoin(db, prng);
      case 'latency':
      case 'bandwidth':
      case 'reset':
      case 'slice': {
        const net = this.requireNet();
        const { links, leader } = await this.scopeLinks(spec.scope ?? 'all', prng);
        const apply = (from: string, to: string): Promise<void> => {
          switch (spec.package) {
            case 'latency': return net.latency(from, to, spec.latencyMs, spec.jitterMs);
            case 'bandwidth': return net.bandwidth(from, to, spec.rateKBps);
            case 'reset': return net.reset(from, to, spec.timeoutMs);
            case 'slice': return net.slice(from, to, spec.averageSize, spec.sizeVariation, spec.delayUs);
          }
        };
        await Promise.all(links.map(([from, to]) => apply(from, to)));
        const kind = spec.package;
        return { result: { links, leader }, undo: async () => { await Promise.all(links.map(([from, to]) => net.heal(from, to, kind))); return { links }; } };
      }
    }
  }

  /**
   * A disk fault on one node's fault filesystem; its heal restarts the node if the fault made it
   * exit (zabkit stops on a failed write or fsync). Without a fault filesystem nothing is dealt,
   * and the op says so.
   */
  private async disk(spec: Extract<FaultSpec, { package: 'disk' }>, prng: Prng): Promise<{ result: Record<string, unknown>; undo: Undo }> {
    const db = this.options.db;
    const { nodes, leader } = await this.targetsOf(spec, spec.targets, prng);
    if (db.faultFilesystem !== true || !db.diskFault) {
      return { result: { nodes: [], dealt: false, why: 'no fault filesystem under the nodes' }, undo: async () => ({ nodes: [] }) };
    }
    const node = nodes[0]!;
    const drawnDelayMs = diskFaultParameters.fsyncDelayMs[prng.int(diskFaultParameters.fsyncDelayMs.length)]!;
    const faults: DiskFaults = spec.kind === 'slow' ? { fsyncDelayMs: spec.fsyncDelayMs ?? drawnDelayMs }
      : spec.kind === 'stall' ? { fsyncStall: true }
        : spec.kind === 'eio-write' ? { eio: 'write' }
          : spec.kind === 'eio-fsync' ? { eio: 'fsync' }
            : { enospc: true };
    await db.diskFault(node, faults);
    return {
      result: { nodes: [node], leader, kind: spec.kind, faults },
      undo: async () => {
        await db.diskFault!(node, {});
        const down = (await db.status()).find((s) => s.name === node)?.alive === false;
        if (down) await db.start(node);
        return { nodes: [node], restarted: down };
      },
    };
  }

  /**
   * The nodes a process or disk fault goes to: exactly `spec.node` when a scenario names one (it
   * must be a node of the cluster), else the role target resolved now.
   */
  private async targetsOf(spec: { readonly node?: string }, target: NodeTarget, prng: Prng): Promise<{ nodes: string[]; leader: string | null }> {
    if (spec.node === undefined) return this.resolveTargets(target, prng);
    if (!this.names().includes(spec.node)) throw new Error(`nemesis: no node ${spec.node} in this cluster`);
    return { nodes: [spec.node], leader: null };
  }

  /** Resolve a node target; `leader` is the leader used (null when none was known). */
  async resolveTargets(target: NodeTarget, prng: Prng): Promise<{ nodes: string[]; leader: string | null }> {
    const names = this.names();
    const order = shuffle(prng, names);
    const needsLeader = target === 'leader' || target === 'follower' || target === 'followers' || target === 'minority-with-leader';
    const leader = needsLeader ? ((await this.options.db.leader()) ?? null) : null;
    const minoritySize = Math.max(1, names.length - majority(names.length));
    switch (target) {
      case 'one': return { nodes: order.slice(0, 1), leader };
      case 'leader': return { nodes: [leader ?? order[0]!], leader };
      case 'follower': return { nodes: [order.find((n) => n !== leader)!], leader };
      case 'followers': {
        // a random minority made of followers only (never the leader)
        const followers = order.filter((n) => n !== leader);
        return { nodes: followers.slice(0, Math.min(followers.length, 1 + prng.int(minoritySize))), leader };
      }
      case 'minority': return { nodes: order.slice(0, 1 + prng.int(minoritySize)), leader };
      case 'minority-with-leader': {
        const first = leader ?? order[0]!;
        return { nodes: [first, ...order.filter((n) => n !== first)].slice(0, minoritySize), leader };
      }
      case 'majority': return { nodes: order.slice(0, majority(names.length)), leader };
      case 'all': return { nodes: order, leader };
    }
  }

  async partitionGrudge(shape: Exclude<PartitionShape, 'handover'>, prng: Prng): Promise<{ grudge: Grudge; leader: string | null }> {
    const names = this.names();
    switch (shape) {
      case 'halves': return { grudge: halvesGrudge(shuffle(prng, names)), leader: null };
      case 'ring': return { grudge: majoritiesRingGrudge(shuffle(prng, names)), leader: null };
      case 'bridge': return { grudge: bridgeGrudge(shuffle(prng, names)), leader: null };
      case 'leader':
      case 'minority-with-leader': {
        const { nodes, leader } = await this.resolveTargets(shape === 'leader' ? 'leader' : 'minority-with-leader', prng);
        return { grudge: isolateGrudge(nodes, names), leader };
      }
    }
  }

  /** The `handover` shape: see handoverTiming above. */
  private async handover(net: HealableNet, prng: Prng): Promise<{ result: Record<string, unknown>; undo: Undo }> {
    const db = this.options.db;
    const names = this.names();
    const { latencyMs, waitMs, proposalWaitMs, pollMs } = handoverTiming;
    const links = names.flatMap((from) => names.filter((to) => to !== from).map((to): [string, string] => [from, to]));
    const cut = new Map<string, [string, string]>();
    const isolated: string[] = [];
    const undo: Undo = async () => {
      const healed = [...cut.values()];
      await Promise.all(healed.map(([from, to]) => net.heal(from, to, 'cut')));
      await Promise.all(links.map(([from, to]) => net.heal(from, to, 'latency')));
      return { grudge: isolateEachGrudge(isolated, names), latencyLinks: links.length };
    };
    const cutOff = async (node: string): Promise<void> => {
      const jobs: [string, string][] = names.filter((other) => other !== node)
        .flatMap((other): [string, string][] => [[node, other], [other, node]])
        .filter(([from, to]) => !cut.has(`${from}>${to}`));
      for (const [from, to] of jobs) cut.set(`${from}>${to}`, [from, to]);
      isolated.push(node);
      await Promise.all(jobs.map(([from, to]) => net.cut(from, to, 'silent')));
    };
    const t0 = Date.now();
    const record: Record<string, unknown> = { latencyMs };
    try {
      await Promise.all(links.map(([from, to]) => (net.sealedLatency ? net.sealedLatency(from, to, latencyMs, 0) : net.latency(from, to, latencyMs, 0))));
      record['sealed'] = net.sealedLatency !== undefined;
      const before = await db.status();
      const leaders = before.filter((s) => s.answers && s.role === 'leading');
      const oldLeader = leaders.length === 1 ? leaders[0]!.name : null;
      const old = oldLeader ?? shuffle(prng, names)[0]!;
      // "New": not leading before, or leading a later epoch than then.
      const ledBefore = new Map(leaders.map((s) => [s.name, s.epoch ?? -1]));
      const isNewLeader = (s: NodeStatus): boolean => s.answers && s.role === 'leading' && s.phase === 'broadcast' &&
        !isolated.includes(s.name) && (!ledBefore.has(s.name) || (s.epoch ?? -1) > ledBefore.get(s.name)!);
      Object.assign(record, { oldLeader, isolated: old, oldEpoch: before.find((s) => s.name === old)?.epoch ?? null, latencyAfterMs: Date.now() - t0 });
      await cutOff(old);
      const tOld = Date.now();
      const next = await this.awaitStatus(isNewLeader, tOld + waitMs, pollMs);
      if (!next) {
        Object.assign(record, { newLeader: null, waitedMs: Date.now() - tOld });
        return { result: { grudge: isolateEachGrudge(isolated, names), leader: oldLeader, mode: 'silent', handover: record }, undo };
      }
      const tNew = Date.now();
      // Let it log its first proposal of its own (lastZxid moves to a newer epoch than it had
      // before), then cut it off at once, well inside the latency, so that proposal reaches nobody.
      const seenZxid = next.lastZxid;
      const baseZxid = before.find((s) => s.name === next.name)?.lastZxid;
      const proposed = baseZxid !== undefined && newerEpoch(seenZxid, baseZxid) ? next
        : await this.awaitStatus((s) => s.name === next.name && newerEpoch(s.lastZxid, baseZxid ?? seenZxid), tNew + proposalWaitMs, pollMs);
      const tProposed = Date.now();
      await cutOff(next.name);
      const tCut = Date.now();
      Object.assign(record, {
        newLeader: next.name, newEpoch: next.epoch ?? null, newLastZxid: seenZxid ?? null, newLeaderAfterMs: tNew - tOld,
        newLeaderProposed: proposed?.lastZxid ?? null, cutMs: tCut - tNew, cutTookMs: tCut - tProposed,
      });
      if (names.length - 2 < majority(names.length)) {
        // Two isolated nodes would leave no majority: let the old leader back in.
        const back = [...cut.entries()].filter(([, [from, to]]) => (from === old || to === old) && from !== next.name && to !== next.name);
        for (const [key] of back) cut.delete(key);
        isolated.splice(isolated.indexOf(old), 1);
        await Promise.all(back.map(([, [from, to]]) => net.heal(from, to, 'cut')));
        record['restored'] = old;
      }
      const third = await this.awaitStatus(isNewLeader, tCut + waitMs, pollMs);
      if (!third) {
        Object.assign(record, { thirdLeader: null, waitedMs: Date.now() - tCut });
      } else {
        const tThird = Date.now();
        Object.assign(record, { thirdLeader: third.name, thirdEpoch: third.epoch ?? null, thirdLeaderAfterMs: tThird - tCut });
        // The fault is over once the third leader has logged a proposal of a newer epoch than it
        // had before: from then on, what the two leaders after the old one logged meets at the
        // next sync.
        const thirdBase = before.find((s) => s.name === third.name)?.lastZxid ?? third.lastZxid;
        const progressed = await this.awaitStatus((s) => s.name === third.name && newerEpoch(s.lastZxid, thirdBase), tThird + waitMs, pollMs);
        Object.assign(record, { thirdLeaderProposed: progressed?.lastZxid ?? null, thirdProposedAfterMs: Date.now() - tThird });
      }
      return { result: { grudge: isolateEachGrudge(isolated, names), leader: oldLeader, mode: 'silent', handover: record }, undo };
    } catch (error) {
      await undo().catch(() => {});
      throw error;
    }
  }

  /** Poll node status until one satisfies `wanted`, or `deadline` (epoch ms) passes. */
  private async awaitStatus(wanted: (s: NodeStatus) => boolean, deadline: number, pollMs: number): Promise<NodeStatus | undefined> {
    for (;;) {
      const found = (await this.options.db.status().catch(() => [] as NodeStatus[])).find(wanted);
      if (found) return found;
      if (Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  private async scopeLinks(scope: LinkScope, prng: Prng): Promise<{ links: [string, string][]; leader: string | null }> {
    const names = this.names();
    const all = names.flatMap((from) => names.filter((to) => to !== from).map((to): [string, string] => [from, to]));
    if (scope === 'all') return { links: all, leader: null };
    const leader = scope === 'leader' ? ((await this.options.db.leader()) ?? null) : null;
    const node = leader ?? shuffle(prng, names)[0]!;
    return { links: all.filter(([from, to]) => from === node || to === node), leader };
  }

  async healAll(): Promise<NemesisEvent[]> {
    const events: NemesisEvent[] = [];
    this.active.clear();
    const db = this.options.db;
    if (db.faultFilesystem === true && db.diskFault) {
      // Healthy disks first, so that the nodes restarted below can write.
      const failed: string[] = [];
      await Promise.all(db.nodes().map((node) => db.diskFault!(node.name, {}).catch((error: unknown) => { failed.push(`${node.name}: ${String(error)}`); })));
      if (failed.length > 0) events.push({ f: 'heal', value: 'disks', ...({ error: `disk heal failed: ${failed.join('; ')}`.slice(0, 500) } as object) });
    }
    try {
      const statuses = await db.status();
      const paused = statuses.filter((s) => s.paused).map((s) => s.name);
      for (const node of db.nodes()) await db.resume(node.name).catch(() => {});
      if (paused.length > 0) events.push({ f: 'resume', value: { nodes: paused } });
      const dead = statuses.filter((s) => !s.alive).map((s) => s.name);
      await Promise.all(dead.map((node) => db.start(node).catch(() => {})));
      if (dead.length > 0) events.push({ f: 'start', value: { nodes: dead } });
    } catch (error) {
      events.push({ f: 'heal', value: 'processes', ...({ error: String(error) } as object) });
    }
    if (this.options.net) {
      // A network heal that did not take is a testbed failure: the event carries `error`, which
      // the runner puts on the final heal event and the checker reads (never blamed on the system).
      try {
        await this.options.net.healAll();
        const failures = this.options.net.healFailures?.() ?? [];
        if (failures.length === 0) events.push({ f: 'heal', value: 'network' });
        else events.push({ f: 'heal', value: 'network', ...({ error: `network heal failed: ${failures.slice(0, 3).join('; ')}`.slice(0, 500) } as object) });
      } catch (error) {
        events.push({ f: 'heal', value: 'network', ...({ error: String(error) } as object) });
      }
    }
    return events;
  }
}

export function createNemesis(options: NemesisOptions): ZabNemesis {
  return new ZabNemesis(options);
}
