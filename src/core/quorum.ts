/** Majority quorums (QuorumMaj.containsQuorum: |set| > votingMembers / 2). */
import type { ServerId } from './types.js';

export function isQuorum(members: Iterable<ServerId>, servers: readonly ServerId[]): boolean {
  let count = 0;
  for (const id of members) if (servers.includes(id)) count++;
  return count > Math.floor(servers.length / 2);
}
