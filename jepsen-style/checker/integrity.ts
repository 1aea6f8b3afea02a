/**
 * Integrity (checker.ts header, "Rules"): what was delivered is what was broadcast, once, under one
 * zxid. `phantom` (an id no invoke carried), `failed-delivered` (a `fail`ed id in a read or an
 * observation), `duplicate` (an id or a zxid twice within one read), `zxid-conflict` (one zxid bound
 * to two ids or one id to two zxids, across acknowledgements, reads and observations).
 *
 * Order of the scan, which fixes the order of the examples: the agreed order, then the
 * acknowledgements, then the other reads in history order (a read that is an exact prefix of the
 * agreed order has exactly its findings below its length and is not scanned again), then the
 * deliver observations. Linear: one hash lookup per delivery, acknowledgement and observation.
 */
import { Anomalies, familyResult, uniqueSorted, type FamilyResult } from './anomaly.js';
import type { Broadcast, HistoryModel, Read } from './model.js';

interface Duplicate {
  readonly pos: number;
  readonly example: (read: Read) => Record<string, unknown>;
}

export function checkIntegrity(model: HistoryModel): FamilyResult {
  const anomalies = new Anomalies();
  const { reference, referenceZxidPosition, referenceZxidsIncrease } = model;

  const phantoms = new Set<string>();
  const failedDelivered = new Set<string>();
  // `b`: the broadcast of `id` (undefined: never invoked), as the model resolved it.
  const deliveredAt = (id: string, b: Broadcast | undefined, index: number, where: Record<string, unknown>): void => {
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

  // Bindings. The agreed order's are implicit (an id -> its first position's zxid, a zxid -> its
  // first position's id): a binding that agrees with it costs one lookup. Other bindings go to
  // first-site maps. One conflict per distinct pair of clashing bindings.
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
  const bind = (id: string, b: Broadcast | undefined, zxid: string, index: number): void => {
    if (zxid === '') return;
    if (reference !== undefined) {
      const p = model.positionOf(b, id);
      if (p !== undefined) {
        const referenceZxid = reference.zxids[p] as string;
        if (referenceZxid === zxid) return;
        if (referenceZxid !== '') idConflict(id, referenceZxid, zxid, [reference.index, index]);
      }
      const q = referenceZxidPosition.get(zxid);
      if (q !== undefined && reference.ids[q] !== id) zxidConflict(zxid, reference.ids[q] as string, id, [reference.index, index]);
    }
    const z = zxidToId.get(zxid);
    if (z === undefined) zxidToId.set(zxid, { id, index });
    else if (z.id !== id) zxidConflict(zxid, z.id, id, [z.index, index]);
    const i = idToZxid.get(id);
    if (i === undefined) idToZxid.set(id, { zxid, index });
    else if (i.zxid !== zxid) idConflict(id, i.zxid, zxid, [i.index, index]);
  };

  const duplicateOfId = (id: string, first: number, pos: number) => (r: Read) => ({ kind: 'id', node: r.node, id, positions: [first, pos], indices: [r.index] });
  const duplicateOfZxid = (zxid: string, first: number, pos: number) => (r: Read) => ({ kind: 'zxid', node: r.node, zxid, positions: [first, pos], indices: [r.index] });

  // The agreed order: delivered ids, its own clashing bindings, its duplicates (an entry whose id,
  // or else zxid, has an earlier first position).
  const referenceDuplicates: Duplicate[] = [];
  if (reference !== undefined) {
    const { ids, zxids, refs } = reference;
    for (let pos = 0; pos < ids.length; pos += 1) {
      const id = ids[pos] as string;
      const zxid = zxids[pos] as string;
      const b = refs[pos];
      deliveredAt(id, b, reference.index, { node: reference.node, position: pos });
      const firstId = model.positionOf(b, id) as number;
      if (firstId !== pos) {
        const otherZxid = zxids[firstId] as string;
        if (otherZxid !== zxid && otherZxid !== '' && zxid !== '') idConflict(id, otherZxid, zxid, [reference.index]);
        referenceDuplicates.push({ pos, example: duplicateOfId(id, firstId, pos) });
      }
      if (zxid !== '' && !referenceZxidsIncrease) {
        // (Strictly increasing zxids: each one's first position is its own, nothing to find.)
        const firstZxid = referenceZxidPosition.get(zxid) as number;
        if (firstZxid !== pos) {
          if (ids[firstZxid] !== id) zxidConflict(zxid, ids[firstZxid] as string, id, [reference.index]);
          if (firstId === pos) referenceDuplicates.push({ pos, example: duplicateOfZxid(zxid, firstZxid, pos) });
        }
      }
    }
  }

  // Acknowledgements.
  for (const b of model.acked) if (b.zxid !== undefined) bind(b.id, b, b.zxid, b.doneIndex);

  // Every read, in history order.
  for (const read of model.reads) {
    if (read.exactPrefix) {
      for (const d of referenceDuplicates) if (d.pos < read.ids.length) anomalies.add('duplicate', () => d.example(read));
      continue;
    }
    const seenIds = new Map<string, number>();
    const seenZxids = new Map<string, number>();
    for (let pos = 0; pos < read.ids.length; pos += 1) {
      const id = read.ids[pos] as string;
      const zxid = read.zxids[pos] as string;
      const b = read.refs[pos];
      deliveredAt(id, b, read.index, { node: read.node, position: pos });
      bind(id, b, zxid, read.index);
      const firstId = seenIds.get(id);
      if (firstId !== undefined) anomalies.add('duplicate', () => duplicateOfId(id, firstId, pos)(read));
      else seenIds.set(id, pos);
      const firstZxid = seenZxids.get(zxid);
      if (firstZxid !== undefined && zxid !== '') {
        if (firstId === undefined) anomalies.add('duplicate', () => duplicateOfZxid(zxid, firstZxid, pos)(read));
      } else seenZxids.set(zxid, pos);
    }
  }

  // Deliver observations, in history order.
  for (const o of model.observationList) {
    deliveredAt(o.id, o.broadcast, o.index, { node: o.node, observedBy: o.process });
    bind(o.id, o.broadcast, o.zxid, o.index);
  }

  return familyResult(anomalies, model.failures.length > 0, {}, {});
}
