/**
 * The state of each role of a Zab server, one object per role (etcd raft's become* resets a role's
 * fields; here become* builds a fresh object instead): ZabPeer's becomeLooking / becomeFollowing /
 * becomeLeading create one, and the role's step/tick functions receive it. Nothing here outlives
 * its role, so no field of one role can leak into the next; what does survive a role change stays
 * on ZabPeer, each field with the reason it survives.
 *
 * Only data: the role functions stay ZabPeer methods (peer.ts says why).
 */
import type { ClientRequest, ServerId, Vote, ZabPhase } from './types.js';
import type { TxnLog } from './log.js';
import type { Zxid } from './zxid.js';

/** LOOKING: one Fast Leader Election (FastLeaderElection.lookForLeader), from becomeLooking to its decision. */
export class LookingState {
  readonly kind = 'looking';
  readonly phase = 'election';
  /** The votes of LOOKING servers in this round, ours included (recvset). */
  readonly recvset = new Map<ServerId, Vote>();
  /** What FOLLOWING / LEADING servers said, with their state (outofelection). */
  readonly outOfElection = new Map<ServerId, { vote: Vote; state: 'following' | 'leading' }>();
  /** Ticks until the notifications are sent again. */
  resendCountdown = 0;
  /** Ticks left of finalizeWait once our proposal has a quorum; undefined: no quorum yet. */
  finalizeCountdown: number | undefined = undefined;
  /**
   * FOLLOWERINFOs received while LOOKING (a follower that finalized first), by sender: if this
   * server then becomes the leader, they register at once instead of after the follower's next
   * repeat (notificationResendTicks later). Dropped when the sender's stream breaks or it says it
   * is LOOKING again.
   */
  readonly earlyFollowerInfos = new Map<ServerId, { acceptedEpoch: number; lastZxid: Zxid }>();

  /** `proposal`: the vote we send (our own vote at first, then the best one seen in the round). */
  constructor(public proposal: Vote) {}
}

/** The SNAP being received: the log it replaces, restored if the sync is abandoned before NEWLEADER. */
export interface SnapInProgress {
  readonly replacedLog: TxnLog;
  /** commitZxid before the SNAP began, restored with the log. */
  readonly replacedCommitZxid: Zxid;
}

/** FOLLOWING one leader (Follower.followLeader): discovery, synchronization, broadcast with it. */
export class FollowingState {
  readonly kind = 'following';
  phase: Exclude<ZabPhase, 'election'> = 'discovery';
  /** The epoch of the leader's LEADERINFO once accepted; 0 until then. */
  leaderEpoch = 0;
  /** Only leader messages refresh it (stepFollowing). */
  lastHeardFromLeaderTick: number;
  /** When the follower last sent FOLLOWERINFO (it repeats it until LEADERINFO arrives); undefined: not yet. */
  followerInfoSentTick: number | undefined = undefined;
  newLeaderReceived = false;
  /** Set from SNAP to NEWLEADER: the new log is staged in memory (peer.ts onSyncStart). */
  snap: SnapInProgress | undefined = undefined;

  /** `electedVote`: the vote that made the leader, answered to LOOKING servers. */
  constructor(readonly leader: ServerId, readonly electedVote: Vote, startTick: number) {
    this.lastHeardFromLeaderTick = startTick;
  }
}

/** Leader-side state of one learner (LearnerHandler). */
export type LearnerStage =
  | 'registered' // FOLLOWERINFO received
  | 'epoch-sent' // LEADERINFO sent
  | 'epoch-acked' // ACKEPOCH received, waiting for the leader's currentEpoch
  | 'streaming' // DIFF/TRUNC/SNAP sent; the sync stream goes out in chunks up to the log's end
  | 'syncing' // the whole sync stream + NEWLEADER sent; in the forwarding set
  | 'synced' // ACK of NEWLEADER received; its ACKs count
  | 'uptodate'; // UPTODATE sent
export interface Learner {
  readonly id: ServerId;
  stage: LearnerStage;
  acceptedEpoch: number;
  lastZxid: Zxid;
  /** Its ACKEPOCH's epochEnds: where its log parts from the leader's (peer.ts commonPoint). */
  epochEnds: readonly Zxid[];
  lastHeardTick: number;
  /** The last zxid the sync stream has sent (its start: the learner's own prefix, or 0 for a SNAP). */
  streamedUpTo: Zxid;
  /** The last COMMIT the sync stream has sent (cumulative: one per chunk). */
  streamCommitted: Zxid;
  /** A chunk went out and the next waits for the shell's `drained`. */
  awaitingDrain: boolean;
  /**
   * The leader's last zxid when its sync stream ended (NEWLEADER): the learner's ACK of NEWLEADER says it
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

export interface Outstanding {
  readonly zxid: Zxid;
  readonly acks: Set<ServerId>;
  /** The tick it was proposed (SyncLimitCheck). */
  readonly proposedTick: number;
}

/** A forwarded request the leader holds back until a proposal slot frees up (never dropped in silence: FIFO per session). */
export interface HeldRequest {
  readonly from: ServerId;
  readonly request: ClientRequest;
}

/** LEADING (Leader.lead): its learners, its epoch, its proposals. */
export class LeadingState {
  readonly kind = 'leading';
  phase: Exclude<ZabPhase, 'election'> = 'discovery';
  readonly learners = new Map<ServerId, Learner>();
  /** The epoch this leader proposes, once a quorum is connected (and persisted as acceptedEpoch). */
  newEpoch: number | undefined = undefined;
  /** Learners whose ACKEPOCH counts for discovery (not those that had already accepted newEpoch). */
  readonly epochAcks = new Set<ServerId>();
  /** ACKs of NEWLEADER, the leader's own once its currentEpoch is durable. */
  readonly newLeaderAcks = new Set<ServerId>();
  /** Proposals not yet committed, in zxid order. */
  outstanding: Outstanding[] = [];
  /** Requests held back while maxPendingProposals are outstanding, in arrival order. */
  held: HeldRequest[] = [];
  nextPingTick: number;
  /**
   * The last tick a sync stream sent a chunk: the epoch must be established within initLimit of
   * this (or of leadingSinceTick), so a long sync that keeps moving is not abandoned for its length.
   */
  syncProgressTick: number;

  /**
   * `electedVote`: the vote that made this leader, answered to LOOKING servers. `lastProposedZxid`:
   * the last zxid in the log or proposed (the next proposal takes the counter after it).
   */
  constructor(readonly electedVote: Vote, readonly leadingSinceTick: number, firstPingTick: number, public lastProposedZxid: Zxid) {
    this.nextPingTick = firstPingTick;
    this.syncProgressTick = leadingSinceTick;
  }
}

export type RoleState = LookingState | FollowingState | LeadingState;
