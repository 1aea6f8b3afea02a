/**
 * The client-port protocol, shared by the server (src/server/client-port.ts) and the client library
 * (src/client/zab-client.ts). Every frame is length-prefixed (framing.ts), at most maxClientFrameBytes
 * (limits.ts) in either direction; the body starts with a one-byte op and a u32 request id.
 *
 * Client -> server
 *   0x01 BROADCAST  u32 reqId | payload...            (pipelined; reqIds strictly increasing per connection)
 *   0x02 READ       u32 reqId                          (the server's whole delivered sequence)
 *   0x03 SUBSCRIBE  u32 reqId | f64 fromZxid           (deliveries with zxid > fromZxid, then live)
 *   0x04 STATUS     u32 reqId
 *   0x05 RESUME     u32 reqId                          (the client has seen a FAIL/UNKNOWN: broadcasts after this
 *                                                       frame start a new session; see below)
 * Server -> client
 *   0x80 HELLO      u32 0 | JSON {serverId, session, maxPayloadBytes}   (first frame)
 *   0x81 OK         u32 reqId | f64 zxid
 *   0x82 FAIL       u32 reqId | utf-8 reason          (definitely never delivered)
 *   0x83 UNKNOWN    u32 reqId | utf-8 reason          (may or may not be delivered)
 *   0x84 READ_CHUNK u32 reqId | u8 last | entries     (entries: [f64 zxid | u32 length | bytes]*)
 *   0x85 DELIVER    u32 reqId | entries               (reqId of the SUBSCRIBE)
 *   0x86 STATUS     u32 reqId | JSON NodeStatusReply
 *   0x87 ERROR      u32 reqId | utf-8 reason          (a request the server could not serve)
 *
 * Session order: what a connection's broadcasts get delivered is always a prefix of what it sent.
 * So the first FAIL or UNKNOWN closes the connection's session: every broadcast after it fails
 * ("session closed") until the client sends RESUME; broadcasts sent after RESUME (TCP keeps the
 * order) belong to a new session. The client library sends RESUME by itself.
 */
import type { PeerStatus } from '../core/types.js';
import { copyBytes } from './framing.js';

export const op = {
  broadcast: 0x01,
  read: 0x02,
  subscribe: 0x03,
  status: 0x04,
  resume: 0x05,
  hello: 0x80,
  ok: 0x81,
  fail: 0x82,
  unknown: 0x83,
  readChunk: 0x84,
  deliver: 0x85,
  statusReply: 0x86,
  error: 0x87,
} as const;

export interface Hello {
  readonly serverId: number;
  readonly session: string;
  readonly maxPayloadBytes: number;
}

export interface NodeStatusReply extends PeerStatus {
  readonly pid: number;
  /** In broadcast phase as leader or follower: broadcasts can commit through this server. */
  readonly serving: boolean;
  /** The last zxid delivered (committed and handed to subscribers) by this server. */
  readonly deliveredZxid: number;
  readonly delivered: number;
}

export interface Entry {
  readonly zxid: number;
  readonly data: Uint8Array;
}

const headerBytes = 4 + 1 + 4;

/** A request frame (length header included). */
export function encodeRequest(code: number, reqId: number, payload?: Uint8Array, zxid?: number): Buffer {
  const extra = payload ? payload.length : zxid !== undefined ? 8 : 0;
  const frame = Buffer.allocUnsafe(headerBytes + extra);
  frame.writeUInt32BE(5 + extra, 0);
  frame[4] = code;
  frame.writeUInt32BE(reqId, 5);
  if (payload) frame.set(payload, headerBytes);
  else if (zxid !== undefined) frame.writeDoubleBE(zxid, headerBytes);
  return frame;
}

export function encodeOk(reqId: number, zxid: number): Buffer {
  const frame = Buffer.allocUnsafe(headerBytes + 8);
  frame.writeUInt32BE(13, 0);
  frame[4] = op.ok;
  frame.writeUInt32BE(reqId, 5);
  frame.writeDoubleBE(zxid, headerBytes);
  return frame;
}

export function encodeText(code: number, reqId: number, text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(headerBytes + length);
  frame.writeUInt32BE(5 + length, 0);
  frame[4] = code;
  frame.writeUInt32BE(reqId, 5);
  frame.write(text, headerBytes, 'utf8');
  return frame;
}

export function entriesBytes(entries: readonly Entry[]): number {
  let total = 0;
  for (const entry of entries) total += 12 + entry.data.length;
  return total;
}

/** DELIVER (last undefined) or READ_CHUNK frame carrying `entries`. */
export function encodeEntries(code: number, reqId: number, entries: readonly Entry[], last?: boolean): Buffer {
  const flagBytes = last === undefined ? 0 : 1;
  const length = 5 + flagBytes + entriesBytes(entries);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame[4] = code;
  frame.writeUInt32BE(reqId, 5);
  let offset = headerBytes;
  if (last !== undefined) frame[offset++] = last ? 1 : 0;
  for (const entry of entries) {
    frame.writeDoubleBE(entry.zxid, offset);
    frame.writeUInt32BE(entry.data.length, offset + 8);
    frame.set(entry.data, offset + 12);
    offset += 12 + entry.data.length;
  }
  return frame;
}

/** Parses entries from `body` starting at `offset`; undefined when malformed. */
export function decodeEntries(body: Buffer, offset: number): Entry[] | undefined {
  const entries: Entry[] = [];
  while (offset < body.length) {
    if (body.length - offset < 12) return undefined;
    const zxid = body.readDoubleBE(offset);
    const length = body.readUInt32BE(offset + 8);
    if (!Number.isSafeInteger(zxid) || offset + 12 + length > body.length) return undefined;
    entries.push({ zxid, data: copyBytes(body.subarray(offset + 12, offset + 12 + length)) });
    offset += 12 + length;
  }
  return entries;
}
