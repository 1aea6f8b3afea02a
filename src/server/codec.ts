/**
 * The peer wire codec. The hot path (PROPOSAL, ACK, COMMIT, REQUEST) is binary with fixed headers;
 * every other message is a small JSON object behind a one-byte tag. Decoding never throws: bad input
 * yields a DecodeError, and the transport closes the connection and logs it.
 *
 * Binary layouts (big-endian; zxids as float64, exact below 2^53):
 *   PROPOSAL  u8 tag | u32 epoch | f64 zxid | u32 originServer | f64 originSeq | u16 sessionLength | session | data...
 *   ACK       u8 tag | u32 epoch | f64 zxid
 *   COMMIT    u8 tag | u32 epoch | f64 zxid
 *   REQUEST   u8 tag | u32 epoch | f64 seq | u16 sessionLength | session | data...
 *   JSON      u8 tag | utf-8 JSON of the message
 *   HANDSHAKE u8 tag | utf-8 JSON {magic, version, clusterId, from, to}
 */
import { epochMax } from '../core/zxid.js';
import type { Message, ServerId, ServerState, Vote } from '../core/types.js';
import { maxControlMessageBytes, maxSessionIdBytes } from './limits.js';

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
const handshakeVersion = 1;

export interface Handshake {
  readonly clusterId: string;
  readonly from: ServerId;
  readonly to: ServerId;
}

// ---------------------------------------------------------------------------------------------
// Encode

/** Encodes `message` as a complete frame (length header included), ready to write. */
export function encodeMessageFrame(message: Message): Buffer {
  switch (message.type) {
    case 'ACK':
    case 'COMMIT': {
      const frame = Buffer.allocUnsafe(4 + 13);
      frame.writeUInt32BE(13, 0);
      frame[4] = message.type === 'ACK' ? tagAck : tagCommit;
      frame.writeUInt32BE(message.epoch, 5);
      frame.writeDoubleBE(message.zxid, 9);
      return frame;
    }
    case 'PROPOSAL': {
      const txn = message.txn;
      const sessionLength = Buffer.byteLength(txn.originSession);
      const bodyLength = 27 + sessionLength + txn.data.length;
      const frame = Buffer.allocUnsafe(4 + bodyLength);
      frame.writeUInt32BE(bodyLength, 0);
      frame[4] = tagProposal;
      frame.writeUInt32BE(message.epoch, 5);
      frame.writeDoubleBE(txn.zxid, 9);
      frame.writeUInt32BE(txn.originServer, 17);
      frame.writeDoubleBE(txn.originSeq, 21);
      frame.writeUInt16BE(sessionLength, 29);
      frame.write(txn.originSession, 31, 'utf8');
      frame.set(txn.data, 31 + sessionLength);
      return frame;
    }
    case 'REQUEST': {
      const sessionLength = Buffer.byteLength(message.session);
      const bodyLength = 15 + sessionLength + message.data.length;
      const frame = Buffer.allocUnsafe(4 + bodyLength);
      frame.writeUInt32BE(bodyLength, 0);
      frame[4] = tagRequest;
      frame.writeUInt32BE(message.epoch, 5);
      frame.writeDoubleBE(message.seq, 9);
      frame.writeUInt16BE(sessionLength, 17);
      frame.write(message.session, 19, 'utf8');
      frame.set(message.data, 19 + sessionLength);
      return frame;
    }
    default:
      return tagged(tagJson, JSON.stringify(message));
  }
}

export function encodeHandshakeFrame(handshake: Handshake): Buffer {
  return tagged(tagHandshake, JSON.stringify({ magic: handshakeMagic, version: handshakeVersion, ...handshake }));
}

function tagged(tag: number, json: string): Buffer {
  const length = 1 + Buffer.byteLength(json);
  const frame = Buffer.allocUnsafe(4 + length);
  frame.writeUInt32BE(length, 0);
  frame[4] = tag;
  frame.write(json, 5, 'utf8');
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

export function decodeMessage(body: Buffer): Message | DecodeError {
  if (body.length === 0) return new DecodeError('empty frame');
  const tag = body[0];
  switch (tag) {
    case tagAck:
    case tagCommit: {
      if (body.length !== 13) return new DecodeError(`${tag === tagAck ? 'ACK' : 'COMMIT'}: length ${body.length}, expected 13`);
      const epoch = body.readUInt32BE(1);
      const zxid = body.readDoubleBE(5);
      if (!isEpoch(epoch) || !isZxid(zxid)) return new DecodeError('ACK/COMMIT: bad epoch or zxid');
      return tag === tagAck ? { type: 'ACK', epoch, zxid } : { type: 'COMMIT', epoch, zxid };
    }
    case tagProposal: {
      if (body.length < 27) return new DecodeError('PROPOSAL: short header');
      const epoch = body.readUInt32BE(1);
      const zxid = body.readDoubleBE(5);
      const originServer = body.readUInt32BE(13);
      const originSeq = body.readDoubleBE(17);
      const sessionLength = body.readUInt16BE(25);
      if (sessionLength > maxSessionIdBytes || 27 + sessionLength > body.length) return new DecodeError('PROPOSAL: bad session length');
      if (!isEpoch(epoch) || !isZxid(zxid) || !isServerId(originServer) || !isSeq(originSeq)) return new DecodeError('PROPOSAL: bad header fields');
      const originSession = body.toString('utf8', 27, 27 + sessionLength);
      const data = new Uint8Array(body.subarray(27 + sessionLength));
      return { type: 'PROPOSAL', epoch, txn: { zxid, originServer, originSession, originSeq, data } };
    }
    case tagRequest: {
      if (body.length < 15) return new DecodeError('REQUEST: short header');
      const epoch = body.readUInt32BE(1);
      const seq = body.readDoubleBE(5);
      const sessionLength = body.readUInt16BE(13);
      if (sessionLength > maxSessionIdBytes || 15 + sessionLength > body.length) return new DecodeError('REQUEST: bad session length');
      if (!isEpoch(epoch) || !isSeq(seq)) return new DecodeError('REQUEST: bad header fields');
      const session = body.toString('utf8', 15, 15 + sessionLength);
      return { type: 'REQUEST', epoch, session, seq, data: new Uint8Array(body.subarray(15 + sessionLength)) };
    }
    case tagJson:
      if (body.length > maxControlMessageBytes) return new DecodeError('control message too large');
      return decodeControl(body);
    default:
      return new DecodeError(`unknown message tag 0x${(tag ?? 0).toString(16)}`);
  }
}

function decodeControl(body: Buffer): Message | DecodeError {
  const v = parseJson(body);
  if (v instanceof DecodeError) return v;
  const bad = (why: string): DecodeError => new DecodeError(`${String(v['type'])}: ${why}`);
  switch (v['type']) {
    case 'NOTIFICATION': {
      const vote = v['vote'] as Record<string, unknown> | null;
      if (typeof vote !== 'object' || vote === null) return bad('no vote');
      if (!isServerId(vote['leader']) || !isZxid(vote['zxid']) || !isEpoch(vote['peerEpoch'])) return bad('bad vote');
      if (!isCount(v['round']) || !isState(v['state'])) return bad('bad round or state');
      const parsed: Vote = { leader: vote['leader'], zxid: vote['zxid'], peerEpoch: vote['peerEpoch'] };
      return { type: 'NOTIFICATION', vote: parsed, round: v['round'], state: v['state'] };
    }
    case 'FOLLOWERINFO':
      if (!isEpoch(v['acceptedEpoch']) || !isZxid(v['lastZxid'])) return bad('bad fields');
      return { type: 'FOLLOWERINFO', acceptedEpoch: v['acceptedEpoch'], lastZxid: v['lastZxid'] };
    case 'LEADERINFO':
    case 'NEWLEADER':
    case 'PONG':
      if (!isEpoch(v['epoch'])) return bad('bad epoch');
      return { type: v['type'], epoch: v['epoch'] };
    case 'ACKEPOCH': {
      const currentEpoch = v['currentEpoch'];
      if (!isEpoch(v['epoch']) || !(currentEpoch === -1 || isEpoch(currentEpoch)) || !isZxid(v['lastZxid'])) return bad('bad fields');
      return { type: 'ACKEPOCH', epoch: v['epoch'], currentEpoch: currentEpoch as number, lastZxid: v['lastZxid'] };
    }
    case 'DIFF':
    case 'SNAP':
      if (!isEpoch(v['epoch']) || !isZxid(v['lastZxid'])) return bad('bad fields');
      return { type: v['type'], epoch: v['epoch'], lastZxid: v['lastZxid'] };
    case 'TRUNC':
      if (!isEpoch(v['epoch']) || !isZxid(v['truncZxid'])) return bad('bad fields');
      return { type: 'TRUNC', epoch: v['epoch'], truncZxid: v['truncZxid'] };
    case 'UPTODATE':
    case 'PING':
      if (!isEpoch(v['epoch']) || !isZxid(v['commitZxid'])) return bad('bad fields');
      return { type: v['type'], epoch: v['epoch'], commitZxid: v['commitZxid'] };
    default:
      return new DecodeError(`unknown control message type ${JSON.stringify(v['type'])}`);
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

function isServerId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}
function isEpoch(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= epochMax;
}
function isZxid(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
function isState(v: unknown): v is ServerState {
  return v === 'looking' || v === 'following' || v === 'leading';
}
