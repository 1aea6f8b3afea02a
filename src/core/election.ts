/** Fast Leader Election helpers (FastLeaderElection.java): the total order on votes and vote counting. */
import type { ServerId, Vote } from './types.js';
import { isQuorum } from './quorum.js';

/** totalOrderPredicate: does `next` beat `current`? Ordered by (peerEpoch, zxid, leader). */
export function voteBeats(next: Vote, current: Vote): boolean {
  if (next.peerEpoch !== current.peerEpoch) return next.peerEpoch > current.peerEpoch;
  if (next.zxid !== current.zxid) return next.zxid > current.zxid;
  return next.leader > current.leader;
}

export function sameVote(a: Vote, b: Vote): boolean {
  return a.leader === b.leader && a.zxid === b.zxid && a.peerEpoch === b.peerEpoch;
}

/** termPredicate: the servers whose recorded vote equals `vote` form a quorum. */
export function voteHasQuorum(votes: ReadonlyMap<ServerId, Vote>, vote: Vote, servers: readonly ServerId[]): boolean {
  const supporters: ServerId[] = [];
  for (const [id, v] of votes) if (sameVote(v, vote)) supporters.push(id);
  return isQuorum(supporters, servers);
}
