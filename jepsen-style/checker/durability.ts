/**
 * Durability (checker.ts header, "Rules"): every acknowledged broadcast survives, everywhere.
 * `lost` (an acknowledged id missing from a live node's final state, or from every final state)
 * and `not-converged` (a live node's final state shorter than the longest live one).
 *
 * A testbed failure explains `not-converged` and the `lost` ids some final state holds (a node
 * that could not rejoin); a `lost` id no final state holds is a safety anomaly whatever happened.
 * Linear: one hash lookup per acknowledged id and live node.
 */
import { Anomalies, familyResult, uniqueSorted, type FamilyResult } from './anomaly.js';
import type { HistoryModel, Read } from './model.js';

export interface DurabilityStats extends Record<string, unknown> {
  /** Ids only earlier reads held (delivered, then in no final state). */
  readonly heldOnlyByEarlierReads: number;
}

export function checkDurability(model: HistoryModel): FamilyResult<DurabilityStats> {
  const anomalies = new Anomalies();
  const { reads, liveReads, lastRead } = model;

  // Messages only earlier reads held: counted in stats; an acknowledged one is `lost`, an observed
  // one `deliver-order`, a hole in its process `fifo`.
  const heldOnlyEarlier = new Set<string>();
  for (const read of reads) {
    if (model.isLast(read) || read.ids === (model.reference as Read).ids) continue;
    for (const id of read.ids) if (model.finalStateHolding(id) === undefined) heldOnlyEarlier.add(id);
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
    for (const b of model.acked) {
      const everywhere = model.finalStateHolding(b.id) === undefined;
      let missing = everywhere;
      for (let i = 0; !missing && i < liveReads.length; i += 1) missing = !model.holds(liveReads[i] as Read, b.id);
      if (!missing) continue;
      const missingFrom = everywhere ? allLast : liveReads.filter((read) => !model.holds(read, b.id));
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

  const liveness = { 'not-converged': anomalies.count('not-converged'), lost: anomalies.count('lost') - lostEverywhere };
  return familyResult(anomalies, model.failures.length > 0, liveness, { heldOnlyByEarlierReads: heldOnlyEarlier.size });
}
