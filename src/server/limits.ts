/**
 * Every limit of the server shell and the client protocol, in one place, each with why.
 * (The core's own limits live in src/core.)
 */

/** Largest client payload accepted by broadcast: the core's own limit, so the shell and the core agree. */
export { maxPayloadBytes } from '../core/limits.js';
import { maxPayloadBytes } from '../core/limits.js';

/** Largest peer frame: one PROPOSAL/REQUEST carrying a maximal payload, plus headers and session id. */
export const maxPeerFrameBytes = maxPayloadBytes + 4096;

/**
 * Largest client-port frame, either direction. Well above maxPayloadBytes so that an oversize
 * broadcast gets a clear 'fail' answer naming the limit instead of a closed connection.
 */
export const maxClientFrameBytes = 16 * 1024 * 1024;

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

/** Longest session id a peer may present in a PROPOSAL/REQUEST. */
export const maxSessionIdBytes = 256;

/** Largest JSON (control) peer message; anything larger is garbage. */
export const maxControlMessageBytes = 64 * 1024;
