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
 * Sync markers: each sync ends its batch with a marker record, u32 0xFFFFFFFF | u32 crc32(marker) |
 * u32 batchBytes | u32 crc32(batch), where the batch is every byte since the previous marker (or
 * the start of the file). Syncs run one at a time (one queue), so at most one batch is ever not yet
 * durable: the last one.
 *
 * Recovery tells a torn tail from corruption of what was synced by what follows the first bad
 * record (cut short, zero-filled, a CRC or zxid that fails): if any later marker verifies, a whole
 * batch was synced after the bad one, so the bad one was synced too and is corrupt (a
 * WalCorruptionError naming the file and offset; the server refuses to start). If none does, the
 * bad record lies in the last batch, whose fdatasync never returned: a power cut lost, tore or
 * reordered its pages (tools/faultfs does all three), nothing it held was acknowledged, and it is
 * cut off and reported. A corruption inside the last synced batch looks the same as a torn one and
 * is cut the same way; it needs a later batch to be told apart.
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
/** A sync marker: tag | crc32(the 8 bytes after it) | batchBytes | crc32(batch). */
const markerTag = 0xffff_ffff;
const markerBytes = 16;
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
export function parseLog(file: string, data: Buffer): { txns: Txn[]; offsets: number[]; validBytes: number; tornTail: TornTail | undefined; markerEnds: number[] } {
  const txns: Txn[] = [];
  const offsets: number[] = [];
  const markerEnds: number[] = [];
  let offset = 0;
  let lastZxid = -1;
  // The first bad record: torn when no later batch verifies, corruption when one does.
  const bad = (reason: string): { txns: Txn[]; offsets: number[]; validBytes: number; tornTail: TornTail; markerEnds: number[] } => {
    const later = verifiedMarkerAfter(data, offset);
    if (later !== undefined) throw new WalCorruptionError(file, offset, `${reason}, and the synced batch ending at byte ${later} follows it`);
    return { txns, offsets, validBytes: offset, tornTail: { offset, bytes: data.length - offset }, markerEnds };
  };
  while (offset < data.length) {
    const remaining = data.length - offset;
    if (remaining < recordHeaderBytes) return bad('a record header cut short');
    const bodyLength = data.readUInt32BE(offset);
    if (bodyLength === markerTag) {
      const batchStart = markerEnds.length === 0 ? 0 : (markerEnds[markerEnds.length - 1] as number);
      if (!markerVerifies(data, offset, batchStart)) return bad('a sync marker that does not verify');
      offset += markerBytes;
      markerEnds.push(offset);
      continue;
    }
    const crc = data.readUInt32BE(offset + 4);
    if (bodyLength === 0 && isAllZero(data, offset)) return bad('a zero-filled tail');
    if (bodyLength < txnFixedBytes || bodyLength > maxRecordBodyBytes) return bad(`record length ${bodyLength} is outside ${txnFixedBytes}..${maxRecordBodyBytes}`);
    const end = offset + recordHeaderBytes + bodyLength;
    if (end > data.length) return bad('a record cut short');
    const body = data.subarray(offset + recordHeaderBytes, end);
    if (crc32(body) !== crc) return bad('CRC mismatch');
    const txn = readTxn(body, 0);
    if (typeof txn === 'string') return bad(txn);
    if (!Number.isSafeInteger(txn.zxid) || txn.zxid <= lastZxid) return bad(`zxid ${txn.zxid} does not follow ${lastZxid}`);
    lastZxid = txn.zxid;
    txns.push(txn);
    offsets.push(offset);
    offset = end;
  }
  return { txns, offsets, validBytes: offset, tornTail: undefined, markerEnds };
}

/** Does the marker at `offset` verify: its own CRC, and its batch (from `batchStart`) as written? */
function markerVerifies(data: Buffer, offset: number, batchStart: number | undefined): boolean {
  if (offset + markerBytes > data.length) return false;
  if (crc32(data.subarray(offset + 8, offset + markerBytes)) !== data.readUInt32BE(offset + 4)) return false;
  const batchBytes = data.readUInt32BE(offset + 8);
  const start = offset - batchBytes;
  if (start < 0 || (batchStart !== undefined && start !== batchStart)) return false;
  return crc32(data.subarray(start, offset)) === data.readUInt32BE(offset + 12);
}

/**
 * The end of the first marker after `from` whose batch verifies (wherever its batch starts), or
 * undefined. A batch that covers `from` and verifies would vouch for it too: `from` is then bad for
 * what it says (a zxid out of order), not for torn bytes, and that is corruption all the same.
 */
function verifiedMarkerAfter(data: Buffer, from: number): number | undefined {
  const tag = Buffer.from([0xff, 0xff, 0xff, 0xff]);
  for (let at = data.indexOf(tag, from + 1); at !== -1; at = data.indexOf(tag, at + 1)) {
    if (markerVerifies(data, at, undefined)) return at + markerBytes;
  }
  return undefined;
}

/** A sync marker for a batch whose bytes have CRC `batchCrc`. */
function encodeMarker(batchBytes: number, batchCrc: number): Buffer {
  const marker = Buffer.alloc(markerBytes);
  marker.writeUInt32BE(markerTag, 0);
  marker.writeUInt32BE(batchBytes, 8);
  marker.writeUInt32BE(batchCrc >>> 0, 12);
  marker.writeUInt32BE(crc32(marker.subarray(8, markerBytes)), 4);
  return marker;
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
  /** Where each sync marker in the file ends; the batch the next marker closes begins at the last. */
  private readonly markerEnds: number[];
  /** crc32 of the bytes since the last marker (written and pending). */
  private batchCrc: number;

  private constructor(readonly file: string, private fd: number, recovered: { txns: Txn[]; offsets: number[]; validBytes: number; markerEnds: number[] }, batchCrc: number) {
    this.writtenBytes = recovered.validBytes;
    this.zxids = recovered.txns.map((txn) => txn.zxid);
    this.offsets = recovered.offsets;
    this.markerEnds = recovered.markerEnds;
    this.batchCrc = batchCrc;
  }

  private get batchStart(): number {
    return this.markerEnds.length === 0 ? 0 : (this.markerEnds[this.markerEnds.length - 1] as number);
  }

  /** crc32 of the file's bytes [from, to) (after a truncate or for a rewrite: the open batch, read back). */
  private crcOfFile(from: number, to: number): number {
    const bytes = Buffer.alloc(Math.max(0, to - from));
    let read = 0;
    while (read < bytes.length) {
      const n = fs.readSync(this.fd, bytes, read, bytes.length - read, from + read);
      if (n === 0) break;
      read += n;
    }
    return crc32(bytes.subarray(0, read));
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
      const batchStart = parsed.markerEnds.length === 0 ? 0 : (parsed.markerEnds[parsed.markerEnds.length - 1] as number);
      return { log: new TxnLog(file, fd, parsed, crc32(data.subarray(batchStart, parsed.validBytes))), recovered: { txns: parsed.txns, tornTail: parsed.tornTail } };
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
    this.batchCrc = crc32(records, this.batchCrc);
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
      while (this.markerEnds.length > 0 && (this.markerEnds[this.markerEnds.length - 1] as number) > newSize) this.markerEnds.pop();
      this.batchCrc = this.crcOfFile(this.batchStart, newSize);
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
      const encoded = encodeRecords(txns, index > 0 ? (this.zxids[index - 1] as number) : 0);
      await this.writePending();
      const keepBytes = index < this.offsets.length ? (this.offsets[index] as number) : this.writtenBytes;
      // The new file ends with a marker over everything since the last marker it keeps.
      const markersKept = this.markerEnds.filter((end) => end <= keepBytes);
      const batchStart = markersKept.length === 0 ? 0 : (markersKept[markersKept.length - 1] as number);
      const batchCrc = crc32(encoded, this.crcOfFile(batchStart, keepBytes));
      const records = Buffer.concat([encoded, encodeMarker(keepBytes + encoded.length - batchStart, batchCrc)]);
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
        const length = recordHeaderBytes + encoded.readUInt32BE(recordStart);
        this.zxids.push(txn.zxid);
        this.offsets.push(offset);
        offset += length;
        recordStart += length;
      }
      this.writtenBytes = offset + markerBytes;
      this.markerEnds.length = 0;
      this.markerEnds.push(...markersKept, this.writtenBytes);
      this.batchCrc = 0;
      return removed;
    });
  }

  /** Whether any record with zxid > `zxid` has already been written to the file. */
  removesWritten(zxid: Zxid): boolean {
    let index = this.zxids.length;
    while (index > 0 && (this.zxids[index - 1] as number) > zxid) index--;
    return index < this.zxids.length && (this.offsets[index] as number) < this.writtenBytes;
  }

  /**
   * Hands the pending bytes to the OS without an fdatasync (planted bug ack-before-fsync only): a
   * kill -9 then loses nothing, a power cut loses them. The next sync fdatasyncs them with its marker.
   */
  flush(): Promise<void> {
    return this.enqueue(() => this.writePending());
  }

  /** Writes the pending bytes and fdatasyncs, if anything changed since the last sync. */
  sync(): Promise<void> {
    return this.enqueue(async () => {
      if (!this.dirty) return;
      this.dirty = false;
      // The batch's marker goes out with it: durable together, or (power cut) not vouched for.
      const end = this.writtenBytes + this.pendingBytes;
      if (end > this.batchStart) {
        this.pending.push(encodeMarker(end - this.batchStart, this.batchCrc));
        this.pendingBytes += markerBytes;
        this.markerEnds.push(end + markerBytes);
        this.batchCrc = 0;
      }
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
