/**
 * The seeded fault schedule: (packages, seed, interval, time limit) → a timed list of nemesis ops.
 * The same seed gives the same faults, parameters and order. Targets chosen by role (the leader,
 * a follower) are resolved at run time by the nemesis, but each start op carries a seeded `pick`
 * that drives every random choice made then, so the choice sequence is seeded too.
 *
 * Four lanes run side by side: process faults (kill, pause, power), network faults (partition,
 * one-way, latency, bandwidth, reset, slice), membership churn (rejoin) and disk faults (disk). Within a lane faults never overlap; each start is
 * followed by its own end event (the same `id`) before the lane's next start, and before the time
 * limit. Like Jepsen's combined packages: stagger, start, hold, stop.
 */
import type { NemesisEvent, PowerCutMode } from '../jepsen-style/types.js';
import { createPrng, type Prng } from '../src/core/prng.js';
import { membershipPackages, networkPackages, packageOps, processPackages, storagePackages, type FaultPackage } from '../jepsen-style/vocabulary.js';
import { slicerMaximumSizeVariation } from '../cluster/toxic-limits.js';

export interface ScheduledFault {
  readonly atMs: number;
  readonly op: NemesisEvent;
}

export type NodeTarget = 'one' | 'leader' | 'follower' | 'followers' | 'minority' | 'minority-with-leader' | 'majority' | 'all';
/**
 * `handover` is not a fixed grudge but a sequence (faults/nemesis.ts `handover`): latency on every
 * link, the leader cut off, and the leader elected next cut off too, the moment it reports
 * broadcast, before its first proposals (still in the latency) reach anyone. Always silent.
 */
export type PartitionShape = 'halves' | 'leader' | 'minority-with-leader' | 'ring' | 'bridge' | 'handover';
export type LinkScope = 'all' | 'leader' | 'one';

/** The `value` of a start op (what the schedule decides; the nemesis adds what it resolved). */
export type FaultSpec =
  | { readonly package: 'kill' | 'pause'; readonly targets: NodeTarget; readonly node?: string }
  | { readonly package: 'power'; readonly targets: 'majority' | 'all'; readonly node?: string; readonly mode?: PowerCutMode }
  | { readonly package: 'partition'; readonly shape: PartitionShape; readonly mode: 'silent' | 'refuse' }
  | { readonly package: 'one-way'; readonly direction: 'from-leader' | 'to-leader' | 'random' }
  | { readonly package: 'latency'; readonly scope: LinkScope; readonly latencyMs: number; readonly jitterMs: number }
  | { readonly package: 'bandwidth'; readonly scope: LinkScope; readonly rateKBps: number }
  | { readonly package: 'reset'; readonly scope: LinkScope; readonly timeoutMs: number }
  | { readonly package: 'slice'; readonly scope: LinkScope; readonly averageSize: number; readonly sizeVariation: number; readonly delayUs: number }
  | { readonly package: 'rejoin' }
  | { readonly package: 'disk'; readonly kind: DiskFaultKind; readonly targets: 'one' | 'leader' | 'follower'; readonly node?: string; readonly fsyncDelayMs?: number };
// The schedule never draws `node`, `mode` or `fsyncDelayMs`: a scenario's fault step may give them
// (jepsen-style/scenario-format.ts): `node` deals the fault to exactly that node instead of the
// target, `mode` fixes what a power cut loses, `fsyncDelayMs` how slow a `slow` disk is.

/** What a disk fault does: fsyncs slowed (`delayMs` each), stalled until the heal, writes or fsyncs failing with EIO, or the disk full (ENOSPC). */
export type DiskFaultKind = 'slow' | 'stall' | 'eio-write' | 'eio-fsync' | 'full';
export const diskFaultKinds: readonly DiskFaultKind[] = ['slow', 'stall', 'eio-write', 'eio-fsync', 'full'];

export type StartValue = FaultSpec & { readonly id: number; readonly pick: number };
export interface StopValue { readonly id: number; readonly package: FaultPackage }

function choose<T>(prng: Prng, items: readonly T[]): T {
  return items[prng.int(items.length)]!;
}

/**
 * How often each partition shape is drawn. Shapes that leave the leader on a minority side with
 * followers (halves, minority-with-leader) come up twice as often as the other fixed shapes: they
 * are where uncommitted proposals meet truncation. A leader handover under a slow network (a new
 * leader lost before its first proposals reach a quorum, so the next quorum never heard of its
 * epoch: ZOOKEEPER-335/790/3911-class bugs) needs a few-millisecond window that random cuts
 * almost never hit, so it has its own shape, drawn for 4 partitions in 11 (with `all`, the default
 * 5 s interval and 60 s, it comes up in each of seeds 1-3; test/unit/faults/schedule.test.ts).
 */
export const partitionShapeWeights: Record<PartitionShape, number> = {
  halves: 2, 'minority-with-leader': 2, leader: 1, ring: 1, bridge: 1, handover: 4,
};

const partitionShapeDraw: readonly PartitionShape[] = (Object.keys(partitionShapeWeights) as PartitionShape[])
  .flatMap((shape) => Array.from({ length: partitionShapeWeights[shape] }, () => shape));

/** Draw one fault of `pkg` with its parameters. */
export function drawFault(prng: Prng, pkg: FaultPackage): FaultSpec {
  switch (pkg) {
    case 'kill':
    case 'pause':
      return { package: pkg, targets: choose(prng, ['one', 'leader', 'follower', 'followers', 'minority'] as const) };
    case 'power':
      return { package: pkg, targets: choose(prng, ['majority', 'all'] as const) };
    case 'partition': {
      const shape = choose(prng, partitionShapeDraw);
      const refuse = prng.next() < 0.25;
      // A handover is always silent: a refused link closes its connections at once, and the new
      // leader would learn of the cut instead of going on proposing into it.
      return { package: pkg, shape, mode: refuse && shape !== 'handover' ? 'refuse' : 'silent' };
    }
    case 'one-way':
      return { package: pkg, direction: choose(prng, ['from-leader', 'to-leader', 'random'] as const) };
    case 'latency': {
      const latencyMs = choose(prng, linkFaultParameters.latencyMs);
      return { package: pkg, scope: choose(prng, linkScopes), latencyMs, jitterMs: choose(prng, jitterChoices(latencyMs)) };
    }
    case 'bandwidth':
      return { package: pkg, scope: choose(prng, linkScopes), rateKBps: choose(prng, linkFaultParameters.rateKBps) };
    case 'reset':
      return { package: pkg, scope: choose(prng, linkScopes), timeoutMs: choose(prng, linkFaultParameters.resetTimeoutMs) };
    case 'slice': {
      // Drawn in this order (scope first) so each seed keeps the schedule it had.
      const scope = choose(prng, linkScopes);
      const averageSize = choose(prng, linkFaultParameters.sliceAverageSize);
      const sizeVariation = sliceSizeVariation(averageSize, choose(prng, linkFaultParameters.sliceSizeVariation));
      return { package: pkg, scope, averageSize, sizeVariation, delayUs: choose(prng, linkFaultParameters.sliceDelayUs) };
    }
    case 'rejoin':
      // Every choice of a rejoin is made at run time from the op's pick (faults/rejoin.ts).
      return { package: pkg };
    case 'disk':
      return { package: pkg, kind: choose(prng, diskFaultKinds), targets: choose(prng, ['one', 'leader', 'follower'] as const) };
  }
}

const linkScopes = ['all', 'leader', 'one'] as const;

/**
 * Every parameter value the link faults are drawn from (one list per parameter, each value
 * equally likely). test/integration/cluster/toxic-space.test.ts drives every combination through
 * the real Toxiproxy, so a value added here is checked against it.
 */
export const linkFaultParameters = {
  latencyMs: [20, 50, 100, 250, 600],
  rateKBps: [1, 8, 64, 512],
  resetTimeoutMs: [0, 100, 1000],
  sliceAverageSize: [1, 8, 64],
  sliceSizeVariation: [0, 4],
  sliceDelayUs: [0, 100, 1000],
} as const;

/** Jitter is none or half the latency (never more: a delay below zero means no delay). */
function jitterChoices(latencyMs: number): number[] {
  return [0, Math.round(latencyMs / 2)];
}

/**
 * The slicer's size_variation, kept below its average_size: Toxiproxy 2.12.0 panics with "slice
 * bounds out of range" and dies, every proxy with it, when size_variation >= average_size + 2
 * (Shopify/toxiproxy#541, still open), and its recursion may not shrink from size_variation >=
 * average_size on (cluster/toxic-limits.ts has the arithmetic). Seed 7 of `--nemesis all` drew
 * average_size 1 with size_variation 4 and took the whole testbed down (issue 10). The draw is
 * clamped rather than re-drawn so every seed's schedule keeps its other choices.
 */
function sliceSizeVariation(averageSize: number, drawn: number): number {
  return Math.min(drawn, slicerMaximumSizeVariation(averageSize));
}

/** A slow disk's delay per fsync, chosen when the fault lands (from its pick). */
export const diskFaultParameters = {
  fsyncDelayMs: [20, 100, 500],
} as const;

/** A link fault's parameters, without where it goes (the scope). */
export type LinkFaultParameters =
  | { readonly package: 'latency'; readonly latencyMs: number; readonly jitterMs: number }
  | { readonly package: 'bandwidth'; readonly rateKBps: number }
  | { readonly package: 'reset'; readonly timeoutMs: number }
  | { readonly package: 'slice'; readonly averageSize: number; readonly sizeVariation: number; readonly delayUs: number };

/** Every distinct parameter combination drawFault can give a latency, bandwidth, reset or slice fault. */
export function linkFaultSpace(): LinkFaultParameters[] {
  const p = linkFaultParameters;
  const space: LinkFaultParameters[] = [
    ...p.latencyMs.flatMap((latencyMs) => [...new Set(jitterChoices(latencyMs))].map((jitterMs) => ({ package: 'latency' as const, latencyMs, jitterMs }))),
    ...p.rateKBps.map((rateKBps) => ({ package: 'bandwidth' as const, rateKBps })),
    ...p.resetTimeoutMs.map((timeoutMs) => ({ package: 'reset' as const, timeoutMs })),
  ];
  const slices = new Map<string, LinkFaultParameters>();
  for (const averageSize of p.sliceAverageSize) {
    for (const drawn of p.sliceSizeVariation) {
      for (const delayUs of p.sliceDelayUs) {
        const sizeVariation = sliceSizeVariation(averageSize, drawn);
        slices.set(`${averageSize}/${sizeVariation}/${delayUs}`, { package: 'slice', averageSize, sizeVariation, delayUs });
      }
    }
  }
  return [...space, ...slices.values()];
}

export interface ScheduleOptions {
  readonly packages: readonly FaultPackage[];
  readonly seed: number;
  /** Mean time between a lane's faults, and mean time a fault holds. */
  readonly intervalSeconds: number;
  readonly timeLimitSeconds: number;
}

/**
 * How often each package is drawn within its lane when several are chosen (e.g. `all`). Crashes and
 * partitions are what a consensus protocol must survive, and what uncovers its bugs (Jepsen's
 * experience with ZooKeeper, etcd, Raft implementations), so they come up more often than the
 * slow-network faults.
 */
export const packageWeights: Record<FaultPackage, number> = {
  kill: 2, pause: 1, power: 2, partition: 3, 'one-way': 1, latency: 1, bandwidth: 1, reset: 1, slice: 1, rejoin: 1, disk: 1,
};

/** Why: a fault held for less than this cannot be told apart from scheduling noise. */
const minimumFaultMs = 500;

export function generateSchedule(options: ScheduleOptions): ScheduledFault[];
export function generateSchedule(packages: readonly FaultPackage[], seed: number, intervalSeconds: number, timeLimitSeconds: number): ScheduledFault[];
export function generateSchedule(
  first: ScheduleOptions | readonly FaultPackage[], seed?: number, intervalSeconds?: number, timeLimitSeconds?: number,
): ScheduledFault[] {
  const options: ScheduleOptions = Array.isArray(first)
    ? { packages: first as readonly FaultPackage[], seed: seed!, intervalSeconds: intervalSeconds!, timeLimitSeconds: timeLimitSeconds! }
    : (first as ScheduleOptions);
  if (!(options.intervalSeconds > 0)) throw new RangeError(`intervalSeconds must be > 0, got ${options.intervalSeconds}`);
  if (!(options.timeLimitSeconds >= 0)) throw new RangeError(`timeLimitSeconds must be >= 0, got ${options.timeLimitSeconds}`);
  const root = createPrng(options.seed);
  const intervalMs = options.intervalSeconds * 1000;
  const limitMs = Math.floor(options.timeLimitSeconds * 1000);
  // The membership lane, then the storage lane, come last, so their streams are forked after the
  // others and every seed keeps the faults it had before each lane existed.
  const lanes = [processPackages, networkPackages, membershipPackages, storagePackages].map((lane) => lane.filter((p) => options.packages.includes(p)));
  const events: { atMs: number; lane: number; seq: number; op: NemesisEvent }[] = [];
  let nextId = 1;
  let seq = 0;
  // Each lane gets its own stream (forked in a fixed order), so adding a package to one lane does
  // not reshuffle the other.
  const streams = lanes.map(() => root.fork());
  // Draw each lane's timeline, then number the faults in global start order.
  const drafts: { atMs: number; endMs: number; lane: number; spec: FaultSpec; pick: number }[] = [];
  lanes.forEach((lane, laneIndex) => {
    if (lane.length === 0) return;
    const prng = streams[laneIndex]!;
    let t = Math.round(prng.next() * intervalMs);
    const weighted = lane.flatMap((pkg) => Array.from({ length: packageWeights[pkg] }, () => pkg));
    for (;;) {
      const pkg = choose(prng, weighted);
      const spec = drawFault(prng, pkg);
      const pick = prng.int(0x7fff_ffff);
      const holdMs = Math.round(intervalMs * (0.5 + prng.next()));
      const gapMs = Math.round(intervalMs * (0.5 + prng.next()));
      if (t + minimumFaultMs >= limitMs) break;
      const endMs = Math.min(t + holdMs, limitMs - 1);
      drafts.push({ atMs: t, endMs, lane: laneIndex, spec, pick });
      t = endMs + gapMs;
    }
  });
  drafts.sort((a, b) => a.atMs - b.atMs || a.lane - b.lane);
  for (const draft of drafts) {
    const id = nextId++;
    const ops = packageOps[draft.spec.package];
    const start: StartValue = { id, ...draft.spec, pick: draft.pick };
    const stop: StopValue = { id, package: draft.spec.package };
    events.push({ atMs: draft.atMs, lane: draft.lane, seq: seq++, op: { f: ops.start, value: start } });
    events.push({ atMs: draft.endMs, lane: draft.lane, seq: seq++, op: { f: ops.stop, value: stop } });
  }
  // Stops before starts at the same instant, then lane order, then draw order.
  const isStop = (op: NemesisEvent): number => ((op.value as { pick?: number }).pick === undefined ? 0 : 1);
  events.sort((a, b) => a.atMs - b.atMs || isStop(a.op) - isStop(b.op) || a.lane - b.lane || a.seq - b.seq);
  return events.map(({ atMs, op }) => ({ atMs, op }));
}
