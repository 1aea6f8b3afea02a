/**
 * The contract between the pure Zab core and its I/O shell.
 *
 * The core (`ZabPeer` in peer.ts) is a deterministic state machine: inputs arrive through
 * `step(input)` (messages, ticks, client requests, connection losses), outputs leave as a
 * `Ready` batch that the shell executes in a fixed order, then confirms with `advance(ready)`:
 *
 *   1. send `ready.messages` now (they do not depend on this batch's persistence);
 *   2. persist: `truncateAfter` (cut the log), `append` (write the entries), flush + fdatasync;
 *      then `acceptedEpoch`, then `currentEpoch` (each an atomic file replace, fsynced);
 *   3. send `ready.messagesAfterPersist` (ACKs, ACKEPOCH, ACK of NEWLEADER: promises about
 *      durable state); for each peer in `ready.awaitDrain`, step `drained` once what was queued
 *      to it has left the process (the next chunk of a sync stream waits for it);
 *   4. deliver `ready.committedStored` and `ready.committed` to subscribers and answer `ready.clientReplies`;
 *   5. call `peer.advance(ready)`.
 *
 * While a Ready is being persisted, the shell may send what `peer.takeMessages()` gives at once
 * (the next batch's `messages`, kept behind what the Ready in flight sends after its persist).
 *
 * A crash between any two steps is safe; that order is the fsync discipline of
 * zab-protocol.md §2.9 (F1, F3, F4, F5).
 */
import type { Envelope, Message, ServerId, ServerState, Txn, Vote } from './messages.js';
import type { Zxid } from './zxid.js';
export type { Zxid } from './zxid.js';
/** Messages and the nouns they carry live in messages.ts; re-exported so this stays the one contract to import. */
export type { Envelope, Message, MessageType, ServerId, ServerState, Txn, Vote } from './messages.js';

/** The phase inside a server state (ServerState: messages.ts). */
export type ZabPhase = 'election' | 'discovery' | 'synchronization' | 'broadcast';

/** A client's request to broadcast `data`, as the shell hands it to the core. */
export interface ClientRequest {
  readonly session: string;
  readonly seq: number;
  readonly data: Uint8Array;
}

/**
 * The outcome of a client request, decided by the core.
 * - `ok`: committed at `zxid`.
 * - `fail`: definitely never delivered (it was never proposed: no leader, no quorum, too large).
 * - `unknown`: may or may not be delivered (forwarded or proposed, then the leader was lost).
 *
 * Session order (FIFO, with no holes): what a session gets delivered is always a prefix of what it
 * sent. So the first `fail` or `unknown` a session gets closes it: every later request of that
 * session fails at once, whatever its fate would have been, until the shell starts a new session
 * for the client (ZooKeeper closes the session instead).
 */
export type ClientReply =
  | { readonly session: string; readonly seq: number; readonly type: 'ok'; readonly zxid: Zxid }
  | { readonly session: string; readonly seq: number; readonly type: 'fail'; readonly reason: string }
  | { readonly session: string; readonly seq: number; readonly type: 'unknown'; readonly reason: string };

/** Inputs to `ZabPeer.step`. */
export type Input =
  | { readonly kind: 'tick' }
  | { readonly kind: 'message'; readonly from: ServerId; readonly message: Message }
  /**
   * The shell lost the ordered stream to or from `peer` (either direction's TCP connection
   * closed or was replaced). Messages after this come from a new stream; the core ends any
   * leader/follower session with that peer.
   */
  | { readonly kind: 'disconnected'; readonly peer: ServerId }
  | { readonly kind: 'request'; readonly request: ClientRequest }
  /**
   * What the shell was given for `peer` has left the process (its send buffer drained), after a
   * Ready that listed `peer` in `awaitDrain`. A leader streams a learner's sync in chunks, one per
   * `drained`, so it never reads or queues a long log's sync at once.
   */
  | { readonly kind: 'drained'; readonly peer: ServerId }
  /**
   * The shell will never again step a request of `session` (its client resumed under a new
   * session name, or went away): the core may forget that it closed it. See `ClientReply`.
   */
  | { readonly kind: 'session-ended'; readonly session: string };

/** What the core needs to start: configuration plus the recovered durable state. */
export interface PeerConfig {
  readonly id: ServerId;
  /** All voting members, including `id`. */
  readonly servers: readonly ServerId[];
  readonly timing: Timing;
  /** Planted bugs (interfaces.md), all off by default. */
  readonly bugs?: ReadonlySet<PlantedBug>;
  /** Durable, delivered log entries kept in memory (limits.ts memoryLogEntries when absent; tests lower it to read the store). */
  readonly memoryLogEntries?: number;
  /** Log data per chunk of a sync stream (limits.ts syncChunkBytes when absent; tests lower it to stream in many chunks). */
  readonly syncChunkBytes?: number;
  /** Epoch ends an ACKEPOCH lists (limits.ts maxEpochEnds when absent; tests lower it to reach a SNAP). */
  readonly maxEpochEnds?: number;
}

export interface Timing {
  /** A learner not heard from in this many ticks during discovery/sync is dropped; a leader gives up after it. */
  readonly initLimitTicks: number;
  /** A leader / follower not heard from in this many ticks in broadcast is considered gone. */
  readonly syncLimitTicks: number;
  /** FLE: how long a LOOKING server waits for a better vote once it sees a quorum (finalizeWait). */
  readonly finalizeWaitTicks: number;
  /** FLE: resend notifications every this many ticks while LOOKING. */
  readonly notificationResendTicks: number;
  /** Leader: ping followers every this many ticks. */
  readonly pingIntervalTicks: number;
}

export const plantedBugs = [
  'ack-before-fsync',
  'commit-without-quorum',
  'skip-truncate',
  'no-epoch-persist',
  'deliver-before-commit',
] as const;
export type PlantedBug = (typeof plantedBugs)[number];

/**
 * The persisted log, read synchronously (the shell's transaction log; log.ts MemoryLogStore in tests). The core
 * reads only entries at or below what it has seen persisted (Ready batches the shell has advanced
 * past), and only while its own view of them is unchanged, so a read never races a write.
 */
export interface LogStore {
  /** Highest zxid held (0 when empty). */
  lastZxid(): Zxid;
  /**
   * Entries with zxid in (from, to], in order; with `limit`, the first of them only: at most
   * `limit.entries`, and none after the one that brings their data to `limit.bytes`.
   */
  read(from: Zxid, to: Zxid, limit?: ReadLimit): Txn[];
  /** The largest zxid held that is <= `zxid` (0 if none). */
  floor(zxid: Zxid): Zxid;
  /** How many entries have zxid in (from, to]. */
  count(from: Zxid, to: Zxid): number;
}

/** How much one read of a LogStore may return (it returns at least one entry when any is in range). */
export interface ReadLimit {
  readonly entries: number;
  readonly bytes: number;
}

/** The durable state a server recovers on start (paper: f.p, f.a, h_f). */
export interface DurableState {
  readonly acceptedEpoch: number;
  readonly currentEpoch: number;
  /**
   * The whole log in zxid order, committed or not: the shell's store (read as needed, never whole),
   * or a list of entries (transcripts and tests: a store that holds exactly those).
   */
  readonly log: LogStore | readonly Txn[];
}

/**
 * One batch of work for the shell. See the file header for the order the shell must follow.
 */
export interface Ready {
  /** Send now. */
  readonly messages: readonly Envelope[];
  /** Remove every log entry with zxid > truncateAfter (0 removes all), before appending. */
  readonly truncateAfter: Zxid | undefined;
  /** Append to the log, in order, after the truncation. */
  readonly append: readonly Txn[];
  readonly acceptedEpoch: number | undefined;
  readonly currentEpoch: number | undefined;
  /** Send only once everything above is durable. */
  readonly messagesAfterPersist: readonly Envelope[];
  /**
   * Newly committed entries the store already held when they were delivered: every entry of the log
   * with zxid in (after, upTo], delivered in zxid order before `committed`. The shell reads them from
   * its log when it needs their data (a restarted server's whole history is one such range).
   */
  readonly committedStored: { readonly after: Zxid; readonly upTo: Zxid } | undefined;
  /** Newly committed entries, in zxid order, to deliver to subscribers (after persistence). */
  readonly committed: readonly Txn[];
  readonly clientReplies: readonly ClientReply[];
  /** Peers whose sync stream waits for room: step `drained` for each once this batch's messages to it have left. */
  readonly awaitDrain: readonly ServerId[];
  /**
   * When set, the shell must NOT fsync this batch's appends before step 3 (planted bug
   * ack-before-fsync); it flushes them later. Always false without the bug.
   */
  readonly deferSync: boolean;
  /** Trace events for logs (role changes, election results, sync mode, truncations, refusals). */
  readonly events: readonly TraceEvent[];
}

export type TraceEvent =
  | { readonly type: 'state'; readonly state: ServerState; readonly phase: ZabPhase; readonly epoch: number; readonly leader: ServerId | undefined }
  | { readonly type: 'elected'; readonly leader: ServerId; readonly round: number; readonly vote: Vote }
  | { readonly type: 'sync'; readonly peer: ServerId; readonly mode: 'DIFF' | 'TRUNC' | 'SNAP'; readonly peerLastZxid: Zxid; readonly fromZxid: Zxid }
  | { readonly type: 'truncated'; readonly after: Zxid; readonly removed: number }
  | { readonly type: 'rejected'; readonly from: ServerId | undefined; readonly messageType: string; readonly reason: string }
  | { readonly type: 'step-down'; readonly reason: string }
  /** The leader ended its session with a learner (SyncLimitCheck, or a learner that broke the protocol). */
  | { readonly type: 'dropped'; readonly peer: ServerId; readonly reason: string };

/** A read-only view for status pages and tests. */
export interface PeerStatus {
  readonly id: ServerId;
  readonly state: ServerState;
  readonly phase: ZabPhase;
  readonly leader: ServerId | undefined;
  readonly acceptedEpoch: number;
  readonly currentEpoch: number;
  readonly lastZxid: Zxid;
  readonly commitZxid: Zxid;
  readonly round: number;
}
