/**
 * The one binary layout of a Txn, shared by the PROPOSAL frame of the peer codec (after its tag and
 * epoch) and the body of a transaction-log record (src/server/wal.ts, behind its length and CRC):
 *
 *   f64 zxid | u32 originServer | f64 originSeq | u16 sessionLength | session (utf-8) | data...
 *
 * Big-endian; zxids and seqs as float64, exact below 2^53. The data runs to the end of the
 * enclosing frame or record, so the layout carries no data length of its own. This is the format
 * of the txnlog on disk: changing it makes existing data directories unreadable.
 */
import type { Txn } from '../core/types.js';
import { copyBytes } from './framing.js';

/** zxid, originServer, originSeq and sessionLength: the bytes before the session. */
export const txnFixedBytes = 22;

/** Bytes `txn` takes in this layout. */
export function txnBytes(txn: Txn): number {
  return txnFixedBytes + Buffer.byteLength(txn.originSession) + txn.data.length;
}

/** Writes `txn` into `out` at `offset` (which must have txnBytes(txn) bytes free); returns the end offset. */
export function writeTxn(out: Buffer, offset: number, txn: Txn): number {
  out.writeDoubleBE(txn.zxid, offset);
  out.writeUInt32BE(txn.originServer, offset + 8);
  out.writeDoubleBE(txn.originSeq, offset + 12);
  const sessionLength = out.write(txn.originSession, offset + txnFixedBytes, 'utf8');
  out.writeUInt16BE(sessionLength, offset + 20);
  out.set(txn.data, offset + txnFixedBytes + sessionLength);
  return offset + txnFixedBytes + sessionLength + txn.data.length;
}

/**
 * Reads the Txn that fills `bytes` from `offset` to the end. Only the byte structure is checked (the
 * session must fit); whether the fields make sense is the reader's rule (the message validator for
 * a PROPOSAL, the zxid order for the log). Returns the reason when the bytes cannot hold a Txn.
 * The data is copied, so the Txn does not pin the frame or the log image.
 */
export function readTxn(bytes: Buffer, offset: number): Txn | string {
  if (bytes.length - offset < txnFixedBytes) return `${bytes.length - offset} bytes, shorter than a txn header (${txnFixedBytes})`;
  const sessionLength = bytes.readUInt16BE(offset + 20);
  const sessionStart = offset + txnFixedBytes;
  if (sessionStart + sessionLength > bytes.length) return 'session length beyond the record';
  return {
    zxid: bytes.readDoubleBE(offset),
    originServer: bytes.readUInt32BE(offset + 8),
    originSeq: bytes.readDoubleBE(offset + 12),
    originSession: bytes.toString('utf8', sessionStart, sessionStart + sessionLength),
    data: copyBytes(bytes.subarray(sessionStart + sessionLength)),
  };
}
