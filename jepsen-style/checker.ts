/**
 * The broadcast checker: `checkHistory(ops)` judges a history (interfaces.md "History format") and
 * returns `results.json` (interfaces.md "Checker result"). It knows nothing of zabkit or of today's
 * runner: only the history, judged by the spec. It runs in time linear in the history (plus the size
 * of the reads): one pass to index the history and the agreed order, then each family checker's
 * own pass (a read that is an exact prefix of the agreed order is only compared, never rescanned);
 * hash maps only, no sorting but latencies.
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
 *   observations, the nemesis restarted its node (a process-restart op of the nemesis vocabulary,
 *   jepsen-style/vocabulary.ts: kill, start, power-off, power-on; whose value names the node, or
 *   names no node at all), since a restarted node may legitimately re-deliver. Counted per observation: `repeated` (an id seen before in the stream),
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
 *
 * Composition (Jepsen's `checker/compose`). `checkHistory` (ops in memory) and `checkHistoryFile`
 * (a file, streamed line by line: it never holds the history) build the indexed model of the history
 * once (checker/model.ts: broadcasts and completions, reads and each node's last read, the agreed
 * order with every read compared to it, deliver observations, final-phase markers, testbed
 * failures), runs one small checker per anomaly family on it, each testable alone and each
 * returning its validity, anomalies and the counts a testbed failure can explain, and merges them
 * (checker/verdict.ts: by validity, then the testbed-failure rule and the unknown rules):
 *   checker/durability.ts   lost, not-converged
 *   checker/integrity.ts    phantom, failed-delivered, duplicate, zxid-conflict
 *   checker/order.ts        divergence, zxid-order, fifo (with the gap rule), causal, real-time
 *   checker/observation.ts  deliver-order
 *   checker/liveness.ts     unavailable (checker/final-phase.ts: the marker and the bound)
 * checker/anomaly.ts is the layer below them all (names, the example collector and its limit, the
 * malformed-history error, zxids).
 */
import type { Op } from './types.js';
import { streamHistory } from './history.js';
import { MalformedHistoryError } from './checker/anomaly.js';
import { ModelBuilder, type HistoryModel } from './checker/model.js';
import { checkDurability } from './checker/durability.js';
import { checkIntegrity } from './checker/integrity.js';
import { checkOrder } from './checker/order.js';
import { checkObservation } from './checker/observation.js';
import { checkLiveness } from './checker/liveness.js';
import { composeResult, type BroadcastCheckResult } from './checker/verdict.js';

export { anomalyNames, compareZxid, livenessAnomalyNames, maxExamplesPerAnomaly, MalformedHistoryError, normalizeZxid, type AnomalyName } from './checker/anomaly.js';
export type { BroadcastCheckResult } from './checker/verdict.js';

function judge(model: HistoryModel): BroadcastCheckResult {
  return composeResult(model, {
    durability: checkDurability(model),
    integrity: checkIntegrity(model),
    order: checkOrder(model),
    observation: checkObservation(model),
    liveness: checkLiveness(model),
  });
}

/** The result of a history the checker could not judge: "unknown" with the error, never a pass. */
function failed(error: unknown, ops: number): BroadcastCheckResult {
  return {
    valid: 'unknown',
    anomalies: {},
    stats: { ops },
    reason: error instanceof MalformedHistoryError ? error.message : 'the checker failed',
    error: error instanceof MalformedHistoryError ? error.message : `checker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  };
}

/** Check a history; never throws (an exception, or a malformed history, becomes "unknown" with the error). */
export function checkHistory(ops: Iterable<Op>): BroadcastCheckResult {
  const builder = new ModelBuilder();
  let count = 0;
  try {
    for (const op of ops) {
      count += 1;
      builder.add(op);
    }
    return judge(builder.finish());
  } catch (error) {
    if (Array.isArray(ops)) count = ops.length;
    return failed(error, count);
  }
}

/**
 * Check a history.jsonl file as it streams (history.ts `streamHistory`): memory is the model's
 * per-message state, never the file or its ops. A line the reader refuses throws
 * `HistoryFormatError` (as `readHistory` does); what the checker cannot judge is "unknown".
 */
export function checkHistoryFile(path: string): { result: BroadcastCheckResult; warnings: string[] } {
  const builder = new ModelBuilder();
  let count = 0;
  let failure: { error: unknown } | undefined;
  const { warnings } = streamHistory(path, (op) => {
    count += 1;
    if (failure !== undefined) return;
    try {
      builder.add(op);
    } catch (error) {
      failure = { error };
    }
  });
  if (failure !== undefined) return { result: failed(failure.error, count), warnings };
  try {
    return { result: judge(builder.finish()), warnings };
  } catch (error) {
    return { result: failed(error, count), warnings };
  }
}

/** The `Checker` interface of types.ts. */
export const broadcastChecker = { check: checkHistory };
