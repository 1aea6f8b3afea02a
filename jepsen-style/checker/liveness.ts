/**
 * Liveness (checker.ts header, "Final-phase contract"): `unavailable`, a node the final-phase
 * marker lists that acknowledged no broadcast to it, invoked after the marker, within the marker's
 * bound. A testbed failure explains it. Time: markers x broadcasts after the first marker.
 */
import { Anomalies, familyResult, type FamilyResult } from './anomaly.js';
import { findUnavailable } from './final-phase.js';
import type { HistoryModel } from './model.js';

export function checkLiveness(model: HistoryModel): FamilyResult {
  const anomalies = new Anomalies();
  for (const u of findUnavailable(model.markers, model.afterMarker)) anomalies.add('unavailable', () => ({ ...u }));
  return familyResult(anomalies, model.failures.length > 0, { unavailable: anomalies.count('unavailable') }, {});
}
