/**
 * ZabPeer: one Zab server as a deterministic state machine (etcd raft style).
 *
 * Roles are step/tick pairs switched by become*(): LOOKING (Fast Leader Election), FOLLOWING and
 * LEADING, each walking the phases discovery → synchronization → broadcast (zab-protocol.md §2).
 * Output accumulates in one Ready batch (types.ts header gives the order the shell executes it);
 * `advance(ready)` tells the core that batch is durable, which is when the leader counts its own
 * ACKs (of proposals, and of NEWLEADER once its currentEpoch is on disk).
 *
 * Send order: a message to peer P that follows a messagesAfterPersist message to P in the same
 * batch also goes to messagesAfterPersist, so each link stays FIFO in the order the core sent.
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
import { forwardedRequestTimeoutSyncLimits, maxElectionRound, maxPayloadBytes, maxPendingClientRequests, maxPendingProposals, maxSessionLength } from './limits.js';
import { followsContiguously, TxnLog } from './log.js';
import type { Prng } from './prng.js';
import { isQuorum } from './quorum.js';
import type {
  ClientReply, ClientRequest, DurableState, Envelope, Input, Message, PeerConfig, PeerStatus, PlantedBug,
  Ready, ServerId, ServerState, TraceEvent, Txn, Vote, ZabPhase,
} from './types.js';
import type { Zxid } from './zxid.js';
import { counterMax, counterOf, epochMax, epochOf, formatZxid, makeZxid } from './zxid.js';

type Action =
  | { readonly kind: 'appended'; readonly epoch: number; readonly zxids: readonly Zxid[] }
  | { readonly kind: 'epoch-durable'; readonly epoch: number };

/** The batch being built. */
class Outbox {
  messages: Envelope[] = [];
  afterPersistPeers = new Set<ServerId>();
  truncateAfter: Zxid | undefined = undefined;
  append: Txn[] = [];
  acceptedEpoch: number | undefined = undefined;
  currentEpoch: number | undefined = undefined;
  messagesAfterPersist: Envelope[] = [];
  committed: Txn[] = [];
  clientReplies: ClientReply[] = [];
  deferSync = false;
  events: TraceEvent[] = [];
  actions: Action[] = [];

  isEmpty(): boolean {
    return this.messages.length === 0 && this.truncateAfter === undefined && this.append.length === 0 &&
      this.acceptedEpoch === undefined && this.currentEpoch === undefined && this.messagesAfterPersist.length === 0 &&
      this.committed.length === 0 && this.clientReplies.length === 0 && this.events.length === 0 && this.actions.length === 0;
  }
}

/** Leader-side state of one learner (LearnerHandler). */
type LearnerStage =
  | 'registered' // FOLLOWERINFO received
  | 'epoch-sent' // LEADERINFO sent
  | 'epoch-acked' // ACKEPOCH received, waiting for the leader's currentEpoch
  | 'syncing' // sync stream + NEWLEADER sent; in the forwarding set
  | 'synced' // ACK of NEWLEADER received; its ACKs count
  | 'uptodate'; // UPTODATE sent
interface Learner {
  readonly id: ServerId;
  stage: LearnerStage;
  acceptedEpoch: number;
  lastZxid: Zxid;
  lastHeardTick: number;
  /**
   * The leader's last zxid when its sync stream was queued: the learner's ACK of NEWLEADER says it
   * durably holds the leader's log up to here (its own prefix, the DIFF/TRUNC/SNAP stream), so it
   * counts as the learner's ACK of every outstanding proposal up to here. Without it, a learner
   * that had logged a proposal but whose ACK was lost (a crash after the fsync, a reset link)
   * rejoins by a DIFF that starts after that proposal and never ACKs it: commits stall for good.
   */
  syncedUpTo: Zxid;
  /** The tick the learner's ACK of NEWLEADER arrived (SyncLimitCheck counts from it). */
  syncedTick: number;
  /** Forwarded requests of this learner held back while the leader is at maxPendingProposals. */
  held: number;
}

interface Outstanding {
  readonly zxid: Zxid;
  readonly acks: Set<ServerId>;
  /** The tick it was proposed (SyncLimitCheck). */
  readonly proposedTick: number;
}

interface PendingClient {
  readonly request: ClientRequest;
  proposed: boolean;
  /** The tick the request was proposed (leader) or forwarded (follower): it expires after forwardedRequestTimeoutSyncLimits. */
  readonly sinceTick: number;
}

/** A forwarded request the leader holds back until a proposal slot frees up (never dropped in silence: FIFO per session). */
interface HeldRequest {
  readonly from: ServerId;
  readonly request: ClientRequest;
}

export class ZabPeer {
  private readonly id: ServerId;
  private readonly servers: readonly ServerId[];
  private readonly config: PeerConfig;
  private readonly prng: Prng;
  private readonly bugs: ReadonlySet<PlantedBug>;

  // durable image (what the shell has persisted or is about to persist)
  private acceptedEpoch: number;
  private currentEpoch: number;
  private log: TxnLog;
  /** SNAP in progress: the log being replaced (restored if the sync fails); the new one is written at NEWLEADER in one batch. */
  private snapBackup: readonly Txn[] | undefined = undefined;
  /** commitZxid before a SNAP began, restored if the SNAP is abandoned. */
  private snapCommitBackup: Zxid = 0;

  // volatile
  private state: ServerState = 'looking';
  private phase: ZabPhase = 'election';
  private leader: ServerId | undefined = undefined;
  private commitZxid: Zxid = 0;
  /** Highest zxid emitted in Ready.committed by this incarnation. */
  private deliveredZxid: Zxid = 0;
  private tickCount = 0;
  private out = new Outbox();
  private inflight: { ready: Ready; actions: Action[] } | undefined = undefined;
  /** Client requests of this server waiting for their commit, by session/seq. */
  private readonly pendingClients = new Map<string, PendingClient>();
  /** Sessions closed by a non-ok reply (types.ts ClientReply); forgotten on 'session-ended'. */
  private readonly closedSessions = new Set<string>();

  // LOOKING (FLE)
  private round = 0;
  private proposal: Vote;
  private readonly recvset = new Map<ServerId, Vote>();
  private readonly outOfElection = new Map<ServerId, { vote: Vote; state: ServerState }>();
  private resendCountdown = 0;
  private finalizeCountdown: number | undefined = undefined;
  /** The vote that made the current leader; answered to LOOKING servers while FOLLOWING/LEADING. */
  private electedVote: Vote;
  /**
   * FOLLOWERINFOs received while LOOKING (a follower that finalized first), by sender: if this
   * server then becomes the leader, they register at once instead of after the follower's next
   * repeat (notificationResendTicks later). Dropped when the sender's stream breaks or it says it
   * is LOOKING again, and cleared on every new election.
   */
  private readonly earlyFollowerInfos = new Map<ServerId, { acceptedEpoch: number; lastZxid: Zxid }>();

  // FOLLOWING
  private leaderEpoch = 0;
  private lastHeardFromLeaderTick = 0;
  /** When the follower last sent FOLLOWERINFO (it repeats it until LEADERINFO arrives); undefined: not yet. */
  private followerInfoSentTick: number | undefined = undefined;
  private syncMode: 'DIFF' | 'TRUNC' | 'SNAP' | undefined = undefined;
  private newLeaderReceived = false;
  /**
   * Backoff after giving up on a leader for a protocol reason (a refused LEADERINFO, an
   * unexpected message): FLE re-elects the same leader at once, so without it the refusal loops
   * at network speed. The first FOLLOWERINFO to that leader waits `2^(refusals-1)` ticks, capped.
   */
  private refusedLeader: { leader: ServerId; refusals: number; untilTick: number } | undefined = undefined;

  // LEADING
  private readonly learners = new Map<ServerId, Learner>();
  private newEpoch: number | undefined = undefined;
  private readonly epochAcks = new Set<ServerId>();
  private readonly newLeaderAcks = new Set<ServerId>();
  private leadingSinceTick = 0;
  private nextPingTick = 0;
  private outstanding: Outstanding[] = [];
  private lastProposedZxid: Zxid = 0;
  private held: HeldRequest[] = [];
  /**
   * The highest acceptedEpoch a learner reported, kept across elections: a leader whose epoch is
   * below it steps down (the learner could never ACK it), and the next epoch it proposes is above it.
   */
  private highestLearnerAcceptedEpoch = 0;

  private tickFn: () => void = () => this.tickLooking();
  private stepFn: (from: ServerId, message: Message) => void = (from, m) => this.stepLooking(from, m);

  constructor(config: PeerConfig, durable: DurableState, prng: Prng) {
    assert(config.servers.includes(config.id), 'config.servers must include config.id');
    assert(new Set(config.servers).size === config.servers.length, 'duplicate server ids');
    const t = config.timing;
    assert(t.initLimitTicks >= 1 && t.syncLimitTicks >= 1 && t.finalizeWaitTicks >= 0 &&
      t.notificationResendTicks >= 1 && t.pingIntervalTicks >= 1, 'bad timing');
    assert(durable.acceptedEpoch >= durable.currentEpoch, 'acceptedEpoch < currentEpoch (loadDataBase refuses to start)');
    for (let i = 1; i < durable.log.length; i++) assert(durable.log[i - 1]!.zxid < durable.log[i]!.zxid, 'log not in zxid order');
    this.id = config.id;
    this.servers = [...config.servers];
    this.config = config;
    this.prng = prng;
    this.bugs = config.bugs ?? new Set();
    this.acceptedEpoch = durable.acceptedEpoch;
    this.currentEpoch = durable.currentEpoch;
    this.log = new TxnLog(durable.log);
    this.proposal = this.initialVote();
    this.electedVote = this.proposal;
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
        const reason = invalidMessage(input.message);
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
    }
  }

  hasReady(): boolean {
    return !this.out.isEmpty();
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
      committed: o.committed,
      clientReplies: o.clientReplies,
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
    for (const action of actions) {
      if (action.kind === 'appended') this.onOwnAppendDurable(action.epoch, action.zxids);
      else this.onOwnEpochDurable(action.epoch);
    }
  }

  status(): PeerStatus {
    return {
      id: this.id, state: this.state, phase: this.phase, leader: this.leader,
      acceptedEpoch: this.promisedEpoch(), currentEpoch: this.joinedEpoch(),
      lastZxid: this.log.lastZxid(), commitZxid: this.commitZxid, round: this.round,
    };
  }

  // ------------------------------------------------------------------ output helpers

  private send(to: ServerId, message: Message, afterPersist = false): void {
    if (afterPersist || this.out.afterPersistPeers.has(to)) {
      this.out.afterPersistPeers.add(to);
      this.out.messagesAfterPersist.push({ to, message });
    } else {
      this.out.messages.push({ to, message });
    }
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

  private setState(state: ServerState, phase: ZabPhase, leader: ServerId | undefined): void {
    this.state = state;
    this.phase = phase;
    this.leader = leader;
    const epoch = state === 'leading' ? this.newEpoch ?? this.currentEpoch : state === 'following' ? this.leaderEpoch : this.currentEpoch;
    this.event({ type: 'state', state, phase, epoch, leader });
  }

  private appendTxn(txn: Txn): void {
    this.log.append(txn);
    if (this.snapBackup === undefined) this.out.append.push(txn);
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
   * meet, sync compares zxids only (DIFF, or TRUNC within the epoch) and keeps both values:
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
    if (zxid <= this.deliveredZxid || this.snapBackup !== undefined) return;
    for (const txn of this.log.range(this.deliveredZxid, zxid)) {
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

  private leaveRole(): void {
    // Requests that may have been proposed can no longer be answered for sure.
    for (const [key, pending] of this.pendingClients) {
      const { session, seq } = pending.request;
      this.replyToClient(pending.proposed ? { session, seq, type: 'unknown', reason: 'left broadcast' } : { session, seq, type: 'fail', reason: 'left broadcast' });
      this.pendingClients.delete(key);
    }
    if (this.snapBackup !== undefined) {
      this.log = new TxnLog(this.snapBackup);
      this.snapBackup = undefined;
      // COMMITs received during the aborted SNAP were about the staged log, not this one.
      this.commitZxid = Math.min(this.snapCommitBackup, this.log.lastZxid());
    }
    this.learners.clear();
    this.outstanding = [];
    this.held = [];
    this.newEpoch = undefined;
    this.epochAcks.clear();
    this.newLeaderAcks.clear();
    this.syncMode = undefined;
    this.newLeaderReceived = false;
    this.finalizeCountdown = undefined;
  }

  private becomeLooking(reason: string): void {
    if (reason !== 'start') this.event({ type: 'step-down', reason });
    this.leaveRole();
    this.tickFn = () => this.tickLooking();
    this.stepFn = (from, m) => this.stepLooking(from, m);
    this.setState('looking', 'election', undefined);
    this.round++;
    this.proposal = this.initialVote();
    this.recvset.clear();
    this.outOfElection.clear();
    this.earlyFollowerInfos.clear();
    this.recvset.set(this.id, this.proposal);
    this.sendNotifications();
    this.checkElectionQuorum();
  }

  private becomeFollowing(leader: ServerId, vote: Vote): void {
    this.leaveRole();
    this.electedVote = vote;
    this.tickFn = () => this.tickFollowing();
    this.stepFn = (from, m) => this.stepFollowing(from, m);
    this.leaderEpoch = 0;
    this.lastHeardFromLeaderTick = this.tickCount;
    this.setState('following', 'discovery', leader);
    this.followerInfoSentTick = undefined;
    const backoff = this.refusedLeader?.leader === leader && this.tickCount < this.refusedLeader.untilTick;
    if (!backoff) this.sendFollowerInfo(leader);
  }

  private becomeLeading(vote: Vote): void {
    this.leaveRole();
    this.electedVote = vote;
    this.tickFn = () => this.tickLeading();
    this.stepFn = (from, m) => this.stepLeading(from, m);
    this.leadingSinceTick = this.tickCount;
    this.nextPingTick = this.tickCount + this.config.timing.pingIntervalTicks;
    this.lastProposedZxid = this.log.lastZxid();
    this.setState('leading', 'discovery', this.id);
    // Followers that finalized before us and already sent FOLLOWERINFO (stream order kept: each
    // is the latest message of its sender's current stream that concerns discovery).
    const early = [...this.earlyFollowerInfos].sort((a, b) => a[0] - b[0]);
    this.earlyFollowerInfos.clear();
    for (const [from, info] of early) this.onFollowerInfo(from, info.acceptedEpoch, info.lastZxid);
    this.maybeProposeEpoch();
  }

  private onDisconnected(peer: ServerId): void {
    // Messages for that stream still in this batch belong to a session that is over: never let
    // them open the next stream (the shell drops those of a batch already being persisted).
    this.out.messages = this.out.messages.filter((envelope) => envelope.to !== peer);
    this.out.messagesAfterPersist = this.out.messagesAfterPersist.filter((envelope) => envelope.to !== peer);
    this.earlyFollowerInfos.delete(peer);
    if (this.state === 'following' && peer === this.leader) {
      this.becomeLooking('disconnected from leader');
    } else if (this.state === 'leading' && this.learners.has(peer)) {
      this.learners.delete(peer);
    }
  }

  // ------------------------------------------------------------------ LOOKING: Fast Leader Election

  private sendNotifications(): void {
    for (const to of this.others()) {
      this.send(to, { type: 'NOTIFICATION', vote: this.proposal, round: this.round, state: 'looking' });
    }
    // Jitter (injected PRNG) keeps servers that restarted together from resending in lockstep.
    this.resendCountdown = this.config.timing.notificationResendTicks + this.prng.int(2);
  }

  private tickLooking(): void {
    if (this.finalizeCountdown !== undefined) {
      this.finalizeCountdown--;
      if (this.finalizeCountdown <= 0) {
        this.finalizeCountdown = undefined;
        this.decide(this.proposal);
        return;
      }
    }
    this.resendCountdown--;
    if (this.resendCountdown <= 0) this.sendNotifications();
  }

  private stepLooking(from: ServerId, m: Message): void {
    if (m.type === 'FOLLOWERINFO') {
      // The sender elected us and finalized first; kept for becomeLeading (Learner.connectToLeader
      // would retry the connection; replaying it saves the repeat interval).
      this.earlyFollowerInfos.set(from, { acceptedEpoch: m.acceptedEpoch, lastZxid: m.lastZxid });
      this.reject(from, m.type, 'looking (kept in case this server is elected)');
      return;
    }
    if (m.type !== 'NOTIFICATION') {
      this.reject(from, m.type, 'looking');
      return;
    }
    if (m.state === 'looking' || m.vote.leader !== this.id) this.earlyFollowerInfos.delete(from);
    if (m.state === 'looking') {
      // What it said while FOLLOWING/LEADING is over: a stale LEADING entry would let a quorum be
      // counted for a server that no longer leads (two servers could then follow each other).
      this.outOfElection.delete(from);
      if (m.round > this.round) {
        this.round = m.round;
        this.recvset.clear();
        const mine = this.initialVote();
        this.proposal = voteBeats(m.vote, mine) ? m.vote : mine;
        this.recvset.set(this.id, this.proposal);
        this.sendNotifications();
      } else if (m.round < this.round) {
        // The receiver thread answers a lagging LOOKING server with the current vote.
        this.send(from, { type: 'NOTIFICATION', vote: this.proposal, round: this.round, state: 'looking' });
        return;
      } else if (voteBeats(m.vote, this.proposal)) {
        this.proposal = m.vote;
        this.recvset.set(this.id, this.proposal);
        this.sendNotifications();
      } else if (voteBeats(this.proposal, m.vote)) {
        // Same round, worse vote: the sender has not seen ours (e.g. our notification reached it
        // while it was still FOLLOWING the dead leader and was answered, not counted). Tell it now
        // rather than at our next resend. Votes only grow within a round, so this terminates.
        this.send(from, { type: 'NOTIFICATION', vote: this.proposal, round: this.round, state: 'looking' });
      }
      this.recvset.set(from, m.vote);
      this.checkElectionQuorum();
      return;
    }
    // FOLLOWING / LEADING sender (receivedFollowingNotification).
    if (m.round === this.round) {
      this.recvset.set(from, m.vote);
      if (voteHasQuorum(this.recvset, m.vote, this.servers) && this.checkLeader(m.vote.leader, from, m.state)) {
        this.decide(m.vote);
        return;
      }
    }
    this.outOfElection.set(from, { vote: m.vote, state: m.state });
    const supporters: ServerId[] = [];
    for (const [id, n] of this.outOfElection) if (n.vote.leader === m.vote.leader) supporters.push(id);
    const leaderClaims = this.outOfElection.get(m.vote.leader)?.state === 'leading';
    if (m.vote.leader !== this.id && isQuorum(supporters, this.servers) && leaderClaims) {
      this.round = Math.max(this.round, m.round);
      this.decide(m.vote);
    }
  }

  /** checkLeader: the proposed leader must be me, or have told us itself that it is LEADING. */
  private checkLeader(leader: ServerId, from: ServerId, state: ServerState): boolean {
    if (leader === this.id) return true;
    if (from === leader && state === 'leading') return true;
    return this.outOfElection.get(leader)?.state === 'leading';
  }

  private checkElectionQuorum(): void {
    if (voteHasQuorum(this.recvset, this.proposal, this.servers)) {
      if (this.finalizeCountdown === undefined) {
        if (this.config.timing.finalizeWaitTicks === 0) {
          this.decide(this.proposal);
          return;
        }
        this.finalizeCountdown = this.config.timing.finalizeWaitTicks;
      }
    } else {
      this.finalizeCountdown = undefined;
    }
  }

  private decide(vote: Vote): void {
    this.event({ type: 'elected', leader: vote.leader, round: this.round, vote });
    if (vote.leader === this.id) this.becomeLeading(vote);
    else this.becomeFollowing(vote.leader, vote);
  }

  /** FOLLOWING/LEADING: answer a LOOKING server with the vote that elected our leader. */
  private answerLooking(from: ServerId, m: Message): boolean {
    if (m.type !== 'NOTIFICATION') return false;
    if (m.state === 'looking') {
      this.send(from, { type: 'NOTIFICATION', vote: this.electedVote, round: this.round, state: this.state });
    }
    return true;
  }

  // ------------------------------------------------------------------ FOLLOWING

  private tickFollowing(): void {
    const limit = this.phase === 'broadcast' ? this.config.timing.syncLimitTicks : this.config.timing.initLimitTicks;
    if (this.tickCount - this.lastHeardFromLeaderTick > limit) return this.becomeLooking('leader silent');
    if (this.phase === 'broadcast') this.expirePendingClients();
    // Learner.connectToLeader retries: the elected leader may still be LOOKING (it finalizes later
    // than we did) and refuse our FOLLOWERINFO, so repeat it until LEADERINFO arrives; after a
    // refusal, the first one waits for the backoff.
    if (this.phase === 'discovery' && this.leaderEpoch === 0 && this.leader !== undefined) {
      const backoff = this.refusedLeader?.leader === this.leader ? this.refusedLeader.untilTick : 0;
      const due = this.followerInfoSentTick === undefined ? backoff : this.followerInfoSentTick + this.config.timing.notificationResendTicks;
      if (this.tickCount >= due) this.sendFollowerInfo(this.leader);
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

  private sendFollowerInfo(leader: ServerId): void {
    this.followerInfoSentTick = this.tickCount;
    this.send(leader, { type: 'FOLLOWERINFO', acceptedEpoch: this.promisedEpoch(), lastZxid: this.log.lastZxid() });
  }

  private stepFollowing(from: ServerId, m: Message): void {
    if (m.type === 'NOTIFICATION' && from === this.leader && m.state === 'looking' && m.round > this.round) {
      // Our leader stepped down and started a new election (its round moved past ours): join it
      // now rather than after syncLimit of silence. A LOOKING vote of an older round is stale.
      this.becomeLooking('leader is looking');
      return this.stepLooking(from, m);
    }
    if (this.answerLooking(from, m)) return;
    if (from !== this.leader) {
      this.reject(from, m.type, 'not my leader');
      return;
    }
    // Only what a leader sends proves it leads: a FOLLOWERINFO from "our leader" (it follows us, or
    // someone) must not keep us waiting on it, or two servers can follow each other for good.
    if (!leaderMessageTypes.has(m.type)) return this.reject(from, m.type, 'unexpected at follower');
    this.lastHeardFromLeaderTick = this.tickCount;
    switch (m.type) {
      case 'LEADERINFO': return this.onLeaderInfo(m.epoch);
      case 'DIFF': case 'TRUNC': case 'SNAP': return this.onSyncStart(m);
      case 'PROPOSAL': return this.onFollowerProposal(m.epoch, m.txn);
      case 'COMMIT': return this.onFollowerCommit(m.epoch, m.zxid);
      case 'NEWLEADER': return this.onNewLeader(m.epoch);
      case 'UPTODATE': return this.onUpToDate(m.epoch, m.commitZxid);
      case 'PING':
        if (m.epoch !== this.leaderEpoch) return this.reject(from, m.type, 'wrong epoch');
        this.send(from, { type: 'PONG', epoch: m.epoch });
        return;
      default:
        this.reject(from, m.type, 'unexpected at follower');
    }
  }

  private dropLeader(messageType: string, reason: string): void {
    this.reject(this.leader, messageType, reason);
    const leader = this.leader!;
    const refusals = this.refusedLeader?.leader === leader ? this.refusedLeader.refusals + 1 : 1;
    const waitTicks = Math.min(2 ** (refusals - 1), Math.max(1, Math.floor(this.config.timing.initLimitTicks / 2)));
    this.refusedLeader = { leader, refusals, untilTick: this.tickCount + waitTicks };
    this.becomeLooking(reason);
  }

  private onLeaderInfo(epoch: number): void {
    if (this.phase !== 'discovery' || this.leaderEpoch !== 0) return this.reject(this.leader, 'LEADERINFO', 'unexpected');
    const lastZxid = this.log.lastZxid();
    const promised = this.promisedEpoch();
    if (epoch > promised) {
      this.leaderEpoch = epoch;
      this.persistAcceptedEpoch(epoch);
      this.send(this.leader!, { type: 'ACKEPOCH', epoch, currentEpoch: this.joinedEpoch(), lastZxid }, true);
    } else if (epoch === promised) {
      this.leaderEpoch = epoch;
      this.send(this.leader!, { type: 'ACKEPOCH', epoch, currentEpoch: -1, lastZxid }, true);
    } else {
      this.dropLeader('LEADERINFO', 'epoch older than acceptedEpoch');
    }
  }

  private onSyncStart(m: Extract<Message, { type: 'DIFF' | 'TRUNC' | 'SNAP' }>): void {
    if (this.phase !== 'discovery' || this.leaderEpoch === 0 || m.epoch !== this.leaderEpoch) {
      return this.dropLeader(m.type, 'unexpected sync start');
    }
    this.syncMode = m.type;
    this.setState('following', 'synchronization', this.leader);
    if (m.type === 'TRUNC') {
      if (this.bugs.has('skip-truncate')) return; // planted bug ZOOKEEPER-1154: keep the suffix
      this.truncateLog(m.truncZxid);
    } else if (m.type === 'SNAP') {
      // The state is the log: it is replaced whole. The new log is staged in memory and written
      // at NEWLEADER in one batch (truncateAfter 0 + append), so a crash mid-SNAP leaves the old
      // log on disk, never a half-empty one (ZOOKEEPER-3642).
      this.snapBackup = [...this.log.all()];
      this.snapCommitBackup = this.commitZxid;
      this.log = new TxnLog([]);
      this.commitZxid = 0;
    }
  }

  private onFollowerProposal(epoch: number, txn: Txn): void {
    if (epoch !== this.leaderEpoch || this.phase === 'discovery') return this.dropLeader('PROPOSAL', 'unexpected proposal');
    const last = this.log.lastZxid();
    if (epochOf(txn.zxid) > this.leaderEpoch || !followsContiguously(last, txn.zxid)) {
      return this.dropLeader('PROPOSAL', 'zxid not the next one');
    }
    this.appendTxn(txn);
    // Proposals of the sync stream (before NEWLEADER) are acknowledged by the ACK of NEWLEADER
    // (the leader counts it for everything up to Learner.syncedUpTo); later ones one by one.
    if (this.phase === 'broadcast') {
      this.ackProposal(txn.zxid);
      if (this.bugs.has('deliver-before-commit')) this.deliverUpTo(txn.zxid);
    } else if (this.newLeaderReceived && epochOf(txn.zxid) === this.leaderEpoch) {
      this.ackProposal(txn.zxid);
    }
  }

  private ackProposal(zxid: Zxid): void {
    const ack: Message = { type: 'ACK', epoch: this.leaderEpoch, zxid };
    if (this.bugs.has('ack-before-fsync')) {
      this.out.deferSync = true;
      this.send(this.leader!, ack);
    } else {
      this.send(this.leader!, ack, true);
    }
  }

  private onFollowerCommit(epoch: number, zxid: Zxid): void {
    if (epoch !== this.leaderEpoch || this.phase === 'discovery') return this.dropLeader('COMMIT', 'unexpected commit');
    if (!this.log.has(zxid)) return this.dropLeader('COMMIT', 'commit of an unknown zxid');
    if (this.phase === 'broadcast') {
      const oldestPending = this.log.range(this.commitZxid, this.log.lastZxid())[0];
      if (oldestPending === undefined || oldestPending.zxid !== zxid) return this.dropLeader('COMMIT', 'commit does not match the oldest pending proposal');
    } else if (zxid <= this.commitZxid) {
      return;
    }
    // During sync, the leader's log is authoritative and ours is its prefix: COMMIT(z) commits ≤ z.
    this.commitUpTo(zxid);
  }

  private onNewLeader(epoch: number): void {
    if (this.phase !== 'synchronization' || this.newLeaderReceived || epoch !== this.leaderEpoch) {
      return this.dropLeader('NEWLEADER', 'unexpected NEWLEADER');
    }
    this.newLeaderReceived = true;
    if (this.snapBackup !== undefined) {
      const removed = this.snapBackup.length;
      this.snapBackup = undefined;
      this.out.truncateAfter = 0;
      this.out.append = [...this.log.all()];
      this.event({ type: 'truncated', after: 0, removed });
      this.deliverUpTo(this.commitZxid);
    }
    // ZOOKEEPER-3911/4643/4646: the synced entries are already in this batch's (or an earlier
    // batch's) append; the shell makes them durable, then currentEpoch, then sends the ACK.
    this.persistCurrentEpoch(epoch);
    this.send(this.leader!, { type: 'ACK', epoch, zxid: makeZxid(epoch, 0) }, true);
  }

  private onUpToDate(epoch: number, commitZxid: Zxid): void {
    if (this.phase !== 'synchronization' || !this.newLeaderReceived || epoch !== this.leaderEpoch) {
      return this.dropLeader('UPTODATE', 'unexpected UPTODATE');
    }
    this.commitUpTo(commitZxid);
    this.refusedLeader = undefined;
    this.setState('following', 'broadcast', this.leader);
  }

  // ------------------------------------------------------------------ LEADING

  private maybeProposeEpoch(): void {
    if (this.newEpoch !== undefined) return;
    const connected = [this.id, ...this.learners.keys()];
    if (!isQuorum(connected, this.servers)) return;
    let max = Math.max(this.promisedEpoch(), this.highestLearnerAcceptedEpoch);
    for (const l of this.learners.values()) max = Math.max(max, l.acceptedEpoch);
    if (max + 1 > epochMax) return this.becomeLooking('epoch space exhausted');
    const epoch = max + 1;
    this.newEpoch = epoch;
    this.persistAcceptedEpoch(epoch);
    for (const l of this.learners.values()) this.sendLeaderInfo(l);
    this.event({ type: 'state', state: 'leading', phase: 'discovery', epoch, leader: this.id });
    this.maybeFinishDiscovery();
  }

  private sendLeaderInfo(l: Learner): void {
    assert(this.newEpoch !== undefined);
    l.stage = 'epoch-sent';
    this.send(l.id, { type: 'LEADERINFO', epoch: this.newEpoch }, true);
  }

  private tickLeading(): void {
    const t = this.config.timing;
    if (this.phase !== 'broadcast') {
      if (this.tickCount - this.leadingSinceTick > t.initLimitTicks) return this.becomeLooking('could not establish epoch within initLimit');
    }
    for (const l of [...this.learners.values()]) {
      const inBroadcast = l.stage === 'synced' || l.stage === 'uptodate';
      const limit = inBroadcast ? t.syncLimitTicks : t.initLimitTicks;
      if (this.tickCount - l.lastHeardTick > limit) this.learners.delete(l.id);
    }
    if (this.phase === 'broadcast') {
      this.syncLimitCheck();
      const alive = [this.id];
      for (const l of this.learners.values()) if (l.stage === 'synced' || l.stage === 'uptodate') alive.push(l.id);
      if (!isQuorum(alive, this.servers)) return this.becomeLooking('not sufficient followers synced');
      this.expirePendingClients();
    }
    if (this.tickCount >= this.nextPingTick) {
      this.nextPingTick = this.tickCount + t.pingIntervalTicks;
      for (const l of this.learners.values()) {
        if (this.newEpoch !== undefined && l.stage !== 'registered') {
          this.send(l.id, { type: 'PING', epoch: this.newEpoch, commitZxid: this.commitZxid });
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
  private syncLimitCheck(): void {
    const limit = this.config.timing.syncLimitTicks;
    for (const l of [...this.learners.values()]) {
      if (l.stage !== 'synced' && l.stage !== 'uptodate') continue;
      const owed = this.outstanding.find((o) => !o.acks.has(l.id));
      if (owed === undefined || this.tickCount - Math.max(owed.proposedTick, l.syncedTick) <= limit) continue;
      this.dropLearner(l, `no ACK of ${formatZxid(owed.zxid)} within syncLimit (SyncLimitCheck)`);
    }
  }

  /** Ends the session with a learner (it times out and rejoins); its held requests go with it. */
  private dropLearner(l: Learner, reason: string): void {
    this.learners.delete(l.id);
    if (l.held > 0) this.held = this.held.filter((h) => h.from !== l.id);
    this.event({ type: 'dropped', peer: l.id, reason });
  }

  private stepLeading(from: ServerId, m: Message): void {
    if (this.answerLooking(from, m)) return;
    if (m.type === 'FOLLOWERINFO') return this.onFollowerInfo(from, m.acceptedEpoch, m.lastZxid);
    const l = this.learners.get(from);
    if (l === undefined) return this.reject(from, m.type, 'no learner session');
    l.lastHeardTick = this.tickCount;
    switch (m.type) {
      case 'ACKEPOCH': return this.onAckEpoch(l, m);
      case 'ACK': return this.onAck(l, m.epoch, m.zxid);
      case 'PONG':
        if (m.epoch !== this.newEpoch) this.reject(from, m.type, 'wrong epoch');
        return;
      case 'REQUEST': return this.onForwardedRequest(l, m);
      default:
        this.reject(from, m.type, 'unexpected at leader');
    }
  }

  private onFollowerInfo(from: ServerId, acceptedEpoch: number, lastZxid: Zxid): void {
    this.highestLearnerAcceptedEpoch = Math.max(this.highestLearnerAcceptedEpoch, acceptedEpoch);
    if (this.newEpoch !== undefined && acceptedEpoch > this.newEpoch) {
      // The learner promised a higher epoch (an attempt to lead it failed) and can never ACK ours;
      // waiting would keep it out for good (and Learner.registerWithLeader loops on the refusal).
      // Zab moves on by a new epoch: step down; the next discovery proposes one above it.
      return this.becomeLooking(`learner ${from} accepted epoch ${acceptedEpoch}, above this leader's ${this.newEpoch}`);
    }
    // A repeated FOLLOWERINFO (the follower repeats it until LEADERINFO arrives; FIFO puts every
    // repeat before its ACKEPOCH) is idempotent: answer it again, keep the session.
    const known = this.learners.get(from);
    if (known && (known.stage === 'registered' || known.stage === 'epoch-sent') &&
        known.acceptedEpoch === acceptedEpoch && known.lastZxid === lastZxid) {
      known.lastHeardTick = this.tickCount;
      if (known.stage === 'epoch-sent') this.sendLeaderInfo(known);
      return;
    }
    // A new registration replaces any previous session of that learner.
    // Requests held for its previous session go with it (that session's clients were answered there).
    if (this.learners.get(from)?.held) this.held = this.held.filter((h) => h.from !== from);
    const l: Learner = { id: from, stage: 'registered', acceptedEpoch, lastZxid, lastHeardTick: this.tickCount, syncedUpTo: 0, syncedTick: this.tickCount, held: 0 };
    this.learners.set(from, l);
    if (this.newEpoch === undefined) this.maybeProposeEpoch();
    else this.sendLeaderInfo(l);
  }

  private onAckEpoch(l: Learner, m: Extract<Message, { type: 'ACKEPOCH' }>): void {
    if (l.stage !== 'epoch-sent' || m.epoch !== this.newEpoch) return this.reject(l.id, m.type, 'unexpected ACKEPOCH');
    // waitForEpochAck: a follower more recent than the leader means FLE went wrong: abandon.
    const joined = this.joinedEpoch();
    if (m.currentEpoch > joined || (m.currentEpoch === joined && m.lastZxid > this.log.lastZxid())) {
      if (this.phase === 'discovery') return this.becomeLooking(`follower ${l.id} is more recent than the leader`);
      // Later joiner with a history the established leader lacks: it must be truncated/snapped below.
    }
    l.stage = 'epoch-acked';
    l.lastZxid = m.lastZxid;
    if (m.currentEpoch !== -1) this.epochAcks.add(l.id);
    if (this.phase === 'discovery') this.maybeFinishDiscovery();
    else this.syncLearner(l);
  }

  /** waitForEpochAck done: persist currentEpoch, then synchronize every learner that acked. */
  private maybeFinishDiscovery(): void {
    if (this.phase !== 'discovery' || this.newEpoch === undefined) return;
    if (!isQuorum([this.id, ...this.epochAcks], this.servers)) return;
    this.persistCurrentEpoch(this.newEpoch);
    this.out.actions.push({ kind: 'epoch-durable', epoch: this.newEpoch });
    this.setState('leading', 'synchronization', this.id);
    for (const other of this.learners.values()) if (other.stage === 'epoch-acked') this.syncLearner(other);
  }

  /** LearnerHandler.syncFollower + startForwarding + NEWLEADER. */
  private syncLearner(l: Learner): void {
    const epoch = this.newEpoch!;
    const leaderLast = this.log.lastZxid();
    const peerLast = l.lastZxid;
    let mode: 'DIFF' | 'TRUNC' | 'SNAP';
    let from: Zxid;
    if (peerLast === 0 || this.log.has(peerLast)) {
      mode = 'DIFF';
      from = peerLast;
    } else {
      const prev = this.log.lastBefore(peerLast);
      if (prev !== 0 && epochOf(prev) === epochOf(peerLast)) {
        mode = 'TRUNC'; // never across epochs
        from = prev;
      } else {
        mode = 'SNAP';
        from = 0;
      }
    }
    this.event({ type: 'sync', peer: l.id, mode, peerLastZxid: peerLast, fromZxid: from });
    if (mode === 'DIFF') this.send(l.id, { type: 'DIFF', epoch, lastZxid: from }, true);
    else if (mode === 'TRUNC') this.send(l.id, { type: 'TRUNC', epoch, truncZxid: from }, true);
    else this.send(l.id, { type: 'SNAP', epoch, lastZxid: leaderLast }, true);
    for (const txn of this.log.range(from, leaderLast)) {
      this.send(l.id, { type: 'PROPOSAL', epoch, txn }, true);
      if (txn.zxid <= this.commitZxid) this.send(l.id, { type: 'COMMIT', epoch, zxid: txn.zxid }, true);
    }
    // startForwarding: from now on every PROPOSAL/COMMIT reaches it.
    l.stage = 'syncing';
    l.syncedUpTo = leaderLast;
    this.send(l.id, { type: 'NEWLEADER', epoch }, true);
  }

  private onAck(l: Learner, epoch: number, zxid: Zxid): void {
    if (epoch !== this.newEpoch) return this.reject(l.id, 'ACK', 'wrong epoch');
    if (counterOf(zxid) === 0) {
      if (l.stage !== 'syncing' || zxid !== makeZxid(epoch, 0)) return this.reject(l.id, 'ACK', 'unexpected NEWLEADER ack');
      l.stage = 'synced';
      l.syncedTick = this.tickCount;
      this.newLeaderAcks.add(l.id);
      // The ACK of NEWLEADER is sent once the learner's log is durable up to syncedUpTo.
      for (const o of this.outstanding) if (o.zxid <= l.syncedUpTo) o.acks.add(l.id);
      if (this.phase === 'broadcast') {
        this.sendUpToDate(l);
        this.tryCommit();
      } else {
        this.maybeEstablish();
      }
      return;
    }
    if (l.stage !== 'synced' && l.stage !== 'uptodate') return this.reject(l.id, 'ACK', 'ack before NEWLEADER ack');
    if (zxid <= this.commitZxid) return; // late ack of a committed proposal
    const p = this.outstanding.find((o) => o.zxid === zxid);
    if (p === undefined) return this.reject(l.id, 'ACK', 'unknown proposal');
    p.acks.add(l.id);
    this.tryCommit();
  }

  private onOwnEpochDurable(epoch: number): void {
    if (this.state !== 'leading' || this.newEpoch !== epoch) return;
    this.newLeaderAcks.add(this.id);
    this.maybeEstablish();
  }

  /** waitForNewLeaderAck → startZkServer: the initial history is committed; broadcast starts. */
  private maybeEstablish(): void {
    if (this.phase !== 'synchronization' || !this.newLeaderAcks.has(this.id)) return;
    if (!isQuorum(this.newLeaderAcks, this.servers)) return;
    this.setState('leading', 'broadcast', this.id);
    this.lastProposedZxid = this.log.lastZxid();
    this.commitUpTo(this.log.lastZxid());
    for (const l of this.learners.values()) if (l.stage === 'synced') this.sendUpToDate(l);
  }

  private sendUpToDate(l: Learner): void {
    l.stage = 'uptodate';
    this.send(l.id, { type: 'UPTODATE', epoch: this.newEpoch!, commitZxid: this.commitZxid });
  }

  private onOwnAppendDurable(epoch: number, zxids: readonly Zxid[]): void {
    if (this.state !== 'leading' || this.newEpoch !== epoch || this.phase !== 'broadcast') return;
    for (const zxid of zxids) {
      const p = this.outstanding.find((o) => o.zxid === zxid);
      if (p !== undefined) p.acks.add(this.id);
    }
    this.tryCommit();
  }

  /** tryToCommit: strictly in zxid order, each on a quorum of ACKs including the leader's own. */
  private tryCommit(): void {
    const epoch = this.newEpoch!;
    while (this.outstanding.length > 0) {
      const head = this.outstanding[0]!;
      const enough = this.bugs.has('commit-without-quorum') ? head.acks.has(this.id) : isQuorum(head.acks, this.servers) && head.acks.has(this.id);
      if (!enough) return;
      this.outstanding.shift();
      this.commitUpTo(head.zxid);
      for (const l of this.learners.values()) {
        if (l.stage === 'syncing' || l.stage === 'synced' || l.stage === 'uptodate') this.send(l.id, { type: 'COMMIT', epoch, zxid: head.zxid });
      }
    }
    this.proposeHeld();
  }

  /** Proposes held requests, in arrival order, while proposal slots are free. */
  private proposeHeld(): void {
    while (this.held.length > 0 && this.outstanding.length < maxPendingProposals && this.phase === 'broadcast') {
      const { from, request } = this.held.shift()!;
      if (from === this.id) {
        const pending = this.pendingClients.get(clientKey(request.session, request.seq));
        if (pending === undefined) continue; // expired while held: answered 'fail' already
        pending.proposed = true;
      } else {
        this.learners.get(from)!.held--;
      }
      if (!this.propose(from, request)) return;
    }
  }

  private propose(originServer: ServerId, request: ClientRequest): boolean {
    const epoch = this.newEpoch!;
    const counter = epochOf(this.lastProposedZxid) === epoch ? counterOf(this.lastProposedZxid) + 1 : 1;
    if (counter > counterMax) {
      this.becomeLooking('zxid counter exhausted (ZOOKEEPER-1277)');
      return false;
    }
    const txn: Txn = {
      zxid: makeZxid(epoch, counter), originServer, originSession: request.session, originSeq: request.seq, data: request.data,
    };
    this.lastProposedZxid = txn.zxid;
    this.appendTxn(txn);
    // Planted bug ack-before-fsync reaches the leader's own ACK too: it counts itself (in advance())
    // while its copy is not yet on disk, so a power loss can take every copy of a committed txn.
    if (this.bugs.has('ack-before-fsync')) this.out.deferSync = true;
    this.outstanding.push({ zxid: txn.zxid, acks: new Set(), proposedTick: this.tickCount });
    const last = this.out.actions[this.out.actions.length - 1];
    if (last?.kind === 'appended' && last.epoch === epoch) {
      this.out.actions[this.out.actions.length - 1] = { kind: 'appended', epoch, zxids: [...last.zxids, txn.zxid] };
    } else {
      this.out.actions.push({ kind: 'appended', epoch, zxids: [txn.zxid] });
    }
    for (const l of this.learners.values()) {
      if (l.stage === 'syncing' || l.stage === 'synced' || l.stage === 'uptodate') this.send(l.id, { type: 'PROPOSAL', epoch, txn });
    }
    return true;
  }

  /**
   * A forwarded request is proposed, or held back (FIFO) while maxPendingProposals are in flight;
   * never dropped in silence, since a session's later request must not commit without it. A
   * follower holds at most maxPendingClientRequests, so more than that held, or a request a
   * follower could not have sent, is a broken learner: its session ends (it times out, rejoins,
   * and answers its clients 'unknown').
   */
  private onForwardedRequest(l: Learner, m: Extract<Message, { type: 'REQUEST' }>): void {
    if (this.phase !== 'broadcast' || m.epoch !== this.newEpoch || l.stage !== 'uptodate') return this.dropLearner(l, 'REQUEST outside broadcast');
    if (m.data.length > maxPayloadBytes || m.session.length > maxSessionLength) return this.dropLearner(l, 'REQUEST over the limits');
    const request: ClientRequest = { session: m.session, seq: m.seq, data: m.data };
    if (this.outstanding.length < maxPendingProposals && this.held.length === 0) {
      this.propose(l.id, request);
      return;
    }
    if (l.held >= maxPendingClientRequests) return this.dropLearner(l, 'more requests held than a follower may have pending');
    l.held++;
    this.held.push({ from: l.id, request });
  }

  // ------------------------------------------------------------------ client requests

  private onClientRequest(request: ClientRequest): void {
    const fail = (reason: string): void => {
      this.replyToClient({ session: request.session, seq: request.seq, type: 'fail', reason });
    };
    if (this.closedSessions.has(request.session)) return fail('session closed by an earlier failed or unknown request');
    if (this.phase !== 'broadcast') return fail('not in broadcast');
    if (request.data.length > maxPayloadBytes) return fail('payload too large');
    if (request.session.length > maxSessionLength) return fail('session name too long');
    const key = clientKey(request.session, request.seq);
    if (this.pendingClients.has(key)) return fail('duplicate request');
    if (this.pendingClients.size >= maxPendingClientRequests) return fail('too many pending requests');
    if (this.state === 'leading') {
      const proposeNow = this.outstanding.length < maxPendingProposals && this.held.length === 0;
      this.pendingClients.set(key, { request, proposed: proposeNow, sinceTick: this.tickCount });
      if (proposeNow) this.propose(this.id, request);
      else this.held.push({ from: this.id, request });
    } else {
      this.pendingClients.set(key, { request, proposed: true, sinceTick: this.tickCount });
      this.send(this.leader!, { type: 'REQUEST', epoch: this.leaderEpoch, session: request.session, seq: request.seq, data: request.data });
    }
  }
}

/** What a leader sends a follower (discovery, sync, broadcast): only these refresh the follower's leader timer. */
const leaderMessageTypes: ReadonlySet<Message['type']> = new Set(['LEADERINFO', 'DIFF', 'TRUNC', 'SNAP', 'PROPOSAL', 'COMMIT', 'NEWLEADER', 'UPTODATE', 'PING']);

function clientKey(session: string, seq: number): string {
  return `${seq}:${session}`;
}

function isZxid(z: unknown): boolean {
  return typeof z === 'number' && Number.isSafeInteger(z) && z >= 0 && epochOf(z) <= epochMax;
}

function isEpoch(e: unknown): boolean {
  return typeof e === 'number' && Number.isSafeInteger(e) && e >= 0 && e <= epochMax;
}

/** Shape check of remote input: returns why it is malformed, or undefined. Never throws. */
function invalidMessage(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const msg = m as Record<string, unknown>;
  switch (msg['type']) {
    case 'NOTIFICATION': {
      const v = msg['vote'] as Record<string, unknown> | undefined;
      if (typeof v !== 'object' || v === null || !Number.isSafeInteger(v['leader']) || !isZxid(v['zxid']) || !isEpoch(v['peerEpoch'])) return 'bad vote';
      if (!Number.isSafeInteger(msg['round']) || (msg['round'] as number) < 0 || (msg['round'] as number) > maxElectionRound ||
        !['looking', 'following', 'leading'].includes(msg['state'] as string)) return 'bad notification';
      return undefined;
    }
    case 'FOLLOWERINFO':
      return isEpoch(msg['acceptedEpoch']) && isZxid(msg['lastZxid']) ? undefined : 'bad FOLLOWERINFO';
    case 'LEADERINFO': case 'NEWLEADER': case 'PONG':
      return isEpoch(msg['epoch']) ? undefined : 'bad epoch';
    case 'ACKEPOCH':
      return isEpoch(msg['epoch']) && (msg['currentEpoch'] === -1 || isEpoch(msg['currentEpoch'])) && isZxid(msg['lastZxid']) ? undefined : 'bad ACKEPOCH';
    case 'DIFF': case 'SNAP':
      return isEpoch(msg['epoch']) && isZxid(msg['lastZxid']) ? undefined : 'bad sync';
    case 'TRUNC':
      return isEpoch(msg['epoch']) && isZxid(msg['truncZxid']) ? undefined : 'bad TRUNC';
    case 'UPTODATE': case 'PING':
      return isEpoch(msg['epoch']) && isZxid(msg['commitZxid']) ? undefined : 'bad commitZxid';
    case 'ACK': case 'COMMIT':
      return isEpoch(msg['epoch']) && isZxid(msg['zxid']) ? undefined : 'bad zxid';
    case 'PROPOSAL': {
      const t = msg['txn'] as Record<string, unknown> | undefined;
      if (!isEpoch(msg['epoch']) || typeof t !== 'object' || t === null) return 'bad PROPOSAL';
      if (!isZxid(t['zxid']) || !Number.isSafeInteger(t['originServer']) || typeof t['originSession'] !== 'string' ||
        !Number.isSafeInteger(t['originSeq']) || !(t['data'] instanceof Uint8Array)) return 'bad txn';
      if (t['data'].length > maxPayloadBytes || t['originSession'].length > maxSessionLength) return 'txn over the limits';
      return undefined;
    }
    case 'REQUEST':
      return isEpoch(msg['epoch']) && typeof msg['session'] === 'string' && Number.isSafeInteger(msg['seq']) && msg['data'] instanceof Uint8Array ? undefined : 'bad REQUEST';
    default:
      return 'unknown type';
  }
}
