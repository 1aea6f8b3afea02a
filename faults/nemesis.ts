/**
 * The nemesis: starts and heals the faults of faults/schedule.ts on a real cluster, through the Db
 * (process faults) and the Net (link faults through Toxiproxy). Each start op returns what it
 * actually did (the nodes and links resolved at run time) for the history; its end op (same `id`)
 * undoes exactly that. `healAll` resumes, restarts and heals everything and never throws.
 *
 * Role targets use Db.leader(); when no single leader is known, a seeded random node stands in
 * (recorded as `leader: null`). Every random choice at run time comes from the op's seeded `pick`.
 */
import type { Db, Nemesis, NemesisEvent, Net } from '../jepsen-style/types.js';
import { createPrng, type Prng } from '../src/core/prng.js';
import { grudgeLinks, halvesGrudge, isolateGrudge, majoritiesRingGrudge, bridgeGrudge, shuffle, majority, type Grudge } from './grudge.js';
import { isFaultPackage, packageOps, type FaultPackage } from './packages.js';
import type { FaultSpec, LinkScope, NodeTarget, PartitionShape } from './schedule.js';

/** A Net that can also undo one kind of fault on one directed link (cluster/net.ts ToxiproxyNet). */
export interface HealableNet extends Net {
  heal(from: string, to: string, kind: 'cut' | 'latency' | 'bandwidth' | 'reset' | 'slice'): Promise<void>;
}

/** A Db that can kill several nodes at one instant (cluster/zabkit-db.ts); otherwise kills run in parallel. */
interface PowerDb extends Db {
  killMany?(names: readonly string[]): Promise<void>;
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
    const db = this.options.db as PowerDb;
    switch (spec.package) {
      case 'kill': {
        const { nodes, leader } = await this.resolveTargets(spec.targets ?? 'one', prng);
        await Promise.all(nodes.map((node) => db.kill(node)));
        return { result: { nodes, leader }, undo: async () => { await Promise.all(nodes.map((node) => db.start(node))); return { nodes }; } };
      }
      case 'pause': {
        const { nodes, leader } = await this.resolveTargets(spec.targets ?? 'one', prng);
        await Promise.all(nodes.map((node) => db.pause(node)));
        return { result: { nodes, leader }, undo: async () => { await Promise.all(nodes.map((node) => db.resume(node))); return { nodes }; } };
      }
      case 'power': {
        const { nodes } = await this.resolveTargets(spec.targets ?? 'all', prng);
        if (db.killMany) await db.killMany(nodes);
        else await Promise.all(nodes.map((node) => db.kill(node)));
        return { result: { nodes }, undo: async () => { await Promise.all(nodes.map((node) => db.start(node))); return { nodes }; } };
      }
      case 'partition': {
        const net = this.requireNet();
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

  async partitionGrudge(shape: PartitionShape, prng: Prng): Promise<{ grudge: Grudge; leader: string | null }> {
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
      try {
        await this.options.net.healAll();
        events.push({ f: 'heal', value: 'network' });
      } catch (error) {
        events.push({ f: 'heal', value: { network: 'failed', error: String(error) } });
      }
    }
    return events;
  }
}

export function createNemesis(options: NemesisOptions): ZabNemesis {
  return new ZabNemesis(options);
}
