/**
 * The verdict (checker.ts header, "Verdict"): the family checkers' results merged by validity, as
 * Jepsen's `checker/compose` does (false over "unknown" over true), then the rules of the whole
 * run: a testbed failure makes it "unknown" (it excuses the liveness anomalies, which each family
 * reports apart, and with none the run still did not test what its schedule says), and so does a
 * run that proved nothing (no read, or no acknowledged broadcast). Builds results.json.
 */
import type { CheckResult, Validity } from '../types.js';
import { anomalyNames, livenessAnomalyNames, type AnomalyName, type AnomalyReport, type FamilyResult } from './anomaly.js';
import type { DurabilityStats } from './durability.js';
import type { TestbedFailure } from './final-phase.js';
import type { HistoryModel } from './model.js';
import type { ObservationStats } from './observation.js';

/** results.json: the shape of `CheckResult`, plus why a run is unknown and the testbed's failures. */
export interface BroadcastCheckResult extends CheckResult {
  /** Why the verdict is "unknown" (only then). */
  readonly reason?: string;
  /** History indices of the testbed's failed ops (nemesis ops with an `error`), when there are any. */
  readonly testbedFailures?: readonly number[];
}

/** The family checkers' results, by family (checker.ts header, "Composition"). */
export interface FamilyResults {
  readonly durability: FamilyResult<DurabilityStats>;
  readonly integrity: FamilyResult;
  readonly order: FamilyResult;
  readonly observation: FamilyResult<ObservationStats>;
  readonly liveness: FamilyResult;
}

const validPriority: Record<string, number> = { true: 0, unknown: 1, false: 2 };

/** Jepsen's merge-valid: false over "unknown" over true (true when there is nothing to merge). */
export function mergeValid(validities: readonly Validity[]): Validity {
  let merged: Validity = true;
  for (const v of validities) if ((validPriority[String(v)] as number) > (validPriority[String(merged)] as number)) merged = v;
  return merged;
}

/** The order liveness counts are reported in: the liveness anomalies, then the excusable `lost`. */
const livenessOrder: readonly AnomalyName[] = [...livenessAnomalyNames, 'lost'];

export interface Verdict {
  readonly valid: Validity;
  /** Why the run is unknown (empty unless "unknown"). */
  readonly unknownBecause: readonly string[];
  /** Counts a testbed failure can explain, by anomaly (only names above 0). */
  readonly liveness: Readonly<Record<string, number>>;
}

/** Merge the families' validity, then apply the testbed-failure rule and the unknown rules. */
export function verdict(model: HistoryModel, families: FamilyResults): Verdict {
  const results = Object.values(families) as FamilyResult<Record<string, unknown>>[];
  const liveness: Record<string, number> = {};
  for (const name of livenessOrder) {
    let n = 0;
    for (const family of results) n += family.liveness[name] ?? 0;
    if (n > 0) liveness[name] = n;
  }
  const failures = model.failures;
  const unknownReasons: string[] = [];
  if (failures.length > 0) {
    // The run did not do what its schedule says (a fault or the heal did not take): even with no
    // anomaly it proved less than a valid run must, so it is never "valid".
    const what = Object.entries(liveness).map(([name, n]) => `${name} ${n}`).join(', ');
    const first = failures[0] as TestbedFailure;
    const blame = what !== '' ? `the liveness anomalies (${what}) cannot be blamed on the system` : 'the run did not test what its schedule says';
    unknownReasons.push(`the testbed failed (${failures.length} failed nemesis op${failures.length === 1 ? '' : 's'}, first at history index ${first.index}: ${first.f}: ${first.error}); ${blame}`);
  }
  if (model.reads.length === 0) unknownReasons.push('no final read returned ok');
  if (model.acked.length === 0) unknownReasons.push('no broadcast was acknowledged');
  const merged = mergeValid(results.map((family) => family.valid));
  const valid: Validity = merged === false ? false : unknownReasons.length > 0 ? 'unknown' : merged;
  return { valid, unknownBecause: valid === 'unknown' ? unknownReasons : [], liveness };
}

/** The stats of results.json: the history's shape, the families' own figures, the verdict's. */
function stats(model: HistoryModel, families: FamilyResults, v: Verdict): Record<string, unknown> {
  const { broadcasts, acked, position, reference, lastRead, liveNodes, failures } = model;
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
  return {
    ops: model.opCount,
    durationNs: model.durationNs,
    byF: model.byF,
    processes: model.processes.size,
    nemesisEvents: model.nemesisEvents,
    broadcasts: broadcasts.size,
    acknowledged: acked.length,
    failed,
    indeterminate: info + pending,
    indeterminateDelivered: deliveredIndeterminate,
    agreedLength: reference?.ids.length ?? 0,
    finalReads: model.reads.length,
    nodesRead: [...lastRead.keys()].sort(),
    readLengths,
    deliverObservations: model.observations,
    subscriptionStreams: families.observation.stats.subscriptionStreams,
    latencyMsAcknowledged: { p50: quantile(0.5), p95: quantile(0.95), p99: quantile(0.99), max: quantile(1) },
    finalPhases: model.markers.length,
    ...(liveNodes === undefined ? {} : { liveNodes: [...liveNodes].sort(), liveNodesNotRead: [...liveNodes].filter((n) => !lastRead.has(n)).sort() }),
    heldOnlyByEarlierReads: families.durability.stats.heldOnlyByEarlierReads,
    toxiproxyRestarts: model.toxiproxyRestored,
    toxiproxyDown: model.toxiproxyDown,
    ...(failures.length > 0 ? { testbedFailures: failures, livenessAnomalies: v.liveness } : {}),
    ...(v.unknownBecause.length > 0 ? { unknownBecause: v.unknownBecause } : {}),
  };
}

/** results.json from the model and the families' results (anomalies in `anomalyNames` order). */
export function composeResult(model: HistoryModel, families: FamilyResults): BroadcastCheckResult {
  const v = verdict(model, families);
  const found: Partial<Record<AnomalyName, AnomalyReport>> = {};
  for (const family of Object.values(families) as FamilyResult<Record<string, unknown>>[]) Object.assign(found, family.anomalies);
  const anomalies: Record<string, AnomalyReport> = {};
  for (const name of anomalyNames) {
    const report = found[name];
    if (report !== undefined && report.count > 0) anomalies[name] = report;
  }
  return {
    valid: v.valid,
    anomalies,
    stats: stats(model, families, v),
    ...(v.valid === 'unknown' ? { reason: v.unknownBecause.join('; ') } : {}),
    ...(model.failures.length > 0 ? { testbedFailures: model.failures.map((f) => f.index) } : {}),
  };
}
