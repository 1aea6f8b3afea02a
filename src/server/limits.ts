/**
 * Every limit of the server shell (queues, buffers, timeouts), in one place, each with why.
 * The core's own limits (payload, session, pending proposals) live in src/core/limits.ts; the frame
 * limits that the server and the client share live in src/wire/limits.ts.
 */

/** Read replies are cut into frames of about this size, so a long log never needs one giant frame. */
export const readChunkBytes = 256 * 1024;

/** A peer whose socket holds more unsent bytes than this is not draining: the connection is dropped. */
export const maxPeerSendBufferBytes = 64 * 1024 * 1024;

/** Messages the core produces for a peer while no connection exists yet (dropped with a 'disconnected' beyond this). */
export const maxPeerPendingMessages = 10_000;

/** A client (subscriber or pipeliner) holding more unsent reply bytes than this is dropped; it may reconnect and resume. */
export const maxClientSendBufferBytes = 64 * 1024 * 1024;

/** Broadcasts one client connection may have in flight before the server stops reading from it. */
export const maxInFlightPerClient = 1000;

/** Concurrent client connections per server. */
export const maxClientConnections = 1024;

/** Reconnect backoff to a peer: starts here, doubles, capped. */
export const reconnectInitialMs = 20;
export const reconnectMaxMs = 1000;

/** An inbound peer connection must present its handshake within this time. */
export const handshakeTimeoutMs = 5000;

/** TCP connect attempt to a peer. */
export const connectTimeoutMs = 2000;

/** Under the planted bug ack-before-fsync, a deferred batch reaches the disk this much later. */
export const deferredSyncDelayMs = 200;

/**
 * The transaction log rolls to a new segment file once the active one holds this many bytes (at the
 * end of a batch: a batch never spans segments). A restart scans the active segment only, so this
 * bounds the start-up read; a single rewrite (a SNAP's whole log) may make one segment larger.
 */
export const defaultSegmentBytes = 64 * 1024 * 1024;

/** The smallest segment size a node accepts (tests roll segments with it), and the largest (sync markers hold u32 batch sizes). */
export const minSegmentBytes = 4096;
export const maxSegmentBytes = 1024 * 1024 * 1024;

/**
 * A batch of at most this many bytes is handed to the kernel with one synchronous writev (into the
 * page cache: microseconds), so its fdatasync starts at once instead of after a thread-pool round
 * trip and a turn of a busy event loop; a larger one (a sync stream's chunk, a catch-up) is written
 * asynchronously, so the process keeps answering while the kernel takes it. Durability is the
 * fdatasync's either way.
 */
export const walSyncWriteBytes = 256 * 1024;

/**
 * The active segment is extended with zeros this far past the end of what a sync writes, so most
 * fdatasyncs overwrite space the file already has and need not also commit a new file size (on
 * ext4 that is a journal commit: about 0.28 ms against 0.16 ms here). ZooKeeper does the same with
 * preAllocSize (64 MiB). A segment is cut back to its records before it is sealed; recovery takes
 * zeros right after a synced batch as the end of the log.
 */
export const walPreallocateBytes = 1024 * 1024;

/** Reads of sealed segments go this many bytes at a time. */
export const walReadChunkBytes = 1024 * 1024;

/** A sealed segment's sparse index (built by its first read) keeps every this-many-th record's offset. */
export const sparseIndexStride = 1024;

/**
 * Delivered entries the client port keeps in memory for reads and subscribers; older ones are read
 * back from the log. A node's `memoryLogEntries` sets it and the core's window together.
 */
export const deliveredMemoryEntries = 10_000;
/** ... and at most this much of their data. */
export const deliveredMemoryBytes = 16 * 1024 * 1024;

/** The largest `memoryLogEntries` a node accepts. */
export const maxMemoryLogEntries = 10_000_000;

/** A read or a subscriber's catch-up writes chunks until the connection holds this many unsent bytes, then waits for it to drain. */
export const streamHighWaterBytes = 4 * 1024 * 1024;
