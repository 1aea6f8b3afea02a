/** The one Txn layout: a PROPOSAL frame and a log record carry the same bytes for the same Txn. */
import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';
import { encodeRecords, parseLog } from '../../../src/server/wal.js';
import { encodeMessageFrame } from '../../../src/wire/peer-codec.js';
import { readTxn, txnBytes, txnFixedBytes, writeTxn } from '../../../src/wire/txn-layout.js';

const txn: Txn = { zxid: makeZxid(3, 7), originServer: 2, originSession: 'sess-€.1', originSeq: 41, data: new Uint8Array([9, 8, 7, 6]) };

describe('txn layout', () => {
  it('round-trips a txn and reports its size', () => {
    const out = Buffer.alloc(txnBytes(txn));
    expect(writeTxn(out, 0, txn)).toBe(out.length);
    expect(readTxn(out, 0)).toEqual(txn);
  });

  it('is the body of a log record and the tail of a PROPOSAL frame, byte for byte', () => {
    const record = encodeRecords([txn]);
    const body = record.subarray(8);
    expect(record.readUInt32BE(0)).toBe(body.length);
    expect(record.readUInt32BE(4)).toBe(crc32(body));
    const proposal = encodeMessageFrame({ type: 'PROPOSAL', epoch: 3, txn });
    expect(proposal.subarray(4 + 1 + 4)).toEqual(body);
    expect(parseLog('txnlog', record).txns).toEqual([txn]);
  });

  it('names bytes that cannot hold a txn instead of throwing', () => {
    const out = Buffer.alloc(txnBytes(txn));
    writeTxn(out, 0, txn);
    expect(typeof readTxn(out.subarray(0, txnFixedBytes - 1), 0)).toBe('string');
    expect(readTxn(out.subarray(0, txnFixedBytes + 2), 0)).toBe('session length beyond the record');
  });
});
