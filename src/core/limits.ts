/**
 * Every limit of the pure core, in one place, each with the reason it exists (house style:
 * "put a limit on everything"). The shell has its own limits (frame size, queues) in src/server.
 */

/** Largest client payload the core proposes; bigger requests get 'fail'. Keeps PROPOSAL frames and the log bounded. */
export const maxPayloadBytes = 64 * 1024;

/** Proposals in flight (proposed, not yet committed) at the leader; beyond it requests get 'fail'. Bounds leader memory and follower lag (ZooKeeper: globalOutstandingLimit = 1000). */
export const maxPendingProposals = 1000;

/** Client requests a server holds waiting for their commit (its own or forwarded); beyond it 'fail'. Bounds memory per server. */
export const maxPendingClientRequests = 1000;

/** Longest client session name accepted in a forwarded REQUEST; longer is a malformed peer. */
export const maxSessionLength = 256;

/**
 * A request a follower forwarded and has not seen committed after this many syncLimit periods is
 * answered 'unknown' and forgotten: an overloaded leader drops forwarded REQUESTs without a word,
 * and the client must not wait for the rest of the epoch (nor hold a pending slot).
 */
export const forwardedRequestTimeoutSyncLimits = 4;

/**
 * Log entries a server keeps in memory once they are durable and delivered: the most recent ones,
 * so a follower that lags by fewer is synced without reading the store. Older ones are read back.
 */
export const memoryLogEntries = 10_000;
/** ... and at most this much of their data (10,000 entries of 64 KiB would be 640 MiB). */
export const memoryLogBytes = 16 * 1024 * 1024;

/**
 * A leader streams a learner's sync (DIFF, TRUNC or SNAP) in chunks of at most this much log data
 * and this many entries, the next one once the shell says the last one left (Input 'drained'): a
 * sync of a long log is never read or queued whole, and a PING still gets through behind it.
 */
export const syncChunkBytes = 1024 * 1024;
export const syncChunkEntries = 4096;

/**
 * A learner's ACKEPOCH lists the last zxid of at most this many of its log's newest epochs: enough
 * for the leader to find where their logs part (TRUNC there, then DIFF) unless the learner holds
 * more epochs the leader lacks; then a SNAP.
 */
export const maxEpochEnds = 64;

/** Largest election round accepted from a peer (far beyond any real run; keeps rounds exact integers). */
export const maxElectionRound = 2 ** 40;
