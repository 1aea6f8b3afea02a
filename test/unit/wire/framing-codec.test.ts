import { describe, expect, it } from 'vitest';
import { decodeHandshake, decodeMessage, DecodeError, encodeHandshakeFrame, encodeMessageFrame } from '../../../src/wire/peer-codec.js';
import { encodeFrame, FrameDecoder, FrameError } from '../../../src/wire/framing.js';
import type { Message } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';

const body = (frame: Buffer): Buffer => frame.subarray(4);

describe('framing', () => {
  it('reassembles frames split at every byte boundary', () => {
    const frames = [encodeFrame(Buffer.from('a')), encodeFrame(Buffer.alloc(300, 7)), encodeFrame(Buffer.from('xyz'))];
    const stream = Buffer.concat(frames);
    for (let cut = 0; cut <= stream.length; cut++) {
      const decoder = new FrameDecoder(1024);
      const out = [...(decoder.push(stream.subarray(0, cut)) as Buffer[]).map((b) => Buffer.from(b))];
      out.push(...(decoder.push(stream.subarray(cut)) as Buffer[]).map((b) => Buffer.from(b)));
      expect(out.map((b) => b.length)).toEqual([1, 300, 3]);
      expect(decoder.pendingBytes).toBe(0);
    }
  });

  it('rejects an oversize length prefix before buffering the frame', () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    expect(decoder.push(header)).toBeInstanceOf(FrameError);
    // and stays failed
    expect(decoder.push(encodeFrame(Buffer.from('ok')))).toBeInstanceOf(FrameError);
  });

  it('reports a half frame as pending bytes', () => {
    const decoder = new FrameDecoder(1024);
    const frame = encodeFrame(Buffer.alloc(100));
    expect(decoder.push(frame.subarray(0, 50))).toEqual([]);
    expect(decoder.pendingBytes).toBe(50);
  });
});

describe('peer codec', () => {
  const messages: Message[] = [
    { type: 'NOTIFICATION', vote: { leader: 2, zxid: makeZxid(3, 9), peerEpoch: 3 }, round: 4, state: 'looking' },
    { type: 'FOLLOWERINFO', acceptedEpoch: 2, lastZxid: makeZxid(2, 5) },
    { type: 'LEADERINFO', epoch: 3 },
    { type: 'ACKEPOCH', epoch: 3, currentEpoch: -1, lastZxid: 0, epochEnds: [0] },
    { type: 'ACKEPOCH', epoch: 3, currentEpoch: 2, lastZxid: makeZxid(2, 5), epochEnds: [makeZxid(2, 5), makeZxid(1, 9)] },
    { type: 'DIFF', epoch: 3, lastZxid: makeZxid(2, 5) },
    { type: 'TRUNC', epoch: 3, truncZxid: makeZxid(2, 4) },
    { type: 'SNAP', epoch: 3, lastZxid: makeZxid(2, 5) },
    { type: 'NEWLEADER', epoch: 3 },
    { type: 'UPTODATE', epoch: 3, commitZxid: makeZxid(3, 0) },
    { type: 'PROPOSAL', epoch: 3, txn: { zxid: makeZxid(3, 1), originServer: 2, originSession: 'abc.1', originSeq: 17, data: new Uint8Array([1, 2, 3]) } },
    { type: 'ACK', epoch: 3, zxid: makeZxid(3, 1) },
    { type: 'COMMIT', epoch: 3, zxid: makeZxid(0x1f_ffff, 0xffff_ffff) },
    { type: 'PING', epoch: 3, commitZxid: makeZxid(3, 1) },
    { type: 'PONG', epoch: 3 },
    { type: 'REQUEST', epoch: 3, session: 's', seq: 5, data: new Uint8Array(256).fill(9) },
  ];

  it('round-trips every message type', () => {
    for (const message of messages) expect(decodeMessage(body(encodeMessageFrame(message)))).toEqual(message);
  });

  it('turns garbage into a DecodeError, never an exception', () => {
    const garbage = [Buffer.from([0x55, 1, 2]), Buffer.from([0x01, 0x7b]), Buffer.from('\x01{"type":"NOPE"}'), Buffer.from('\x01{"type":"ACKEPOCH","epoch":-3}'),
      Buffer.from([0x11, 0, 0]), Buffer.from([0x10, 0, 0, 0, 1]), Buffer.alloc(0)];
    for (let i = 0; i < 2000; i++) garbage.push(Buffer.from(Array.from({ length: 1 + (i % 40) }, (_, j) => (i * 31 + j * 17) & 0xff)));
    for (const bytes of garbage) {
      const result = decodeMessage(bytes);
      if (!(result instanceof DecodeError)) expect(typeof result.type).toBe('string');
    }
    expect(decodeMessage(Buffer.from([0x55]))).toBeInstanceOf(DecodeError);
  });

  it('applies the one message validator to what it decodes', () => {
    const frame = (message: unknown): Buffer => body(encodeMessageFrame(message as Message));
    // u32 server ids, non-negative seqs, sessions measured in UTF-8 bytes, rounds bounded: the rules of validateMessage.
    expect(decodeMessage(frame({ type: 'NOTIFICATION', vote: { leader: 2 ** 32, zxid: 0, peerEpoch: 0 }, round: 1, state: 'looking' }))).toBeInstanceOf(DecodeError);
    expect(decodeMessage(frame({ type: 'NOTIFICATION', vote: { leader: 1, zxid: 0, peerEpoch: 0 }, round: 2 ** 41, state: 'looking' }))).toBeInstanceOf(DecodeError);
    expect(decodeMessage(frame({ type: 'PROPOSAL', epoch: 1, txn: { zxid: 1, originServer: 1, originSession: 's', originSeq: -1, data: new Uint8Array(1) } }))).toBeInstanceOf(DecodeError);
    const wideSession = '€'.repeat(100); // 100 characters, 300 bytes
    expect(decodeMessage(frame({ type: 'REQUEST', epoch: 1, session: wideSession, seq: 1, data: new Uint8Array(1) }))).toBeInstanceOf(DecodeError);
    expect(decodeMessage(frame({ type: 'PROPOSAL', epoch: 1, txn: { zxid: 1, originServer: 1, originSession: wideSession, originSeq: 1, data: new Uint8Array(1) } }))).toBeInstanceOf(DecodeError);
    expect(decodeMessage(frame({ type: 'REQUEST', epoch: 1, session: '€'.repeat(85), seq: 1, data: new Uint8Array(1) }))).not.toBeInstanceOf(DecodeError);
    // ACKEPOCH's epochEnds: from lastZxid down, one per epoch, at most maxEpochEnds, then an optional 0.
    const ackEpoch = (lastZxid: number, epochEnds: unknown): unknown => decodeMessage(frame({ type: 'ACKEPOCH', epoch: 4, currentEpoch: 3, lastZxid, epochEnds }));
    expect(ackEpoch(makeZxid(3, 2), [makeZxid(3, 2), makeZxid(1, 7), 0])).not.toBeInstanceOf(DecodeError);
    expect(ackEpoch(makeZxid(3, 2), [])).not.toBeInstanceOf(DecodeError);
    expect(ackEpoch(makeZxid(3, 2), [makeZxid(3, 1)])).toBeInstanceOf(DecodeError); // not lastZxid
    expect(ackEpoch(makeZxid(3, 2), [makeZxid(3, 2), makeZxid(3, 1)])).toBeInstanceOf(DecodeError); // one epoch twice
    expect(ackEpoch(makeZxid(3, 2), [makeZxid(3, 2), makeZxid(2, 0)])).toBeInstanceOf(DecodeError); // counter 0
    expect(ackEpoch(makeZxid(3, 2), [makeZxid(3, 2), 0, 0])).toBeInstanceOf(DecodeError);
    expect(ackEpoch(0, [makeZxid(3, 2)])).toBeInstanceOf(DecodeError);
    expect(ackEpoch(makeZxid(70, 1), Array.from({ length: 65 }, (_, i) => makeZxid(70 - i, 1)))).toBeInstanceOf(DecodeError); // beyond maxEpochEnds
    expect(ackEpoch(makeZxid(70, 1), Array.from({ length: 64 }, (_, i) => makeZxid(70 - i, 1)))).not.toBeInstanceOf(DecodeError);
    expect(ackEpoch(makeZxid(3, 2), undefined)).toBeInstanceOf(DecodeError);
    // A binary type in a JSON frame is not its encoding.
    expect(decodeMessage(Buffer.from('\x01{"type":"ACK","epoch":1,"zxid":1}'))).toBeInstanceOf(DecodeError);
  });

  it('carries cluster id, sender and intended receiver in the handshake', () => {
    const handshake = { clusterId: 'c-1', from: 1, to: 2 };
    expect(decodeHandshake(body(encodeHandshakeFrame(handshake)))).toEqual(handshake);
    expect(decodeHandshake(body(encodeMessageFrame({ type: 'PONG', epoch: 1 })))).toBeInstanceOf(DecodeError);
  });
});
