/**
 * Order (checker.ts header, "Rules"): one total order, in zxid order, that respects each session's
 * FIFO order, causality and real time. `divergence` (a read that is not a prefix of the agreed
 * order, nor it of the read), `zxid-order` (a zxid not above the one delivered before it in a read),
 * `fifo` (a process's broadcasts ordered against their invoke order, or the gap rule), `causal`
 * (ordered before a message its process had seen) and `real-time` (ordered before a message
 * acknowledged before its invoke).
 *
 * Linear: the reads in history order (an exact prefix of the agreed order reuses its findings),
 * then one pass over the history keeping, per process, the latest-ordered broadcast it invoked and
 * the latest-ordered one it saw, and the latest-ordered acknowledgement overall; then one pass over
 * the broadcasts for the gaps.
 */
import { Anomalies, compareZxid, familyResult, uniqueSorted, type FamilyResult } from './anomaly.js';
import type { Broadcast, HistoryModel, Read } from './model.js';

interface Witness {
  readonly pos: number;
  readonly id: string;
  readonly index: number;
}

/** The zxid decreases in a read: positions whose zxid is below the one just before it. */
function zxidDecreases(read: Read): number[] {
  const out: number[] = [];
  let previous: string | undefined;
  for (let pos = 0; pos < read.ids.length; pos += 1) {
    const zxid = read.zxids[pos] as string;
    if (previous !== undefined && zxid !== '' && previous !== '' && compareZxid(zxid, previous) < 0) out.push(pos);
    previous = zxid;
  }
  return out;
}

export function checkOrder(model: HistoryModel): FamilyResult {
  const anomalies = new Anomalies();
  const { reference } = model;

  // Each read: its zxid decreases, and where it leaves the agreed order.
  const referenceDecreases = reference === undefined ? [] : zxidDecreases(reference);
  for (const read of model.reads) {
    const decreases = read.exactPrefix ? referenceDecreases.filter((pos) => pos < read.ids.length) : zxidDecreases(read);
    for (const pos of decreases) {
      anomalies.add('zxid-order', () => ({ node: read.node, position: pos, zxids: [read.zxids[pos - 1], read.zxids[pos]], ids: [read.ids[pos - 1], read.ids[pos]], indices: [read.index] }));
    }
    const at = read.divergesAt;
    if (at !== -1) {
      const ref = reference as Read;
      anomalies.add('divergence', () => ({
        nodes: [ref.node, read.node],
        position: at,
        ids: [ref.ids[at] ?? null, read.ids[at] ?? null],
        lengths: [ref.ids.length, read.ids.length],
        indices: uniqueSorted([ref.index, read.index]),
      }));
    }
  }

  // fifo / causal / real-time at each invoke of a broadcast in the agreed order, in history order.
  const fifoMax = new Map<number, Witness>();
  const seenMax = new Map<number, Witness>();
  const fifoCounted = new Set<string>();
  let ackMax: Witness | undefined;
  const raise = (map: Map<number, Witness>, key: number, w: Witness): void => {
    const current = map.get(key);
    if (current === undefined || w.pos > current.pos) map.set(key, w);
  };
  model.forEachEvent({
    invoke(b) {
      const pos = b.pos;
      if (pos < 0) return;
      const id = b.id;
      const fifo = fifoMax.get(b.process);
      const seen = seenMax.get(b.process);
      if (fifo !== undefined && fifo.pos > pos) {
        fifoCounted.add(id);
        anomalies.add('fifo', () => ({ kind: 'order', process: b.process, ids: [fifo.id, id], invoked: 'first before second', positions: [fifo.pos, pos], indices: [fifo.index, b.invokeIndex] }));
      } else if (seen !== undefined && seen.pos > pos) {
        anomalies.add('causal', () => ({ process: b.process, ids: [seen.id, id], seenAt: seen.index, positions: [seen.pos, pos], indices: uniqueSorted([seen.index, b.invokeIndex]) }));
      } else if (ackMax !== undefined && ackMax.pos > pos) {
        const a = ackMax;
        anomalies.add('real-time', () => ({ ids: [a.id, id], acknowledgedAt: a.index, positions: [a.pos, pos], indices: uniqueSorted([a.index, b.invokeIndex]) }));
      }
      raise(fifoMax, b.process, { pos, id, index: b.invokeIndex });
    },
    ok(b) {
      if (b.pos < 0) return;
      const w = { pos: b.pos, id: b.id, index: b.doneIndex };
      raise(seenMax, b.process, w);
      if (ackMax === undefined || w.pos > ackMax.pos) ackMax = w;
    },
    observe(o) {
      const pos = model.positionOf(o.broadcast, o.id);
      if (pos !== undefined) raise(seenMax, o.process, { pos, id: o.id, index: o.index });
    },
  });

  // fifo gaps: B in a final state while an earlier broadcast A of its process, info or never
  // completed, is in none. Broadcasts are in invoke order; the witness is the process's first hole.
  if (model.reads.length > 0) {
    const holes = new Map<number, Broadcast>();
    for (const b of model.broadcasts.values()) {
      const holding = model.finalStateHolding(b.id);
      const hole = holes.get(b.process);
      if (hole !== undefined && holding !== undefined && !fifoCounted.has(b.id)) {
        const a = hole;
        const read = holding;
        anomalies.add('fifo', () => ({ kind: 'gap', process: b.process, ids: [a.id, b.id], missing: a.id, outcome: a.outcome === 'pending' ? 'never completed' : a.outcome, indices: uniqueSorted([a.invokeIndex, a.doneIndex, b.invokeIndex, read.index]) }));
      }
      if (hole === undefined && holding === undefined && (b.outcome === 'info' || b.outcome === 'pending')) holes.set(b.process, b);
    }
  }

  return familyResult(anomalies, model.failures.length > 0, {}, {});
}
