/**
 * What servers say to each other: the Message vocabulary (ZooKeeper's packet types), the one shape
 * check of a message from the network (`validateMessage`, used by the core and by the peer codec),
 * and `describeMessage`, the one-line text of a message for transcripts and logs.
 *
 * The nouns a message carries (server ids, server states, votes, txns) are defined here too, so this
 * file imports nothing from types.ts; types.ts re-exports all of it (no import cycle).
 */
import { maxElectionRound, maxEpochEnds, maxPayloadBytes, maxSessionLength } from './limits.js';
import type { Zxid } from './zxid.js';
import { counterOf, epochMax, epochOf, formatZxid } from './zxid.js';

export type ServerId = number;

/** The three server states of Zab (QuorumPeer.ServerState). */
export type ServerState = 'looking' | 'following' | 'leading';

/** One entry of the replicated log: a proposal with its origin, so the origin server can answer its client. */
export interface Txn {
  readonly zxid: Zxid;
  /** The server whose client sent it. */
  readonly originServer: ServerId;
  /** The client session on that server (unique per server incarnation; see shell). */
  readonly originSession: string;
  /** The client's sequence number in that session. */
  readonly originSeq: number;
  readonly data: Uint8Array;
}

/** A vote of Fast Leader Election: ordered by (peerEpoch, zxid, leader) — totalOrderPredicate. */
export interface Vote {
  readonly leader: ServerId;
  readonly zxid: Zxid;
  readonly peerEpoch: number;
}

/** Messages between servers. Names follow ZooKeeper's packet types. */
export type Message =
  // Fast Leader Election (lossy, may be duplicated)
  | { readonly type: 'NOTIFICATION'; readonly vote: Vote; readonly round: number; readonly state: ServerState }
  // Discovery
  | { readonly type: 'FOLLOWERINFO'; readonly acceptedEpoch: number; readonly lastZxid: Zxid }
  | { readonly type: 'LEADERINFO'; readonly epoch: number }
  /**
   * currentEpoch = -1 when the follower had already accepted this epoch (not counted as an epoch ack).
   * `epochEnds`: the last zxid of each epoch in the learner's log, newest first (the first is
   * lastZxid), at most maxEpochEnds of them, then a 0 when that was all of its log: the leader
   * finds the point where the two logs part from it (peer.ts commonPoint).
   */
  | { readonly type: 'ACKEPOCH'; readonly epoch: number; readonly currentEpoch: number; readonly lastZxid: Zxid; readonly epochEnds: readonly Zxid[] }
  // Synchronization: one of DIFF/TRUNC/SNAP, then PROPOSAL/COMMIT stream, then NEWLEADER; UPTODATE after quorum
  | { readonly type: 'DIFF'; readonly epoch: number; readonly lastZxid: Zxid }
  | { readonly type: 'TRUNC'; readonly epoch: number; readonly truncZxid: Zxid }
  /** SNAP: the follower drops its whole log; the full log follows as PROPOSAL/COMMIT (the state is the log). */
  | { readonly type: 'SNAP'; readonly epoch: number; readonly lastZxid: Zxid }
  | { readonly type: 'NEWLEADER'; readonly epoch: number }
  | { readonly type: 'UPTODATE'; readonly epoch: number; readonly commitZxid: Zxid }
  // Broadcast
  | { readonly type: 'PROPOSAL'; readonly epoch: number; readonly txn: Txn }
  /**
   * ACK of proposals, cumulative: the sender durably holds every proposal of the epoch up to zxid
   * (ZooKeeper ACKs each one; one ACK per batch is the same promise). With counter 0: the ACK of NEWLEADER.
   */
  | { readonly type: 'ACK'; readonly epoch: number; readonly zxid: Zxid }
  /** Commit of every proposal up to zxid, cumulative (ZooKeeper sends one per proposal). */
  | { readonly type: 'COMMIT'; readonly epoch: number; readonly zxid: Zxid }
  | { readonly type: 'PING'; readonly epoch: number; readonly commitZxid: Zxid }
  | { readonly type: 'PONG'; readonly epoch: number }
  /** A follower forwards a client's request to the leader. */
  | { readonly type: 'REQUEST'; readonly epoch: number; readonly session: string; readonly seq: number; readonly data: Uint8Array };

export type MessageType = Message['type'];

export interface Envelope {
  readonly to: ServerId;
  readonly message: Message;
}

// ------------------------------------------------------------------ validation

function isZxid(z: unknown): boolean {
  return typeof z === 'number' && Number.isSafeInteger(z) && z >= 0 && epochOf(z) <= epochMax;
}

function isEpoch(e: unknown): boolean {
  return typeof e === 'number' && Number.isSafeInteger(e) && e >= 0 && e <= epochMax;
}

function isServerId(id: unknown): boolean {
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 0xffff_ffff;
}

function isSeq(seq: unknown): boolean {
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0;
}

/** A UTF-8 character takes 1 to 3 bytes per UTF-16 unit: count bytes only when the length alone cannot tell. */
function isSession(s: unknown): boolean {
  return typeof s === 'string' &&
    (s.length * 3 <= maxSessionLength || (s.length <= maxSessionLength && new TextEncoder().encode(s).length <= maxSessionLength));
}

/** ACKEPOCH's epochEnds: from lastZxid down, one zxid per epoch (epochs strictly falling, counters >= 1), at most maxEpochEnds (none at all from a learner that lists none), then an optional final 0. */
function isEpochEnds(ends: unknown, lastZxid: Zxid): boolean {
  if (!Array.isArray(ends) || ends.length > maxEpochEnds + 1) return false;
  const complete = ends.length > 0 && ends[ends.length - 1] === 0;
  const zxids = complete ? ends.slice(0, -1) : ends;
  if (zxids.length > maxEpochEnds || (lastZxid === 0 ? zxids.length > 0 : zxids.length > 0 && zxids[0] !== lastZxid)) return false;
  for (let i = 0; i < zxids.length; i++) {
    const z = zxids[i] as unknown;
    if (!isZxid(z) || counterOf(z as Zxid) === 0) return false;
    if (i > 0 && epochOf(z as Zxid) >= epochOf(zxids[i - 1] as Zxid)) return false;
  }
  return true;
}

const serverStates: ReadonlySet<unknown> = new Set(['looking', 'following', 'leading']);

/**
 * Shape check of a message from the network: returns why it is malformed, or undefined when it is
 * a well-formed `Message` (every field present, of its type, within the limits). Never throws.
 * The one set of rules for a peer message: the core applies it in step(), and the peer codec
 * (src/wire/peer-codec.ts) applies it to every frame it decodes, checking only bytes itself.
 * Server ids are u32 (the handshake and the binary layouts carry them so); seqs are non-negative;
 * a session name is at most maxSessionLength bytes of UTF-8 (its size on the wire and on disk).
 */
export function validateMessage(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'not an object';
  const msg = m as Record<string, unknown>;
  switch (msg['type']) {
    case 'NOTIFICATION': {
      const v = msg['vote'] as Record<string, unknown> | undefined;
      if (typeof v !== 'object' || v === null || !isServerId(v['leader']) || !isZxid(v['zxid']) || !isEpoch(v['peerEpoch'])) return 'bad vote';
      if (!Number.isSafeInteger(msg['round']) || (msg['round'] as number) < 0 || (msg['round'] as number) > maxElectionRound ||
        !serverStates.has(msg['state'])) return 'bad notification';
      return undefined;
    }
    case 'FOLLOWERINFO':
      return isEpoch(msg['acceptedEpoch']) && isZxid(msg['lastZxid']) ? undefined : 'bad FOLLOWERINFO';
    case 'LEADERINFO': case 'NEWLEADER': case 'PONG':
      return isEpoch(msg['epoch']) ? undefined : 'bad epoch';
    case 'ACKEPOCH':
      if (!isEpoch(msg['epoch']) || !(msg['currentEpoch'] === -1 || isEpoch(msg['currentEpoch'])) || !isZxid(msg['lastZxid'])) return 'bad ACKEPOCH';
      return isEpochEnds(msg['epochEnds'], msg['lastZxid'] as Zxid) ? undefined : 'bad ACKEPOCH epochEnds';
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
      if (!isZxid(t['zxid']) || !isServerId(t['originServer']) || typeof t['originSession'] !== 'string' ||
        !isSeq(t['originSeq']) || !(t['data'] instanceof Uint8Array)) return 'bad txn';
      if (t['data'].length > maxPayloadBytes || !isSession(t['originSession'])) return 'txn over the limits';
      return undefined;
    }
    case 'REQUEST':
      if (!isEpoch(msg['epoch']) || typeof msg['session'] !== 'string' || !isSeq(msg['seq']) || !(msg['data'] instanceof Uint8Array)) return 'bad REQUEST';
      if (msg['data'].length > maxPayloadBytes) return 'REQUEST payload over the limit';
      return isSession(msg['session']) ? undefined : 'REQUEST session over the limit';
    default:
      return 'unknown type';
  }
}

// ------------------------------------------------------------------ description

const z = formatZxid;

/** A payload as text (requests and txns carry the client's bytes; transcripts write them as UTF-8). */
export function describeData(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}

/** One line for a message (etcd's DescribeMessage): its type first, then its fields, zxids as (epoch,counter). */
export function describeMessage(m: Message): string {
  switch (m.type) {
    case 'NOTIFICATION': return `NOTIFICATION vote=(${m.vote.leader},${z(m.vote.zxid)},${m.vote.peerEpoch}) round=${m.round} ${m.state}`;
    case 'FOLLOWERINFO': return `FOLLOWERINFO acceptedEpoch=${m.acceptedEpoch} last=${z(m.lastZxid)}`;
    case 'LEADERINFO': return `LEADERINFO epoch=${m.epoch}`;
    case 'ACKEPOCH': return `ACKEPOCH epoch=${m.epoch} currentEpoch=${m.currentEpoch} last=${z(m.lastZxid)} epochEnds=[${m.epochEnds.map(z).join(',')}]`;
    case 'DIFF': return `DIFF epoch=${m.epoch} last=${z(m.lastZxid)}`;
    case 'TRUNC': return `TRUNC epoch=${m.epoch} trunc=${z(m.truncZxid)}`;
    case 'SNAP': return `SNAP epoch=${m.epoch} last=${z(m.lastZxid)}`;
    case 'NEWLEADER': return `NEWLEADER epoch=${m.epoch}`;
    case 'UPTODATE': return `UPTODATE epoch=${m.epoch} commit=${z(m.commitZxid)}`;
    case 'PROPOSAL': return `PROPOSAL ${z(m.txn.zxid)} ${describeData(m.txn.data)}`;
    case 'ACK': return `ACK ${z(m.zxid)}`;
    case 'COMMIT': return `COMMIT ${z(m.zxid)}`;
    case 'PING': return `PING epoch=${m.epoch} commit=${z(m.commitZxid)}`;
    case 'PONG': return `PONG epoch=${m.epoch}`;
    case 'REQUEST': return `REQUEST ${m.session}#${m.seq} ${describeData(m.data)}`;
  }
}
