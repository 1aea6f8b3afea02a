/**
 * One test per claim of Zab (DSN 2011 / zab-protocol.md §1-2), driving a single ZabPeer by hand
 * as its peers would, and reading its Ready batches.
 */
import { describe, expect, it } from 'vitest';
import { voteBeats } from '../../../src/core/election.js';
import { ZabPeer } from '../../../src/core/peer.js';
import { createPrng } from '../../../src/core/prng.js';
import type { DurableState, Message, Ready, ServerId, Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';
import { maxPendingProposals } from '../../../src/core/limits.js';
import { transcriptTiming } from './harness.js';

const servers = [1, 2, 3];
const empty: DurableState = { acceptedEpoch: 0, currentEpoch: 0, log: [] };

function txn(epoch: number, counter: number, data = 'x'): Txn {
  return { zxid: makeZxid(epoch, counter), originServer: 9, originSession: 's', originSeq: counter, data: new TextEncoder().encode(data) };
}

/** Steps and collects every Ready (advanced immediately, as a shell that never crashes). */
class Driver {
  readonly readies: Ready[] = [];
  constructor(readonly peer: ZabPeer) { this.flush(); }
  step(from: ServerId, message: Message): Ready[] {
    this.peer.step({ kind: 'message', from, message });
    return this.flush();
  }
  tick(n = 1): Ready[] {
    const out: Ready[] = [];
    for (let i = 0; i < n; i++) {
      this.peer.step({ kind: 'tick' });
      out.push(...this.flush());
    }
    return out;
  }
  request(session: string, seq: number, data = 'd'): Ready[] {
    this.peer.step({ kind: 'request', request: { session, seq, data: new TextEncoder().encode(data) } });
    return this.flush();
  }
  flush(): Ready[] {
    const out: Ready[] = [];
    while (this.peer.hasReady()) {
      const r = this.peer.ready();
      out.push(r);
      this.peer.advance(r);
    }
    this.readies.push(...out);
    return out;
  }
}

const sent = (rs: Ready[]) => rs.flatMap((r) => r.messages.map((e) => e.message));
const sentAfter = (rs: Ready[]) => rs.flatMap((r) => r.messagesAfterPersist.map((e) => e.message));
const committed = (rs: Ready[]) => rs.flatMap((r) => r.committed.map((t) => t.zxid));
const events = (rs: Ready[]) => rs.flatMap((r) => r.events);

/** Server 1 elected to follow 3 (votes from 2 and 3), synced by an empty DIFF, in broadcast of `epoch`. */
function follower(durable: DurableState = empty, epoch = 1): Driver {
  const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, durable, createPrng(1)));
  const vote = { leader: 3, zxid: 0, peerEpoch: 0 };
  d.step(3, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
  d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
  d.tick(transcriptTiming.finalizeWaitTicks);
  expect(d.peer.status()).toMatchObject({ state: 'following', leader: 3 });
  d.step(3, { type: 'LEADERINFO', epoch });
  d.step(3, { type: 'DIFF', epoch, lastZxid: d.peer.status().lastZxid });
  d.step(3, { type: 'NEWLEADER', epoch });
  d.step(3, { type: 'UPTODATE', epoch, commitZxid: d.peer.status().lastZxid });
  expect(d.peer.status().phase).toBe('broadcast');
  return d;
}

/** Server 3 elected leader by 1 and 2, epoch established with both, in broadcast. */
function leader(durable: DurableState = empty): Driver {
  const d = new Driver(new ZabPeer({ id: 3, servers, timing: transcriptTiming }, durable, createPrng(3)));
  const log = durable.log as readonly Txn[];
  const last = log.length === 0 ? 0 : log[log.length - 1]!.zxid;
  const vote = { leader: 3, zxid: last, peerEpoch: durable.currentEpoch };
  d.step(1, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
  d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
  d.tick(transcriptTiming.finalizeWaitTicks);
  expect(d.peer.status().state).toBe('leading');
  for (const f of [1, 2]) d.step(f, { type: 'FOLLOWERINFO', acceptedEpoch: durable.acceptedEpoch, lastZxid: last });
  const epoch = durable.acceptedEpoch + 1;
  for (const f of [1, 2]) d.step(f, { type: 'ACKEPOCH', epoch, currentEpoch: durable.currentEpoch, lastZxid: last, epochEnds: last === 0 ? [0] : [last] });
  for (const f of [1, 2]) d.step(f, { type: 'ACK', epoch, zxid: makeZxid(epoch, 0) });
  expect(d.peer.status().phase).toBe('broadcast');
  return d;
}

describe('Zab claims', () => {
  it('FLE orders votes by (peerEpoch, zxid, server id) — totalOrderPredicate', () => {
    expect(voteBeats({ leader: 1, zxid: 0, peerEpoch: 2 }, { leader: 3, zxid: makeZxid(1, 9), peerEpoch: 1 })).toBe(true);
    expect(voteBeats({ leader: 1, zxid: makeZxid(1, 2), peerEpoch: 1 }, { leader: 3, zxid: makeZxid(1, 1), peerEpoch: 1 })).toBe(true);
    expect(voteBeats({ leader: 3, zxid: 5, peerEpoch: 1 }, { leader: 2, zxid: 5, peerEpoch: 1 })).toBe(true);
    expect(voteBeats({ leader: 2, zxid: 5, peerEpoch: 1 }, { leader: 2, zxid: 5, peerEpoch: 1 })).toBe(false);
  });

  it('a server votes with its last LOGGED zxid, committed or not (ZOOKEEPER-2845)', () => {
    const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, { acceptedEpoch: 1, currentEpoch: 1, log: [txn(1, 1), txn(1, 2)] }, createPrng(1)));
    const notifications = sent(d.readies).filter((m) => m.type === 'NOTIFICATION');
    expect(notifications[0]).toMatchObject({ vote: { leader: 1, zxid: makeZxid(1, 2), peerEpoch: 1 } });
  });

  it('discovery: a new epoch exceeds every acceptedEpoch of the quorum, and is durable before LEADERINFO', () => {
    const d = new Driver(new ZabPeer({ id: 3, servers, timing: transcriptTiming }, { acceptedEpoch: 4, currentEpoch: 4, log: [] }, createPrng(3)));
    const vote = { leader: 3, zxid: 0, peerEpoch: 4 };
    d.step(1, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.tick(transcriptTiming.finalizeWaitTicks);
    const rs = d.step(1, { type: 'FOLLOWERINFO', acceptedEpoch: 7, lastZxid: 0 });
    const r = rs.find((x) => x.acceptedEpoch !== undefined)!;
    expect(r.acceptedEpoch).toBe(8);
    expect(r.messages.some((e) => e.message.type === 'LEADERINFO')).toBe(false);
    expect(r.messagesAfterPersist.map((e) => e.message)).toContainEqual({ type: 'LEADERINFO', epoch: 8 });
  });

  it('a FOLLOWERINFO that reached a LOOKING server registers when it becomes leader, unless its sender went LOOKING or its stream broke', () => {
    const elect = (before: (d: Driver) => void): Driver => {
      const d = new Driver(new ZabPeer({ id: 3, servers, timing: transcriptTiming }, empty, createPrng(3)));
      const vote = { leader: 3, zxid: 0, peerEpoch: 0 };
      d.step(1, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
      d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
      // 1 finalized first; 3 is still in its finalizeWait
      d.step(1, { type: 'FOLLOWERINFO', acceptedEpoch: 0, lastZxid: 0 });
      expect(d.peer.status().state).toBe('looking');
      before(d);
      d.tick(transcriptTiming.finalizeWaitTicks);
      expect(d.peer.status().state).toBe('leading');
      return d;
    };
    // kept: on election the epoch is proposed at once (1 + leader = quorum), no repeat needed
    const kept = elect(() => undefined);
    expect(kept.readies.some((r) => r.acceptedEpoch === 1)).toBe(true);
    expect(sentAfter(kept.readies)).toContainEqual({ type: 'LEADERINFO', epoch: 1 });
    // the sender's stream broke: the kept message is gone with it
    const broken = elect((d) => { d.peer.step({ kind: 'disconnected', peer: 1 }); d.flush(); });
    expect(broken.readies.some((r) => r.acceptedEpoch !== undefined)).toBe(false);
    // the sender voted again as LOOKING (after its FOLLOWERINFO): it no longer follows us
    const looking = elect((d) => d.step(1, { type: 'NOTIFICATION', vote: { leader: 3, zxid: 0, peerEpoch: 0 }, round: 1, state: 'looking' }));
    expect(looking.readies.some((r) => r.acceptedEpoch !== undefined)).toBe(false);
  });

  it('a follower promises (acceptedEpoch on disk) before ACKEPOCH, and refuses an older epoch (F3)', () => {
    const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, { acceptedEpoch: 5, currentEpoch: 5, log: [] }, createPrng(1)));
    const vote = { leader: 3, zxid: 0, peerEpoch: 5 };
    d.step(3, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.tick(transcriptTiming.finalizeWaitTicks);
    const older = d.step(3, { type: 'LEADERINFO', epoch: 4 });
    expect(d.peer.status().state).toBe('looking');
    expect(events(older)).toContainEqual(expect.objectContaining({ type: 'rejected', messageType: 'LEADERINFO' }));

    const f = follower({ acceptedEpoch: 0, currentEpoch: 0, log: [] }, 1);
    const info = f.readies.find((r) => r.acceptedEpoch === 1)!;
    expect(info.messagesAfterPersist.map((e) => e.message)).toContainEqual({ type: 'ACKEPOCH', epoch: 1, currentEpoch: 0, lastZxid: 0, epochEnds: [0] });
    expect(info.messages.some((e) => e.message.type === 'ACKEPOCH')).toBe(false);
  });

  it('the leader abandons the epoch when a follower is more recent (waitForEpochAck)', () => {
    const d = new Driver(new ZabPeer({ id: 3, servers, timing: transcriptTiming }, empty, createPrng(3)));
    const vote = { leader: 3, zxid: 0, peerEpoch: 0 };
    d.step(1, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.tick(transcriptTiming.finalizeWaitTicks);
    d.step(1, { type: 'FOLLOWERINFO', acceptedEpoch: 0, lastZxid: makeZxid(0, 3) });
    d.step(1, { type: 'ACKEPOCH', epoch: 1, currentEpoch: 0, lastZxid: makeZxid(0, 3), epochEnds: [makeZxid(0, 3), 0] });
    expect(d.peer.status().state).toBe('looking');
  });

  it('NEWLEADER: synced entries durable, then currentEpoch, then ACK (ZOOKEEPER-3911/4643/4646)', () => {
    const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, empty, createPrng(1)));
    const vote = { leader: 3, zxid: 0, peerEpoch: 0 };
    d.step(3, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.step(2, { type: 'NOTIFICATION', vote, round: 1, state: 'looking' });
    d.tick(transcriptTiming.finalizeWaitTicks);
    d.step(3, { type: 'LEADERINFO', epoch: 1 });
    d.step(3, { type: 'DIFF', epoch: 1, lastZxid: 0 });
    d.peer.step({ kind: 'message', from: 3, message: { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) } });
    d.peer.step({ kind: 'message', from: 3, message: { type: 'NEWLEADER', epoch: 1 } });
    const r = d.peer.ready(); // one batch: the shell persists append, then currentEpoch, then sends the ACK
    expect(r.append.map((t) => t.zxid)).toEqual([makeZxid(1, 1)]);
    expect(r.currentEpoch).toBe(1);
    expect(r.messages).toEqual([]);
    expect(r.messagesAfterPersist[0]!.message).toEqual({ type: 'ACK', epoch: 1, zxid: makeZxid(1, 0) });
    d.peer.advance(r);
  });

  it('a follower ACKs a proposal only after it is durable (F1)', () => {
    const f = follower();
    const rs = f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) });
    expect(rs).toHaveLength(1);
    expect(rs[0]!.append.map((t) => t.zxid)).toEqual([makeZxid(1, 1)]);
    expect(sent(rs)).toEqual([]);
    expect(sentAfter(rs)).toEqual([{ type: 'ACK', epoch: 1, zxid: makeZxid(1, 1) }]);
    expect(rs[0]!.deferSync).toBe(false);
  });

  it('local primary order: a follower drops a leader whose PROPOSAL skips a zxid', () => {
    const f = follower();
    f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) });
    const rs = f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 3) });
    expect(f.peer.status().state).toBe('looking');
    expect(events(rs)).toContainEqual(expect.objectContaining({ type: 'rejected', messageType: 'PROPOSAL' }));
  });

  it('a COMMIT is cumulative: it commits every pending proposal up to its zxid, in order; delivery follows COMMIT, never PROPOSAL', () => {
    const f = follower();
    expect(committed(f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) }))).toEqual([]);
    f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 2) });
    f.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 3) });
    expect(committed(f.step(3, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 1) }))).toEqual([makeZxid(1, 1)]);
    expect(committed(f.step(3, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 3) }))).toEqual([makeZxid(1, 2), makeZxid(1, 3)]);
    expect(f.peer.status()).toMatchObject({ state: 'following', commitZxid: makeZxid(1, 3) });
    // A COMMIT of a zxid it never logged, or of one already committed, is a broken leader.
    const g = follower();
    g.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) });
    expect(committed(g.step(3, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 2) }))).toEqual([]);
    expect(g.peer.status().state).toBe('looking');
    const h = follower();
    h.step(3, { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) });
    h.step(3, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 1) });
    h.step(3, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 1) });
    expect(h.peer.status().state).toBe('looking');
  });

  it('a follower sends one ACK, of the last, for the proposals of one batch, and only once they are durable', () => {
    const f = follower();
    for (let counter = 1; counter <= 3; counter++) f.peer.step({ kind: 'message', from: 3, message: { type: 'PROPOSAL', epoch: 1, txn: txn(1, counter) } });
    const [batch] = f.flush();
    expect(batch!.append.map((t) => t.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2), makeZxid(1, 3)]);
    expect(batch!.messages.filter((e) => e.message.type === 'ACK')).toEqual([]);
    expect(batch!.messagesAfterPersist.map((e) => e.message)).toEqual([{ type: 'ACK', epoch: 1, zxid: makeZxid(1, 3) }]);
  });

  it('the leader commits on a quorum including itself, strictly in zxid order; an ACK counts for every proposal up to its zxid', () => {
    const d = leader();
    d.request('a', 0);
    d.request('a', 1); // self-ACKs counted at advance(): 1/1 and 1/2 each have {3}
    d.request('a', 2);
    expect(committed(d.readies)).toEqual([]);
    expect(committed(d.step(1, { type: 'ACK', epoch: 1, zxid: makeZxid(1, 1) }))).toEqual([makeZxid(1, 1)]);
    const rs = d.step(2, { type: 'ACK', epoch: 1, zxid: makeZxid(1, 3) });
    expect(committed(rs)).toEqual([makeZxid(1, 2), makeZxid(1, 3)]);
    expect(rs.flatMap((r) => r.clientReplies)).toEqual([
      { session: 'a', seq: 1, type: 'ok', zxid: makeZxid(1, 2) },
      { session: 'a', seq: 2, type: 'ok', zxid: makeZxid(1, 3) },
    ]);
    // One cumulative COMMIT per learner for both.
    const commits = rs.flatMap((r) => [...r.messages, ...r.messagesAfterPersist]).filter((e) => e.message.type === 'COMMIT');
    expect(commits.map((e) => [e.to, e.message])).toEqual([[1, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 3) }], [2, { type: 'COMMIT', epoch: 1, zxid: makeZxid(1, 3) }]]);
    // An ACK of a zxid never proposed is refused.
    const refused = d.step(1, { type: 'ACK', epoch: 1, zxid: makeZxid(1, 9) });
    expect(events(refused).some((e) => e.type === 'rejected' && e.reason === 'unknown proposal')).toBe(true);
  });

  it('a leader whose own ACK is missing commits nothing, whatever its learners ACK', () => {
    const d = leader();
    d.peer.step({ kind: 'request', request: { session: 'a', seq: 0, data: new Uint8Array([1]) } });
    const [batch] = [d.peer.ready()]; // in flight: not durable on the leader yet
    d.peer.step({ kind: 'message', from: 1, message: { type: 'ACK', epoch: 1, zxid: makeZxid(1, 1) } });
    d.peer.step({ kind: 'message', from: 2, message: { type: 'ACK', epoch: 1, zxid: makeZxid(1, 1) } });
    expect(d.peer.status().commitZxid).toBe(0);
    d.peer.advance(batch);
    expect(d.peer.status().commitZxid).toBe(makeZxid(1, 1));
  });

  it('primary integrity: a new leader delivers its whole initial history before any new proposal', () => {
    const d = leader({ acceptedEpoch: 1, currentEpoch: 1, log: [txn(1, 1), txn(1, 2)] });
    // The log it started with is in its store: delivered as one range the shell reads back.
    expect(d.readies.flatMap((r) => (r.committedStored === undefined ? [] : [r.committedStored]))).toEqual([{ after: 0, upTo: makeZxid(1, 2) }]);
    expect(committed(d.readies)).toEqual([]);
    d.request('b', 0);
    const proposal = sent(d.readies).find((m) => m.type === 'PROPOSAL');
    expect(proposal).toMatchObject({ txn: { zxid: makeZxid(2, 1) } });
  });

  it('requests fail when not in broadcast and become unknown when the leader is lost', () => {
    const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, empty, createPrng(1)));
    expect(d.request('c', 0).flatMap((r) => r.clientReplies)).toEqual([{ session: 'c', seq: 0, type: 'fail', reason: 'not in broadcast' }]);
    const f = follower();
    f.request('c', 1);
    f.peer.step({ kind: 'disconnected', peer: 3 });
    expect(f.flush().flatMap((r) => r.clientReplies)).toEqual([{ session: 'c', seq: 1, type: 'unknown', reason: 'left broadcast' }]);
  });

  it('remote input never throws: malformed or stale messages are rejected', () => {
    const f = follower();
    const junk: unknown[] = [null, {}, { type: 'PROPOSAL' }, { type: 'COMMIT', epoch: -1, zxid: 1 }, { type: 'ACK', epoch: 1, zxid: 2 ** 60 }];
    for (const m of junk) f.peer.step({ kind: 'message', from: 3, message: m as Message });
    f.peer.step({ kind: 'message', from: 7, message: { type: 'PONG', epoch: 1 } });
    const rejected = events(f.flush()).filter((e) => e.type === 'rejected');
    expect(rejected).toHaveLength(junk.length + 1);
    expect(f.peer.status()).toMatchObject({ state: 'following', phase: 'broadcast' });
  });

  it('a forwarded request the leader never commits is answered unknown after 4 syncLimits, not held for the epoch', () => {
    const f = follower();
    const forwarded = sent(f.request('s', 1)).filter((m) => m.type === 'REQUEST');
    expect(forwarded).toHaveLength(1);
    const replies: Ready['clientReplies'][number][] = [];
    for (let i = 0; i < transcriptTiming.syncLimitTicks * 4 + 2; i++) {
      // The leader stays alive (PINGs) but never proposes the request (a backstop: a leader never drops one).
      replies.push(...f.step(3, { type: 'PING', epoch: 1, commitZxid: 0 }).flatMap((r) => r.clientReplies));
      replies.push(...f.tick().flatMap((r) => r.clientReplies));
    }
    expect(replies).toEqual([{ session: 's', seq: 1, type: 'unknown', reason: 'no commit in time' }]);
    expect(f.peer.status()).toMatchObject({ state: 'following', phase: 'broadcast' });
  });

  it('a vote for a server outside the configuration, or a proposal over the payload limit, is rejected', () => {
    const d = new Driver(new ZabPeer({ id: 1, servers, timing: transcriptTiming }, empty, createPrng(1)));
    const rs = d.step(2, { type: 'NOTIFICATION', vote: { leader: 42, zxid: 0, peerEpoch: 0 }, round: 1, state: 'looking' });
    expect(events(rs).filter((e) => e.type === 'rejected')).toHaveLength(1);
    const f = follower();
    const big = { ...txn(1, 1), data: new Uint8Array(64 * 1024 + 1) };
    const after = f.step(3, { type: 'PROPOSAL', epoch: 1, txn: big });
    expect(events(after).some((e) => e.type === 'rejected' && e.reason === 'txn over the limits')).toBe(true);
    expect(f.peer.status().lastZxid).toBe(0);
  });

  it('a full leader holds forwarded requests back in order, and a learner whose stream breaks takes its held requests with it', () => {
    const l = leader();
    const epoch = 1;
    const data = new TextEncoder().encode('x');
    for (let seq = 0; seq < maxPendingProposals; seq++) l.peer.step({ kind: 'request', request: { session: 'own', seq, data } });
    l.flush();
    // every proposal slot is taken (no follower ACKed yet): both forwarded requests are held, not dropped
    expect(sent(l.step(1, { type: 'REQUEST', epoch, session: 's1', seq: 0, data })).filter((m) => m.type === 'PROPOSAL')).toEqual([]);
    expect(sent(l.step(2, { type: 'REQUEST', epoch, session: 's2', seq: 0, data })).filter((m) => m.type === 'PROPOSAL')).toEqual([]);
    // 1's stream breaks: its session is over, and its held request goes with it
    l.peer.step({ kind: 'disconnected', peer: 1 });
    l.flush();
    // 2 ACKs everything: slots free up, 2's held request is proposed, 1's never is
    const proposed: string[] = [];
    for (let counter = 1; counter <= maxPendingProposals; counter++) {
      for (const m of sent(l.step(2, { type: 'ACK', epoch, zxid: makeZxid(epoch, counter) }))) {
        if (m.type === 'PROPOSAL') proposed.push(m.txn.originSession);
      }
    }
    expect(proposed).toEqual(['s2']);
    expect(l.peer.status()).toMatchObject({ state: 'leading', phase: 'broadcast', commitZxid: makeZxid(epoch, maxPendingProposals) });
  });

  it('a held request whose session closed meanwhile (an earlier one expired) fails, never commits without it', () => {
    const l = leader();
    const epoch = 1;
    const data = new TextEncoder().encode('x');
    const peer = l.peer;
    // follower 2's forwarded requests take every proposal slot; the leader's fsync of them stalls
    for (let seq = 0; seq < maxPendingProposals; seq++) peer.step({ kind: 'message', from: 2, message: { type: 'REQUEST', epoch, session: 'f2', seq, data } });
    const stalled = peer.ready();
    // session t on the leader: seq 0, then seq 1 a tick later, both held back
    peer.step({ kind: 'request', request: { session: 't', seq: 0, data } });
    peer.step({ kind: 'tick' });
    peer.step({ kind: 'request', request: { session: 't', seq: 1, data } });
    // follower 2 ACKs everything (the leader keeps its quorum) while the leader's own fsync hangs
    for (let counter = 1; counter <= maxPendingProposals; counter++) peer.step({ kind: 'message', from: 2, message: { type: 'ACK', epoch, zxid: makeZxid(epoch, counter) } });
    for (let i = 0; i < transcriptTiming.syncLimitTicks * 4; i++) {
      peer.step({ kind: 'message', from: 2, message: { type: 'PONG', epoch } });
      peer.step({ kind: 'tick' });
    }
    // the fsync completes: everything commits, slots free up, the held t#1 comes up, after t#0 failed
    peer.advance(stalled);
    const rs = l.flush();
    const replies = rs.flatMap((r) => r.clientReplies).filter((r) => r.session === 't').map((r) => `${r.seq} ${r.type}`);
    const proposed = sent(rs).filter((m) => m.type === 'PROPOSAL').map((m) => (m.type === 'PROPOSAL' ? `${m.txn.originSession}#${m.txn.originSeq}` : ''));
    expect(peer.status()).toMatchObject({ state: 'leading', phase: 'broadcast', commitZxid: makeZxid(epoch, maxPendingProposals) });
    expect(replies).toEqual(['0 fail', '1 fail']);
    expect(proposed).not.toContain('t#1');
  });

  it('messages still in the batch for a stream that broke are dropped, never sent on the next stream', () => {
    const l = leader();
    l.peer.step({ kind: 'request', request: { session: 's', seq: 1, data: new TextEncoder().encode('d') } });
    l.peer.step({ kind: 'disconnected', peer: 1 });
    const rs = l.flush();
    const to = rs.flatMap((r) => [...r.messages, ...r.messagesAfterPersist]).filter((e) => e.message.type === 'PROPOSAL').map((e) => e.to);
    expect(to).toEqual([2]);
  });

  it('while a Ready is persisted, the next batch\'s messages may leave early, never ahead of what that Ready sends after its persist', () => {
    // The leader: its next proposals go to both followers during its fsync.
    const l = leader();
    l.peer.step({ kind: 'request', request: { session: 's', seq: 1, data: new TextEncoder().encode('a') } });
    const inFlight = l.peer.ready();
    l.peer.step({ kind: 'request', request: { session: 's', seq: 2, data: new TextEncoder().encode('b') } });
    const early = l.peer.takeMessages();
    expect(early.map((e) => `${e.to}:${e.message.type}`)).toEqual(['1:PROPOSAL', '2:PROPOSAL']);
    expect(l.peer.takeMessages()).toEqual([]);
    l.peer.advance(inFlight);
    const next = l.peer.ready();
    expect(next.messages.filter((e) => e.message.type === 'PROPOSAL')).toEqual([]);
    expect(next.append.map((t) => t.originSeq)).toEqual([2]);
    l.peer.advance(next);

    // A follower: its in-flight Ready owes the leader an ACK after the fsync, so a PONG to the leader waits behind it.
    const f = follower();
    f.peer.step({ kind: 'message', from: 3, message: { type: 'PROPOSAL', epoch: 1, txn: txn(1, 1) } });
    const acking = f.peer.ready();
    expect(acking.messagesAfterPersist.map((e) => e.message.type)).toEqual(['ACK']);
    f.peer.step({ kind: 'message', from: 3, message: { type: 'PING', epoch: 1, commitZxid: 0 } });
    expect(f.peer.takeMessages()).toEqual([]);
    f.peer.advance(acking);
    expect(f.peer.ready().messages.map((e) => e.message.type)).toEqual(['PONG']);
  });
});
