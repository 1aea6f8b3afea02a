/**
 * The frame limits of the two wire formats, in one place, each with why. The server and the client
 * library both import them from here, so both ends of a connection enforce the same numbers.
 * (The core's limits, payload and session size among them, live in src/core/limits.ts; the server
 * shell's queues and timeouts in src/server/limits.ts.)
 */
import { maxPayloadBytes } from '../core/limits.js';

/** Largest peer frame: one PROPOSAL/REQUEST carrying a maximal payload, plus headers and session id. */
export const maxPeerFrameBytes = maxPayloadBytes + 4096;

/** Largest JSON (control) peer message; anything larger is garbage. */
export const maxControlMessageBytes = 64 * 1024;

/**
 * Largest client-port frame, either direction: the server reads requests and the client reads
 * replies with this bound. Well above maxPayloadBytes so that an oversize broadcast gets a clear
 * 'fail' answer naming the limit instead of a closed connection, and above a read chunk
 * (src/server/limits.ts readChunkBytes) holding one maximal entry.
 */
export const maxClientFrameBytes = 16 * 1024 * 1024;
