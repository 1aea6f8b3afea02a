/**
 * ZabPeer: one Zab server as a deterministic state machine (etcd raft style).
 *
 * Roles are step/tick pairs switched by become*(): LOOKING (Fast Leader Election), FOLLOWING and
 * LEADING, each walking the phases discovery → synchronization → broadcast (zab-protocol.md §2).
 * Each role's state is an object (roles.ts) that its become*() creates fresh and binds to the
 * role's step/tick functions, so nothing of one role can leak into the next; the fields left on
 * ZabPeer are the ones that survive a role change, each saying why. The role functions stay
 * methods here rather than one file per role: they share a dozen services of the peer (send,
 * reject, the log, commit and delivery, the epochs, the client requests, become*), and a role
 * file would need them all passed in, or would import peer.ts back to switch roles.
 *
 * Output accumulates in one Ready batch (types.ts header gives the order the shell executes it);
 * `advance(ready)` tells the core that batch is durable, which is when the leader counts its own
 * ACKs (of proposals, and of NEWLEADER once its currentEpoch is on disk).
 *
 * Send order: a message to peer P that follows a messagesAfterPersist message to P in the same
 * batch also goes to messagesAfterPersist, so each link stays FIFO in the order the core sent.
 * ACK and COMMIT of a proposal are cumulative (ACK z: "I durably hold every proposal of this epoch
 * up to z"; COMMIT z: "commit up to z"), so one that directly follows the same kind to the same
 * peer in the same list of a batch replaces it: a batch of N proposals costs one ACK and one COMMIT
 * per link, not N of each.
 *
 * What the shell must honour beyond types.ts:
 * - One Ready in flight: call advance(r) before the next ready(); step() between them is fine
 *   (its output goes to the next batch). Batches are executed strictly one after the other.
 * - Per-peer FIFO: messages to one peer leave in Ready order (messages, then messagesAfterPersist,
 *   batch after batch) on one ordered stream. When that stream breaks (either direction), report
 *   'disconnected' once, and never deliver a message of the old stream after it.
 * - truncateAfter + append of one Ready must be crash-atomic when truncateAfter removes durable
 *   entries (SNAP sync: truncateAfter 0 + the whole new log), e.g. write a new log file and rename.
 * - Restart: construct a new ZabPeer from exactly what was durable (epoch files + log); volatile
 *   state (commit point, sessions, pending client requests) is not recovered — pending clients of
 *   a crashed server are 'unknown'.
 * - Sessions: the first non-ok reply to a session closes it (types.ts ClientReply); the shell starts
 *   a new session name for the client and reports 'session-ended' for the old one.
 */
import { assert } from './assert.js';
import { voteBeats, voteHasQuorum } from './election.js';
import { forwardedRequestTimeoutSyncLimits, maxPayloadBytes, maxPendingClientRequests, maxPendingProposals, maxEpochEnds, maxSessionLength, memoryLogBytes, memoryLogEntries, syncChunkBytes, syncChunkEntries } from './limits.js';
import { followsContiguously, MemoryLogStore, TxnLog } from './log.js';
import { validateMessage } from './messages.js';
import type { Prng } from './prng.js';
import { isQuorum } from './quorum.js';
import { FollowingState, LeadingState, LookingState, type Learner, type RoleState } from './roles.js';
import { assertTiming } from './timing.js';
import type {
  ClientReply, ClientRequest, DurableState, Envelope, Input, LogStore, Message, PeerConfig, PeerStatus, PlantedBug, ReadLimit,
  Ready, ServerId, TraceEvent, Txn, Vote, ZabPhase,
} from './types.js';
import type { Zxid } from './zxid.js';
import { counterMax, counterOf, epochMax, epochOf, formatZxid, makeZxid } from './zxid.js';

type Action =
  | { readonly kind: 'appended'; readonly epoch: number; readonly zxids: readonly Zxid[] }
  | { readonly kind: 'epoch-durable'; readonly epoch: number };

/** The batch being built. */
class Outbox {
  messages: Envelope[] = [];
  /** Per peer, the list and index of the last message queued to it (what a cumulative one may replace). */
  lastTo = new Map<ServerId, { readonly list: Envelope[]; readonly index: number }>();
  afterPersistPeers = new Set<ServerId>();
  truncateAfter: Zxid | undefined = undefined;
  append: Txn[] = [];
  acceptedEpoch: number | undefined = undefined;
  currentEpoch: number | undefined = undefined;
  messagesAfterPersist: Envelope[] = [];
  committedStored: { after: Zxid; upTo: Zxid } | undefined = undefined;
  committed: Txn[] = [];
  clientReplies: ClientReply[] = [];
  awaitDrain = new Set<ServerId>();
  deferSync = false;
  events: TraceEvent[] = [];
  actions: Action[] = [];

  isEmpty(): boolean {
    return this.messages.length === 0 && this.truncateAfter === undefined && this.append.length === 0 &&
      this.acceptedEpoch === undefined && this.currentEpoch === undefined && this.messagesAfterPersist.length === 0 &&
      this.committedStored === undefined && this.committed.length === 0 && this.clientReplies.length === 0 && this.awaitDrain.size === 0 && this.events.length === 0 && this.actions.length === 0;
  }
}

interface PendingClient {
  readonly request: ClientRequest;
  proposed: boolean;
  /** The tick the request was proposed (leader) or forwarded (follower): it expires after forwardedRequestTimeoutSyncLimits. */
  readonly sinceTick: number;
}

export class ZabPeer {
  private readonly id: ServerId;
  private readonly servers: readonly ServerId[];
  private readonly config: PeerConfig;
  private readonly prng: Prng;
  private readonly bugs: ReadonlySet<PlantedBug>;

  /** The current role's state, created by its become*() (roles.ts). Assigned by becomeLooking in the constructor. */
  private role!: RoleState;
  private tickFn!: () => void;
  private stepFn!: (from: ServerId, message: Message) => void;

  // Survives every role change: the server's own state, whatever its role.
  /** Durable image (what the shell has persisted or is about to persist): a role change persists nothing by itself. */
  private acceptedEpoch: number;
  private currentEpoch: number;
  /** The log; a SNAP stages a new one (FollowingState.snap) and leaveRole puts the old one back if it is abandoned. */
  private log: TxnLog;
  /** What the shell has persisted (its transaction log): the log's prefix and what it reads old entries from. */
  private readonly store: LogStore;
  /** The store holds the log up to here as this core has it: what compaction may take out of memory. */
  private durableZxid: Zxid;
  private readonly memoryLogEntries: number;
  /** How much of the log one chunk of a sync stream carries. */
  private readonly syncChunk: ReadLimit;
  /** How many epoch ends an ACKEPOCH of this server lists. */
  private readonly maxEpochEnds: number;
  /** What this server knows committed: a new leader's sync only ever moves it on (or a TRUNC/abandoned SNAP cuts it back). */
  private commitZxid: Zxid = 0;
  /** Highest zxid emitted in Ready.committed by this incarnation: nothing is delivered twice, whatever the role. */
  private deliveredZxid: Zxid = 0;
  /** The clock: roles measure their timeouts from ticks taken here. */
  private tickCount = 0;
  /** The batch being built and the one in flight: the shell's contract does not depend on the role. */
  private out = new Outbox();
  private inflight: { ready: Ready; actions: Action[] } | undefined = undefined;
  /** Client requests of this server waiting for their commit, by session/seq: leaveRole answers them, nothing carries them over. */
  private readonly pendingClients = new Map<string, PendingClient>();
  /** Sessions closed by a non-ok reply (types.ts ClientReply): a session stays closed across roles until 'session-ended'. */
  private readonly closedSessions = new Set<string>();
  /**
   * The FLE round (logicalclock): each election starts one above the last, and FOLLOWING/LEADING
   * servers answer LOOKING ones with it, so it outlives the election that set it.
   */
  private round = 0;
  /**
   * Backoff after giving up on a leader for a protocol reason (a refused LEADERINFO, an
   * unexpected message): FLE re-elects the same leader at once, so without it the refusal loops
   * at network speed. The first FOLLOWERINFO to that leader waits `2^(refusals-1)` ticks, capped.
   * It spans the LOOKING role between two attempts to follow, so it lives here; a successful sync
   * (UPTODATE) clears it.
   */
  private refusedLeader: { leader: ServerId; refusals: number; untilTick: number } | undefined = undefined;
  /**
   * The highest acceptedEpoch a learner reported, kept across elections: the next epoch this server
   * proposes as leader is above it (onFollowerInfo steps down on a learner whose promise is higher).
   */
  private highestLearnerAcceptedEpoch = 0;

  constructor(config: PeerConfig, durable: DurableState, prng: Prng) {
    assert(config.servers.includes(config.id), 'config.servers must include config.id');
    assert(new Set(config.servers).size === config.servers.length, 'duplicate server ids');
    assertTiming(config.timing);
    assert(durable.acceptedEpoch >= durable.currentEpoch, 'acceptedEpoch < currentEpoch (loadDataBase refuses to start)');
    this.id = config.id;
    this.servers = [...config.servers];
    this.config = config;
    this.prng = prng;
    this.bugs = config.bugs ?? new Set();
    this.acceptedEpoch = durable.acceptedEpoch;
    this.currentEpoch = durable.currentEpoch;
    this.store = Array.isArray(durable.log) ? new MemoryLogStore(durable.log as readonly Txn[]) : (durable.log as LogStore);
    this.log = new TxnLog(this.store);
    this.durableZxid = this.log.lastZxid();
    this.memoryLogEntries = config.memoryLogEntries ?? memoryLogEntries;
    assert(Number.isSafeInteger(this.memoryLogEntries) && this.memoryLogEntries >= 0, 'memoryLogEntries must be a whole number');
    const chunkBytes = config.syncChunkBytes ?? syncChunkBytes;
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes >= 1, 'syncChunkBytes must be a whole number >= 1');
    this.syncChunk = { entries: syncChunkEntries, bytes: chunkBytes };
    this.maxEpochEnds = config.maxEpochEnds ?? maxEpochEnds;
    assert(Number.isSafeInteger(this.maxEpochEnds) && this.maxEpochEnds >= 0 && this.maxEpochEnds <= maxEpochEnds, `maxEpochEnds must be a whole number up to ${maxEpochEnds}`);
    this.becomeLooking('start');
  }

  // ------------------------------------------------------------------ public API

  step(input: Input): void {
    switch (input.kind) {
      case 'tick':
        this.tickCount++;
        this.tickFn();
        return;
      case 'message': {
        const reason = validateMessage(input.message);
        if (!this.servers.includes(input.from) || input.from === this.id) {
          this.reject(input.from, input.message?.type, 'not a peer');
        } else if (reason !== undefined) {
          this.reject(input.from, String((input.message as { type?: unknown } | undefined)?.type), reason);
        } else if (input.message.type === 'NOTIFICATION' && !this.servers.includes(input.message.vote.leader)) {
          this.reject(input.from, input.message.type, 'vote for a server not in the configuration');
        } else {
          this.stepFn(input.from, input.message);
        }
        return;
      }
      case 'disconnected':
        this.onDisconnected(input.peer);
        return;
      case 'request':
        this.onClientRequest(input.request);
        return;
      case 'session-ended':
        this.closedSessions.delete(input.session);
        return;
      case 'drained':
        this.onDrained(input.peer);
        return;
    }
  }

  hasReady(): boolean {
    return !this.out.isEmpty();
  }

  /**
   * The messages of the batch being built that the shell may send now, while the Ready in flight is
   * still being persisted (the leader's next proposals reach the followers during its own fsync):
   * `messages` depend on no persistence, whatever batch made the state they come from. None goes
   * to a peer that the Ready in flight still owes messages after its persist (each peer's messages
   * keep their order). The rest stay for the next Ready.
   */
  takeMessages(): Envelope[] {
    const o = this.out;
    if (o.messages.length === 0) return [];
    const owed = new Set<ServerId>();
    for (const e of this.inflight?.ready.messagesAfterPersist ?? []) owed.add(e.to);
    const now: Envelope[] = [];
    const kept: Envelope[] = [];
    for (const e of o.messages) (owed.has(e.to) ? kept : now).push(e);
    if (now.length === 0) return [];
    // A message sent can no longer be replaced by a cumulative one; those kept moved.
    const moved = new Set<ServerId>();
    for (const [to, last] of o.lastTo) {
      if (last.list !== o.messages) continue;
      o.lastTo.delete(to);
      moved.add(to);
    }
    o.messages = kept;
    kept.forEach((e, index) => {
      if (moved.has(e.to)) o.lastTo.set(e.to, { list: kept, index });
    });
    return now;
  }

  ready(): Ready {
    assert(this.inflight === undefined, 'ready() called again before advance()');
    const o = this.out;
    this.out = new Outbox();
    const noEpochPersist = this.bugs.has('no-epoch-persist');
    const ready: Ready = {
      messages: o.messages,
      truncateAfter: o.truncateAfter,
      append: o.append,
      acceptedEpoch: noEpochPersist ? undefined : o.acceptedEpoch,
      currentEpoch: noEpochPersist ? undefined : o.currentEpoch,
      messagesAfterPersist: o.messagesAfterPersist,
      committedStored: o.committedStored,
      committed: o.committed,
      clientReplies: o.clientReplies,
      awaitDrain: [...o.awaitDrain],
      deferSync: o.deferSync,
      events: o.events,
    };
    this.inflight = { ready, actions: o.actions };
    return ready;
  }

  advance(ready: Ready): void {
    assert(this.inflight !== undefined && this.inflight.ready === ready, 'advance() with a Ready not returned by ready()');
    const actions = this.inflight.actions;
    this.inflight = undefined;
    this.compactLog(ready);
    for (const action of actions) {
      // Both are the leader's own ACKs: they count only for the leadership (and epoch) that made them.
      const role = this.role;
      if (role.kind !== 'leading' || role.newEpoch !== action.epoch) continue;
      if (action.kind === 'appended') this.onOwnAppendDurable(role, action.zxids);
      else this.onOwnEpochDurable(role);
    }
  }

  /**
   * `ready` is persisted: the store now holds the log up to its last append, unless this core has
   * since cut its log below that (the cut reaches the store with the next batch). Entries the store
   * holds and that are delivered leave memory, the newest memoryLogEntries excepted. Not while a SNAP
   * is staged: the staged log is in memory only, and the store still holds the one it replaces.
   */
  private compactLog(ready: Ready): void {
    if (ready.truncateAfter !== undefined) this.durableZxid = Math.min(this.durableZxid, ready.truncateAfter);
    const lastAppended = ready.append.at(-1);
    if (lastAppended !== undefined) this.durableZxid = lastAppended.zxid;
    if (this.out.truncateAfter !== undefined) this.durableZxid = Math.min(this.durableZxid, this.out.truncateAfter);
    if (this.stagingSnap() || ready.deferSync) return;
    this.log.compactTo(Math.min(this.durableZxid, this.deliveredZxid), this.memoryLogEntries, memoryLogBytes);
  }

  status(): PeerStatus {
    return {
      id: this.id, state: this.role.kind, phase: this.role.phase, leader: this.leaderOf(this.role),
      acceptedEpoch: this.promisedEpoch(), currentEpoch: this.joinedEpoch(),
      lastZxid: this.log.lastZxid(), commitZxid: this.commitZxid, round: this.round,
    };
  }

  // ------------------------------------------------------------------ output helpers

  private send(to: ServerId, message: Message, afterPersist = false): void {
    const o = this.out;
    if (afterPersist) o.afterPersistPeers.add(to);
    const list = o.afterPersistPeers.has(to) ? o.messagesAfterPersist : o.messages;
    const last = o.lastTo.get(to);
    if (last !== undefined && last.list === list && supersedes(message, list[last.index]!.message)) {
      list[last.index] = { to, message };
      return;
    }
    list.push({ to, message });
    o.lastTo.set(to, { list, index: list.length - 1 });
  }

  private event(e: TraceEvent): void {
    this.out.events.push(e);
  }

  /** Every answer to a client leaves here: a non-ok one closes its session (types.ts ClientReply). */
  private replyToClient(reply: ClientReply): void {
    if (reply.type !== 'ok') this.closedSessions.add(reply.session);
    this.out.clientReplies.push(reply);
  }

  private reject(from: ServerId | undefined, messageType: string | undefined, reason: string): void {
    this.event({ type: 'rejected', from, messageType: messageType ?? 'unknown', reason });
  }

  private leaderOf(role: RoleState): ServerId | undefined {
    return role.kind === 'looking' ? undefined : role.kind === 'following' ? role.leader : this.id;
  }

  /** The 'state' trace event for the role and phase `role` is in now. */
  private announce(role: RoleState): void {
    const epoch = role.kind === 'leading' ? role.newEpoch ?? this.currentEpoch : role.kind === 'following' ? role.leaderEpoch : this.currentEpoch;
    this.event({ type: 'state', state: role.kind, phase: role.phase, epoch, leader: this.leaderOf(role) });
  }

  private enterPhase(role: FollowingState | LeadingState, phase: Exclude<ZabPhase, 'election'>): void {
    role.phase = phase;
    this.announce(role);
  }

  /** A SNAP is being received: the log in memory is staged, neither written nor delivered until NEWLEADER. */
  private stagingSnap(): boolean {
    return this.role.kind === 'following' && this.role.snap !== undefined;
  }

  private appendTxn(txn: Txn): void {
    this.log.append(txn);
    if (!this.stagingSnap()) this.out.append.push(txn);
  }

  private truncateLog(after: Zxid): void {
    const removed = this.log.truncateAfter(after);
    if (removed === 0) return;
    this.out.append = this.out.append.filter((t) => t.zxid <= after);
    this.out.truncateAfter = this.out.truncateAfter === undefined ? after : Math.min(this.out.truncateAfter, after);
    if (this.commitZxid > after) this.commitZxid = after;
    // Delivered means committed, and committed entries are never truncated (CommittedLogDurability).
    // Only a planted bug gets here; then the node re-delivers and the checker sees it.
    assert(this.bugs.size > 0 || after >= this.deliveredZxid, `truncation after ${after} cuts delivered entries up to ${this.deliveredZxid}`);
    if (this.deliveredZxid > after) this.deliveredZxid = after;
    this.event({ type: 'truncated', after, removed });
  }

  /**
   * The epochs the protocol acts on: acceptedEpoch (the promise, paper f.p) and currentEpoch
   * (the joined epoch, f.a). Planted bug no-epoch-persist (ZOOKEEPER-335) is the pre-Zab-1.0
   * protocol (ZooKeeper <= 3.3.3, zab-protocol.md §2.2): there is no promise at all; the epoch
   * lives only in the last logged zxid. Leader.lead() took `(getLastLoggedZxid() >> 32) + 1` and
   * a follower followed whichever leader FLE gave it. So here both epochs are read off the log,
   * in memory as on restart (src/server/durable.ts): a server that accepted or joined epoch e but
   * logged nothing of it has forgotten e. A leader that establishes e, proposes (e,1..k) that
   * only it logs (it is cut off, or crashes), is followed by a quorum that lacks every epoch-e
   * entry; that quorum derives e again and its leader proposes different (e,1..); when the two
   * meet, sync compares zxids only (DIFF, or TRUNC where the zxids part) and keeps both values:
   * two servers deliver different messages under one zxid.
   */
  private promisedEpoch(): number {
    return this.bugs.has('no-epoch-persist') ? epochOf(this.log.lastZxid()) : this.acceptedEpoch;
  }

  private joinedEpoch(): number {
    return this.bugs.has('no-epoch-persist') ? epochOf(this.log.lastZxid()) : this.currentEpoch;
  }

  private persistAcceptedEpoch(epoch: number): void {
    this.acceptedEpoch = epoch;
    this.out.acceptedEpoch = epoch;
  }

  private persistCurrentEpoch(epoch: number): void {
    this.currentEpoch = epoch;
    this.out.currentEpoch = epoch;
  }

  /** Marks everything up to `zxid` committed and emits the undelivered part once, in order. */
  private commitUpTo(zxid: Zxid): void {
    const upTo = Math.min(zxid, this.log.lastZxid());
    if (upTo > this.commitZxid) this.commitZxid = upTo;
    this.deliverUpTo(this.commitZxid);
  }

  private deliverUpTo(zxid: Zxid): void {
    if (zxid <= this.deliveredZxid || this.stagingSnap()) return;
    // Entries the store holds are delivered as a range the shell reads back (no client of this
    // incarnation waits on them: entries leave memory only once delivered). Behind entries already
    // in this batch (a planted bug re-delivers), they are read here to keep the order.
    const stored = Math.min(zxid, this.log.storedUpTo);
    const previous = this.out.committedStored;
    let from = this.deliveredZxid;
    if (stored > from && this.out.committed.length === 0 && (previous === undefined || previous.upTo === from)) {
      this.out.committedStored = { after: previous?.after ?? from, upTo: stored };
      from = stored;
    }
    for (const txn of this.log.range(from, zxid)) {
      this.out.committed.push(txn);
      if (txn.originServer === this.id) {
        const key = clientKey(txn.originSession, txn.originSeq);
        if (this.pendingClients.delete(key)) {
          this.replyToClient({ session: txn.originSession, seq: txn.originSeq, type: 'ok', zxid: txn.zxid });
        }
      }
    }
    this.deliveredZxid = zxid;
  }

  private initialVote(): Vote {
    return { leader: this.id, zxid: this.log.lastZxid(), peerEpoch: this.joinedEpoch() };
  }

  private others(): ServerId[] {
    return this.servers.filter((s) => s !== this.id);
  }

  // ------------------------------------------------------------------ role switches

  /** What leaving a role must do beyond dropping its state object: answer the clients, put back a log an unfinished SNAP replaced. */
  private leaveRole(): void {
    // Requests that may have been proposed can no longer be answered for sure.
    for (const [key, pending] of this.pendingClients) {
      const { session, seq } = pending.request;
      this.replyToClient(pending.proposed ? { session, seq, type: 'unknown', reason: 'left broadcast' } : { session, seq, type: 'fail', reason: 'left broadcast' });
      this.pendingClients.delete(key);
    }
    const role = this.role;
    if (role.kind === 'following' && role.snap !== undefined) {
      this.log = role.snap.replacedLog;
      // COMMITs received during the aborted SNAP were about the staged log, not this one.
      this.commitZxid = Math.min(role.snap.replacedCommitZxid, this.log.lastZxid());
      role.snap = undefined;
    }
  }

  /** The role, its tick/step functions (bound to its state) and the 'state' event change together, here. */
  private switchTo(role: RoleState, tick: () => void, step: (from: ServerId, message: Message) => void): void {
    this.role = role;
    this.tickFn = tick;
    this.stepFn = step;
    this.announce(role);
  }

  private becomeLooking(reason: string): void {
    if (reason !== 'start') {
      this.event({ type: 'step-down', reason });
      this.leaveRole();
    }
    this.round++;
    const looking = new LookingState(this.initialVote());
    this.switchTo(looking, () => this.tickLooking(looking), (from, m) => this.stepLooking(looking, from, m));
    looking.recvset.set(this.id, looking.proposal);
    this.sendNotifications(looking);
    this.checkElectionQuorum(looking);
  }

  private becomeFollowing(leader: ServerId, vote: Vote): void {
    this.leaveRole();
    const following = new FollowingState(leader, vote, this.tickCount);
    this.switchTo(following, () => this.tickFollowing(following), (from, m) => this.stepFollowing(following, from, m));
    const backoff = this.refusedLeader?.leader === leader && this.tickCount < this.refusedLeader.untilTick;
    if (!backoff) this.sendFollowerInfo(following);
  }

  /** `early`: the FOLLOWERINFOs the election kept (LookingState.earlyFollowerInfos). */
  private becomeLeading(vote: Vote, early: LookingState['earlyFollowerInfos']): void {
    this.leaveRole();
    const leading = new LeadingState(vote, this.tickCount, this.tickCount + this.config.timing.pingIntervalTicks, this.log.lastZxid());
    this.switchTo(leading, () => this.tickLeading(leading), (from, m) => this.stepLeading(leading, from, m));
    // Followers that finalized before us and already sent FOLLOWERINFO (stream order kept: each
    // is the latest message of its sender's current stream that concerns discovery).
    for (const [from, info] of [...early].sort((a, b) => a[0] - b[0])) {
      this.onFollowerInfo(leading, from, info.acceptedEpoch, info.lastZxid);
      if (this.role !== leading) return; // stepped down (a learner promised a higher epoch)
    }
    this.maybeProposeEpoch(leading);
  }

  private onDisconnected(peer: ServerId): void {
    // Messages for that stream still in this batch belong to a session that is over: never let
    // them open the next stream (the shell drops those of a batch already being persisted).
    this.out.messages = this.out.messages.filter((envelope) => envelope.to !== peer);
    this.out.messagesAfterPersist = this.out.messagesAfterPersist.filter((envelope) => envelope.to !== peer);
    // The filters moved every other peer's messages: no queued message may be replaced any more.
    this.out.lastTo.clear();
    const role = this.role;
    if (role.kind === 'looking') {
      role.earlyFollowerInfos.delete(peer);
    } else if (role.kind === 'following' && peer === role.leader) {
      this.becomeLooking('disconnected from leader');
    } else if (role.kind === 'leading') {
      this.forgetLearner(role, peer);
    }
  }

  // ------------------------------------------------------------------ LOOKING: Fast Leader Election

  private sendNotifications(looking: LookingState): void {
    for (const to of this.others()) {
      this.send(to, { type: 'NOTIFICATION', vote: looking.proposal, round: this.round, state: 'looking' });
    }
    // Jitter (injected PRNG) keeps servers that restarted together from resending in lockstep.
    looking.resendCountdown = this.config.timing.notificationResendTicks + this.prng.int(2);
  }

  private tickLooking(looking: LookingState): void {
    if (looking.finalizeCountdown !== undefined) {
      looking.finalizeCountdown--;
      if (looking.finalizeCountdown <= 0) {
        looking.finalizeCountdown = undefined;
        this.decide(looking, looking.proposal);
        return;
      }
    }
    looking.resendCountdown--;
    if (looking.resendCountdown <= 0) this.sendNotifications(looking);
  }

  private stepLooking(looking: LookingState, from: ServerId, m: Message): void {
    if (m.type === 'FOLLOWERINFO') {
      // The sender elected us and finalized first; kept for becomeLeading (Learner.connectToLeader
      // would retry the connection; replaying it saves the repeat interval).
      looking.earlyFollowerInfos.set(from, { acceptedEpoch: m.acceptedEpoch, lastZxid: m.lastZxid });
      this.reject(from, m.type, 'looking (kept in case this server is elected)');
      return;
    }
    if (m.type !== 'NOTIFICATION') {
      this.reject(from, m.type, 'looking');
      return;
    }
    if (m.state === 'looking' || m.vote.leader !== this.id) looking.earlyFollowerInfos.delete(from);
    if (m.state === 'looking') {
      // What it said while FOLLOWING/LEADING is over: a stale LEADING entry would let a quorum be
      // counted for a server that no longer leads (two servers could then follow each other).
      looking.outOfElection.delete(from);
      if (m.round > this.round) {
        this.round = m.round;
        looking.recvset.clear();
        const mine = this.initialVote();
        looking.proposal = voteBeats(m.vote, mine) ? m.vote : mine;
        looking.recvset.set(this.id, looking.proposal);
        this.sendNotifications(looking);
      } else if (m.round < this.round) {
        // The receiver thread answers a lagging LOOKING server with the current vote.
        this.send(from, { type: 'NOTIFICATION', vote: looking.proposal, round: this.round, state: 'looking' });
        return;
      } else if (voteBeats(m.vote, looking.proposal)) {
        looking.proposal = m.vote;
        looking.recvset.set(this.id, looking.proposal);
        this.sendNotifications(looking);
      } else if (voteBeats(looking.proposal, m.vote)) {
        // Same round, worse vote: the sender has not seen ours (e.g. our notification reached it
        // while it was still FOLLOWING the dead leader and was answered, not counted). Tell it now
        // rather than at our next resend. Votes only grow within a round, so this terminates.
        this.send(from, { type: 'NOTIFICATION', vote: looking.proposal, round: this.round, state: 'looking' });
      }
      looking.recvset.set(from, m.vote);
      this.checkElectionQuorum(looking);
      return;
    }
    // FOLLOWING / LEADING sender (receivedFollowingNotification).
    if (m.round === this.round) {
      looking.recvset.set(from, m.vote);
      if (voteHasQuorum(looking.recvset, m.vote, this.servers) && this.checkLeader(looking, m.vote.leader, from, m.state)) {
        this.decide(looking, m.vote);
        return;
      }
    }
    looking.outOfElection.set(from, { vote: m.vote, state: m.state });
    const supporters: ServerId[] = [];
    for (const [id, n] of looking.outOfElection) if (n.vote.leader === m.vote.leader) supporters.push(id);
    const leaderClaims = looking.outOfElection.get(m.vote.leader)?.state === 'leading';
    if (m.vote.leader !== this.id && isQuorum(supporters, this.servers) && leaderClaims) {
      this.round = Math.max(this.round, m.round);
      this.decide(looking, m.vote);
    }
  }

  /** checkLeader: the proposed leader must be me, or have told us itself that it is LEADING. */
  private checkLeader(looking: LookingState, leader: ServerId, from: ServerId, state: 'following' | 'leading'): boolean {
    if (leader === this.id) return true;
    if (from === leader && state === 'leading') return true;
    return looking.outOfElection.get(leader)?.state === 'leading';
  }

  private checkElectionQuorum(looking: LookingState): void {
    if (voteHasQuorum(looking.recvset, looking.proposal, this.servers)) {
      if (looking.finalizeCountdown === undefined) {
        if (this.config.timing.finalizeWaitTicks === 0) {
          this.decide(looking, looking.proposal);
          return;
        }
        looking.finalizeCountdown = this.config.timing.finalizeWaitTicks;
      }
    } else {
      looking.finalizeCountdown = undefined;
    }
  }

  private decide(looking: LookingState, vote: Vote): void {
    this.event({ type: 'elected', leader: vote.leader, round: this.round, vote });
    if (vote.leader === this.id) this.becomeLeading(vote, looking.earlyFollowerInfos);
    else this.becomeFollowing(vote.leader, vote);
  }

  /** FOLLOWING/LEADING: answer a LOOKING server with the vote that elected our leader. */
  private answerLooking(role: FollowingState | LeadingState, from: ServerId, m: Message): boolean {
    if (m.type !== 'NOTIFICATION') return false;
    if (m.state === 'looking') {
      this.send(from, { type: 'NOTIFICATION', vote: role.electedVote, round: this.round, state: role.kind });
    }
    return true;
  }

  // ------------------------------------------------------------------ FOLLOWING

  private tickFollowing(following: FollowingState): void {
    const limit = following.phase === 'broadcast' ? this.config.timing.syncLimitTicks : this.config.timing.initLimitTicks;
    if (this.tickCount - following.lastHeardFromLeaderTick > limit) return this.becomeLooking('leader silent');
    if (following.phase === 'broadcast') this.expirePendingClients();
    // Learner.connectToLeader retries: the elected leader may still be LOOKING (it finalizes later
    // than we did) and refuse our FOLLOWERINFO, so repeat it until LEADERINFO arrives; after a
    // refusal, the first one waits for the backoff.
    if (following.phase === 'discovery' && following.leaderEpoch === 0) {
      const backoff = this.refusedLeader?.leader === following.leader ? this.refusedLeader.untilTick : 0;
      const due = following.followerInfoSentTick === undefined ? backoff : following.followerInfoSentTick + this.config.timing.notificationResendTicks;
      if (this.tickCount >= due) this.sendFollowerInfo(following);
    }
  }

  /**
   * A client request that has not committed after forwardedRequestTimeoutSyncLimits syncLimits is
   * answered 'unknown' and forgotten (the client must not wait for the rest of the epoch, nor hold
   * a pending slot); that closes its session, so nothing it sent later can be delivered without it.
   */
  private expirePendingClients(): void {
    const limit = this.config.timing.syncLimitTicks * forwardedRequestTimeoutSyncLimits;
    for (const [key, pending] of this.pendingClients) {
      if (this.tickCount - pending.sinceTick <= limit) continue;
      const { session, seq } = pending.request;
      // Not proposed yet: held back at this leader; taken out of the queue, it never will be.
      this.replyToClient(pending.proposed ? { session, seq, type: 'unknown', reason: 'no commit in time' } : { session, seq, type: 'fail', reason: 'not proposed in time' });
      this.pendingClients.delete(key);
    }
  }

  private sendFollowerInfo(following: FollowingState): void {
    following.followerInfoSentTick = this.tickCount;
    this.send(following.leader, { type: 'FOLLOWERINFO', acceptedEpoch: this.promisedEpoch(), lastZxid: this.log.lastZxid() });
  }

  private stepFollowing(following: FollowingState, from: ServerId, m: Message): void {
    if (m.type === 'NOTIFICATION' && from === following.leader && m.state === 'looking' && m.round > this.round) {
      // Our leader stepped down and started a new election (its round moved past ours): join it
      // now rather than after syncLimit of silence. A LOOKING vote of an older round is stale.
      this.becomeLooking('leader is looking');
      return this.stepFn(from, m);
    }
    if (this.answerLooking(following, from, m)) return;
    if (from !== following.leader) {
      this.reject(from, m.type, 'not my leader');
      return;
    }
    // Only what a leader sends proves it leads: a FOLLOWERINFO from "our leader" (it follows us, or
    // someone) must not keep us waiting on it, or two servers can follow each other for good.
    if (!leaderMessageTypes.has(m.type)) return this.reject(from, m.type, 'unexpected at follower');
    following.lastHeardFromLeaderTick = this.tickCount;
    switch (m.type) {
      case 'LEADERINFO': return this.onLeaderInfo(following, m.epoch);
      case 'DIFF': case 'TRUNC': case 'SNAP': return this.onSyncStart(following, m);
      case 'PROPOSAL': return this.onFollowerProposal(following, m.epoch, m.txn);
      case 'COMMIT': return this.onFollowerCommit(following, m.epoch, m.zxid);
      case 'NEWLEADER': return this.onNewLeader(following, m.epoch);
      case 'UPTODATE': return this.onUpToDate(following, m.epoch, m.commitZxid);
      case 'PING':
        if (m.epoch !== following.leaderEpoch) return this.reject(from, m.type, 'wrong epoch');
        this.send(from, { type: 'PONG', epoch: m.epoch });
        return;
      default:
        this.reject(from, m.type, 'unexpected at follower');
    }
  }

  private dropLeader(following: FollowingState, messageType: string, reason: string): void {
    const leader = following.leader;
    this.reject(leader, messageType, reason);
    const refusals = this.refusedLeader?.leader === leader ? this.refusedLeader.refusals + 1 : 1;
    const waitTicks = Math.min(2 ** (refusals - 1), Math.max(1, Math.floor(this.config.timing.initLimitTicks / 2)));
    this.refusedLeader = { leader, refusals, untilTick: this.tickCount + waitTicks };
    this.becomeLooking(reason);
  }

  private onLeaderInfo(following: FollowingState, epoch: number): void {
    if (following.phase !== 'discovery' || following.leaderEpoch !== 0) return this.reject(following.leader, 'LEADERINFO', 'unexpected');
    const lastZxid = this.log.lastZxid();
    const promised = this.promisedEpoch();
    if (epoch > promised) {
      following.leaderEpoch = epoch;
      this.persistAcceptedEpoch(epoch);
      this.send(following.leader, { type: 'ACKEPOCH', epoch, currentEpoch: this.joinedEpoch(), lastZxid, epochEnds: this.epochEnds() }, true);
    } else if (epoch === promised) {
      following.leaderEpoch = epoch;
      this.send(following.leader, { type: 'ACKEPOCH', epoch, currentEpoch: -1, lastZxid, epochEnds: this.epochEnds() }, true);
    } else {
      this.dropLeader(following, 'LEADERINFO', 'epoch older than acceptedEpoch');
    }
  }

  /** ACKEPOCH's epochEnds: the last zxid of each epoch of the log, newest first, then 0 if that was all of them. */
  private epochEnds(): Zxid[] {
    const ends: Zxid[] = [];
    let last = this.log.lastZxid();
    while (last !== 0 && ends.length < this.maxEpochEnds) {
      ends.push(last);
      last = this.log.lastBefore(makeZxid(epochOf(last), 1));
    }
    if (last === 0) ends.push(0);
    return ends;
  }

  private onSyncStart(following: FollowingState, m: Extract<Message, { type: 'DIFF' | 'TRUNC' | 'SNAP' }>): void {
    if (following.phase !== 'discovery' || following.leaderEpoch === 0 || m.epoch !== following.leaderEpoch) {
      return this.dropLeader(following, m.type, 'unexpected sync start');
    }
    this.enterPhase(following, 'synchronization');
    if (m.type === 'TRUNC') {
      if (this.bugs.has('skip-truncate')) return; // planted bug ZOOKEEPER-1154: keep the suffix
      this.truncateLog(m.truncZxid);
    } else if (m.type === 'SNAP') {
      // The state is the log: it is replaced whole. The new log is staged in memory and written
      // at NEWLEADER in one batch (truncateAfter 0 + append), so a crash mid-SNAP leaves the old
      // log on disk, never a half-empty one (ZOOKEEPER-3642).
      following.snap = { replacedLog: this.log, replacedCommitZxid: this.commitZxid };
      this.log = new TxnLog(this.store, true);
      this.commitZxid = 0;
    }
  }

  private onFollowerProposal(following: FollowingState, epoch: number, txn: Txn): void {
    if (epoch !== following.leaderEpoch || following.phase === 'discovery') return this.dropLeader(following, 'PROPOSAL', 'unexpected proposal');
    const last = this.log.lastZxid();
    if (epochOf(txn.zxid) > following.leaderEpoch || !followsContiguously(last, txn.zxid)) {
      return this.dropLeader(following, 'PROPOSAL', 'zxid not the next one');
    }
    this.appendTxn(txn);
    // Proposals of the sync stream (before NEWLEADER) are acknowledged by the ACK of NEWLEADER
    // (the leader counts it for everything up to Learner.syncedUpTo); later ones one by one.
    if (following.phase === 'broadcast') {
      this.ackProposal(following, txn.zxid);
      if (this.bugs.has('deliver-before-commit')) this.deliverUpTo(txn.zxid);
    } else if (following.newLeaderReceived && epochOf(txn.zxid) === following.leaderEpoch) {
      this.ackProposal(following, txn.zxid);
    }
  }

  private ackProposal(following: FollowingState, zxid: Zxid): void {
    const ack: Message = { type: 'ACK', epoch: following.leaderEpoch, zxid };
    if (this.bugs.has('ack-before-fsync')) {
      this.out.deferSync = true;
      this.send(following.leader, ack);
    } else {
      this.send(following.leader, ack, true);
    }
  }

  private onFollowerCommit(following: FollowingState, epoch: number, zxid: Zxid): void {
    if (epoch !== following.leaderEpoch || following.phase === 'discovery') return this.dropLeader(following, 'COMMIT', 'unexpected commit');
    if (!this.log.has(zxid)) return this.dropLeader(following, 'COMMIT', 'commit of an unknown zxid');
    if (following.phase === 'broadcast') {
      if (zxid <= this.commitZxid) return this.dropLeader(following, 'COMMIT', 'commit of a zxid already committed');
    } else if (zxid <= this.commitZxid) {
      return;
    }
    // COMMIT(z) commits every pending proposal ≤ z (the leader commits strictly in zxid order, and
    // our log is its prefix: during sync by the sync stream, in broadcast by its PROPOSALs).
    this.commitUpTo(zxid);
  }

  private onNewLeader(following: FollowingState, epoch: number): void {
    if (following.phase !== 'synchronization' || following.newLeaderReceived || epoch !== following.leaderEpoch) {
      return this.dropLeader(following, 'NEWLEADER', 'unexpected NEWLEADER');
    }
    following.newLeaderReceived = true;
    if (following.snap !== undefined) {
      const removed = following.snap.replacedLog.length;
      following.snap = undefined;
      this.out.truncateAfter = 0;
      this.out.append = [...this.log.memoryEntries()];
      this.durableZxid = 0;
      this.event({ type: 'truncated', after: 0, removed });
      this.deliverUpTo(this.commitZxid);
    }
    // ZOOKEEPER-3911/4643/4646: the synced entries are already in this batch's (or an earlier
    // batch's) append; the shell makes them durable, then currentEpoch, then sends the ACK.
    this.persistCurrentEpoch(epoch);
    this.send(following.leader, { type: 'ACK', epoch, zxid: makeZxid(epoch, 0) }, true);
  }

  private onUpToDate(following: FollowingState, epoch: number, commitZxid: Zxid): void {
    if (following.phase !== 'synchronization' || !following.newLeaderReceived || epoch !== following.leaderEpoch) {
      return this.dropLeader(following, 'UPTODATE', 'unexpected UPTODATE');
    }
    this.commitUpTo(commitZxid);
    this.refusedLeader = undefined;
    this.enterPhase(following, 'broadcast');
  }

  // ------------------------------------------------------------------ LEADING

  private maybeProposeEpoch(leading: LeadingState): void {
    if (leading.newEpoch !== undefined) return;
    const connected = [this.id, ...leading.learners.keys()];
    if (!isQuorum(connected, this.servers)) return;
    let max = Math.max(this.promisedEpoch(), this.highestLearnerAcceptedEpoch);
    for (const l of leading.learners.values()) max = Math.max(max, l.acceptedEpoch);
    if (max + 1 > epochMax) return this.becomeLooking('epoch space exhausted');
    const epoch = max + 1;
    leading.newEpoch = epoch;
    this.persistAcceptedEpoch(epoch);
    for (const l of leading.learners.values()) this.sendLeaderInfo(leading, l);
    this.announce(leading);
    this.maybeFinishDiscovery(leading);
  }

  private sendLeaderInfo(leading: LeadingState, l: Learner): void {
    assert(leading.newEpoch !== undefined);
    l.stage = 'epoch-sent';
    this.send(l.id, { type: 'LEADERINFO', epoch: leading.newEpoch }, true);
  }

  private tickLeading(leading: LeadingState): void {
    const t = this.config.timing;
    if (leading.phase !== 'broadcast') {
      // initLimit from the start, or from the last chunk of a sync stream (ZooKeeper counts it for the
      // whole sync: a sync longer than initLimit would be abandoned and restarted for good).
      if (this.tickCount - leading.syncProgressTick > t.initLimitTicks) return this.becomeLooking('could not establish epoch within initLimit');
    }
    for (const l of [...leading.learners.values()]) {
      const limit = inBroadcast(l) ? t.syncLimitTicks : t.initLimitTicks;
      if (this.tickCount - l.lastHeardTick > limit) this.forgetLearner(leading, l.id);
    }
    if (leading.phase === 'broadcast') {
      this.syncLimitCheck(leading);
      const alive = [this.id];
      for (const l of leading.learners.values()) if (inBroadcast(l)) alive.push(l.id);
      if (!isQuorum(alive, this.servers)) return this.becomeLooking('not sufficient followers synced');
      this.expirePendingClients();
    }
    if (this.tickCount >= leading.nextPingTick) {
      leading.nextPingTick = this.tickCount + t.pingIntervalTicks;
      for (const l of leading.learners.values()) {
        if (leading.newEpoch !== undefined && l.stage !== 'registered') {
          this.send(l.id, { type: 'PING', epoch: leading.newEpoch, commitZxid: this.commitZxid });
        }
      }
    }
  }

  /**
   * ZooKeeper's SyncLimitCheck: a learner that has not ACKed a proposal within syncLimit of it
   * being sent (while it keeps answering pings) is dropped, so a leader never waits in silence on
   * an ACK that will not come: the learner times out, rejoins, and its ACK of NEWLEADER covers the
   * proposal; if too few learners remain, the leader steps down.
   */
  private syncLimitCheck(leading: LeadingState): void {
    const limit = this.config.timing.syncLimitTicks;
    for (const l of [...leading.learners.values()]) {
      if (!inBroadcast(l)) continue;
      const owed = leading.outstanding.find((o) => !o.acks.has(l.id));
      if (owed === undefined || this.tickCount - Math.max(owed.proposedTick, l.syncedTick) <= limit) continue;
      this.dropLearner(leading, l, `no ACK of ${formatZxid(owed.zxid)} within syncLimit (SyncLimitCheck)`);
    }
  }

  /** Ends the session with a learner (it times out and rejoins); its held requests go with it. */
  private dropLearner(leading: LeadingState, l: Learner, reason: string): void {
    this.forgetLearner(leading, l.id);
    this.event({ type: 'dropped', peer: l.id, reason });
  }

  /**
   * Every way a learner's session ends (a broken stream, a timeout, a drop, a new registration)
   * takes its held requests with it: that session's clients are answered on the follower's side
   * ('unknown' when it leaves broadcast), and none of them may be proposed for a learner gone.
   */
  private forgetLearner(leading: LeadingState, id: ServerId): void {
    const l = leading.learners.get(id);
    if (l === undefined) return;
    leading.learners.delete(id);
    if (l.held > 0) leading.held = leading.held.filter((h) => h.from !== id);
  }

  private stepLeading(leading: LeadingState, from: ServerId, m: Message): void {
    if (this.answerLooking(leading, from, m)) return;
    if (m.type === 'FOLLOWERINFO') return this.onFollowerInfo(leading, from, m.acceptedEpoch, m.lastZxid);
    const l = leading.learners.get(from);
    if (l === undefined) return this.reject(from, m.type, 'no learner session');
    l.lastHeardTick = this.tickCount;
    switch (m.type) {
      case 'ACKEPOCH': return this.onAckEpoch(leading, l, m);
      case 'ACK': return this.onAck(leading, l, m.epoch, m.zxid);
      case 'PONG':
        if (m.epoch !== leading.newEpoch) this.reject(from, m.type, 'wrong epoch');
        return;
      case 'REQUEST': return this.onForwardedRequest(leading, l, m);
      default:
        this.reject(from, m.type, 'unexpected at leader');
    }
  }

  private onFollowerInfo(leading: LeadingState, from: ServerId, acceptedEpoch: number, lastZxid: Zxid): void {
    this.highestLearnerAcceptedEpoch = Math.max(this.highestLearnerAcceptedEpoch, acceptedEpoch);
    if (leading.newEpoch !== undefined && acceptedEpoch > leading.newEpoch) {
      // The learner promised a higher epoch (an attempt to lead it failed) and can never ACK ours;
      // waiting would keep it out for good (and Learner.registerWithLeader loops on the refusal).
      // Zab moves on by a new epoch: step down; the next discovery proposes one above it.
      return this.becomeLooking(`learner ${from} accepted epoch ${acceptedEpoch}, above this leader's ${leading.newEpoch}`);
    }
    // A repeated FOLLOWERINFO (the follower repeats it until LEADERINFO arrives; FIFO puts every
    // repeat before its ACKEPOCH) is idempotent: answer it again, keep the session.
    const known = leading.learners.get(from);
    if (known && (known.stage === 'registered' || known.stage === 'epoch-sent') &&
        known.acceptedEpoch === acceptedEpoch && known.lastZxid === lastZxid) {
      known.lastHeardTick = this.tickCount;
      if (known.stage === 'epoch-sent') this.sendLeaderInfo(leading, known);
      return;
    }
    // A new registration replaces any previous session of that learner.
    this.forgetLearner(leading, from);
    const l: Learner = { id: from, stage: 'registered', acceptedEpoch, lastZxid, lastHeardTick: this.tickCount, epochEnds: [], streamedUpTo: 0, streamCommitted: 0, awaitingDrain: false, syncedUpTo: 0, syncedTick: this.tickCount, held: 0 };
    leading.learners.set(from, l);
    if (leading.newEpoch === undefined) this.maybeProposeEpoch(leading);
    else this.sendLeaderInfo(leading, l);
  }

  private onAckEpoch(leading: LeadingState, l: Learner, m: Extract<Message, { type: 'ACKEPOCH' }>): void {
    if (l.stage !== 'epoch-sent' || m.epoch !== leading.newEpoch) return this.reject(l.id, m.type, 'unexpected ACKEPOCH');
    // waitForEpochAck: a follower more recent than the leader means FLE went wrong: abandon.
    const joined = this.joinedEpoch();
    if (m.currentEpoch > joined || (m.currentEpoch === joined && m.lastZxid > this.log.lastZxid())) {
      if (leading.phase === 'discovery') return this.becomeLooking(`follower ${l.id} is more recent than the leader`);
      // Later joiner with a history the established leader lacks: it must be truncated/snapped below.
    }
    l.stage = 'epoch-acked';
    l.lastZxid = m.lastZxid;
    l.epochEnds = m.epochEnds;
    if (m.currentEpoch !== -1) leading.epochAcks.add(l.id);
    if (leading.phase === 'discovery') this.maybeFinishDiscovery(leading);
    else this.syncLearner(leading, l);
  }

  /** waitForEpochAck done: persist currentEpoch, then synchronize every learner that acked. */
  private maybeFinishDiscovery(leading: LeadingState): void {
    if (leading.phase !== 'discovery' || leading.newEpoch === undefined) return;
    if (!isQuorum([this.id, ...leading.epochAcks], this.servers)) return;
    this.persistCurrentEpoch(leading.newEpoch);
    this.out.actions.push({ kind: 'epoch-durable', epoch: leading.newEpoch });
    this.enterPhase(leading, 'synchronization');
    for (const other of leading.learners.values()) if (other.stage === 'epoch-acked') this.syncLearner(leading, other);
  }

  /** LearnerHandler.syncFollower + startForwarding + NEWLEADER. */
  private syncLearner(leading: LeadingState, l: Learner): void {
    const epoch = leading.newEpoch!;
    const leaderLast = this.log.lastZxid();
    const peerLast = l.lastZxid;
    let mode: 'DIFF' | 'TRUNC' | 'SNAP';
    let from: Zxid;
    const common = peerLast === 0 || this.log.has(peerLast) ? peerLast : this.commonPoint(l.epochEnds);
    if (common === peerLast) {
      mode = 'DIFF';
      from = peerLast;
    } else if (common !== undefined) {
      mode = 'TRUNC';
      from = common;
    } else {
      mode = 'SNAP';
      from = 0;
    }
    this.event({ type: 'sync', peer: l.id, mode, peerLastZxid: peerLast, fromZxid: from });
    if (mode === 'DIFF') this.send(l.id, { type: 'DIFF', epoch, lastZxid: from }, true);
    else if (mode === 'TRUNC') this.send(l.id, { type: 'TRUNC', epoch, truncZxid: from }, true);
    else this.send(l.id, { type: 'SNAP', epoch, lastZxid: leaderLast }, true);
    l.stage = 'streaming';
    l.streamedUpTo = from;
    l.streamCommitted = from;
    this.streamChunk(leading, l);
  }

  /**
   * Where a learner's log parts from the leader's: the highest zxid both hold, from the learner's
   * epochEnds (undefined when they do not reach far enough to tell). Both logs hold each of their
   * epochs from counter 1 on without a gap (followsContiguously), so for the learner's newest epoch
   * e whose first zxid the leader holds, both hold e/1 up to the lower of their ends in e, and no
   * zxid above that is in both (the learner's later epochs the leader lacks from their start).
   * Two logs that hold one zxid agree up to it (what DIFF has always relied on), so everything the
   * learner has above this point is missing from the leader's log: never committed (the
   * established leader holds every committed entry), and a TRUNC may remove it without a rewrite
   * (ZooKeeper TRUNCs a learner ahead of the leader too). A learner whose newest epochs the leader
   * lacks entirely, beyond maxEpochEnds of them, gets a SNAP.
   */
  private commonPoint(epochEnds: readonly Zxid[]): Zxid | undefined {
    for (const end of epochEnds) {
      if (end === 0) return 0;
      if (this.log.has(makeZxid(epochOf(end), 1))) return this.log.lastBefore(end + 1);
    }
    return undefined;
  }

  /**
   * The next chunk of a learner's sync stream: the PROPOSALs after what it has sent, then one
   * cumulative COMMIT of what of them is committed. The stream chases the log's end (proposals
   * made meanwhile are not forwarded to a streaming learner: the stream carries them); once it
   * reaches it, startForwarding and NEWLEADER, as the whole stream used to be queued at once.
   * Otherwise the next chunk waits for the shell to say this one left (`drained`).
   */
  private streamChunk(leading: LeadingState, l: Learner): void {
    const epoch = leading.newEpoch!;
    const end = this.log.lastZxid();
    const txns = this.log.range(l.streamedUpTo, end, this.syncChunk);
    for (const txn of txns) this.send(l.id, { type: 'PROPOSAL', epoch, txn }, true);
    assert(txns.length > 0 || l.streamedUpTo >= end, `sync stream of ${l.id} read nothing after ${formatZxid(l.streamedUpTo)}`);
    if (txns.length > 0) {
      l.streamedUpTo = txns[txns.length - 1]!.zxid;
      leading.syncProgressTick = this.tickCount;
    }
    const committed = Math.min(this.commitZxid, l.streamedUpTo);
    if (committed > l.streamCommitted) {
      this.send(l.id, { type: 'COMMIT', epoch, zxid: committed }, true);
      l.streamCommitted = committed;
    }
    if (l.streamedUpTo < end) {
      l.awaitingDrain = true;
      this.out.awaitDrain.add(l.id);
      return;
    }
    // startForwarding: from now on every PROPOSAL/COMMIT reaches it.
    l.stage = 'syncing';
    l.syncedUpTo = end;
    this.send(l.id, { type: 'NEWLEADER', epoch }, true);
  }

  /** The shell sent what it had for `peer`: a learner's sync stream goes on. */
  private onDrained(peer: ServerId): void {
    if (this.role.kind !== 'leading') return;
    const l = this.role.learners.get(peer);
    if (l === undefined || l.stage !== 'streaming' || !l.awaitingDrain) return;
    l.awaitingDrain = false;
    this.streamChunk(this.role, l);
  }

  private onAck(leading: LeadingState, l: Learner, epoch: number, zxid: Zxid): void {
    if (epoch !== leading.newEpoch) return this.reject(l.id, 'ACK', 'wrong epoch');
    if (counterOf(zxid) === 0) {
      if (l.stage !== 'syncing' || zxid !== makeZxid(epoch, 0)) return this.reject(l.id, 'ACK', 'unexpected NEWLEADER ack');
      l.stage = 'synced';
      l.syncedTick = this.tickCount;
      leading.newLeaderAcks.add(l.id);
      // The ACK of NEWLEADER is sent once the learner's log is durable up to syncedUpTo.
      for (const o of leading.outstanding) if (o.zxid <= l.syncedUpTo) o.acks.add(l.id);
      if (leading.phase === 'broadcast') {
        this.sendUpToDate(leading, l);
        this.tryCommit(leading);
      } else {
        this.maybeEstablish(leading);
      }
      return;
    }
    if (!inBroadcast(l)) return this.reject(l.id, 'ACK', 'ack before NEWLEADER ack');
    if (zxid > leading.lastProposedZxid || (zxid > this.commitZxid && !this.log.has(zxid))) return this.reject(l.id, 'ACK', 'unknown proposal');
    // Cumulative: the learner durably holds every proposal of the epoch up to zxid.
    for (const o of leading.outstanding) {
      if (o.zxid > zxid) break;
      o.acks.add(l.id);
    }
    this.tryCommit(leading);
  }

  /** The leader's currentEpoch is durable: its own ACK of NEWLEADER. */
  private onOwnEpochDurable(leading: LeadingState): void {
    leading.newLeaderAcks.add(this.id);
    this.maybeEstablish(leading);
  }

  /** waitForNewLeaderAck → startZkServer: the initial history is committed; broadcast starts. */
  private maybeEstablish(leading: LeadingState): void {
    if (leading.phase !== 'synchronization' || !leading.newLeaderAcks.has(this.id)) return;
    if (!isQuorum(leading.newLeaderAcks, this.servers)) return;
    this.enterPhase(leading, 'broadcast');
    leading.lastProposedZxid = this.log.lastZxid();
    this.commitUpTo(this.log.lastZxid());
    for (const l of leading.learners.values()) if (l.stage === 'synced') this.sendUpToDate(leading, l);
  }

  private sendUpToDate(leading: LeadingState, l: Learner): void {
    l.stage = 'uptodate';
    this.send(l.id, { type: 'UPTODATE', epoch: leading.newEpoch!, commitZxid: this.commitZxid });
  }

  /** The leader's own proposals are durable: its own ACKs (those of a proposal it still has outstanding). */
  private onOwnAppendDurable(leading: LeadingState, zxids: readonly Zxid[]): void {
    if (leading.phase !== 'broadcast') return;
    // Both in zxid order: one pass.
    let k = 0;
    for (const o of leading.outstanding) {
      while (k < zxids.length && zxids[k]! < o.zxid) k++;
      if (k === zxids.length) break;
      if (zxids[k] === o.zxid) o.acks.add(this.id);
    }
    this.tryCommit(leading);
  }

  /** tryToCommit: strictly in zxid order, each on a quorum of ACKs including the leader's own. */
  private tryCommit(leading: LeadingState): void {
    const epoch = leading.newEpoch!;
    while (leading.outstanding.length > 0) {
      const head = leading.outstanding[0]!;
      const enough = this.bugs.has('commit-without-quorum') ? head.acks.has(this.id) : isQuorum(head.acks, this.servers) && head.acks.has(this.id);
      if (!enough) return;
      leading.outstanding.shift();
      this.commitUpTo(head.zxid);
      for (const l of leading.learners.values()) if (forwardedTo(l)) this.send(l.id, { type: 'COMMIT', epoch, zxid: head.zxid });
    }
    this.proposeHeld(leading);
  }

  /** Proposes held requests, in arrival order, while proposal slots are free. */
  private proposeHeld(leading: LeadingState): void {
    while (leading.held.length > 0 && leading.outstanding.length < maxPendingProposals && leading.phase === 'broadcast') {
      const { from, request } = leading.held.shift()!;
      if (from === this.id) {
        const key = clientKey(request.session, request.seq);
        const pending = this.pendingClients.get(key);
        if (pending === undefined) continue; // expired while held: answered 'fail' already
        if (this.closedSessions.has(request.session)) {
          // An earlier request of its session failed while this one was held (it expired): it
          // must not commit without that one (types.ts ClientReply, session order).
          this.pendingClients.delete(key);
          this.replyToClient({ session: request.session, seq: request.seq, type: 'fail', reason: 'session closed by an earlier failed or unknown request' });
          continue;
        }
        pending.proposed = true;
      } else {
        const learner = leading.learners.get(from);
        assert(learner !== undefined, `a held request of learner ${from}, whose session is over`);
        learner.held--;
      }
      if (!this.propose(leading, from, request)) return;
    }
  }

  private propose(leading: LeadingState, originServer: ServerId, request: ClientRequest): boolean {
    const epoch = leading.newEpoch!;
    const counter = epochOf(leading.lastProposedZxid) === epoch ? counterOf(leading.lastProposedZxid) + 1 : 1;
    if (counter > counterMax) {
      this.becomeLooking('zxid counter exhausted (ZOOKEEPER-1277)');
      return false;
    }
    const txn: Txn = {
      zxid: makeZxid(epoch, counter), originServer, originSession: request.session, originSeq: request.seq, data: request.data,
    };
    leading.lastProposedZxid = txn.zxid;
    this.appendTxn(txn);
    // Planted bug ack-before-fsync reaches the leader's own ACK too: it counts itself (in advance())
    // while its copy is not yet on disk, so a power loss can take every copy of a committed txn.
    if (this.bugs.has('ack-before-fsync')) this.out.deferSync = true;
    leading.outstanding.push({ zxid: txn.zxid, acks: new Set(), proposedTick: this.tickCount });
    const last = this.out.actions[this.out.actions.length - 1];
    if (last?.kind === 'appended' && last.epoch === epoch) {
      this.out.actions[this.out.actions.length - 1] = { kind: 'appended', epoch, zxids: [...last.zxids, txn.zxid] };
    } else {
      this.out.actions.push({ kind: 'appended', epoch, zxids: [txn.zxid] });
    }
    for (const l of leading.learners.values()) if (forwardedTo(l)) this.send(l.id, { type: 'PROPOSAL', epoch, txn });
    return true;
  }

  /**
   * A forwarded request is proposed, or held back (FIFO) while maxPendingProposals are in flight;
   * never dropped in silence, since a session's later request must not commit without it. A
   * follower holds at most maxPendingClientRequests, so more than that held, or a request a
   * follower could not have sent, is a broken learner: its session ends (it times out, rejoins,
   * and answers its clients 'unknown').
   */
  private onForwardedRequest(leading: LeadingState, l: Learner, m: Extract<Message, { type: 'REQUEST' }>): void {
    if (leading.phase !== 'broadcast' || m.epoch !== leading.newEpoch || l.stage !== 'uptodate') return this.dropLearner(leading, l, 'REQUEST outside broadcast');
    const request: ClientRequest = { session: m.session, seq: m.seq, data: m.data };
    if (this.hasFreeProposalSlot(leading)) {
      this.propose(leading, l.id, request);
      return;
    }
    if (l.held >= maxPendingClientRequests) return this.dropLearner(leading, l, 'more requests held than a follower may have pending');
    l.held++;
    leading.held.push({ from: l.id, request });
  }

  /** A new request may be proposed at once: a slot is free and none is held before it (FIFO). */
  private hasFreeProposalSlot(leading: LeadingState): boolean {
    return leading.outstanding.length < maxPendingProposals && leading.held.length === 0;
  }

  // ------------------------------------------------------------------ client requests

  private onClientRequest(request: ClientRequest): void {
    const fail = (reason: string): void => {
      this.replyToClient({ session: request.session, seq: request.seq, type: 'fail', reason });
    };
    const role = this.role;
    if (this.closedSessions.has(request.session)) return fail('session closed by an earlier failed or unknown request');
    if (role.phase !== 'broadcast') return fail('not in broadcast');
    if (request.data.length > maxPayloadBytes) return fail('payload too large');
    if (request.session.length > maxSessionLength) return fail('session name too long');
    const key = clientKey(request.session, request.seq);
    if (this.pendingClients.has(key)) return fail('duplicate request');
    if (this.pendingClients.size >= maxPendingClientRequests) return fail('too many pending requests');
    if (role.kind === 'leading') {
      const proposeNow = this.hasFreeProposalSlot(role);
      this.pendingClients.set(key, { request, proposed: proposeNow, sinceTick: this.tickCount });
      if (proposeNow) this.propose(role, this.id, request);
      else role.held.push({ from: this.id, request });
    } else {
      this.pendingClients.set(key, { request, proposed: true, sinceTick: this.tickCount });
      this.send(role.leader, { type: 'REQUEST', epoch: role.leaderEpoch, session: request.session, seq: request.seq, data: request.data });
    }
  }
}

/** A learner in broadcast: its ACK of NEWLEADER arrived, so its ACKs count (and it may owe some). */
function inBroadcast(l: Learner): boolean {
  return l.stage === 'synced' || l.stage === 'uptodate';
}

/** A learner in the forwarding set (startForwarding, from its NEWLEADER on): it gets every PROPOSAL and COMMIT. */
function forwardedTo(l: Learner): boolean {
  return l.stage === 'syncing' || inBroadcast(l);
}

/** What a leader sends a follower (discovery, sync, broadcast): only these refresh the follower's leader timer. */
const leaderMessageTypes: ReadonlySet<Message['type']> = new Set(['LEADERINFO', 'DIFF', 'TRUNC', 'SNAP', 'PROPOSAL', 'COMMIT', 'NEWLEADER', 'UPTODATE', 'PING']);

function clientKey(session: string, seq: number): string {
  return `${seq}:${session}`;
}

/**
 * May `next` replace `queued`, the last message queued to the same peer? Only a cumulative one of
 * the same kind, epoch and direction that goes further: an ACK of proposals (counter > 0; the ACK
 * of NEWLEADER is a promise of its own) or a COMMIT.
 */
function supersedes(next: Message, queued: Message): boolean {
  if (next.type === 'ACK' && queued.type === 'ACK') {
    return next.epoch === queued.epoch && counterOf(next.zxid) > 0 && counterOf(queued.zxid) > 0 && next.zxid > queued.zxid;
  }
  if (next.type === 'COMMIT' && queued.type === 'COMMIT') return next.epoch === queued.epoch && next.zxid > queued.zxid;
  return false;
}
