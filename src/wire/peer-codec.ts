/**
 * The peer wire codec. The hot path (PROPOSAL, ACK, COMMIT, REQUEST) is binary with fixed headers;
 * every other message is a small JSON object behind a one-byte tag. Decoding never throws: bad input
 * yields a DecodeError, and the transport closes the connection and logs it.
 *
 * The codec checks bytes only (frame lengths, tags, that the JSON parses): it turns a frame into a
 * candidate message and leaves every rule about the fields (ranges, limits, types) to the one
 * validator the core also applies, validateMessage (src/core/messages.ts). It calls that validator
 * itself, so a malformed frame closes the connection; the core calls it again on every input,
 * because the simulation and the transcripts step it directly (a few type checks per message).
 *
 * Binary layouts (big-endian; zxids as float64, exact below 2^53):
 *   PROPOSAL  u8 tag | u32 epoch | txn (txn-layout.ts: f64 zxid | u32 originServer | f64 originSeq | u16 sessionLength | session | data...)
 *   ACK       u8 tag | u32 epoch | f64 zxid
 *   COMMIT    u8 tag | u32 epoch | f64 zxid
 *   REQUEST   u8 tag | u32 epoch | f64 seq | u16 sessionLength | session | data...
 *   JSON      u8 tag | utf-8 JSON of the message (every other type)
 *   HANDSHAKE u8 tag | utf-8 JSON {magic, version, clusterId, from, to}
 */
import { validateMessage } from '../core/messages.js';
import type { Message, ServerId } from '../core/types.js';
import { copyBytes, frameHeaderBytes } from './framing.js';
import { maxControlMessageBytes } from './limits.js';
import { readTxn, txnBytes, writeTxn } from './txn-layout.js';

export class DecodeError extends Error {
  override name = 'DecodeError';
}

const tagJson = 0x01;
const tagProposal = 0x10;
const tagAck = 0x11;
const tagCommit = 0x12;
const tagRequest = 0x13;
const tagHandshake = 0x7f;

const handshakeMagic = 'zabkit-peer';
/** 2: ACKEPOCH carries epochEnds (a server of version 1 would send none and be refused mid-sync: it is refused at the handshake). */
const handshakeVersion = 2;

export interface Handshake {
  readonly clusterId: string;
  readonly from: ServerId;
  readonly to: ServerId;
}

// ---------------------------------------------------------------------------------------------
// Encode

/** Bytes before the variable part of a binary frame: length header, tag, u32 epoch. */
const binaryHeaderBytes = frameHeaderBytes + 1 + 4;
/** REQUEST after its epoch: f64 seq | u16 sessionLength. */
const requestFixedBytes = 10;

/** Encodes `message` as a complete frame (length header included), ready to write. */
export function encodeMessageFrame(message: Message): Buffer {
  switch (message.type) {
    case 'ACK':
    case 'COMMIT': {
      const frame = binaryFrame(message.type === 'ACK' ? tagAck : tagCommit, message.epoch, 8);
      frame.writeDoubleBE(message.zxid, binaryHeaderBytes);
      return frame;
    }
    case 'PROPOSAL': {
      const frame = binaryFrame(tagProposal, message.epoch, txnBytes(message.txn));
      writeTxn(frame, binaryHeaderBytes, message.txn);
      return frame;
    }
    case 'REQUEST': {
      const sessionLength = Buffer.byteLength(message.session);
      const frame = binaryFrame(tagRequest, message.epoch, requestFixedBytes + sessionLength + message.data.length);
      frame.writeDoubleBE(message.seq, binaryHeaderBytes);
      frame.writeUInt16BE(sessionLength, binaryHeaderBytes + 8);
      frame.write(message.session, binaryHeaderBytes + requestFixedBytes, 'utf8');
      frame.set(message.data, binaryHeaderBytes + requestFixedBytes + sessionLength);
      return frame;
    }
    default:
      return tagged(tagJson, JSON.stringify(message));
  }
}

export function encodeHandshakeFrame(handshake: Handshake): Buffer {
  return tagged(tagHandshake, JSON.stringify({ magic: handshakeMagic, version: handshakeVersion, ...handshake }));
}

/** A frame of a binary message with its length header, tag and epoch written, and `restBytes` to fill. */
function binaryFrame(tag: number, epoch: number, restBytes: number): Buffer {
  const frame = Buffer.allocUnsafe(binaryHeaderBytes + restBytes);
  frame.writeUInt32BE(frame.length - frameHeaderBytes, 0);
  frame[frameHeaderBytes] = tag;
  frame.writeUInt32BE(epoch, frameHeaderBytes + 1);
  return frame;
}

function tagged(tag: number, json: string): Buffer {
  const length = 1 + Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(frameHeaderBytes + length);
  frame.writeUInt32BE(length, 0);
  frame[frameHeaderBytes] = tag;
  frame.write(json, frameHeaderBytes + 1, 'utf8');
  return frame;
}

// ---------------------------------------------------------------------------------------------
// Decode (frame bodies, without the length header)

export function decodeHandshake(body: Buffer): Handshake | DecodeError {
  if (body.length < 2 || body[0] !== tagHandshake) return new DecodeError('first frame is not a handshake');
  const value = parseJson(body);
  if (value instanceof DecodeError) return value;
  if (value['magic'] !== handshakeMagic || value['version'] !== handshakeVersion) return new DecodeError('handshake: wrong magic or version');
  const { clusterId, from, to } = value;
  if (typeof clusterId !== 'string' || !isServerId(from) || !isServerId(to)) return new DecodeError('handshake: bad fields');
  return { clusterId, from, to };
}

/** Types that travel in their own binary layout, never as JSON. */
const binaryTypes: ReadonlySet<unknown> = new Set(['PROPOSAL', 'ACK', 'COMMIT', 'REQUEST']);

/** Decodes a frame body into a message, which validateMessage has accepted. */
export function decodeMessage(body: Buffer): Message | DecodeError {
  const candidate = decodeCandidate(body);
  if (candidate instanceof DecodeError) return candidate;
  const reason = validateMessage(candidate);
  if (reason !== undefined) return new DecodeError(`${String((candidate as { type?: unknown }).type)}: ${reason}`);
  return candidate as Message;
}

/** The byte-level part of decoding: lengths, tags, JSON. */
function decodeCandidate(body: Buffer): unknown {
  if (body.length === 0) return new DecodeError('empty frame');
  const tag = body[0];
  const restStart = 1 + 4;
  switch (tag) {
    case tagAck:
    case tagCommit: {
      if (body.length !== restStart + 8) return new DecodeError(`${tag === tagAck ? 'ACK' : 'COMMIT'}: length ${body.length}, expected ${restStart + 8}`);
      return { type: tag === tagAck ? 'ACK' : 'COMMIT', epoch: body.readUInt32BE(1), zxid: body.readDoubleBE(restStart) };
    }
    case tagProposal: {
      if (body.length < restStart) return new DecodeError('PROPOSAL: short header');
      const txn = readTxn(body, restStart);
      if (typeof txn === 'string') return new DecodeError(`PROPOSAL: ${txn}`);
      return { type: 'PROPOSAL', epoch: body.readUInt32BE(1), txn };
    }
    case tagRequest: {
      if (body.length < restStart + requestFixedBytes) return new DecodeError('REQUEST: short header');
      const sessionLength = body.readUInt16BE(restStart + 8);
      const sessionStart = restStart + requestFixedBytes;
      if (sessionStart + sessionLength > body.length) return new DecodeError('REQUEST: session length beyond the frame');
      return {
        type: 'REQUEST',
        epoch: body.readUInt32BE(1),
        seq: body.readDoubleBE(restStart),
        session: body.toString('utf8', sessionStart, sessionStart + sessionLength),
        data: copyBytes(body.subarray(sessionStart + sessionLength)),
      };
    }
    case tagJson: {
      if (body.length > maxControlMessageBytes) return new DecodeError('control message too large');
      const value = parseJson(body);
      if (value instanceof DecodeError) return value;
      if (binaryTypes.has(value['type'])) return new DecodeError(`${String(value['type'])} sent as JSON, not in its binary layout`);
      return value;
    }
    default:
      return new DecodeError(`unknown message tag 0x${(tag ?? 0).toString(16)}`);
  }
}

function parseJson(body: Buffer): Record<string, unknown> | DecodeError {
  try {
    const value: unknown = JSON.parse(body.toString('utf8', 1));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return new DecodeError('not a JSON object');
    return value as Record<string, unknown>;
  } catch {
    return new DecodeError('malformed JSON');
  }
}

/** A handshake's server ids (the handshake is not a Message, so validateMessage does not see it). */
function isServerId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}
