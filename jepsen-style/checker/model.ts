/**
 * The indexed model of a history, built once and shared by every family checker (checker.ts
 * header, "Composition"): broadcasts with their outcomes, reads and each node's last read (its
 * final state), the agreed order (the longest final state) with every read compared to it, deliver
 * observations, final-phase markers and testbed failures. Building it is linear in the history
 * plus the size of the reads: one pass over the ops, one over the agreed order, one comparison per
 * read that stops at the first difference. A malformed history throws `MalformedHistoryError`.
 */
import type { Op } from '../types.js';
import { MalformedHistoryError, normalizeZxid } from './anomaly.js';
import { finalPhaseF, finalPhaseMarker, finalPhaseProblem, testbedFailure, type FinalPhaseMarker, type TestbedFailure } from './final-phase.js';
import type { SupervisionOp } from '../vocabulary.js';

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
}

export interface HistoryModel {
  readonly ops: readonly Op[];
  /** By id, in invoke order. */
  readonly broadcasts: ReadonlyMap<string, Broadcast>;
  /** The broadcast each op invoked or completed, by op position. */
  readonly opBroadcast: readonly (Broadcast | undefined)[];
  /** The deliver observation of each op, by op position. */
  readonly opObservation: readonly (Observation | undefined)[];
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
  /** Id -> its first position in the agreed order. */
  readonly position: ReadonlyMap<string, number>;
  /** Zxid -> its first position in the agreed order (deliveries without a zxid are not in it). */
  readonly referenceZxidPosition: ReadonlyMap<string, number>;
  readonly markers: readonly FinalPhaseMarker[];
  readonly failures: readonly TestbedFailure[];
  readonly observations: number;
  readonly byF: Readonly<Record<string, Record<string, number>>>;
  readonly processes: ReadonlySet<number>;
  readonly nemesisEvents: number;
  readonly toxiproxyDown: number;
  readonly toxiproxyRestored: number;
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

/** The ids and canonical zxids of a read's deliveries (arrays shared by reads that share one deliveries array). */
function readDeliveries(op: Op, deliveries: unknown[], cache: WeakMap<unknown[], { ids: string[]; zxids: string[] }>): { ids: string[]; zxids: string[] } {
  const cached = cache.get(deliveries);
  if (cached !== undefined) return cached;
  const ids: string[] = new Array<string>(deliveries.length);
  const zxids: string[] = new Array<string>(deliveries.length);
  for (let i = 0; i < deliveries.length; i += 1) {
    const d = deliveries[i] as { id?: unknown; zxid?: unknown } | null;
    const id = typeof d === 'object' && d !== null ? d.id : undefined;
    if (typeof id !== 'string') malformed(op, `read deliveries[${i}] has no string id`);
    ids[i] = id;
    const zxid = (d as { zxid?: unknown }).zxid;
    zxids[i] = typeof zxid === 'string' ? normalizeZxid(zxid) : '';
  }
  const out = { ids, zxids };
  cache.set(deliveries, out);
  return out;
}

const toxiproxyDownF: SupervisionOp = 'toxiproxy-down';
const toxiproxyRestoredF: SupervisionOp = 'toxiproxy-restored';

/** Index a history (throws `MalformedHistoryError` on a history the checker cannot judge). */
export function buildModel(ops: readonly Op[]): HistoryModel {
  const broadcasts = new Map<string, Mutable<Broadcast>>();
  const pendingReads = new Map<number, number>();
  const reads: Mutable<Read>[] = [];
  const deliveriesCache = new WeakMap<unknown[], { ids: string[]; zxids: string[] }>();
  let observations = 0;
  const byF: Record<string, Record<string, number>> = {};
  const processes = new Set<number>();
  let nemesisEvents = 0;
  const markers: FinalPhaseMarker[] = [];
  const failures: TestbedFailure[] = [];
  let toxiproxyDown = 0;
  let toxiproxyRestored = 0;
  const afterMarker: Broadcast[] = [];
  const opBroadcast = new Array<Broadcast | undefined>(ops.length);
  const opObservation = new Array<Observation | undefined>(ops.length);

  // The ops, in history order.
  let k = -1;
  for (const op of ops) {
    k += 1;
    const counts = (byF[op.process === 'nemesis' ? `nemesis:${op.f}` : op.f] ??= {});
    counts[op.type] = (counts[op.type] ?? 0) + 1;
    if (op.process === 'nemesis') {
      nemesisEvents += 1;
      const failure = testbedFailure(op);
      if (failure !== undefined) failures.push(failure);
      else if (op.f === toxiproxyDownF) toxiproxyDown += 1;
      else if (op.f === toxiproxyRestoredF) toxiproxyRestored += 1;
      if (op.f === finalPhaseF) {
        const problem = finalPhaseProblem(op.value);
        if (problem !== undefined) malformed(op, problem);
        markers.push(finalPhaseMarker(op));
      }
      continue;
    }
    processes.add(op.process);
    const value = asRecord(op.value);
    if (op.f === 'broadcast') {
      const id = value !== undefined && typeof value.id === 'string' ? value.id : undefined;
      if (id === undefined) malformed(op, `broadcast ${op.type} without value.id`);
      if (op.type === 'invoke') {
        const earlier = broadcasts.get(id);
        if (earlier !== undefined) malformed(op, `broadcast id ${JSON.stringify(id)} invoked again (first at history index ${earlier.invokeIndex})`);
        const b: Mutable<Broadcast> = { id, process: op.process, node: op.node, invokeIndex: op.index, invokeTime: op.time, outcome: 'pending', doneIndex: -1, doneTime: -1, zxid: undefined, pos: -1 };
        broadcasts.set(id, b);
        opBroadcast[k] = b;
        if (markers.length > 0) afterMarker.push(b);
      } else {
        const b = broadcasts.get(id);
        if (b === undefined) malformed(op, `broadcast ${op.type} of ${JSON.stringify(id)} without its invoke`);
        if (b.outcome !== 'pending') malformed(op, `broadcast ${op.type} of ${JSON.stringify(id)} after its ${b.outcome} at history index ${b.doneIndex}`);
        opBroadcast[k] = b;
        b.outcome = op.type;
        b.doneIndex = op.index;
        b.doneTime = op.time;
        if (op.type === 'ok' && typeof value?.zxid === 'string') b.zxid = normalizeZxid(value.zxid);
      }
    } else if (op.f === 'read') {
      if (op.type === 'invoke') pendingReads.set(op.process, op.index);
      else {
        const invokeIndex = pendingReads.get(op.process) ?? op.index;
        pendingReads.delete(op.process);
        if (op.type === 'ok') {
          if (value === undefined || !Array.isArray(value.deliveries)) malformed(op, 'read ok without value.deliveries (an array)');
          const { ids, zxids } = readDeliveries(op, value.deliveries as unknown[], deliveriesCache);
          reads.push({ index: op.index, invokeIndex, node: op.node ?? `?process-${op.process}`, ids, zxids, divergesAt: -1, exactPrefix: false });
        }
      }
    } else if (op.f === 'deliver') {
      if (op.type !== 'ok') malformed(op, `a deliver observation must be an ok, got ${op.type}`);
      if (value === undefined || typeof value.id !== 'string') malformed(op, 'deliver without value.id');
      observations += 1;
      opObservation[k] = {
        index: op.index,
        process: op.process,
        node: op.node ?? '?',
        id: value.id,
        zxid: typeof value.zxid === 'string' ? normalizeZxid(value.zxid) : '',
        subscription: value.subscription === undefined ? '' : String(value.subscription),
      };
    }
  }

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

  // The agreed order, indexed: each id's and each zxid's first position.
  const position = new Map<string, number>();
  const referenceZxidPosition = new Map<string, number>();
  if (reference !== undefined) {
    reference.exactPrefix = true;
    const { ids, zxids } = reference;
    for (let pos = 0; pos < ids.length; pos += 1) {
      const id = ids[pos] as string;
      const zxid = zxids[pos] as string;
      if (!position.has(id)) position.set(id, pos);
      if (zxid !== '' && !referenceZxidPosition.has(zxid)) referenceZxidPosition.set(zxid, pos);
    }
  }
  for (const b of broadcasts.values()) b.pos = position.get(b.id) ?? -1;

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

  return {
    ops,
    broadcasts,
    opBroadcast,
    opObservation,
    acked,
    afterMarker,
    reads,
    lastRead,
    reference,
    liveNodes,
    liveReads,
    position,
    referenceZxidPosition,
    markers,
    failures,
    observations,
    byF,
    processes,
    nemesisEvents,
    toxiproxyDown,
    toxiproxyRestored,
    isLast,
    finalStateHolding,
    holds,
  };
}
