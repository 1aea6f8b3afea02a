/**
 * The indexed model of a history, built once and shared by every family checker (checker.ts
 * header, "Composition"): broadcasts with their outcomes, reads and each node's last read (its
 * final state), the agreed order (the longest final state) with every read compared to it, deliver
 * observations, final-phase markers and testbed failures. `ModelBuilder` takes the ops one at a time
 * and keeps no op: per message its broadcast (or observation) and an int on the event tape that
 * replays the history's order to the checkers that need it (`forEachEvent`), plus the reads and the
 * markers. Building it is linear in the history plus the size of the reads: one pass over the ops,
 * one over the agreed order, one comparison per read that stops at the first difference. A
 * malformed history throws `MalformedHistoryError`.
 */
import type { Op } from '../types.js';
import { compareZxid, MalformedHistoryError, normalizeZxid } from './anomaly.js';
import { finalPhaseF, finalPhaseMarker, finalPhaseProblem, testbedFailure, type FinalPhaseMarker, type TestbedFailure } from './final-phase.js';
import { isProcessRestartOp, type SupervisionOp } from '../vocabulary.js';

export type Outcome = 'pending' | 'ok' | 'fail' | 'info';

export interface Broadcast {
  readonly id: string;
  readonly process: number;
  readonly node: string | undefined;
  readonly invokeIndex: number;
  readonly invokeTime: number;
  readonly outcome: Outcome;
  /** History index of the completion, -1 while pending. */
  readonly doneIndex: number;
  readonly doneTime: number;
  /** Canonical zxid of the `ok`, when it carried one. */
  readonly zxid: string | undefined;
  /** Position in the agreed order (its first), -1 when not in it. */
  readonly pos: number;
  /** Its number: the broadcasts in invoke order, from 0. */
  readonly ref: number;
}

export interface Read {
  /** History index of the read's `ok`. */
  readonly index: number;
  readonly invokeIndex: number;
  readonly node: string;
  readonly ids: readonly string[];
  /** Canonical zxids, '' where a delivery had none. */
  readonly zxids: readonly string[];
  /** The first position (of those both hold) where its ids differ from the agreed order's, -1 when none. */
  readonly divergesAt: number;
  /**
   * Ids and zxids a prefix of the agreed order (the reference itself included): its per-entry
   * findings are exactly the reference's below its length, so checkers need not scan it again.
   */
  readonly exactPrefix: boolean;
  /** Each delivery's broadcast (undefined: an id never invoked), resolved once the model is built. */
  readonly refs: readonly (Broadcast | undefined)[];
}

/** A `deliver` observation: `process`'s subscription saw `node` deliver `id`. */
export interface Observation {
  readonly index: number;
  readonly process: number;
  readonly node: string;
  readonly id: string;
  /** Canonical zxid, '' when the observation carried none. */
  readonly zxid: string;
  /** `value.subscription` as a string, '' when absent. */
  readonly subscription: string;
  /** Its broadcast (undefined: an id never invoked), resolved once the model is built. */
  readonly broadcast: Broadcast | undefined;
}

/** A nemesis op that restarted processes (jepsen-style/vocabulary.ts): the strings its value names. */
export interface Restart {
  readonly index: number;
  readonly named: ReadonlySet<string>;
}

/** What `forEachEvent` calls, in history order (the events the order and observation checkers need). */
export interface EventVisitor {
  invoke?(b: Broadcast): void;
  ok?(b: Broadcast): void;
  observe?(o: Observation): void;
  restart?(r: Restart): void;
}

export interface HistoryModel {
  /** How many ops the history has. */
  readonly opCount: number;
  /** The last op's time minus the first's (ns). */
  readonly durationNs: number;
  /** By id, in invoke order. */
  readonly broadcasts: ReadonlyMap<string, Broadcast>;
  /** Deliver observations, in history order. */
  readonly observationList: readonly Observation[];
  /** Broadcasts whose outcome is `ok`, in invoke order. */
  readonly acked: readonly Broadcast[];
  /** Broadcasts invoked after the first final-phase marker (the probes), in invoke order. */
  readonly afterMarker: readonly Broadcast[];
  /** Every read `ok`, in history order. */
  readonly reads: readonly Read[];
  /** Each node's last read: its final state (nodes in order of their first read). */
  readonly lastRead: ReadonlyMap<string, Read>;
  /** The agreed order: the longest final state (ties: the first in the history). */
  readonly reference: Read | undefined;
  /** The nodes the last final-phase marker lists, or undefined without a marker. */
  readonly liveNodes: ReadonlySet<string> | undefined;
  /** The live nodes' final states (every final state without a marker). */
  readonly liveReads: readonly Read[];
  /** Id -> its first position in the agreed order (a broadcast's is its `pos`; no map of its own). */
  readonly position: Pick<ReadonlyMap<string, number>, 'get' | 'has'>;
  /** `position.get(id)` without the lookup when the broadcast of `id` is at hand (`refs`, `broadcast`). */
  positionOf(b: Broadcast | undefined, id: string): number | undefined;
  /** The agreed order's zxids strictly increase: each zxid's first position is its own. */
  readonly referenceZxidsIncrease: boolean;
  /** Zxid -> its first position in the agreed order (deliveries without a zxid are not in it). */
  readonly referenceZxidPosition: Pick<ReadonlyMap<string, number>, 'get'>;
  readonly markers: readonly FinalPhaseMarker[];
  readonly failures: readonly TestbedFailure[];
  readonly observations: number;
  readonly byF: Readonly<Record<string, Record<string, number>>>;
  readonly processes: ReadonlySet<number>;
  readonly nemesisEvents: number;
  readonly toxiproxyDown: number;
  readonly toxiproxyRestored: number;
  /** Broadcast invokes, broadcast oks, deliver observations and process restarts, in history order. */
  forEachEvent(visitor: EventVisitor): void;
  isLast(read: Read): boolean;
  /** The last read holding `id` (the reference first), or undefined when no final state holds it. */
  finalStateHolding(id: string): Read | undefined;
  /** Whether a final state holds `id` (false for reads that are not final states). */
  holds(read: Read, id: string): boolean;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function malformed(op: Op, problem: string): never {
  throw new MalformedHistoryError(op.index, problem);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * The ids and canonical zxids of a read's deliveries (arrays shared by reads that share one
 * deliveries array). An id that was broadcast is stored as the broadcast's own id string, and a
 * zxid its acknowledgement carried as that string: a final read costs its arrays, not new strings.
 */
function readDeliveries(op: Op, deliveries: unknown[], cache: WeakMap<unknown[], { ids: string[]; zxids: string[] }>, broadcasts: ReadonlyMap<string, Broadcast>): { ids: string[]; zxids: string[] } {
  const cached = cache.get(deliveries);
  if (cached !== undefined) return cached;
  const ids: string[] = new Array<string>(deliveries.length);
  const zxids: string[] = new Array<string>(deliveries.length);
  for (let i = 0; i < deliveries.length; i += 1) {
    const d = deliveries[i] as { id?: unknown; zxid?: unknown } | null;
    const id = typeof d === 'object' && d !== null ? d.id : undefined;
    if (typeof id !== 'string') malformed(op, `read deliveries[${i}] has no string id`);
    const b = broadcasts.get(id);
    ids[i] = b === undefined ? id : b.id;
    const zxid = (d as { zxid?: unknown }).zxid;
    zxids[i] = typeof zxid === 'string' ? sameZxid(b, normalizeZxid(zxid)) : '';
  }
  const out = { ids, zxids };
  cache.set(deliveries, out);
  return out;
}

/** `zxid`, as the broadcast's acknowledged zxid string when it is that zxid. */
function sameZxid(b: Broadcast | undefined, zxid: string): string {
  return b !== undefined && b.zxid === zxid ? b.zxid : zxid;
}

const toxiproxyDownF: SupervisionOp = 'toxiproxy-down';
const toxiproxyRestoredF: SupervisionOp = 'toxiproxy-restored';

/** Limit: how deep a nemesis value is searched for node names (values are small, this is a guard). */
const maxValueDepth = 8;

/** Every string inside a nemesis value (node names it targets), keys included. */
function stringsIn(value: unknown, out: Set<string>, depth = 0): void {
  if (depth > maxValueDepth) return;
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out, depth + 1);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      stringsIn(v, out, depth + 1);
    }
  }
}

// The event tape: one int per event, `ref * 4 + kind`, ref indexing the kind's own list.
const kindInvoke = 0;
const kindOk = 1;
const kindObserve = 2;
const kindRestart = 3;

/** A growable Int32Array (4 bytes an event instead of an object). */
class IntTape {
  private data = new Int32Array(1024);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const grown = new Int32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = value;
  }
  at(i: number): number {
    return this.data[i] as number;
  }
}

/**
 * The model, built one op at a time (a history is never held whole: `zabkit check` streams the
 * file through it). What it keeps is per message (each broadcast, each observation, an int per
 * event on a tape), per read and per marker; an op itself is dropped once added.
 */
export class ModelBuilder {
  private readonly broadcasts = new Map<string, Mutable<Broadcast>>();
  private readonly broadcastList: Broadcast[] = [];
  private readonly pendingReads = new Map<number, number>();
  private readonly reads: Mutable<Read>[] = [];
  private readonly deliveriesCache = new WeakMap<unknown[], { ids: string[]; zxids: string[] }>();
  private readonly observationList: Observation[] = [];
  private readonly restarts: Restart[] = [];
  private readonly tape = new IntTape();
  private readonly nodeNames = new Map<string, string>();
  private readonly byF: Record<string, Record<string, number>> = {};
  private readonly processes = new Set<number>();
  private readonly markers: FinalPhaseMarker[] = [];
  private readonly failures: TestbedFailure[] = [];
  private readonly afterMarker: Broadcast[] = [];
  private nemesisEvents = 0;
  private toxiproxyDown = 0;
  private toxiproxyRestored = 0;
  private opCount = 0;
  private firstTime = 0;
  private lastTime = 0;
  /** finish() hands out the builder's own state: after it, the builder takes nothing more. */
  private finished = false;

  /** One node name string for every op that names it. */
  private node(name: string): string {
    const known = this.nodeNames.get(name);
    if (known !== undefined) return known;
    this.nodeNames.set(name, name);
    return name;
  }

  /** Add the next op of the history (throws `MalformedHistoryError` on one the checker cannot judge). */
  add(op: Op): void {
    if (this.finished) throw new Error('ModelBuilder.add() after finish()');
    if (this.opCount === 0) this.firstTime = op.time;
    this.opCount += 1;
    this.lastTime = op.time;
    const counts = (this.byF[op.process === 'nemesis' ? `nemesis:${op.f}` : op.f] ??= {});
    counts[op.type] = (counts[op.type] ?? 0) + 1;
    if (op.process === 'nemesis') {
      this.nemesisEvents += 1;
      const failure = testbedFailure(op);
      if (failure !== undefined) this.failures.push(failure);
      else if (op.f === toxiproxyDownF) this.toxiproxyDown += 1;
      else if (op.f === toxiproxyRestoredF) this.toxiproxyRestored += 1;
      if (op.f === finalPhaseF) {
        const problem = finalPhaseProblem(op.value);
        if (problem !== undefined) malformed(op, problem);
        this.markers.push(finalPhaseMarker(op));
      }
      if (isProcessRestartOp(op.f)) {
        const named = new Set<string>();
        stringsIn(op.value, named);
        this.tape.push(this.restarts.length * 4 + kindRestart);
        this.restarts.push({ index: op.index, named });
      }
      return;
    }
    this.processes.add(op.process);
    const value = asRecord(op.value);
    if (op.f === 'broadcast') {
      const id = value !== undefined && typeof value.id === 'string' ? value.id : undefined;
      if (id === undefined) malformed(op, `broadcast ${op.type} without value.id`);
      if (op.type === 'invoke') {
        const earlier = this.broadcasts.get(id);
        if (earlier !== undefined) malformed(op, `broadcast id ${JSON.stringify(id)} invoked again (first at history index ${earlier.invokeIndex})`);
        const b: Mutable<Broadcast> = { id, process: op.process, node: op.node === undefined ? undefined : this.node(op.node), invokeIndex: op.index, invokeTime: op.time, outcome: 'pending', doneIndex: -1, doneTime: -1, zxid: undefined, pos: -1, ref: this.broadcastList.length };
        this.broadcasts.set(id, b);
        this.tape.push(b.ref * 4 + kindInvoke);
        this.broadcastList.push(b);
        if (this.markers.length > 0) this.afterMarker.push(b);
      } else {
        const b = this.broadcasts.get(id);
        if (b === undefined) malformed(op, `broadcast ${op.type} of ${JSON.stringify(id)} without its invoke`);
        if (b.outcome !== 'pending') malformed(op, `broadcast ${op.type} of ${JSON.stringify(id)} after its ${b.outcome} at history index ${b.doneIndex}`);
        b.outcome = op.type;
        b.doneIndex = op.index;
        b.doneTime = op.time;
        if (op.type === 'ok') {
          if (typeof value?.zxid === 'string') b.zxid = normalizeZxid(value.zxid);
          this.tape.push(b.ref * 4 + kindOk);
        }
      }
    } else if (op.f === 'read') {
      if (op.type === 'invoke') this.pendingReads.set(op.process, op.index);
      else {
        const invokeIndex = this.pendingReads.get(op.process) ?? op.index;
        this.pendingReads.delete(op.process);
        if (op.type === 'ok') {
          if (value === undefined || !Array.isArray(value.deliveries)) malformed(op, 'read ok without value.deliveries (an array)');
          const { ids, zxids } = readDeliveries(op, value.deliveries as unknown[], this.deliveriesCache, this.broadcasts);
          this.reads.push({ index: op.index, invokeIndex, node: this.node(op.node ?? `?process-${op.process}`), ids, zxids, divergesAt: -1, exactPrefix: false, refs: [] });
        }
      }
    } else if (op.f === 'deliver') {
      if (op.type !== 'ok') malformed(op, `a deliver observation must be an ok, got ${op.type}`);
      if (value === undefined || typeof value.id !== 'string') malformed(op, 'deliver without value.id');
      const b = this.broadcasts.get(value.id);
      this.tape.push(this.observationList.length * 4 + kindObserve);
      this.observationList.push({
        index: op.index,
        process: op.process,
        node: this.node(op.node ?? '?'),
        id: b === undefined ? value.id : b.id,
        zxid: typeof value.zxid === 'string' ? sameZxid(b, normalizeZxid(value.zxid)) : '',
        subscription: value.subscription === undefined ? '' : String(value.subscription),
        broadcast: undefined,
      });
    }
  }

  /** The model of every op added so far. */
  finish(): HistoryModel {
    if (this.finished) throw new Error('ModelBuilder.finish() called twice');
    this.finished = true;
    const { broadcasts, reads, markers } = this;
    // Each delivery's and each observation's broadcast, now that every invoke is known (one lookup
    // here instead of one per checker); reads that share an ids array share the refs.
    const refsOf = new Map<readonly string[], (Broadcast | undefined)[]>();
    for (const read of reads) {
      let refs = refsOf.get(read.ids);
      if (refs === undefined) {
        refs = new Array<Broadcast | undefined>(read.ids.length);
        for (let i = 0; i < read.ids.length; i += 1) refs[i] = broadcasts.get(read.ids[i] as string);
        refsOf.set(read.ids, refs);
      }
      read.refs = refs;
    }
    for (const o of this.observationList as Mutable<Observation>[]) o.broadcast = broadcasts.get(o.id);
    // Final states: each node's last read. The agreed order: the longest of them (ties: the first).
    const lastRead = new Map<string, Read>();
    for (const read of reads) lastRead.set(read.node, read);
    const isLast = (read: Read): boolean => lastRead.get(read.node) === read;
    let reference: Mutable<Read> | undefined;
    for (const read of reads) if (isLast(read) && (reference === undefined || read.ids.length > reference.ids.length)) reference = read;
    const lastMarker = markers[markers.length - 1];
    const liveNodes = lastMarker === undefined ? undefined : new Set(lastMarker.nodes);
    const liveReads: Read[] = [];
    for (const read of lastRead.values()) if (liveNodes === undefined || liveNodes.has(read.node)) liveReads.push(read);

    // The agreed order, indexed: each id's and each zxid's first position (a broadcast's in its
    // `pos`, an id never broadcast in a map of its own).
    const phantomPosition = new Map<string, number>();
    if (reference !== undefined) {
      reference.exactPrefix = true;
      const { ids, refs } = reference;
      for (let pos = 0; pos < ids.length; pos += 1) {
        const id = ids[pos] as string;
        const b = refs[pos] as Mutable<Broadcast> | undefined;
        if (b === undefined) {
          if (!phantomPosition.has(id)) phantomPosition.set(id, pos);
        } else if (b.pos === -1) b.pos = pos;
      }
    }
    const { positions: referenceZxidPosition, increasing: referenceZxidsIncrease } = zxidPositions(reference);
    const positionOfRef = (b: Broadcast | undefined, id: string): number | undefined => {
      if (b === undefined) return phantomPosition.get(id);
      return b.pos === -1 ? undefined : b.pos;
    };
    const positionOf = (id: string): number | undefined => positionOfRef(broadcasts.get(id), id);
    const position = { get: positionOf, has: (id: string): boolean => positionOf(id) !== undefined };

    // Every other read against the agreed order: the first differing position, and whether it is an
    // exact prefix (ids and zxids). Final states that are an id-prefix of it hold an id iff its
    // position is below their length; the others keep their id sets.
    const prefixOfReference = new Set<Read>();
    const divergentLast: { read: Read; ids: Set<string> }[] = [];
    for (const read of reads) {
      if (read === reference) {
        prefixOfReference.add(read);
        continue;
      }
      const ref = reference as Read;
      let at = -1;
      let sameZxids = true;
      if (read.ids !== ref.ids) {
        const n = Math.min(read.ids.length, ref.ids.length);
        for (let pos = 0; pos < n; pos += 1) {
          if (read.ids[pos] !== ref.ids[pos]) {
            at = pos;
            break;
          }
          if (sameZxids && read.zxids[pos] !== ref.zxids[pos]) sameZxids = false;
        }
      }
      read.divergesAt = at;
      read.exactPrefix = at === -1 && sameZxids && read.ids.length <= ref.ids.length;
      if (isLast(read)) {
        if (at === -1) prefixOfReference.add(read);
        else divergentLast.push({ read, ids: new Set(read.ids) });
      }
    }
    const finalStateHolding = (id: string): Read | undefined => {
      if (position.has(id)) return reference;
      for (const d of divergentLast) if (d.ids.has(id)) return d.read;
      return undefined;
    };
    const holds = (read: Read, id: string): boolean => {
      if (prefixOfReference.has(read)) {
        const pos = position.get(id);
        return pos !== undefined && pos < read.ids.length;
      }
      for (const d of divergentLast) if (d.read === read) return d.ids.has(id);
      return false;
    };

    const acked: Broadcast[] = [];
    for (const b of broadcasts.values()) if (b.outcome === 'ok') acked.push(b);

    const { tape, broadcastList, observationList, restarts } = this;
    const forEachEvent = (visitor: EventVisitor): void => {
      for (let i = 0; i < tape.length; i += 1) {
        const code = tape.at(i);
        const ref = code >>> 2;
        switch (code & 3) {
          case kindInvoke:
            visitor.invoke?.(broadcastList[ref] as Broadcast);
            break;
          case kindOk:
            visitor.ok?.(broadcastList[ref] as Broadcast);
            break;
          case kindObserve:
            visitor.observe?.(observationList[ref] as Observation);
            break;
          default:
            visitor.restart?.(restarts[ref] as Restart);
        }
      }
    };

    return {
      opCount: this.opCount,
      durationNs: this.lastTime - this.firstTime,
      broadcasts,
      observationList,
      acked,
      afterMarker: this.afterMarker,
      reads,
      lastRead,
      reference,
      liveNodes,
      liveReads,
      position,
      positionOf: positionOfRef,
      referenceZxidPosition,
      referenceZxidsIncrease,
      markers,
      failures: this.failures,
      observations: observationList.length,
      byF: this.byF,
      processes: this.processes,
      nemesisEvents: this.nemesisEvents,
      toxiproxyDown: this.toxiproxyDown,
      toxiproxyRestored: this.toxiproxyRestored,
      forEachEvent,
      isLast,
      finalStateHolding,
      holds,
    };
  }
}

/**
 * Zxid -> its first position in the agreed order. When the agreed order's zxids strictly increase
 * (every valid history) a binary search answers, with no map; else a map, built on the first ask.
 */
function zxidPositions(reference: Read | undefined): { positions: Pick<ReadonlyMap<string, number>, 'get'>; increasing: boolean } {
  const zxids = reference?.zxids ?? [];
  let increasing = true;
  for (let pos = 0; increasing && pos < zxids.length; pos += 1) {
    const zxid = zxids[pos] as string;
    if (zxid === '' || (pos > 0 && compareZxid(zxids[pos - 1] as string, zxid) >= 0)) increasing = false;
  }
  if (increasing) {
    return { increasing, positions: {
      get(zxid: string): number | undefined {
        let lo = 0;
        let hi = zxids.length - 1;
        while (lo <= hi) {
          const mid = (lo + hi) >>> 1;
          const c = compareZxid(zxids[mid] as string, zxid);
          if (c === 0) return mid;
          if (c < 0) lo = mid + 1;
          else hi = mid - 1;
        }
        return undefined;
      },
    } };
  }
  let map: Map<string, number> | undefined;
  return { increasing, positions: {
    get(zxid: string): number | undefined {
      if (map === undefined) {
        map = new Map();
        for (let pos = 0; pos < zxids.length; pos += 1) {
          const z = zxids[pos] as string;
          if (z !== '' && !map.has(z)) map.set(z, pos);
        }
      }
      return map.get(zxid);
    },
  } };
}

/** Index a history held in memory (throws `MalformedHistoryError` on a history the checker cannot judge). */
export function buildModel(ops: Iterable<Op>): HistoryModel {
  const builder = new ModelBuilder();
  for (const op of ops) builder.add(op);
  return builder.finish();
}
