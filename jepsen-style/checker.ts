/**
 * The broadcast checker: `checkHistory(ops)` judges a history (interfaces.md "History format") and
 * returns `results.json` (interfaces.md "Checker result"). It knows nothing of zabkit or of today's
 * runner: only the history, judged by the spec. It runs in time linear in the history (plus the size
 * of the reads): one pass to index the history, one pass over the agreed order (a read that is an
 * exact prefix of it is only compared, not rescanned), one pass for the order checks; hash maps only,
 * no sorting but latencies.
 *
 * Terms.
 * - A broadcast is acknowledged when its `ok` arrives, failed on `fail`, indeterminate on `info`
 *   or when the history ends before its completion. Completions pair with invokes by message id.
 * - A read is a `read` op of type `ok`; its `value.deliveries` is that node's delivered sequence
 *   then. A node may be read many times (reads during the run, rounds of final reads after repeated
 *   outages): each node's LAST read is its final state. Every read is checked for safety
 *   (duplicate, zxid-order, zxid-conflict, phantom, failed-delivered, divergence); the final states
 *   decide lost, not-converged, fifo gaps and deliver-order's `not-in-order`.
 * - The agreed order is the longest final state (ties: the first in the history). Positions below
 *   are positions in it; "ordered before" means a smaller position. A message "in a final state"
 *   is in some node's last read.
 * - Live nodes: those the last final-phase marker lists; without a marker, every node read.
 * - A deliver observation is a `deliver` ok: process P's subscription saw `node` deliver the message.
 *
 * Malformed histories. A broadcast op (invoke, ok, fail, info) whose value lacks the string id, a
 * second invoke of an id, a completion without its invoke or a second completion, a read ok without
 * a deliveries array of {id, zxid}, a deliver that is not an ok with an id, a bad final-phase marker:
 * none is skipped; the result is "unknown" with `error: "malformed history: history index N: ..."`.
 * (`zabkit check` reads through history.ts, which refuses the same lines first: exit 255, the line.)
 *
 * Rules (each anomaly counted as below; every example carries `indices`, the history indices of the
 * smallest set of ops that shows it).
 * - lost: an acknowledged id missing from a live node's final state (even when an earlier read of
 *   that node held it), or from every final state. One per id; `missingFrom` lists the nodes and
 *   `everywhere` says whether no final state holds it at all.
 * - failed-delivered: a `fail`ed id in any read or deliver observation. One per id.
 * - phantom: an id in a read or deliver observation that no broadcast invoke ever carried. One per id.
 * - duplicate: within one read, an id or a zxid a second time. One per repeated entry.
 *   (Repeats within one subscription stream are `deliver-order`.)
 * - zxid-conflict: one zxid bound to two ids, or one id to two zxids, across acknowledgements,
 *   reads and deliver observations. One per distinct pair of clashing bindings (so a node that
 *   delivers b at a's zxid counts twice: that zxid has two ids, and b has two zxids).
 * - divergence: a read that differs from the agreed order at a position both hold (neither is a
 *   prefix of the other). One per such read; the example gives the first differing position. (An
 *   earlier read longer than every final state is not divergence: what it held beyond them is
 *   judged as lost / deliver-order / fifo, and counted in `stats.heldOnlyByEarlierReads`.)
 * - zxid-order: within one read, a zxid not above the one delivered just before it (equal zxids are
 *   `duplicate`, not counted here). One per decrease.
 * - fifo / causal / real-time: for each broadcast B in the agreed order, at B's invoke (history
 *   order), with the ops before it:
 *     fifo:      an earlier invoke A by B's process (pipelined or not), A ordered after B;
 *     causal:    else, an A that B's process had seen before invoking B (A's `ok` to it, or a deliver
 *                observation of A by it), A ordered after B;
 *     real-time: else, any A whose `ok` came before B's invoke, A ordered after B.
 *   Each B is counted once, under the most specific of the three; the witness A is the latest-ordered
 *   candidate. `info` broadcasts count when they were delivered; undelivered ones constrain nothing.
 *   Knowledge does not carry across process ids (a worker retired by `info` starts afresh).
 *   fifo also has the gap rule (kind `gap`): B in a final state while an earlier broadcast A of B's
 *   process (invoked before B, `info` or never completed) is in no final state. One per B not
 *   already counted under fifo; the witness is the process's first such A.
 * - deliver-order: per subscription stream, the observations must follow the agreed order strictly
 *   (gaps are allowed: a resume after the last seen message is fine). A stream is
 *   (process, node, value.subscription if present); a stream also restarts when, between two of its
 *   observations, the nemesis restarted its node (an event whose f is kill/start/restart/power/crash/
 *   stop and whose value names the node, or names no node at all), since a restarted node may
 *   legitimately re-deliver. Counted per observation: `repeated` (an id seen before in the stream),
 *   `reordered` (ordered before the latest-ordered observation so far in the stream, which is the
 *   witness), `not-in-order` (an id in no final state, whenever it was observed, and only when some
 *   read exists). A zxid that disagrees is `zxid-conflict`; a never-invoked id is also `phantom`, a
 *   failed one also `failed-delivered`. (The runner should tag a fresh subscription that starts
 *   over with `value.subscription`.)
 * - not-converged: the live nodes' final states differ in length. One per live node shorter than the
 *   longest.
 * - unavailable: see the final-phase contract below. One per (marker, listed node).
 *
 * Final-phase contract (the runner's side, followed exactly here). After the final heal the runner
 * appends `{"process":"nemesis","type":"info","f":"final-phase","value":{"boundMs":B,"nodes":[...]}}`
 * (nodes: the live nodes); then, for each listed node, fresh client processes broadcast probes to that
 * node (ordinary broadcast invoke/ok/fail/info ops with `node`) until one is `ok` or B ms after the
 * marker passed; the final reads come after that. `unavailable`: a listed node for which no broadcast
 * to it invoked after the marker was acknowledged within B ms of the marker's `time`; the example is
 * `{node, heal: marker index, boundMs, attempts: [invoke indices of the broadcasts to that node after
 * the marker], attemptCount, indices}`. Every marker is checked; without one the check does not apply
 * (older histories, other tools).
 *
 * Testbed failures: nemesis ops carrying an `error` (a fault or heal that failed, a Toxiproxy that
 * could not be restored: `{"f":"toxiproxy-down",...,"error":"..."}`); a `toxiproxy-down` /
 * `toxiproxy-restored` without `error` is not one (stats count the restarts). When there is one,
 * the liveness anomalies (not-converged, unavailable, and lost ids that some final state holds: a
 * node that could not rejoin) are still listed with their counts but do not make the run invalid.
 *
 * Verdict: false when a counted anomaly remains (with a testbed failure: a safety anomaly, that is
 * any but the liveness ones above, including a lost id missing from every final state); else
 * "unknown" when there is a testbed failure (it excuses the liveness anomalies; with none, the run
 * still did not test what its schedule says), or when there is no read or no acknowledged
 * broadcast (a run that proved nothing must not pass); else true. When "unknown", `reason` says why (also
 * `stats.unknownBecause`); `testbedFailures` lists the failed ops' indices whenever there are any.
 * A checker exception yields "unknown" with the error, never a pass.
 */
import type { CheckResult, Op, Validity } from './types.js';
import { findUnavailable, finalPhaseF, finalPhaseMarker, finalPhaseProblem, testbedFailure, type FinalPhaseMarker, type TestbedFailure } from './checker/final-phase.js';

export const anomalyNames = [
  'lost',
  'failed-delivered',
  'phantom',
  'duplicate',
  'zxid-conflict',
  'divergence',
  'zxid-order',
  'fifo',
  'causal',
  'real-time',
  'deliver-order',
  'not-converged',
  'unavailable',
] as const;
export type AnomalyName = (typeof anomalyNames)[number];

/** The anomalies a testbed failure can explain (liveness); `lost` only when some final state holds the id. */
export const livenessAnomalyNames: readonly AnomalyName[] = ['not-converged', 'unavailable'];

/** Limit: examples kept per anomaly (the count is always exact); bounded results.json. */
export const maxExamplesPerAnomaly = 32;

/** results.json: the shape of `CheckResult`, plus why a run is unknown and the testbed's failures. */
export interface BroadcastCheckResult extends CheckResult {
  /** Why the verdict is "unknown" (only then). */
  readonly reason?: string;
  /** History indices of the testbed's failed ops (nemesis ops with an `error`), when there are any. */
  readonly testbedFailures?: readonly number[];
}

/** A history the checker cannot judge: a broadcast completion without its id, and the like. */
export class MalformedHistoryError extends Error {
  override name = 'MalformedHistoryError';
  constructor(
    readonly index: number,
    readonly problem: string,
  ) {
    super(`malformed history: history index ${index}: ${problem}`);
  }
}

function malformed(op: Op, problem: string): never {
  throw new MalformedHistoryError(op.index, problem);
}

interface Broadcast {
  readonly id: string;
  readonly process: number;
  readonly node: string | undefined;
  readonly invokeIndex: number;
  readonly invokeTime: number;
  outcome: 'pending' | 'ok' | 'fail' | 'info';
  doneIndex: number;
  doneTime: number;
  zxid: string | undefined;
  /** Position in the agreed order, -1 when not in it. */
  pos: number;
}

interface Read {
  readonly index: number;
  readonly invokeIndex: number;
  readonly node: string;
  readonly ids: string[];
  readonly zxids: string[];
}

interface Witness {
  pos: number;
  id: string;
  index: number;
}

const canonicalZxid = /^0x(?:0|[1-9a-f][0-9a-f]*)$/;

/** Canonical zxid for comparison: "0x" + lower-case hex without leading zeros (same string when already so). */
export function normalizeZxid(zxid: string): string {
  if (canonicalZxid.test(zxid)) return zxid;
  let s = zxid.toLowerCase();
  if (s.startsWith('0x')) s = s.slice(2);
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i += 1;
  return `0x${s.slice(i)}`;
}

/** Compare two canonical zxids: negative, 0, positive. */
export function compareZxid(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

class Anomalies {
  readonly counts = new Map<AnomalyName, number>();
  readonly examples = new Map<AnomalyName, unknown[]>();
  add(name: AnomalyName, example: () => Record<string, unknown>): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
    const list = this.examples.get(name) ?? [];
    if (list.length < maxExamplesPerAnomaly) list.push(example());
    this.examples.set(name, list);
  }
  count(name: AnomalyName): number {
    return this.counts.get(name) ?? 0;
  }
  total(): number {
    let n = 0;
    for (const c of this.counts.values()) n += c;
    return n;
  }
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

const restartFaults = /^(kill|start|restart|power|crash|stop)/;

/** Every string inside a nemesis value (node names it targets). */
function stringsIn(value: unknown, out: Set<string>, depth = 0): void {
  if (depth > 8) return;
  if (typeof value === 'string') out.add(value);
  else if (Array.isArray(value)) for (const v of value) stringsIn(v, out, depth + 1);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      stringsIn(v, out, depth + 1);
    }
  }
}

/** Check a history; never throws (an exception, or a malformed history, becomes "unknown" with the error). */
export function checkHistory(ops: readonly Op[]): BroadcastCheckResult {
  try {
    return checkUnsafe(ops);
  } catch (error) {
    return {
      valid: 'unknown',
      anomalies: {},
      stats: { ops: ops.length },
      reason: error instanceof MalformedHistoryError ? error.message : 'the checker failed',
      error: error instanceof MalformedHistoryError ? error.message : `checker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    };
  }
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

function checkUnsafe(ops: readonly Op[]): BroadcastCheckResult {
  const anomalies = new Anomalies();
  const broadcasts = new Map<string, Broadcast>();
  const pendingReads = new Map<number, number>();
  const reads: Read[] = [];
  const deliveriesCache = new WeakMap<unknown[], { ids: string[]; zxids: string[] }>();
  let observations = 0;
  const byF: Record<string, Record<string, number>> = {};
  const processes = new Set<number>();
  let nemesisEvents = 0;
  const markers: FinalPhaseMarker[] = [];
  const failures: TestbedFailure[] = [];
  let toxiproxyDown = 0;
  let toxiproxyRestored = 0;
  /** Broadcasts invoked after the first final-phase marker (the probes), in invoke order. */
  const afterMarker: Broadcast[] = [];
  /** The broadcast each op invoked or completed (by op position), for the order pass. */
  const opBroadcast: (Broadcast | undefined)[] = new Array<Broadcast | undefined>(ops.length);

  // Pass 1: index the history.
  let k = -1;
  for (const op of ops) {
    k += 1;
    const counts = (byF[op.process === 'nemesis' ? `nemesis:${op.f}` : op.f] ??= {});
    counts[op.type] = (counts[op.type] ?? 0) + 1;
    if (op.process === 'nemesis') {
      nemesisEvents += 1;
      const failure = testbedFailure(op);
      if (failure !== undefined) failures.push(failure);
      else if (op.f === 'toxiproxy-down') toxiproxyDown += 1;
      else if (op.f === 'toxiproxy-restored') toxiproxyRestored += 1;
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
        const b: Broadcast = { id, process: op.process, node: op.node, invokeIndex: op.index, invokeTime: op.time, outcome: 'pending', doneIndex: -1, doneTime: -1, zxid: undefined, pos: -1 };
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
          reads.push({ index: op.index, invokeIndex, node: op.node ?? `?process-${op.process}`, ids, zxids });
        }
      }
    } else if (op.f === 'deliver') {
      if (op.type !== 'ok') malformed(op, `a deliver observation must be an ok, got ${op.type}`);
      if (value === undefined || typeof value.id !== 'string') malformed(op, 'deliver without value.id');
      observations += 1;
    }
  }

  const phantoms = new Set<string>();
  const failedDelivered = new Set<string>();
  const deliveredAt = (id: string, index: number, where: Record<string, unknown>): void => {
    const b = broadcasts.get(id);
    if (b === undefined) {
      if (!phantoms.has(id)) {
        phantoms.add(id);
        anomalies.add('phantom', () => ({ id, ...where, indices: [index] }));
      }
    } else if (b.outcome === 'fail' && !failedDelivered.has(id)) {
      failedDelivered.add(id);
      anomalies.add('failed-delivered', () => ({ id, ...where, indices: uniqueSorted([b.invokeIndex, b.doneIndex, index]) }));
    }
  };

  // Final states: each node's last read. The agreed order: the longest of them (ties: the first).
  const lastRead = new Map<string, Read>();
  for (const read of reads) lastRead.set(read.node, read);
  const isLast = (read: Read): boolean => lastRead.get(read.node) === read;
  let reference: Read | undefined;
  for (const read of reads) if (isLast(read) && (reference === undefined || read.ids.length > reference.ids.length)) reference = read;
  const lastMarker = markers[markers.length - 1];
  const liveNodes = lastMarker === undefined ? undefined : new Set(lastMarker.nodes);
  const liveReads: Read[] = [];
  for (const read of lastRead.values()) if (liveNodes === undefined || liveNodes.has(read.node)) liveReads.push(read);

  // Bindings for zxid-conflict. The reference read's bindings are implicit (its id -> first
  // position and zxid -> first position); a binding that agrees with the reference costs one lookup.
  // Other bindings go to first-site maps. One conflict per distinct pair of clashing bindings.
  const position = new Map<string, number>();
  const refZxidPos = new Map<string, number>();
  const zxidToId = new Map<string, { id: string; index: number }>();
  const idToZxid = new Map<string, { zxid: string; index: number }>();
  const conflicts = new Set<string>();
  const zxidConflict = (zxid: string, a: string, b: string, indices: number[]): void => {
    const key = `z|${zxid}|${a < b ? a : b}|${a < b ? b : a}`;
    if (conflicts.has(key)) return;
    conflicts.add(key);
    anomalies.add('zxid-conflict', () => ({ kind: 'zxid-bound-to-two-ids', zxid, ids: [a, b], indices: uniqueSorted(indices) }));
  };
  const idConflict = (id: string, a: string, b: string, indices: number[]): void => {
    const key = `i|${id}|${a < b ? a : b}|${a < b ? b : a}`;
    if (conflicts.has(key)) return;
    conflicts.add(key);
    anomalies.add('zxid-conflict', () => ({ kind: 'id-bound-to-two-zxids', id, zxids: [a, b], indices: uniqueSorted(indices) }));
  };
  const bind = (id: string, zxid: string, index: number): void => {
    if (zxid === '') return;
    const ref = reference;
    if (ref !== undefined) {
      const p = position.get(id);
      if (p !== undefined) {
        const refZxid = ref.zxids[p] as string;
        if (refZxid === zxid) return;
        if (refZxid !== '') idConflict(id, refZxid, zxid, [ref.index, index]);
      }
      const q = refZxidPos.get(zxid);
      if (q !== undefined && ref.ids[q] !== id) zxidConflict(zxid, ref.ids[q] as string, id, [ref.index, index]);
    }
    const z = zxidToId.get(zxid);
    if (z === undefined) zxidToId.set(zxid, { id, index });
    else if (z.id !== id) zxidConflict(zxid, z.id, id, [z.index, index]);
    const i = idToZxid.get(id);
    if (i === undefined) idToZxid.set(id, { zxid, index });
    else if (i.zxid !== zxid) idConflict(id, i.zxid, zxid, [i.index, index]);
  };

  // Pass 2: each read: delivered ids, bindings, duplicates, zxid order. A read that is an exact
  // prefix of the reference (ids and zxids) has exactly the reference's findings below its length,
  // so it is not scanned again (this keeps 5 nodes x 1e6 deliveries fast).
  type Finding = { pos: number; name: 'duplicate' | 'zxid-order'; example: (read: Read) => Record<string, unknown> };
  const scan = (read: Read, isReference: boolean): Finding[] => {
    const findings: Finding[] = [];
    const seenIds = isReference ? position : new Map<string, number>();
    const seenZxids = isReference ? refZxidPos : new Map<string, number>();
    let previous: string | undefined;
    for (let pos = 0; pos < read.ids.length; pos += 1) {
      const id = read.ids[pos] as string;
      const zxid = read.zxids[pos] as string;
      deliveredAt(id, read.index, { node: read.node, position: pos });
      if (!isReference) bind(id, zxid, read.index);
      const firstId = seenIds.get(id);
      if (firstId !== undefined) {
        const otherZxid = read.zxids[firstId] as string;
        if (isReference && otherZxid !== zxid && otherZxid !== '' && zxid !== '') idConflict(id, otherZxid, zxid, [read.index]);
        findings.push({ pos, name: 'duplicate', example: (r) => ({ kind: 'id', node: r.node, id, positions: [firstId, pos], indices: [r.index] }) });
      } else seenIds.set(id, pos);
      const firstZxid = seenZxids.get(zxid);
      if (firstZxid !== undefined && zxid !== '') {
        if (isReference && read.ids[firstZxid] !== id) zxidConflict(zxid, read.ids[firstZxid] as string, id, [read.index]);
        if (firstId === undefined) findings.push({ pos, name: 'duplicate', example: (r) => ({ kind: 'zxid', node: r.node, zxid: zxid, positions: [firstZxid, pos], indices: [r.index] }) });
      } else seenZxids.set(zxid, pos);
      if (previous !== undefined && zxid !== '' && previous !== '' && compareZxid(zxid, previous) < 0) {
        const prev = previous;
        findings.push({ pos, name: 'zxid-order', example: (r) => ({ node: r.node, position: pos, zxids: [prev, zxid], ids: [r.ids[pos - 1], id], indices: [r.index] }) });
      }
      previous = zxid;
    }
    return findings;
  };
  const referenceFindings = reference === undefined ? [] : scan(reference, true);
  for (const b of broadcasts.values()) b.pos = position.get(b.id) ?? -1;
  // Acknowledgements bind next, then the other reads (with divergence), then the observations.
  const acked: Broadcast[] = [];
  for (const b of broadcasts.values()) {
    if (b.outcome === 'ok') {
      acked.push(b);
      if (b.zxid !== undefined) bind(b.id, b.zxid, b.doneIndex);
    }
  }
  /** Final states that are an id-prefix of the agreed order (so "holds id" is a position test). */
  const prefixOfReference = new Set<Read>();
  /** Final states that are not, with their id sets. */
  const divergentLast: { read: Read; ids: Set<string> }[] = [];
  for (const read of reads) {
    if (read === reference) {
      prefixOfReference.add(read);
      for (const finding of referenceFindings) anomalies.add(finding.name, () => finding.example(read));
      continue;
    }
    const ref = reference as Read;
    // The first position (of those both hold) where the ids differ; whether the zxids all agree.
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
    const exactPrefix = at === -1 && sameZxids && read.ids.length <= ref.ids.length;
    const findings = exactPrefix ? referenceFindings.filter((f) => f.pos < read.ids.length) : scan(read, false);
    for (const finding of findings) anomalies.add(finding.name, () => finding.example(read));
    if (isLast(read)) {
      if (at === -1) prefixOfReference.add(read);
      else divergentLast.push({ read, ids: new Set(read.ids) });
    }
    if (at !== -1) {
      anomalies.add('divergence', () => ({
        nodes: [ref.node, read.node],
        position: at,
        ids: [ref.ids[at] ?? null, read.ids[at] ?? null],
        lengths: [ref.ids.length, read.ids.length],
        indices: uniqueSorted([ref.index, read.index]),
      }));
    }
  }
  /** The last read holding `id` (the reference first), or undefined when no final state holds it. */
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

  // Messages only earlier reads held (delivered, then in no final state): counted in stats; an
  // acknowledged one is `lost`, an observed one `deliver-order`, a hole in its process `fifo`.
  const heldOnlyEarlier = new Set<string>();
  for (const read of reads) {
    if (isLast(read) || read.ids === (reference as Read).ids) continue;
    for (const id of read.ids) if (finalStateHolding(id) === undefined) heldOnlyEarlier.add(id);
  }

  // not-converged: the live nodes' final states.
  let longest: Read | undefined;
  for (const read of liveReads) if (longest === undefined || read.ids.length > longest.ids.length) longest = read;
  if (longest !== undefined) {
    const top = longest;
    for (const read of liveReads) {
      if (read.ids.length < top.ids.length) {
        anomalies.add('not-converged', () => ({ node: read.node, length: read.ids.length, longest: { node: top.node, length: top.ids.length }, indices: uniqueSorted([read.index, top.index]) }));
      }
    }
  }

  // lost: an acknowledged id missing from a live node's final state, or from every final state.
  let lostEverywhere = 0;
  if (reads.length > 0) {
    const allLast = [...lastRead.values()];
    for (const b of acked) {
      const everywhere = finalStateHolding(b.id) === undefined;
      let missing = everywhere;
      for (let i = 0; !missing && i < liveReads.length; i += 1) missing = !holds(liveReads[i] as Read, b.id);
      if (!missing) continue;
      const missingFrom = everywhere ? allLast : liveReads.filter((read) => !holds(read, b.id));
      if (everywhere) lostEverywhere += 1;
      anomalies.add('lost', () => ({
        id: b.id,
        zxid: b.zxid === undefined ? null : b.zxid,
        missingFrom: missingFrom.map((r) => r.node),
        everywhere,
        indices: uniqueSorted([b.invokeIndex, b.doneIndex, ...missingFrom.slice(0, 3).map((r) => r.index)]),
      }));
    }
  }

  // Pass 3, in history order: fifo / causal / real-time at each invoke; deliver observations
  // (failed-delivered, phantom, zxid bindings, deliver-order).
  const nodeRestarts = new Map<string, number>();
  let globalRestarts = 0;
  interface Stream {
    /** The highest agreed position observed in the stream, its id and history index. */
    lastPos: number;
    lastIndex: number;
    lastId: string;
    generation: number;
    seen: Map<string, number>;
  }
  const streams = new Map<string, Stream>();
  const fifoMax = new Map<number, Witness>();
  const seenMax = new Map<number, Witness>();
  const fifoCounted = new Set<string>();
  let ackMax: Witness | undefined;
  const raise = (map: Map<number, Witness>, key: number, w: Witness): void => {
    const current = map.get(key);
    if (current === undefined || w.pos > current.pos) map.set(key, w);
  };

  for (let at = 0; at < ops.length; at += 1) {
    const op = ops[at] as Op;
    const broadcast = opBroadcast[at];
    if (broadcast !== undefined) {
      const b = broadcast;
      const pos = b.pos;
      const id = b.id;
      if (pos < 0) continue;
      if (op.type === 'invoke') {
        const fifo = fifoMax.get(b.process);
        const seen = seenMax.get(b.process);
        if (fifo !== undefined && fifo.pos > pos) {
          fifoCounted.add(id);
          anomalies.add('fifo', () => ({ kind: 'order', process: b.process, ids: [fifo.id, id], invoked: 'first before second', positions: [fifo.pos, pos], indices: [fifo.index, op.index] }));
        } else if (seen !== undefined && seen.pos > pos) {
          anomalies.add('causal', () => ({ process: b.process, ids: [seen.id, id], seenAt: seen.index, positions: [seen.pos, pos], indices: uniqueSorted([seen.index, op.index]) }));
        } else if (ackMax !== undefined && ackMax.pos > pos) {
          const a = ackMax;
          anomalies.add('real-time', () => ({ ids: [a.id, id], acknowledgedAt: a.index, positions: [a.pos, pos], indices: uniqueSorted([a.index, op.index]) }));
        }
        raise(fifoMax, b.process, { pos, id, index: op.index });
      } else if (op.type === 'ok') {
        const w = { pos, id, index: op.index };
        raise(seenMax, b.process, w);
        if (ackMax === undefined || pos > ackMax.pos) ackMax = w;
      }
      continue;
    }
    if (op.process === 'nemesis') {
      if (restartFaults.test(op.f)) {
        const named = new Set<string>();
        stringsIn(op.value, named);
        let any = false;
        for (const node of lastRead.keys()) {
          if (named.has(node)) {
            nodeRestarts.set(node, (nodeRestarts.get(node) ?? 0) + 1);
            any = true;
          }
        }
        for (const s of named) {
          if (!lastRead.has(s) && /^n\d+$/.test(s)) {
            nodeRestarts.set(s, (nodeRestarts.get(s) ?? 0) + 1);
            any = true;
          }
        }
        if (!any) globalRestarts += 1;
      }
      continue;
    }
    if (op.f !== 'deliver') continue;
    const value = op.value as Record<string, unknown>;
    const id = value.id as string;
    const node = op.node ?? '?';
    deliveredAt(id, op.index, { node, observedBy: op.process });
    if (typeof value.zxid === 'string') bind(id, normalizeZxid(value.zxid), op.index);
    const pos = position.get(id);
    const sub = value.subscription === undefined ? '' : String(value.subscription);
    const key = `${op.process}\u0000${node}\u0000${sub}`;
    const generation = (nodeRestarts.get(node) ?? 0) + globalRestarts;
    let stream = streams.get(key);
    if (stream === undefined || stream.generation !== generation) {
      stream = { lastPos: -1, lastIndex: -1, lastId: '', generation, seen: new Map() };
      streams.set(key, stream);
    }
    const s = stream;
    const seenBefore = s.seen.get(id);
    if (seenBefore !== undefined) {
      anomalies.add('deliver-order', () => ({ kind: 'repeated', process: op.process, node, id, indices: [seenBefore, op.index] }));
    } else if (pos !== undefined && pos < s.lastPos) {
      anomalies.add('deliver-order', () => ({ kind: 'reordered', process: op.process, node, ids: [s.lastId, id], positions: [s.lastPos, pos], indices: [s.lastIndex, op.index] }));
    } else if (pos === undefined && reads.length > 0 && finalStateHolding(id) === undefined) {
      anomalies.add('deliver-order', () => ({ kind: 'not-in-order', process: op.process, node, id, indices: [op.index] }));
    }
    if (seenBefore === undefined) s.seen.set(id, op.index);
    if (pos !== undefined && pos > s.lastPos) {
      s.lastPos = pos;
      s.lastId = id;
      s.lastIndex = op.index;
    }
    if (pos !== undefined && typeof op.process === 'number') raise(seenMax, op.process, { pos, id, index: op.index });
  }

  // fifo gaps: B in a final state while an earlier broadcast A of its process, info or never
  // completed, is in none. Broadcasts are in invoke order; the witness is the process's first hole.
  if (reads.length > 0) {
    const holes = new Map<number, Broadcast>();
    for (const b of broadcasts.values()) {
      const holding = finalStateHolding(b.id);
      const hole = holes.get(b.process);
      if (hole !== undefined && holding !== undefined && !fifoCounted.has(b.id)) {
        const a = hole;
        const read = holding;
        anomalies.add('fifo', () => ({ kind: 'gap', process: b.process, ids: [a.id, b.id], missing: a.id, outcome: a.outcome === 'pending' ? 'never completed' : a.outcome, indices: uniqueSorted([a.invokeIndex, a.doneIndex, b.invokeIndex, read.index]) }));
      }
      if (hole === undefined && holding === undefined && (b.outcome === 'info' || b.outcome === 'pending')) holes.set(b.process, b);
    }
  }

  // unavailable: after each final-phase marker, each listed node must acknowledge a broadcast in time.
  for (const u of findUnavailable(markers, afterMarker)) anomalies.add('unavailable', () => ({ ...u }));

  // Verdict and stats.
  let failed = 0;
  let info = 0;
  let pending = 0;
  let deliveredIndeterminate = 0;
  for (const b of broadcasts.values()) {
    if (b.outcome === 'fail') failed += 1;
    else if (b.outcome === 'info') info += 1;
    else if (b.outcome === 'pending') pending += 1;
    if ((b.outcome === 'info' || b.outcome === 'pending') && position.has(b.id)) deliveredIndeterminate += 1;
  }
  const latencies = new Float64Array(acked.length);
  acked.forEach((b, i) => {
    latencies[i] = b.doneTime - b.invokeTime;
  });
  latencies.sort();
  const quantile = (q: number): number | null => (latencies.length === 0 ? null : Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number) / 1000) / 1000);
  const readLengths: Record<string, number> = {};
  for (const [node, read] of lastRead) readLengths[node] = read.ids.length;

  const liveness: Record<string, number> = {};
  for (const name of livenessAnomalyNames) if (anomalies.count(name) > 0) liveness[name] = anomalies.count(name);
  const lostExplained = anomalies.count('lost') - lostEverywhere;
  if (lostExplained > 0) liveness.lost = lostExplained;
  const livenessTotal = Object.values(liveness).reduce((a, b) => a + b, 0);
  const excused = failures.length > 0 ? livenessTotal : 0;
  const unknownReasons: string[] = [];
  if (failures.length > 0) {
    // The run did not do what its schedule says (a fault or the heal did not take): even with no
    // anomaly it proved less than a valid run must, so it is never "valid".
    const what = Object.entries(liveness).map(([name, n]) => `${name} ${n}`).join(', ');
    const first = failures[0] as TestbedFailure;
    const blame = excused > 0 ? `the liveness anomalies (${what}) cannot be blamed on the system` : 'the run did not test what its schedule says';
    unknownReasons.push(`the testbed failed (${failures.length} failed nemesis op${failures.length === 1 ? '' : 's'}, first at history index ${first.index}: ${first.f}: ${first.error}); ${blame}`);
  }
  if (reads.length === 0) unknownReasons.push('no final read returned ok');
  if (acked.length === 0) unknownReasons.push('no broadcast was acknowledged');
  const valid: Validity = anomalies.total() - excused > 0 ? false : unknownReasons.length > 0 ? 'unknown' : true;

  const result: Record<string, { count: number; examples: unknown[] }> = {};
  for (const name of anomalyNames) {
    const count = anomalies.count(name);
    if (count > 0) result[name] = { count, examples: anomalies.examples.get(name) ?? [] };
  }
  const lastOp = ops[ops.length - 1];
  return {
    valid,
    anomalies: result,
    stats: {
      ops: ops.length,
      durationNs: lastOp === undefined ? 0 : lastOp.time - (ops[0]?.time ?? 0),
      byF,
      processes: processes.size,
      nemesisEvents,
      broadcasts: broadcasts.size,
      acknowledged: acked.length,
      failed,
      indeterminate: info + pending,
      indeterminateDelivered: deliveredIndeterminate,
      agreedLength: reference?.ids.length ?? 0,
      finalReads: reads.length,
      nodesRead: [...lastRead.keys()].sort(),
      readLengths,
      deliverObservations: observations,
      subscriptionStreams: streams.size,
      latencyMsAcknowledged: { p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99), max: quantile(1) },
      finalPhases: markers.length,
      ...(liveNodes === undefined ? {} : { liveNodes: [...liveNodes].sort(), liveNodesNotRead: [...liveNodes].filter((n) => !lastRead.has(n)).sort() }),
      heldOnlyByEarlierReads: heldOnlyEarlier.size,
      toxiproxyRestarts: toxiproxyRestored,
      toxiproxyDown,
      ...(failures.length > 0 ? { testbedFailures: failures, livenessAnomalies: liveness } : {}),
      ...(unknownReasons.length > 0 && valid === 'unknown' ? { unknownBecause: unknownReasons } : {}),
    },
    ...(valid === 'unknown' ? { reason: unknownReasons.join('; ') } : {}),
    ...(failures.length > 0 ? { testbedFailures: failures.map((f) => f.index) } : {}),
  };
}

function uniqueSorted(indices: number[]): number[] {
  return [...new Set(indices.filter((i) => i >= 0))].sort((a, b) => a - b);
}

/** The `Checker` interface of types.ts. */
export const broadcastChecker = { check: checkHistory };
