/**
 * Observation (checker.ts header, "Rules"): `deliver-order`, each subscription stream's deliver
 * observations against the agreed order: `repeated` (an id seen before in the stream), `reordered`
 * (ordered before the latest-ordered observation so far in the stream), `not-in-order` (an id in
 * no final state, whenever it was observed, when some read exists).
 *
 * A stream is (process, node, value.subscription); it starts over when the nemesis restarted its
 * node between two of its observations (a process-restart op of the nemesis vocabulary whose value
 * names the node, or names no node at all), since a restarted node may legitimately re-deliver.
 * Linear: one pass over the model's event tape, one hash lookup per observation.
 */
import { Anomalies, familyResult, type FamilyResult } from './anomaly.js';
import type { HistoryModel } from './model.js';

/** A node name that no read names yet (the testbed names nodes n1, n2, ...). */
const nodeName = /^n\d+$/;

interface Stream {
  /** The highest agreed position observed in the stream, its id and history index. */
  lastPos: number;
  lastIndex: number;
  lastId: string;
  /** Restarts of its node (plus restarts naming no node) when the stream began. */
  readonly generation: number;
  readonly seen: Map<string, number>;
}

export interface ObservationStats extends Record<string, unknown> {
  /** Subscription streams seen (a stream restarted by a node restart counts once). */
  readonly subscriptionStreams: number;
}

export function checkObservation(model: HistoryModel): FamilyResult<ObservationStats> {
  const anomalies = new Anomalies();
  const { lastRead } = model;
  const someRead = model.reads.length > 0;
  const nodeRestarts = new Map<string, number>();
  let globalRestarts = 0;
  const streams = new Map<string, Stream>();

  model.forEachEvent({
    restart({ named }) {
      let any = false;
      for (const node of lastRead.keys()) {
        if (named.has(node)) {
          nodeRestarts.set(node, (nodeRestarts.get(node) ?? 0) + 1);
          any = true;
        }
      }
      for (const s of named) {
        if (!lastRead.has(s) && nodeName.test(s)) {
          nodeRestarts.set(s, (nodeRestarts.get(s) ?? 0) + 1);
          any = true;
        }
      }
      if (!any) globalRestarts += 1;
    },
    observe(o) {
      const { id, node } = o;
      const pos = model.positionOf(o.broadcast, id);
      const key = `${o.process}\u0000${node}\u0000${o.subscription}`;
      const generation = (nodeRestarts.get(node) ?? 0) + globalRestarts;
      let stream = streams.get(key);
      if (stream === undefined || stream.generation !== generation) {
        stream = { lastPos: -1, lastIndex: -1, lastId: '', generation, seen: new Map() };
        streams.set(key, stream);
      }
      const s = stream;
      const seenBefore = s.seen.get(id);
      if (seenBefore !== undefined) {
        anomalies.add('deliver-order', () => ({ kind: 'repeated', process: o.process, node, id, indices: [seenBefore, o.index] }));
      } else if (pos !== undefined && pos < s.lastPos) {
        anomalies.add('deliver-order', () => ({ kind: 'reordered', process: o.process, node, ids: [s.lastId, id], positions: [s.lastPos, pos], indices: [s.lastIndex, o.index] }));
      } else if (pos === undefined && someRead && model.finalStateHolding(id) === undefined) {
        anomalies.add('deliver-order', () => ({ kind: 'not-in-order', process: o.process, node, id, indices: [o.index] }));
      }
      if (seenBefore === undefined) s.seen.set(id, o.index);
      if (pos !== undefined && pos > s.lastPos) {
        s.lastPos = pos;
        s.lastId = id;
        s.lastIndex = o.index;
      }
    },
  });

  return familyResult(anomalies, model.failures.length > 0, {}, { subscriptionStreams: streams.size });
}
