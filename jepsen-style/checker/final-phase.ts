/**
 * The final phase and the testbed's own failures, as the checker reads them from the history (the
 * runner writes them; see checker.ts's header for the whole contract).
 *
 * - The final-phase marker `{"process":"nemesis","type":"info","f":"final-phase",
 *   "value":{"boundMs":B,"nodes":["n1",...]}}` says: every fault is healed, these are the live nodes,
 *   each must acknowledge a broadcast within B ms. `unavailable` is one (marker, node) for which no
 *   broadcast to that node invoked after the marker was acknowledged within B ms of the marker's time.
 * - A testbed failure is a nemesis op carrying an `error` (a fault or heal that did not take, a
 *   Toxiproxy that could not be restored).
 *
 * Shared by the history reader (validation of the marker) and the checker.
 */
import type { Op } from '../types.js';
import { finalPhaseMarkerF } from '../vocabulary.js';

export const finalPhaseF = finalPhaseMarkerF;

export interface FinalPhaseMarker {
  readonly index: number;
  /** Nanoseconds, as every history time. */
  readonly time: number;
  readonly boundMs: number;
  readonly nodes: readonly string[];
}

/** The problem with a final-phase marker's value, or undefined when it is well formed. */
export function finalPhaseProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'final-phase marker needs value {"boundMs": n, "nodes": [...]}';
  const v = value as Record<string, unknown>;
  if (typeof v.boundMs !== 'number' || !Number.isFinite(v.boundMs) || v.boundMs < 0) return `final-phase marker: "boundMs" must be a non-negative number, got ${JSON.stringify(v.boundMs) ?? 'nothing'}`;
  if (!Array.isArray(v.nodes) || !v.nodes.every((n) => typeof n === 'string')) return 'final-phase marker: "nodes" must be an array of node names';
  return undefined;
}

/** The marker of a well-formed final-phase op (check `finalPhaseProblem` first). */
export function finalPhaseMarker(op: Op): FinalPhaseMarker {
  const v = op.value as { boundMs: number; nodes: string[] };
  return { index: op.index, time: op.time, boundMs: v.boundMs, nodes: v.nodes };
}

export interface TestbedFailure {
  readonly index: number;
  readonly f: string;
  readonly error: string;
}

/** A nemesis op that failed: it carries an `error`. */
export function testbedFailure(op: Op): TestbedFailure | undefined {
  if (op.process !== 'nemesis' || op.error === undefined) return undefined;
  return { index: op.index, f: op.f, error: String(op.error) };
}

/** What `unavailable` needs of a broadcast. */
export interface ProbeOutcome {
  readonly invokeIndex: number;
  readonly node: string | undefined;
  readonly outcome: 'pending' | 'ok' | 'fail' | 'info';
  /** Time of the completion (ns), -1 while pending. */
  readonly doneTime: number;
}

/** Limit: invoke indices listed per unavailable example (the count of attempts is exact). */
export const maxAttemptsListed = 32;

export interface Unavailable {
  readonly node: string;
  readonly heal: number;
  readonly boundMs: number;
  readonly attempts: number[];
  readonly attemptCount: number;
  readonly indices: number[];
}

/**
 * Every (marker, listed node) with no broadcast to the node, invoked after the marker, acknowledged
 * within `boundMs` of the marker's time. `broadcasts` are in invoke order and may start anywhere
 * before the first marker. Attempts are the broadcasts to the node invoked after the marker and
 * before the next one. Time: O(markers x broadcasts after the first marker).
 */
export function findUnavailable(markers: readonly FinalPhaseMarker[], broadcasts: readonly ProbeOutcome[]): Unavailable[] {
  const out: Unavailable[] = [];
  markers.forEach((marker, m) => {
    const deadlineNs = marker.time + marker.boundMs * 1e6;
    const nextMarker = markers[m + 1]?.index ?? Number.POSITIVE_INFINITY;
    const listed = new Set(marker.nodes);
    const acknowledged = new Set<string>();
    const attempts = new Map<string, number[]>();
    for (const b of broadcasts) {
      if (b.invokeIndex < marker.index || b.node === undefined || !listed.has(b.node)) continue;
      if (b.outcome === 'ok' && b.doneTime <= deadlineNs) acknowledged.add(b.node);
      if (b.invokeIndex < nextMarker) {
        const list = attempts.get(b.node) ?? [];
        list.push(b.invokeIndex);
        attempts.set(b.node, list);
      }
    }
    for (const node of listed) {
      if (acknowledged.has(node)) continue;
      const all = attempts.get(node) ?? [];
      const shown = all.slice(0, maxAttemptsListed);
      out.push({ node, heal: marker.index, boundMs: marker.boundMs, attempts: shown, attemptCount: all.length, indices: [marker.index, ...shown] });
    }
  });
  return out;
}
