/**
 * The broadcast checker: `checkHistory(ops)` judges a history (interfaces.md "History format") and
 * returns `results.json` (interfaces.md "Checker result"). It knows nothing of zabkit: only the
 * history. It runs in time linear in the history (plus the size of the final reads): one pass to
 * index the history, one pass over the agreed order (a read that is an exact prefix of it is only
 * compared, not rescanned), one pass for the order checks; hash maps only, no sorting but latencies.
 *
 * Terms.
 * - A broadcast is acknowledged when its `ok` arrives, failed on `fail`, indeterminate on `info`
 *   or when the history ends before its completion. Completions pair with invokes by message id.
 * - A final read is a `read` op of type `ok`; its `value.deliveries` is that node's delivered
 *   sequence. Several reads of one node may exist: convergence uses the last one per node.
 * - The agreed order is the longest final read (ties: the first one). Positions below are
 *   positions in the agreed order; "ordered before" means a smaller position.
 * - A deliver observation is a `deliver` ok: process P's subscription saw `node` deliver the message.
 *
 * Rules (each anomaly counted as below; every example carries `indices`, the history indices of the
 * smallest set of ops that shows it).
 * - lost: an acknowledged id in no final read at all, or missing from a node's last read that holds
 *   a zxid above the acknowledged one (a hole, not a lagging node). One per id.
 * - failed-delivered: a `fail`ed id in any final read or deliver observation. One per id.
 * - phantom: an id in a final read or deliver observation that no broadcast invoke ever carried.
 *   One per id.
 * - duplicate: within one final read, an id or a zxid a second time. One per repeated entry.
 *   (Repeats within one subscription stream are `deliver-order`.)
 * - zxid-conflict: one zxid bound to two ids, or one id to two zxids, across acknowledgements,
 *   final reads and deliver observations. One per distinct pair of clashing bindings (so a node
 *   that delivers b at a's zxid counts twice: that zxid has two ids, and b has two zxids).
 * - divergence: a final read that is not a prefix of the agreed order (so two nodes where neither
 *   is a prefix of the other). One per such read; the example gives the first differing position.
 * - zxid-order: within one final read, a zxid not above the one delivered just before it
 *   (equal zxids are `duplicate`, not counted here). One per decrease.
 * - fifo / causal / real-time: for each broadcast B in the agreed order, at B's invoke (history
 *   order), with the ops before it:
 *     fifo:      an earlier invoke A by B's process (pipelined or not), A ordered after B;
 *     causal:    else, an A that B's process had seen before invoking B (A's `ok` to it, or a deliver
 *                observation of A by it), A ordered after B;
 *     real-time: else, any A whose `ok` came before B's invoke, A ordered after B.
 *   Each B is counted once, under the most specific of the three; the witness A is the latest-ordered
 *   candidate. `info` broadcasts count when they were delivered; undelivered ones constrain nothing.
 *   Knowledge does not carry across process ids (a worker retired by `info` starts afresh).
 * - deliver-order: per subscription stream, the observations must follow the agreed order strictly
 *   (gaps are allowed: a resume after the last seen message is fine). A stream is
 *   (process, node, value.subscription if present); a stream also restarts when, between two of its
 *   observations, the nemesis restarted its node (an event whose f is kill/start/restart/power/crash/
 *   stop and whose value names the node, or names no node at all), since a restarted node may
 *   legitimately re-deliver. Counted per observation: `repeated` (an id seen before in the stream),
 *   `reordered` (ordered before the latest-ordered observation so far in the stream, which is the
 *   witness), `not-in-order` (an invoked id in no final read, observed before any final read began).
 *   Never-invoked ids are `phantom` only; a zxid that disagrees is `zxid-conflict`.
 *   (The runner should tag a fresh subscription that starts over with `value.subscription`.)
 * - not-converged: the last reads of the nodes differ in length. One per node shorter than the
 *   longest. (A lagging node is only flagged here, never as lost or divergence.)
 *
 * Verdict: false when any count is above 0; else "unknown" when there is no final read or no
 * acknowledged broadcast (a run that proved nothing must not pass); else true. A checker exception
 * yields "unknown" with the error, never a pass.
 */
import type { CheckResult, Op, Validity } from './types.js';

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
] as const;
export type AnomalyName = (typeof anomalyNames)[number];

/** Limit: examples kept per anomaly (the count is always exact); bounded results.json. */
export const maxExamplesPerAnomaly = 32;

interface Broadcast {
  readonly id: string;
  readonly process: number;
  readonly invokeIndex: number;
  readonly invokeTime: number;
  outcome: 'pending' | 'ok' | 'fail' | 'info';
  doneIndex: number;
  doneTime: number;
  zxid: string | undefined;
  /** Position in the agreed order, -1 when not in it. */
  pos: number;
}

interface FinalRead {
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

/** Check a history; never throws (an exception becomes valid "unknown" with the error). */
export function checkHistory(ops: readonly Op[]): CheckResult {
  try {
    return checkUnsafe(ops);
  } catch (error) {
    return {
      valid: 'unknown',
      anomalies: {},
      stats: { ops: ops.length },
      error: `checker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    };
  }
}

function checkUnsafe(ops: readonly Op[]): CheckResult {
  const anomalies = new Anomalies();
  const broadcasts = new Map<string, Broadcast>();
  const pendingReads = new Map<number, number>();
  const reads: FinalRead[] = [];
  const observations: Op[] = [];
  const byF: Record<string, Record<string, number>> = {};
  const processes = new Set<number>();
  let nemesisEvents = 0;
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
      continue;
    }
    processes.add(op.process);
    const value = asRecord(op.value);
    if (op.f === 'broadcast') {
      const id = value !== undefined && typeof value.id === 'string' ? value.id : undefined;
      if (id === undefined) continue;
      if (op.type === 'invoke') {
        if (!broadcasts.has(id)) {
          const b: Broadcast = { id, process: op.process, invokeIndex: op.index, invokeTime: op.time, outcome: 'pending', doneIndex: -1, doneTime: -1, zxid: undefined, pos: -1 };
          broadcasts.set(id, b);
          opBroadcast[k] = b;
        }
      } else {
        const b = broadcasts.get(id);
        if (b !== undefined && b.outcome === 'pending') {
          opBroadcast[k] = b;
          b.outcome = op.type;
          b.doneIndex = op.index;
          b.doneTime = op.time;
          if (op.type === 'ok' && typeof value?.zxid === 'string') b.zxid = normalizeZxid(value.zxid);
        }
      }
    } else if (op.f === 'read') {
      if (op.type === 'invoke') pendingReads.set(op.process, op.index);
      else {
        const invokeIndex = pendingReads.get(op.process) ?? op.index;
        pendingReads.delete(op.process);
        if (op.type === 'ok' && value !== undefined && Array.isArray(value.deliveries)) {
          const ids: string[] = [];
          const zxids: string[] = [];
          for (const d of value.deliveries as unknown[]) {
            const dd = asRecord(d);
            ids.push(typeof dd?.id === 'string' ? dd.id : String(dd?.id));
            zxids.push(typeof dd?.zxid === 'string' ? normalizeZxid(dd.zxid) : '');
          }
          reads.push({ index: op.index, invokeIndex, node: op.node ?? `?process-${op.process}`, ids, zxids });
        }
      }
    } else if (op.f === 'deliver' && op.type === 'ok' && value !== undefined && typeof value.id === 'string') {
      observations.push(op);
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

  // The agreed order: the longest final read (ties: the first).
  let reference: FinalRead | undefined;
  for (const read of reads) if (reference === undefined || read.ids.length > reference.ids.length) reference = read;

  // Bindings for zxid-conflict. The reference read's bindings are implicit (its id -> first
  // position and zxid -> first position); a binding that agrees with the reference costs one lookup.
  // Other bindings go to first-site maps. One conflict per distinct pair of clashing bindings.
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
  const position = new Map<string, number>();

  // Pass 2: each final read: delivered ids, bindings, duplicates, zxid order. A read that is an
  // exact prefix of the reference (ids and zxids) has exactly the reference's findings below its
  // length, so it is not scanned again (this keeps 5 nodes x 1e6 deliveries fast).
  type Finding = { pos: number; name: 'duplicate' | 'zxid-order'; example: (read: FinalRead) => Record<string, unknown> };
  const scan = (read: FinalRead, isReference: boolean): Finding[] => {
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
  // Acknowledgements bind next, then the other reads, then the observations.
  const acked: Broadcast[] = [];
  for (const b of broadcasts.values()) {
    if (b.outcome === 'ok') {
      acked.push(b);
      if (b.zxid !== undefined) bind(b.id, b.zxid, b.doneIndex);
    }
  }
  for (const read of reads) {
    let findings: Finding[];
    if (read === reference) findings = referenceFindings;
    else {
      const ref = reference as FinalRead;
      let exactPrefix = true;
      for (let pos = 0; pos < read.ids.length; pos += 1) {
        if (read.ids[pos] !== ref.ids[pos] || read.zxids[pos] !== ref.zxids[pos]) {
          exactPrefix = false;
          break;
        }
      }
      findings = exactPrefix ? referenceFindings.filter((f) => f.pos < read.ids.length) : scan(read, false);
    }
    for (const finding of findings) anomalies.add(finding.name, () => finding.example(read));
  }



  // divergence: each read must be a prefix of the agreed order.
  const divergentIds: Set<string>[] = [];
  const isPrefix = new Map<FinalRead, boolean>();
  for (const read of reads) {
    if (reference === undefined || read === reference) {
      isPrefix.set(read, true);
      continue;
    }
    let at = -1;
    for (let pos = 0; pos < read.ids.length; pos += 1) {
      if (read.ids[pos] !== reference.ids[pos]) {
        at = pos;
        break;
      }
    }
    isPrefix.set(read, at === -1);
    if (at !== -1) {
      const ref = reference;
      divergentIds.push(new Set(read.ids));
      anomalies.add('divergence', () => ({
        nodes: [ref.node, read.node],
        position: at,
        ids: [ref.ids[at] ?? null, read.ids[at] ?? null],
        lengths: [ref.ids.length, read.ids.length],
        indices: uniqueSorted([ref.index, read.index]),
      }));
    }
  }

  // not-converged: the last read per node.
  const lastRead = new Map<string, FinalRead>();
  for (const read of reads) lastRead.set(read.node, read);
  let longest: FinalRead | undefined;
  for (const read of lastRead.values()) if (longest === undefined || read.ids.length > longest.ids.length) longest = read;
  if (longest !== undefined) {
    const top = longest;
    for (const read of lastRead.values()) {
      if (read.ids.length < top.ids.length) {
        anomalies.add('not-converged', () => ({ node: read.node, length: read.ids.length, longest: { node: top.node, length: top.ids.length }, indices: uniqueSorted([read.index, top.index]) }));
      }
    }
  }

  // lost.
  const readContains = (read: FinalRead, id: string, readSet: Map<FinalRead, Set<string>>): boolean => {
    if (isPrefix.get(read) === true) {
      const pos = position.get(id);
      return pos !== undefined && pos < read.ids.length;
    }
    let set = readSet.get(read);
    if (set === undefined) {
      set = new Set(read.ids);
      readSet.set(read, set);
    }
    return set.has(id);
  };
  if (reads.length > 0) {
    const readSets = new Map<FinalRead, Set<string>>();
    const maxZxid = new Map<FinalRead, string>();
    for (const read of lastRead.values()) {
      let max = '';
      for (const z of read.zxids) if (z !== '' && (max === '' || compareZxid(z, max) > 0)) max = z;
      maxZxid.set(read, max);
    }
    for (const b of acked) {
      const inSomeRead = position.has(b.id) || divergentIds.some((s) => s.has(b.id));
      const missingFrom: FinalRead[] = [];
      for (const read of lastRead.values()) {
        if (readContains(read, b.id, readSets)) continue;
        const max = maxZxid.get(read) ?? '';
        if (!inSomeRead || (b.zxid !== undefined && max !== '' && compareZxid(max, b.zxid) > 0)) missingFrom.push(read);
      }
      if (missingFrom.length > 0) {
        anomalies.add('lost', () => ({
          id: b.id,
          zxid: b.zxid === undefined ? null : b.zxid,
          missingFrom: missingFrom.map((r) => r.node),
          indices: uniqueSorted([b.invokeIndex, b.doneIndex, ...missingFrom.slice(0, 3).map((r) => r.index)]),
        }));
      }
    }
  }

  // Deliver observations: failed-delivered, phantom, zxid bindings, deliver-order.
  const firstReadInvoke = reads.reduce((min, r) => Math.min(min, r.invokeIndex), Number.POSITIVE_INFINITY);
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
  // fifo / causal / real-time state.
  const fifoMax = new Map<number, Witness>();
  const seenMax = new Map<number, Witness>();
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
        const fifo = fifoMax.get(op.process as number);
        const seen = seenMax.get(op.process as number);
        if (fifo !== undefined && fifo.pos > pos) {
          anomalies.add('fifo', () => ({ process: op.process, ids: [fifo.id, id], invoked: 'first before second', positions: [fifo.pos, pos], indices: [fifo.index, op.index] }));
        } else if (seen !== undefined && seen.pos > pos) {
          anomalies.add('causal', () => ({ process: op.process, ids: [seen.id, id], seenAt: seen.index, positions: [seen.pos, pos], indices: uniqueSorted([seen.index, op.index]) }));
        } else if (ackMax !== undefined && ackMax.pos > pos) {
          const a = ackMax;
          anomalies.add('real-time', () => ({ ids: [a.id, id], acknowledgedAt: a.index, positions: [a.pos, pos], indices: uniqueSorted([a.index, op.index]) }));
        }
        raise(fifoMax, op.process as number, { pos, id, index: op.index });
      } else if (op.type === 'ok') {
        const w = { pos, id, index: op.index };
        raise(seenMax, op.process as number, w);
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
    const value = asRecord(op.value);
    if (op.f === 'deliver' && op.type === 'ok' && value !== undefined && typeof value.id === 'string') {
      const id = value.id;
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
      } else if (pos === undefined && broadcasts.has(id) && reads.length > 0 && op.index < firstReadInvoke && !divergentIds.some((d) => d.has(id))) {
        anomalies.add('deliver-order', () => ({ kind: 'not-in-order', process: op.process, node, id, indices: [op.index] }));
      }
      if (seenBefore === undefined) s.seen.set(id, op.index);
      if (pos !== undefined && pos > s.lastPos) {
        s.lastPos = pos;
        s.lastId = id;
        s.lastIndex = op.index;
      }
      if (pos !== undefined) raise(seenMax, op.process, { pos, id, index: op.index });
      continue;
    }
  }

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
  acked.forEach((b, k) => {
    latencies[k] = b.doneTime - b.invokeTime;
  });
  latencies.sort();
  const quantile = (q: number): number | null => (latencies.length === 0 ? null : Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] as number) / 1000) / 1000);
  const readLengths: Record<string, number> = {};
  for (const [node, read] of lastRead) readLengths[node] = read.ids.length;
  const unknownReasons: string[] = [];
  if (reads.length === 0) unknownReasons.push('no final read returned ok');
  if (acked.length === 0) unknownReasons.push('no broadcast was acknowledged');
  const valid: Validity = anomalies.total() > 0 ? false : unknownReasons.length > 0 ? 'unknown' : true;

  const result: Record<string, { count: number; examples: unknown[] }> = {};
  for (const name of anomalyNames) {
    const count = anomalies.counts.get(name) ?? 0;
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
      deliverObservations: observations.length,
      subscriptionStreams: streams.size,
      latencyMsAcknowledged: { p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99), max: quantile(1) },
      ...(unknownReasons.length > 0 && valid === 'unknown' ? { unknownBecause: unknownReasons } : {}),
    },
  };
}

function uniqueSorted(indices: number[]): number[] {
  return [...new Set(indices.filter((i) => i >= 0))].sort((a, b) => a - b);
}

/** The `Checker` interface of types.ts. */
export const broadcastChecker = { check: checkHistory };
