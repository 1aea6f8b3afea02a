/**
 * The bottom layer of the composed checker (checker.ts header): the anomaly names, the result one
 * family checker returns, the example collector with its limit, the malformed-history error and the
 * zxid helpers. Every other checker module imports this one; it imports nothing of theirs.
 */
import type { Validity } from '../types.js';

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

/** One anomaly as results.json reports it. */
export interface AnomalyReport {
  readonly count: number;
  readonly examples: unknown[];
}

/** Counts and the first `maxExamplesPerAnomaly` examples, per anomaly, in the order they were found. */
export class Anomalies {
  readonly counts = new Map<AnomalyName, number>();
  readonly examples = new Map<AnomalyName, unknown[]>();
  /** Count one; build its example only while the list has room. */
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
  /** The anomalies found (count above 0), as results.json reports them. */
  reports(): Partial<Record<AnomalyName, AnomalyReport>> {
    const out: Partial<Record<AnomalyName, AnomalyReport>> = {};
    for (const [name, count] of this.counts) if (count > 0) out[name] = { count, examples: this.examples.get(name) ?? [] };
    return out;
  }
}

/**
 * What one family checker returns (Jepsen's checker result): its validity, the anomalies it found,
 * and, of those, the counts a testbed failure can explain (liveness), which the verdict excuses
 * when the testbed failed. `valid` is false when an anomaly remains that is not excused, "unknown"
 * when every one found is excused, else true.
 */
export interface FamilyResult<Stats extends Record<string, unknown> = Record<string, never>> {
  readonly valid: Validity;
  readonly anomalies: Partial<Record<AnomalyName, AnomalyReport>>;
  /** Counts, by anomaly, that a testbed failure explains (only names with a count above 0). */
  readonly liveness: Partial<Record<AnomalyName, number>>;
  readonly stats: Stats;
}

/** A family's result from its findings: `liveness` are the counts a testbed failure can explain. */
export function familyResult<Stats extends Record<string, unknown>>(
  anomalies: Anomalies,
  testbedFailed: boolean,
  liveness: Partial<Record<AnomalyName, number>>,
  stats: Stats,
): FamilyResult<Stats> {
  const explained: Partial<Record<AnomalyName, number>> = {};
  let excusable = 0;
  for (const [name, n] of Object.entries(liveness) as [AnomalyName, number][]) {
    if (n > 0) {
      explained[name] = n;
      excusable += n;
    }
  }
  const total = anomalies.total();
  const excused = testbedFailed ? excusable : 0;
  const valid: Validity = total - excused > 0 ? false : total > 0 ? 'unknown' : true;
  return { valid, anomalies: anomalies.reports(), liveness: explained, stats };
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

/** The distinct non-negative indices, ascending (the `indices` of an example). */
export function uniqueSorted(indices: number[]): number[] {
  return [...new Set(indices.filter((i) => i >= 0))].sort((a, b) => a - b);
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
