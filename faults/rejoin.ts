/**
 * The `rejoin` fault package: the membership churn that sync bugs need, without knowing any bug.
 * One fault is a short sequence, every choice drawn from the op's seeded `pick`:
 *   1. a follower X goes down (graceful stop or kill -9), and the writes go on without it;
 *   2. on 5 or more nodes, a second follower Y goes down too (the highest-id one half the time),
 *      more writes, then Y comes back: it must catch up (a DIFF sync when the gap is small);
 *   3. often, the leader is killed at a quiet moment (when the live nodes report the same last
 *      zxid, or after `quietWaitMs`), so the most recently synced server may well be elected;
 *   4. X comes back (syncing from whoever leads now; before the leader kill when X and the leader
 *      down together would leave no majority, as on 3 nodes);
 *   5. sometimes the most recently synced server is killed -9 right after it is back, then started.
 * A majority stays up throughout. The stop op restarts whatever is still down (the killed leader). Stale followers rejoining by DIFF, leaders lost
 * right after a sync, restarts of the last server to sync: where ZOOKEEPER-4925 (a hole in a new
 * leader's committedLog) and ZOOKEEPER-4785 (an epoch persisted before the DIFF) live, and where
 * the rest of that family (3911, 4643, 4646) was found. The result records every step with its time.
 */
import type { Db, NodeStatus } from '../jepsen-style/types.js';
import { sleep, waitFor } from '../jepsen-style/async.js';
import type { Prng } from '../src/core/prng.js';

/**
 * Timing of a rejoin fault (docs/LIMITS.md). The whole sequence keeps to `budgetMs`, well inside the
 * runner's 30 s bound on a nemesis operation: a fault that overran it was recorded as a testbed
 * failure (and went on in the background). Steps that do not fit what is left are left out: a
 * graceful stop (it may take its 10 s grace) becomes a kill, the second follower and the leader
 * kill are skipped; the first follower always comes back.
 */
export const rejoinTiming = {
  budgetMs: 18_000,
  /** Writes between two membership changes: drawn from [min, max]. */
  gapMinMs: 500,
  gapMaxMs: 2_000,
  /** Bound on waiting for a restarted node to follow again, and for a new leader. */
  settleMs: 6_000,
  /** Bound on waiting for a quiet moment before the leader kill. */
  quietWaitMs: 2_000,
  pollMs: 20,
} as const;

export type RejoinTiming = { readonly [K in keyof typeof rejoinTiming]: number };

export interface RejoinResult {
  readonly result: Record<string, unknown>;
  /** Restart every node this fault left down. */
  readonly undo: () => Promise<Record<string, unknown>>;
}

export async function rejoin(db: Db, prng: Prng, timing: RejoinTiming = rejoinTiming): Promise<RejoinResult> {
  const started = Date.now();
  const steps: { atMs: number; action: string; node: string }[] = [];
  const down = new Set<string>();
  const ids = new Map(db.nodes().map((node) => [node.name, node.id]));
  const note = (action: string, node: string): void => void steps.push({ atMs: Date.now() - started, action, node });
  const left = (): number => started + timing.budgetMs - Date.now();
  const gap = (): Promise<void> => sleep(Math.min(timing.gapMinMs + prng.int(timing.gapMaxMs - timing.gapMinMs + 1), Math.max(0, left())));
  const takeDown = async (node: string): Promise<void> => {
    // Drawn first either way, so a short budget does not shift the later draws.
    const graceful = prng.next() < 0.5 && db.stop !== undefined && left() > 2 * timing.settleMs;
    note(graceful ? 'stop' : 'kill', node);
    down.add(node);
    await (graceful ? db.stop!(node) : db.kill(node));
  };
  const bringBack = async (node: string): Promise<void> => {
    note('start', node);
    await db.start(node);
    down.delete(node);
    await awaitStatus(db, (statuses) => statuses.some((s) => s.name === node && s.answers && (s.role === 'following' || s.role === 'leading')), Math.min(timing.settleMs, left()), timing.pollMs);
  };

  const statuses = await db.status();
  const leader = statuses.find((s) => s.role === 'leading')?.name;
  const followers = statuses.filter((s) => s.alive && !s.paused && s.role === 'following').map((s) => s.name).sort((a, b) => (ids.get(a) ?? 0) - (ids.get(b) ?? 0));
  const result = (): Record<string, unknown> => ({ leader: leader ?? null, steps, nodes: [...new Set(steps.map((s) => s.node))] });
  const undo = async (): Promise<Record<string, unknown>> => {
    const nodes = [...down];
    await Promise.all(nodes.map((node) => db.start(node)));
    down.clear();
    return { nodes };
  };
  if (leader === undefined || followers.length === 0) return { result: { ...result(), skipped: 'no leader with followers' }, undo };

  const x = followers[prng.int(followers.length)]!;
  await takeDown(x);
  await gap();
  let lastSynced: string | undefined;
  const rest = followers.filter((f) => f !== x);
  // A second one down keeps a majority up only from 5 nodes on.
  if (db.nodes().length >= 5 && rest.length > 0 && left() > 2 * timing.settleMs) {
    const y = prng.next() < 0.5 ? rest[rest.length - 1]! : rest[prng.int(rest.length)]!;
    await takeDown(y);
    await gap();
    await bringBack(y);
    lastSynced = y;
    await gap();
  }
  const killLeader = prng.next() < 0.7 && left() > timing.settleMs;
  // A majority stays up throughout: with X still down, the leader may die too only if that leaves one.
  const minority = Math.floor((db.nodes().length - 1) / 2);
  const xBackFirst = killLeader && down.size + 1 > minority;
  if (xBackFirst) {
    await bringBack(x);
    lastSynced = x;
  }
  if (killLeader) {
    await awaitStatus(db, quiet, Math.min(timing.quietWaitMs, left()), timing.pollMs);
    note('kill', leader);
    down.add(leader);
    await db.kill(leader);
    await awaitStatus(db, (s) => s.some((n) => n.answers && n.role === 'leading'), Math.min(timing.settleMs, left()), timing.pollMs);
  }
  if (!xBackFirst) {
    await bringBack(x);
    lastSynced = x;
  }
  if (prng.next() < 0.3 && lastSynced !== undefined && down.size + 1 <= minority && left() > 0) {
    note('kill', lastSynced);
    await db.kill(lastSynced);
    note('start', lastSynced);
    await db.start(lastSynced);
  }
  return { result: result(), undo };
}

/** Every live node answers, one leads, and all report the same last zxid. */
function quiet(statuses: readonly NodeStatus[]): boolean {
  const live = statuses.filter((s) => s.alive && !s.paused);
  return live.length > 0 && live.every((s) => s.answers) && live.filter((s) => s.role === 'leading').length === 1 && new Set(live.map((s) => s.lastZxid)).size === 1;
}

/** Poll the nodes' status until `wanted` holds (true) or `timeoutMs` passes (false). */
function awaitStatus(db: Db, wanted: (statuses: readonly NodeStatus[]) => boolean, timeoutMs: number, pollMs: number): Promise<boolean> {
  return waitFor(async () => wanted(await db.status().catch((): NodeStatus[] => [])), timeoutMs, pollMs);
}
