/**
 * The durable state of one server: an append-only transaction log and the two epoch files.
 *
 * Log records: u32 bodyLength | u32 crc32(body) | body, where body is the Txn in the one layout
 * it also has in a PROPOSAL frame (src/wire/txn-layout.ts):
 *   f64 zxid | u32 originServer | f64 originSeq | u16 sessionLength | session | data...
 * Zxids strictly increase from record to record: `append` asserts it, recovery checks it.
 *
 * Group commit: `append` only encodes into user-space buffers; bytes reach the OS in `sync` (one
 * writev, then fdatasync), once per Ready batch. A kill -9 therefore loses exactly what a power cut
 * would: everything not yet synced.
 *
 * Recovery: a record cut short at the end of the file (or whose CRC fails and that ends exactly at
 * the end of the file, or a zero-filled tail) is a torn write: it is cut off and reported. Any other
 * bad record is corruption: recovery stops with a WalCorruptionError naming the file and offset.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { assert } from '../core/assert.js';
import { maxPayloadBytes, maxSessionLength } from '../core/limits.js';
import type { Txn } from '../core/types.js';
import { zxidToHex, type Zxid } from '../core/zxid.js';
import { readTxn, txnBytes, txnFixedBytes, writeTxn } from '../wire/txn-layout.js';

export const txnLogFileName = 'txnlog';
export const acceptedEpochFileName = 'acceptedEpoch';
export const currentEpochFileName = 'currentEpoch';

const recordHeaderBytes = 8;
/** Largest body a valid record can have; anything larger is corruption, not a torn write. */
const maxRecordBodyBytes = txnFixedBytes + maxSessionLength + maxPayloadBytes;

export class WalCorruptionError extends Error {
  override name = 'WalCorruptionError';
  constructor(readonly file: string, readonly offset: number, reason: string) {
    super(`corrupt transaction log ${file} at byte offset ${offset}: ${reason}`);
  }
}

/** An I/O failure on the durable state (fsync failed, disk full): the server must stop acknowledging. */
export class StorageError extends Error {
  override name = 'StorageError';
}

export interface TornTail {
  readonly offset: number;
  readonly bytes: number;
}

export interface RecoveredLog {
  readonly txns: Txn[];
  /** Set when a torn last record was cut off. */
  readonly tornTail: TornTail | undefined;
}

/** Parses a whole log image. Pure; exported for tests. */
export function parseLog(file: string, data: Buffer): { txns: Txn[]; offsets: number[]; validBytes: number; tornTail: TornTail | undefined } {
  const txns: Txn[] = [];
  const offsets: number[] = [];
  let offset = 0;
  let lastZxid = -1;
  const torn = (): TornTail => ({ offset, bytes: data.length - offset });
  while (offset < data.length) {
    const remaining = data.length - offset;
    if (remaining < recordHeaderBytes) return { txns, offsets, validBytes: offset, tornTail: torn() };
    const bodyLength = data.readUInt32BE(offset);
    const crc = data.readUInt32BE(offset + 4);
    if (bodyLength === 0 && isAllZero(data, offset)) return { txns, offsets, validBytes: offset, tornTail: torn() };
    if (bodyLength < txnFixedBytes || bodyLength > maxRecordBodyBytes) {
      throw new WalCorruptionError(file, offset, `record length ${bodyLength} is outside ${txnFixedBytes}..${maxRecordBodyBytes}`);
    }
    const end = offset + recordHeaderBytes + bodyLength;
    if (end > data.length) return { txns, offsets, validBytes: offset, tornTail: torn() };
    const body = data.subarray(offset + recordHeaderBytes, end);
    if (crc32(body) !== crc) {
      if (end === data.length) return { txns, offsets, validBytes: offset, tornTail: torn() };
      throw new WalCorruptionError(file, offset, 'CRC mismatch');
    }
    const txn = readTxn(body, 0);
    if (typeof txn === 'string') throw new WalCorruptionError(file, offset, txn);
    if (!Number.isSafeInteger(txn.zxid) || txn.zxid <= lastZxid) {
      throw new WalCorruptionError(file, offset, `zxid ${txn.zxid} does not follow ${lastZxid}`);
    }
    lastZxid = txn.zxid;
    txns.push(txn);
    offsets.push(offset);
    offset = end;
  }
  return { txns, offsets, validBytes: offset, tornTail: undefined };
}

function isAllZero(data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

/**
 * Encodes records for `txns` into one buffer. Exported for tests. `after` is the zxid the first
 * record follows (0: none); every zxid must be above the one before it, as recovery demands.
 */
export function encodeRecords(txns: readonly Txn[], after: Zxid = 0): Buffer {
  let total = 0;
  for (const txn of txns) total += recordHeaderBytes + txnBytes(txn);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  let lastZxid = after;
  for (const txn of txns) {
    // (the message is built only on failure: this runs for every appended txn)
    if (!(Number.isSafeInteger(txn.zxid) && txn.zxid > lastZxid)) assert(false, `log append of zxid ${zxidToHex(txn.zxid)} after ${zxidToHex(lastZxid)}: zxids must increase`);
    lastZxid = txn.zxid;
    const bodyStart = offset + recordHeaderBytes;
    const end = writeTxn(out, bodyStart, txn);
    out.writeUInt32BE(end - bodyStart, offset);
    out.writeUInt32BE(crc32(out.subarray(bodyStart, end)), offset + 4);
    offset = end;
  }
  return out;
}

/**
 * The open transaction log. Every file operation runs on one internal queue, so a deferred flush
 * (planted bug ack-before-fsync) never interleaves with the pump's truncate/sync.
 */
export class TxnLog {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writtenBytes: number;
  /** zxid and file offset of every record, in order (pending ones included). */
  private readonly zxids: number[];
  private readonly offsets: number[];
  private queue: Promise<unknown> = Promise.resolve();
  private dirty = false;
  private closed = false;

  private constructor(readonly file: string, private fd: number, recovered: { txns: Txn[]; offsets: number[]; validBytes: number }) {
    this.writtenBytes = recovered.validBytes;
    this.zxids = recovered.txns.map((txn) => txn.zxid);
    this.offsets = recovered.offsets;
  }

  /** Opens (creating if needed) and recovers `dir/txnlog`: a torn tail is cut off, and what remains is fsynced. */
  static async open(dir: string): Promise<{ log: TxnLog; recovered: RecoveredLog }> {
    await fsp.mkdir(dir, { recursive: true });
    const file = path.join(dir, txnLogFileName);
    // A rewrite that crashed before its rename leaves the old log intact and this file behind.
    await fsp.rm(`${file}.new`, { force: true });
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const data = await fsp.readFile(file);
      const parsed = parseLog(file, data);
      if (parsed.tornTail) fs.ftruncateSync(fd, parsed.validBytes);
      // What was read may only be in the page cache (a kill -9 between the write and its
      // fdatasync): make it durable before the server acts on it (votes, ACKEPOCH, leads), or a
      // power cut later could take back a promise made from it. The folder too, so the epoch
      // files' renames are durable (their contents were fsynced before the rename).
      fs.fsyncSync(fd);
      await fsyncDirectory(dir);
      return { log: new TxnLog(file, fd, parsed), recovered: { txns: parsed.txns, tornTail: parsed.tornTail } };
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  get lastZxid(): Zxid {
    return this.zxids.length === 0 ? 0 : (this.zxids[this.zxids.length - 1] as number);
  }

  get length(): number {
    return this.zxids.length;
  }

  /** Encodes `txns` into user-space buffers; nothing reaches the OS until `sync`. */
  append(txns: readonly Txn[]): void {
    if (txns.length === 0) return;
    const records = encodeRecords(txns, this.lastZxid);
    let offset = this.writtenBytes + this.pendingBytes;
    let recordStart = 0;
    for (const txn of txns) {
      this.zxids.push(txn.zxid);
      this.offsets.push(offset);
      const length = recordHeaderBytes + records.readUInt32BE(recordStart);
      offset += length;
      recordStart += length;
    }
    this.pending.push(records);
    this.pendingBytes += records.length;
    this.dirty = true;
  }

  /** Removes every record with zxid > `zxid` (0 removes all). Returns how many were removed. */
  truncateAfter(zxid: Zxid): Promise<number> {
    return this.enqueue(async () => {
      let index = this.zxids.length;
      while (index > 0 && (this.zxids[index - 1] as number) > zxid) index--;
      const removed = this.zxids.length - index;
      if (removed === 0) return 0;
      const newSize = this.offsets[index] as number;
      await this.writePending();
      await new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, newSize, (e) => (e ? reject(storageError('truncate', this.file, e)) : resolve())));
      this.writtenBytes = newSize;
      this.zxids.length = index;
      this.offsets.length = index;
      this.dirty = true;
      return removed;
    });
  }

  /**
   * Crash-atomic truncate + append (SNAP: truncateAfter 0 and the whole new log; TRUNC with entries):
   * the kept prefix and `txns` go to a new file that is fsynced and renamed over the log, so a crash
   * leaves either the old log or the new one, never the bare prefix. Returns how many were removed.
   */
  replaceAfter(zxid: Zxid, txns: readonly Txn[]): Promise<number> {
    return this.enqueue(async () => {
      let index = this.zxids.length;
      while (index > 0 && (this.zxids[index - 1] as number) > zxid) index--;
      const removed = this.zxids.length - index;
      const records = encodeRecords(txns, index > 0 ? (this.zxids[index - 1] as number) : 0);
      await this.writePending();
      const keepBytes = index < this.offsets.length ? (this.offsets[index] as number) : this.writtenBytes;
      const temp = `${this.file}.new`;
      const dir = path.dirname(this.file);
      try {
        if (keepBytes > 0) await fsp.copyFile(this.file, temp);
        const fd = fs.openSync(temp, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
        try {
          fs.ftruncateSync(fd, keepBytes);
          let written = 0;
          while (written < records.length) written += fs.writeSync(fd, records, written, records.length - written, keepBytes + written);
          await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
        } catch (error) {
          fs.closeSync(fd);
          throw error;
        }
        await fsp.rename(temp, this.file);
        await fsyncDirectory(dir);
        fs.closeSync(this.fd);
        this.fd = fd;
      } catch (error) {
        throw storageError('rewrite', this.file, error as Error);
      }
      this.zxids.length = index;
      this.offsets.length = index;
      let offset = keepBytes;
      let recordStart = 0;
      for (const txn of txns) {
        const length = recordHeaderBytes + records.readUInt32BE(recordStart);
        this.zxids.push(txn.zxid);
        this.offsets.push(offset);
        offset += length;
        recordStart += length;
      }
      this.writtenBytes = offset;
      return removed;
    });
  }

  /** Whether any record with zxid > `zxid` has already been written to the file. */
  removesWritten(zxid: Zxid): boolean {
    let index = this.zxids.length;
    while (index > 0 && (this.zxids[index - 1] as number) > zxid) index--;
    return index < this.zxids.length && (this.offsets[index] as number) < this.writtenBytes;
  }

  /** Writes the pending bytes and fdatasyncs, if anything changed since the last sync. */
  sync(): Promise<void> {
    return this.enqueue(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      await this.writePending();
      await new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (e) => (e ? reject(storageError('fdatasync', this.file, e)) : resolve())));
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private async writePending(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buffers = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    let position = this.writtenBytes;
    let written = 0;
    let chunk: Buffer[] = buffers;
    while (written < bytes) {
      const n = await new Promise<number>((resolve, reject) =>
        fs.writev(this.fd, chunk, position, (e, count) => (e ? reject(storageError('write', this.file, e)) : resolve(count))),
      );
      written += n;
      position += n;
      if (written < bytes) chunk = [Buffer.concat(buffers).subarray(written)];
    }
    this.writtenBytes = position;
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(op);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function storageError(op: string, file: string, cause: Error): StorageError {
  return new StorageError(`${op} of ${file} failed: ${cause.message}`, { cause });
}

// ---------------------------------------------------------------------------------------------
// Epoch files

/** Reads an epoch file; a missing file is epoch 0. A malformed one is an error naming the file. */
export async function readEpochFile(dir: string, name: string): Promise<number> {
  const file = path.join(dir, name);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
  const value = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) throw new Error(`epoch file ${file} does not hold an epoch: ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

/** Replaces an epoch file atomically: temp file, fsync, rename, fsync the folder. */
export async function writeEpochFile(dir: string, name: string, epoch: number): Promise<void> {
  const file = path.join(dir, name);
  const temp = `${file}.tmp`;
  try {
    const handle = await fsp.open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${epoch}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsp.rename(temp, file);
    await fsyncDirectory(dir);
  } catch (error) {
    throw new StorageError(`writing ${file} failed: ${(error as Error).message}`, { cause: error });
  }
}

export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await fsp.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
