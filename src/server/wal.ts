/**
 * The durable state of one server: an append-only transaction log and the two epoch files.
 *
 * Log records: u32 bodyLength | u32 crc32(body) | body, where body is the Txn in the one layout
 * it also has in a PROPOSAL frame (src/wire/txn-layout.ts):
 *   f64 zxid | u32 originServer | f64 originSeq | u16 sessionLength | session | data...
 * Zxids strictly increase from record to record: `append` asserts it, recovery checks it.
 *
 * Segments: the log is a run of files, `txnlog`, `txnlog.2`, `txnlog.3`, ... Once the active (last)
 * one holds segmentBytes, the sync that ends a batch seals it (its records are all durable) and
 * creates the next; from the first roll on, a manifest (`txnlog.segments`: each sealed segment's
 * name, first and last zxid, record count and size, then the active segment's name, with a CRC32)
 * lists them, replaced atomically (temp, fsync, rename, fsync the folder). Files it does not list are
 * leftovers of a roll or rewrite that crashed before its manifest and are removed on open. Only the
 * active segment can have a torn tail; sealed ones are read through `read` (a sparse index of each
 * is built by its first read, checked against the manifest), and any bad record in them is corruption.
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
 *
 * Preallocation: a sync that writes past the active segment's end first extends it with
 * `walPreallocateBytes` of zeros, so the next syncs overwrite space the file already has. Zeros to
 * the end of the file right after a synced batch (or at the start of the file) are that space, the
 * log's clean end, not a torn tail (a last batch lost whole to a power cut looks the same, and
 * nothing of it was acknowledged). A segment is cut back to its records, durably, before the
 * manifest seals it.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { crc32 } from 'node:zlib';
import { assert, AssertionError } from '../core/assert.js';
import { maxPayloadBytes, maxSessionLength } from '../core/limits.js';
import type { Txn } from '../core/types.js';
import { zxidToHex, type Zxid } from '../core/zxid.js';
import { readTxn, txnBytes, txnFixedBytes, writeTxn } from '../wire/txn-layout.js';
import { defaultSegmentBytes, minSegmentBytes, sparseIndexStride, walPreallocateBytes, walReadChunkBytes, walSyncWriteBytes } from './limits.js';

/** The first segment of the log (and the whole log until it reaches segmentBytes); later ones are txnlog.2, txnlog.3, ... */
export const txnLogFileName = 'txnlog';
/** Lists the segments in order once there is more than one (or a rewrite replaced the first). */
export const segmentManifestFileName = 'txnlog.segments';
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
  /** Set when a torn last record was cut off. */
  readonly tornTail: TornTail | undefined;
}

/** What a log image holds: its records' zxids and offsets (and the records, when asked), where its markers end. */
export interface ParsedLog {
  readonly txns: Txn[];
  readonly zxids: number[];
  readonly offsets: number[];
  readonly validBytes: number;
  readonly tornTail: TornTail | undefined;
  readonly markerEnds: number[];
  /** Zeros after the last synced batch to the end of the image: preallocated space, not a torn tail. */
  readonly preallocatedBytes: number;
}

/**
 * Where the batch that starts at `start` ends (its marker's offset), when its marker verifies over
 * it: then every record in it is as written, and their own CRCs need no second look.
 */
function verifiedBatchEnd(data: Buffer, start: number): number | undefined {
  let at = start;
  while (at + recordHeaderBytes <= data.length) {
    const length = data.readUInt32BE(at);
    if (length === markerTag) return markerVerifies(data, at, start) ? at : undefined;
    if (length < txnFixedBytes || length > maxRecordBodyBytes) return undefined;
    at += recordHeaderBytes + length;
  }
  return undefined;
}

/**
 * Parses a whole log image (`withTxns`: the records too, not only their zxids). Pure; exported for
 * tests. A batch whose marker verifies is taken as written (one CRC over it); in any other, each
 * record's own CRC is checked.
 */
export function parseLog(file: string, data: Buffer, withTxns = true): ParsedLog {
  const txns: Txn[] = [];
  const zxids: number[] = [];
  const offsets: number[] = [];
  const markerEnds: number[] = [];
  let offset = 0;
  let lastZxid = -1;
  /** The marker offset of the verified batch being read, or -1. */
  let trustedUntil = verifiedBatchEnd(data, 0) ?? -1;
  // The first bad record: torn when no later batch verifies, corruption when one does.
  const bad = (reason: string): ParsedLog => {
    const later = verifiedMarkerAfter(data, offset);
    if (later !== undefined) throw new WalCorruptionError(file, offset, `${reason}, and the synced batch ending at byte ${later} follows it`);
    return { txns, zxids, offsets, validBytes: offset, tornTail: { offset, bytes: data.length - offset }, markerEnds, preallocatedBytes: 0 };
  };
  while (offset < data.length) {
    const remaining = data.length - offset;
    if (remaining < recordHeaderBytes) return bad('a record header cut short');
    const bodyLength = data.readUInt32BE(offset);
    if (bodyLength === markerTag) {
      const batchStart = markerEnds.length === 0 ? 0 : (markerEnds[markerEnds.length - 1] as number);
      if (offset !== trustedUntil && !markerVerifies(data, offset, batchStart)) return bad('a sync marker that does not verify');
      offset += markerBytes;
      markerEnds.push(offset);
      trustedUntil = verifiedBatchEnd(data, offset) ?? -1;
      continue;
    }
    const crc = data.readUInt32BE(offset + 4);
    if (bodyLength === 0 && isAllZero(data, offset)) {
      // Right after a synced batch: preallocated space (the log's clean end). Inside a batch: torn.
      if (offset === (markerEnds.length === 0 ? 0 : markerEnds[markerEnds.length - 1])) return { txns, zxids, offsets, validBytes: offset, tornTail: undefined, markerEnds, preallocatedBytes: data.length - offset };
      return bad('a zero-filled tail');
    }
    if (bodyLength < txnFixedBytes || bodyLength > maxRecordBodyBytes) return bad(`record length ${bodyLength} is outside ${txnFixedBytes}..${maxRecordBodyBytes}`);
    const bodyStart = offset + recordHeaderBytes;
    const end = bodyStart + bodyLength;
    if (end > data.length) return bad('a record cut short');
    if (offset > trustedUntil && crc32(data.subarray(bodyStart, end)) !== crc) return bad('CRC mismatch');
    if (txnFixedBytes + data.readUInt16BE(bodyStart + 20) > bodyLength) return bad('session length beyond the record');
    const zxid = data.readDoubleBE(bodyStart);
    if (!Number.isSafeInteger(zxid) || zxid <= lastZxid) return bad(`zxid ${zxid} does not follow ${lastZxid}`);
    lastZxid = zxid;
    if (withTxns) txns.push(readTxn(data.subarray(bodyStart, end), 0) as Txn);
    zxids.push(zxid);
    offsets.push(offset);
    offset = end;
  }
  return { txns, zxids, offsets, validBytes: offset, tornTail: undefined, markerEnds, preallocatedBytes: 0 };
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

/** What `preallocate` writes from. */
const zeroBytes = Buffer.alloc(walPreallocateBytes);

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

/** A segment that is no longer appended to: synced whole before the next one was created. */
export interface SealedSegment {
  readonly name: string;
  readonly firstZxid: Zxid;
  readonly lastZxid: Zxid;
  readonly count: number;
  readonly bytes: number;
}

/** What the manifest (`txnlog.segments`) lists: the sealed segments in order, then the active one. */
interface Manifest {
  readonly sealed: readonly SealedSegment[];
  readonly active: string;
}

/** Without a manifest the log is one segment, `txnlog` (a new folder, or one of a release before segments). */
const defaultManifest: Manifest = { sealed: [], active: txnLogFileName };
const manifestFormat = 'zabkit-txnlog-segments/1';
const segmentNamePattern = /^txnlog(?:\.([1-9]\d{0,8}))?$/;

function segmentNumber(name: string): number {
  const match = segmentNamePattern.exec(name);
  assert(match !== null, `not a segment name: ${name}`);
  return match[1] === undefined ? 1 : Number(match[1]);
}

/** Reads the manifest; undefined when there is none. A manifest that does not verify is corruption. */
async function readManifest(dir: string): Promise<Manifest | undefined> {
  const file = path.join(dir, segmentManifestFileName);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const bad = (reason: string): WalCorruptionError => new WalCorruptionError(file, 0, `the segment manifest ${reason}`);
  const newline = text.lastIndexOf('\n', text.length - 2);
  const body = text.slice(0, newline + 1);
  const crcLine = /^crc (\d+)\n$/.exec(text.slice(newline + 1));
  if (newline < 0 || crcLine === null) throw bad('has no crc line');
  if (crc32(Buffer.from(body)) !== Number(crcLine[1])) throw bad('fails its crc');
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw bad('is not JSON');
  }
  const m = parsed as { format?: unknown; sealed?: unknown; active?: unknown };
  if (m.format !== manifestFormat || !Array.isArray(m.sealed) || typeof m.active !== 'string' || !segmentNamePattern.test(m.active)) throw bad(`is not ${manifestFormat}`);
  const sealed: SealedSegment[] = [];
  let last = 0;
  for (const raw of m.sealed as unknown[]) {
    const s = raw as Record<string, unknown>;
    const whole = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
    if (typeof s['name'] !== 'string' || !segmentNamePattern.test(s['name']) || !whole(s['firstZxid']) || !whole(s['lastZxid']) || !whole(s['count']) || !whole(s['bytes']) ||
      s['firstZxid'] <= last || s['lastZxid'] < s['firstZxid']) throw bad(`lists a bad sealed segment: ${JSON.stringify(raw).slice(0, 200)}`);
    last = s['lastZxid'];
    sealed.push({ name: s['name'], firstZxid: s['firstZxid'], lastZxid: s['lastZxid'], count: s['count'], bytes: s['bytes'] });
  }
  const names = [...sealed.map((s) => s.name), m.active];
  if (new Set(names).size !== names.length) throw bad('names a segment twice');
  return { sealed, active: m.active };
}

/** Replaces the manifest atomically (temp, fsync, rename, fsync the folder). */
async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const body = `${JSON.stringify({ format: manifestFormat, sealed: manifest.sealed, active: manifest.active })}\n`;
  await replaceFile(dir, segmentManifestFileName, `${body}crc ${crc32(Buffer.from(body))}\n`);
}

/** Reads a file's bytes [from, to) through `fd`. */
function readFileRange(fd: number, from: number, to: number): Buffer {
  const bytes = Buffer.alloc(Math.max(0, to - from));
  let read = 0;
  while (read < bytes.length) {
    const n = fs.readSync(fd, bytes, read, bytes.length - read, from + read);
    if (n === 0) break;
    read += n;
  }
  return bytes.subarray(0, read);
}

/**
 * Visits the records of `file` in [start, end) in order, reading `readChunkBytes` at a time; the
 * bytes were synced, so anything that does not verify is corruption. `visit` returns false to stop.
 */
function scanRecords(file: string, fd: number, start: number, end: number, after: Zxid, visit: (txn: Txn, offset: number) => boolean): void {
  let window: Buffer = Buffer.alloc(0);
  let windowStart = start;
  const bytesAt = (offset: number, length: number): Buffer | undefined => {
    if (offset + length > end) return undefined;
    if (offset < windowStart || offset + length > windowStart + window.length) {
      window = readFileRange(fd, offset, Math.min(end, offset + Math.max(length, walReadChunkBytes)));
      windowStart = offset;
      if (window.length < length) return undefined;
    }
    return window.subarray(offset - windowStart, offset - windowStart + length);
  };
  let offset = start;
  let lastZxid = after;
  while (offset < end) {
    const header = bytesAt(offset, recordHeaderBytes);
    if (header === undefined) throw new WalCorruptionError(file, offset, 'a synced record header cut short');
    const bodyLength = header.readUInt32BE(0);
    if (bodyLength === markerTag) {
      offset += markerBytes;
      continue;
    }
    if (bodyLength < txnFixedBytes || bodyLength > maxRecordBodyBytes) throw new WalCorruptionError(file, offset, `record length ${bodyLength} is outside ${txnFixedBytes}..${maxRecordBodyBytes}`);
    const crc = header.readUInt32BE(4);
    const body = bytesAt(offset + recordHeaderBytes, bodyLength);
    if (body === undefined) throw new WalCorruptionError(file, offset, 'a synced record cut short');
    if (crc32(body) !== crc) throw new WalCorruptionError(file, offset, 'CRC mismatch');
    const txn = readTxn(body, 0);
    if (typeof txn === 'string') throw new WalCorruptionError(file, offset, txn);
    if (!Number.isSafeInteger(txn.zxid) || txn.zxid <= lastZxid) throw new WalCorruptionError(file, offset, `zxid ${txn.zxid} does not follow ${lastZxid}`);
    lastZxid = txn.zxid;
    if (!visit(txn, offset)) return;
    offset += recordHeaderBytes + bodyLength;
  }
}

/** Index of the first of `zxids` (ascending) above `zxid`. */
function indexAfter(zxids: readonly number[], zxid: Zxid): number {
  let lo = 0, hi = zxids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((zxids[mid] as number) <= zxid) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** One segment file opened for appends (or read whole to be rewritten): every record's zxid and offset. */
class SegmentFile {
  pending: Buffer[] = [];
  pendingBytes = 0;
  dirty = false;
  writtenBytes: number;
  /** The file's size: written bytes, then preallocated zeros. */
  allocatedBytes: number;
  /** A full disk refused preallocation: the records take the space left, unpadded. */
  private preallocationRefused = false;
  /** zxid and file offset of every record, in order (pending ones included). */
  readonly zxids: number[];
  readonly offsets: number[];
  /** Where each sync marker in the file ends; the batch the next marker closes begins at the last. */
  readonly markerEnds: number[];
  /** crc32 of the bytes since the last marker (written and pending). */
  batchCrc: number;

  constructor(readonly name: string, readonly file: string, public fd: number, recovered: { zxids: number[]; offsets: number[]; validBytes: number; markerEnds: number[]; preallocatedBytes?: number }, batchCrc: number) {
    this.writtenBytes = recovered.validBytes;
    this.allocatedBytes = recovered.validBytes + (recovered.preallocatedBytes ?? 0);
    this.zxids = recovered.zxids;
    this.offsets = recovered.offsets;
    this.markerEnds = recovered.markerEnds;
    this.batchCrc = batchCrc;
  }

  /** Opens and parses a segment: a torn tail is cut off (only the active segment may have one; the caller decides). */
  static open(dir: string, name: string): { segment: SegmentFile; tornTail: TornTail | undefined } {
    const file = path.join(dir, name);
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      const data = fs.readFileSync(fd);
      const parsed = parseLog(file, data, false);
      const batchStart = parsed.markerEnds.length === 0 ? 0 : (parsed.markerEnds[parsed.markerEnds.length - 1] as number);
      return { segment: new SegmentFile(name, file, fd, parsed, crc32(data.subarray(batchStart, parsed.validBytes))), tornTail: parsed.tornTail };
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  static empty(dir: string, name: string, fd: number): SegmentFile {
    return new SegmentFile(name, path.join(dir, name), fd, { zxids: [], offsets: [], validBytes: 0, markerEnds: [] }, 0);
  }

  get batchStart(): number {
    return this.markerEnds.length === 0 ? 0 : (this.markerEnds[this.markerEnds.length - 1] as number);
  }

  get lastZxid(): Zxid | undefined {
    return this.zxids.length === 0 ? undefined : (this.zxids[this.zxids.length - 1] as number);
  }

  /** crc32 of the file's bytes [from, to) (after a truncate or for a rewrite: the open batch, read back). */
  crcOfFile(from: number, to: number): number {
    return crc32(readFileRange(this.fd, from, to));
  }

  /** Cuts every record with zxid > `zxid` (written or pending); returns how many. */
  async truncateAfter(zxid: Zxid): Promise<number> {
    const index = indexAfter(this.zxids, zxid);
    const removed = this.zxids.length - index;
    if (removed === 0) return 0;
    const newSize = this.offsets[index] as number;
    await this.writePending();
    await this.truncateFile(newSize);
    this.writtenBytes = newSize;
    this.allocatedBytes = newSize;
    this.zxids.length = index;
    this.offsets.length = index;
    while (this.markerEnds.length > 0 && (this.markerEnds[this.markerEnds.length - 1] as number) > newSize) this.markerEnds.pop();
    this.batchCrc = this.crcOfFile(this.batchStart, newSize);
    this.dirty = true;
    return removed;
  }

  /**
   * Writes `dest`: this segment's records up to `zxid`, then `encoded` (the records of `txns`) and a
   * marker over everything since the last marker it keeps, fsynced. Returns the state of segment
   * `destName` (its fd open on `dest`): the caller makes it the log (`dest` renamed over this file,
   * or a new manifest listing `dest` = `destName`).
   */
  async rewriteTo(zxid: Zxid, txns: readonly Txn[], encoded: Buffer, destName: string, dest: string): Promise<SegmentFile> {
    await this.writePending();
    const index = indexAfter(this.zxids, zxid);
    const keepBytes = index < this.offsets.length ? (this.offsets[index] as number) : this.writtenBytes;
    const markersKept = this.markerEnds.filter((end) => end <= keepBytes);
    const batchStart = markersKept.length === 0 ? 0 : (markersKept[markersKept.length - 1] as number);
    const batchCrc = crc32(encoded, this.crcOfFile(batchStart, keepBytes));
    const records = Buffer.concat([encoded, encodeMarker(keepBytes + encoded.length - batchStart, batchCrc)]);
    await fsp.rm(dest, { force: true });
    if (keepBytes > 0) await fsp.copyFile(this.file, dest);
    const fd = fs.openSync(dest, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    try {
      fs.ftruncateSync(fd, keepBytes);
      let written = 0;
      while (written < records.length) written += fs.writeSync(fd, records, written, records.length - written, keepBytes + written);
      await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
    const offsets = this.offsets.slice(0, index);
    let offset = keepBytes;
    let recordStart = 0;
    for (let k = 0; k < txns.length; k++) {
      offsets.push(offset);
      const length = recordHeaderBytes + encoded.readUInt32BE(recordStart);
      offset += length;
      recordStart += length;
    }
    const zxids = [...this.zxids.slice(0, index), ...txns.map((txn) => txn.zxid)];
    return new SegmentFile(destName, path.join(path.dirname(this.file), destName), fd, { zxids, offsets, validBytes: offset + markerBytes, markerEnds: [...markersKept, offset + markerBytes] }, 0);
  }

  /**
   * Before a sync writes its pending bytes: when they reach past the file's end, extend the file
   * with zeros to `walPreallocateBytes` beyond them (not past `limit`, where the segment is sealed).
   * Best effort on a full disk: the zeros are given back and this segment is not preallocated
   * again, so the records take what space is left, as without preallocation, and their own write
   * reports ENOSPC when it runs out.
   */
  preallocate(limit: number): void {
    const end = this.writtenBytes + this.pendingBytes;
    if (end <= this.allocatedBytes || this.preallocationRefused) return;
    const to = Math.min(end + walPreallocateBytes, Math.max(limit, end));
    let at = end;
    try {
      while (at < to) at += fs.writeSync(this.fd, zeroBytes, 0, Math.min(zeroBytes.length, to - at), at);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw storageError('preallocating', this.file, error as Error);
      this.preallocationRefused = true;
      try {
        fs.ftruncateSync(this.fd, this.allocatedBytes);
      } catch (undo) {
        throw storageError('truncate', this.file, undo as Error);
      }
      return;
    }
    this.allocatedBytes = at;
  }

  /** Cuts the preallocated zeros off, durably (before the segment is sealed: a sealed file is its records). */
  async trimPreallocation(): Promise<void> {
    if (this.allocatedBytes <= this.writtenBytes) return;
    await this.truncateFile(this.writtenBytes);
    await this.datasync();
    this.allocatedBytes = this.writtenBytes;
  }

  private truncateFile(size: number): Promise<void> {
    return new Promise<void>((resolve, reject) => fs.ftruncate(this.fd, size, (e) => (e ? reject(storageError('truncate', this.file, e)) : resolve())));
  }

  datasync(): Promise<void> {
    return new Promise<void>((resolve, reject) => fs.fdatasync(this.fd, (e) => (e ? reject(storageError('fdatasync', this.file, e)) : resolve())));
  }

  async writePending(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buffers = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    let position = this.writtenBytes;
    let written = 0;
    let chunk: Buffer[] = buffers;
    while (written < bytes) {
      const n = bytes <= walSyncWriteBytes ? this.writeNow(chunk, position) : await new Promise<number>((resolve, reject) =>
        fs.writev(this.fd, chunk, position, (e, count) => (e ? reject(storageError('write', this.file, e)) : resolve(count))),
      );
      // A write that takes nothing (never seen from a real file) would loop forever: say so instead.
      if (n === 0) throw storageError('write', this.file, new Error(`no progress: 0 of ${bytes - written} bytes written`));
      written += n;
      position += n;
      if (written < bytes) chunk = [Buffer.concat(buffers).subarray(written)];
    }
    this.writtenBytes = position;
    this.allocatedBytes = Math.max(this.allocatedBytes, position);
  }

  /** One synchronous writev of a small batch (walSyncWriteBytes). */
  private writeNow(chunk: Buffer[], position: number): number {
    try {
      return fs.writevSync(this.fd, chunk, position);
    } catch (error) {
      throw storageError('write', this.file, error as Error);
    }
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** Sparse index of a sealed segment, built by its first read: every `sparseIndexStride`-th record. */
interface SparseIndex {
  readonly zxids: number[];
  readonly offsets: number[];
}

/**
 * The open transaction log: segment files rolled at `segmentBytes`, listed by the manifest. Every
 * file operation runs on one internal queue, so a deferred flush (planted bug ack-before-fsync)
 * never interleaves with the pump's truncate/sync. In memory: the sealed segments' first and last
 * zxids (and a sparse index of those that were read), and the active segment's record offsets.
 */
export class TxnLog {
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly sparse = new Map<string, SparseIndex>();

  private constructor(
    readonly dir: string,
    readonly segmentBytes: number,
    private sealed: SealedSegment[],
    private active: SegmentFile,
    private nextSegment: number,
  ) {}

  /** The active segment's file (the one appended to). */
  get file(): string {
    return this.active.file;
  }

  /**
   * Opens (creating if needed) and recovers the log in `dir`: files the manifest does not list
   * (a roll or rewrite that crashed before its manifest) are removed, the active segment is read
   * and a torn tail cut off, and what remains is fsynced. Sealed segments are not read: a start reads
   * at most one segment, whatever the log's length.
   */
  static async open(dir: string, options: { segmentBytes?: number } = {}): Promise<{ log: TxnLog; recovered: RecoveredLog }> {
    const segmentBytes = options.segmentBytes ?? defaultSegmentBytes;
    assert(Number.isSafeInteger(segmentBytes) && segmentBytes >= minSegmentBytes, `segmentBytes must be at least ${minSegmentBytes}, got ${segmentBytes}`);
    await fsp.mkdir(dir, { recursive: true });
    const manifest = (await readManifest(dir)) ?? defaultManifest;
    const listed = new Set([...manifest.sealed.map((s) => s.name), manifest.active]);
    for (const name of await fsp.readdir(dir)) {
      const leftover = name.endsWith('.new') && segmentNamePattern.test(name.slice(0, -'.new'.length));
      if (leftover || (segmentNamePattern.test(name) && !listed.has(name))) await fsp.rm(path.join(dir, name), { force: true });
    }
    for (const s of manifest.sealed) {
      const file = path.join(dir, s.name);
      const size = await fsp.stat(file).then((st) => st.size, () => -1);
      if (size !== s.bytes) throw new WalCorruptionError(file, Math.max(0, size), size < 0 ? 'a sealed segment the manifest lists is missing' : `a sealed segment of ${s.bytes} bytes has ${size}`);
    }
    const activeFile = path.join(dir, manifest.active);
    if (manifest !== defaultManifest && !fs.existsSync(activeFile)) throw new WalCorruptionError(activeFile, 0, 'the active segment the manifest lists is missing');
    const { segment, tornTail } = SegmentFile.open(dir, manifest.active);
    try {
      const sealedLast = manifest.sealed.at(-1)?.lastZxid ?? 0;
      const first = segment.zxids[0];
      if (first !== undefined && first <= sealedLast) throw new WalCorruptionError(segment.file, 0, `zxid ${first} does not follow the sealed segments' last ${sealedLast}`);
      if (tornTail) fs.ftruncateSync(segment.fd, segment.writtenBytes);
      // What was read may only be in the page cache (a kill -9 between the write and its
      // fdatasync): make it durable before the server acts on it (votes, ACKEPOCH, leads), or a
      // power cut later could take back a promise made from it. The folder too, so the epoch
      // files' renames are durable (their contents were fsynced before the rename).
      fs.fsyncSync(segment.fd);
      await fsyncDirectory(dir);
      const next = 1 + Math.max(...[...listed].map(segmentNumber));
      return { log: new TxnLog(dir, segmentBytes, [...manifest.sealed], segment, next), recovered: { tornTail } };
    } catch (error) {
      segment.close();
      throw error;
    }
  }

  get lastZxid(): Zxid {
    return this.active.lastZxid ?? this.sealed.at(-1)?.lastZxid ?? 0;
  }

  get length(): number {
    let count = this.active.zxids.length;
    for (const s of this.sealed) count += s.count;
    return count;
  }

  /** The sealed segments, then the active one (name, zxids, records, bytes written). */
  segments(): SealedSegment[] {
    const a = this.active;
    return [...this.sealed, { name: a.name, firstZxid: a.zxids[0] ?? 0, lastZxid: a.lastZxid ?? 0, count: a.zxids.length, bytes: a.writtenBytes }];
  }

  /** Encodes `txns` into user-space buffers; nothing reaches the OS until `sync`. */
  append(txns: readonly Txn[]): void {
    if (txns.length === 0) return;
    const a = this.active;
    const records = encodeRecords(txns, this.lastZxid);
    let offset = a.writtenBytes + a.pendingBytes;
    let recordStart = 0;
    for (const txn of txns) {
      a.zxids.push(txn.zxid);
      a.offsets.push(offset);
      const length = recordHeaderBytes + records.readUInt32BE(recordStart);
      offset += length;
      recordStart += length;
    }
    a.pending.push(records);
    a.pendingBytes += records.length;
    a.batchCrc = crc32(records, a.batchCrc);
    a.dirty = true;
  }

  /**
   * Records with zxid in (from, to], read from the files (records not yet written are not there),
   * stopping once `maxBytes` of data or `maxEntries` records are read (src/core/types.ts LogStore.read's
   * limit). Synced bytes that do not verify are a WalCorruptionError.
   */
  read(from: Zxid, to: Zxid, maxBytes = Number.POSITIVE_INFINITY, maxEntries = Number.POSITIVE_INFINITY): Txn[] {
    const out: Txn[] = [];
    let bytes = 0;
    const full = (): boolean => bytes >= maxBytes || out.length >= maxEntries;
    const collect = (txn: Txn): boolean => {
      if (txn.zxid > to || full()) return false;
      if (txn.zxid > from) {
        out.push(txn);
        bytes += txn.data.length;
      }
      return true;
    };
    for (const s of this.sealed) {
      if (s.lastZxid <= from) continue;
      if (s.firstZxid > to || full()) return out;
      this.scanSealed(s, from, collect);
    }
    const a = this.active;
    const start = indexAfter(a.zxids, from);
    const end = indexAfter(a.zxids, to);
    if (start < end && (a.offsets[start] as number) < a.writtenBytes && !full()) {
      const endOffset = end < a.offsets.length ? Math.min(a.offsets[end] as number, a.writtenBytes) : a.writtenBytes;
      scanRecords(a.file, a.fd, a.offsets[start] as number, endOffset, from, collect);
    }
    return out;
  }

  /** The largest zxid in the log that is <= `zxid` (0 if none); written or pending. */
  floor(zxid: Zxid): Zxid {
    const a = this.active;
    const i = indexAfter(a.zxids, zxid) - 1;
    if (i >= 0) return a.zxids[i] as number;
    for (let k = this.sealed.length - 1; k >= 0; k--) {
      const s = this.sealed[k] as SealedSegment;
      if (s.firstZxid > zxid) continue;
      if (s.lastZxid <= zxid) return s.lastZxid;
      let floor = 0;
      this.scanSealed(s, zxid, () => false, (z) => {
        floor = z;
      });
      return floor;
    }
    return 0;
  }

  /** How many records have zxid in (from, to]; written or pending. */
  count(from: Zxid, to: Zxid): number {
    if (to <= from) return 0;
    const a = this.active;
    let n = Math.max(0, indexAfter(a.zxids, to) - indexAfter(a.zxids, from));
    for (const s of this.sealed) {
      if (s.lastZxid <= from || s.firstZxid > to) continue;
      if (s.firstZxid > from && s.lastZxid <= to) {
        n += s.count;
        continue;
      }
      this.scanSealed(s, from, (txn) => {
        if (txn.zxid > to) return false;
        if (txn.zxid > from) n++;
        return true;
      });
    }
    return n;
  }

  /**
   * Visits the records of sealed segment `s` from the sparse index entry at or below `from` on;
   * `skipped` sees each zxid at or below `from` passed on the way (the floor's candidates).
   */
  private scanSealed(s: SealedSegment, from: Zxid, visit: (txn: Txn) => boolean, skipped?: (zxid: Zxid) => void): void {
    const file = path.join(this.dir, s.name);
    const fd = fs.openSync(file, fs.constants.O_RDONLY);
    try {
      const index = this.sparseIndex(s, fd);
      const k = indexAfter(index.zxids, from) - 1;
      const start = k < 0 ? 0 : (index.offsets[k] as number);
      scanRecords(file, fd, start, s.bytes, k < 0 ? 0 : (index.zxids[k] as number) - 1, (txn) => {
        if (txn.zxid <= from) {
          skipped?.(txn.zxid);
          return true;
        }
        return visit(txn);
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The sparse index of a sealed segment; its first use reads the segment once and checks it against the manifest. */
  private sparseIndex(s: SealedSegment, fd: number): SparseIndex {
    const known = this.sparse.get(s.name);
    if (known !== undefined) return known;
    const index: SparseIndex = { zxids: [], offsets: [] };
    let count = 0;
    let last = 0;
    const file = path.join(this.dir, s.name);
    scanRecords(file, fd, 0, s.bytes, 0, (txn, offset) => {
      if (count % sparseIndexStride === 0) {
        index.zxids.push(txn.zxid);
        index.offsets.push(offset);
      }
      count++;
      last = txn.zxid;
      return true;
    });
    if (count !== s.count || index.zxids[0] !== s.firstZxid || last !== s.lastZxid) {
      throw new WalCorruptionError(file, 0, `the sealed segment holds ${count} records up to ${last}, the manifest says ${s.count} from ${s.firstZxid} to ${s.lastZxid}`);
    }
    this.sparse.set(s.name, index);
    return index;
  }

  /** Removes every record with zxid > `zxid` (0 removes all). Returns how many were removed. */
  truncateAfter(zxid: Zxid): Promise<number> {
    return this.enqueue(async () => {
      const j = this.sealed.findIndex((s) => s.lastZxid > zxid);
      if (j < 0) return this.active.truncateAfter(zxid);
      // The cut reaches into sealed segment j: it becomes the active one. The manifest goes first,
      // so a crash leaves a prefix of the old log (longer than asked), never a hole.
      let removed = this.active.zxids.length;
      for (const s of this.sealed.slice(j + 1)) removed += s.count;
      const dropped = [this.active.name, ...this.sealed.slice(j + 1).map((s) => s.name).reverse()];
      const target = this.sealed[j] as SealedSegment;
      await writeManifest(this.dir, { sealed: this.sealed.slice(0, j), active: target.name });
      this.active.close();
      this.sealed = this.sealed.slice(0, j);
      this.active = this.openSealed(target);
      await this.removeSegments(dropped);
      return removed + await this.active.truncateAfter(zxid);
    });
  }

  /**
   * Crash-atomic truncate + append (SNAP: truncateAfter 0 and the whole new log; TRUNC with entries):
   * the kept prefix of the segment the cut falls in and `txns` go to a new file that is fsynced
   * before it replaces the old ones (a rename over the active segment, or a new manifest when the
   * cut reaches a sealed one), so a crash leaves either the old log or the new one, never the bare
   * prefix. Returns how many were removed.
   */
  replaceAfter(zxid: Zxid, txns: readonly Txn[]): Promise<number> {
    return this.enqueue(async () => {
      const j = this.sealed.findIndex((s) => s.lastZxid > zxid);
      const a = this.active;
      try {
        if (j < 0) {
          const index = indexAfter(a.zxids, zxid);
          const removed = a.zxids.length - index;
          const encoded = encodeRecords(txns, index > 0 ? (a.zxids[index - 1] as number) : (this.sealed.at(-1)?.lastZxid ?? 0));
          const temp = `${a.file}.new`;
          const replaced = await a.rewriteTo(zxid, txns, encoded, a.name, temp);
          await fsp.rename(temp, a.file);
          await fsyncDirectory(this.dir);
          a.close();
          this.active = replaced;
          return removed;
        }
        const target = this.sealed[j] as SealedSegment;
        const source = this.openSealed(target);
        try {
          const index = indexAfter(source.zxids, zxid);
          let removed = a.zxids.length + source.zxids.length - index;
          for (const s of this.sealed.slice(j + 1)) removed += s.count;
          const encoded = encodeRecords(txns, index > 0 ? (source.zxids[index - 1] as number) : (this.sealed[j - 1]?.lastZxid ?? 0));
          const name = `txnlog.${this.nextSegment++}`;
          const replaced = await source.rewriteTo(zxid, txns, encoded, name, path.join(this.dir, name));
          const dropped = [a.name, ...this.sealed.slice(j).map((s) => s.name).reverse()];
          await writeManifest(this.dir, { sealed: this.sealed.slice(0, j), active: name });
          a.close();
          this.sealed = this.sealed.slice(0, j);
          this.active = replaced;
          await this.removeSegments(dropped);
          return removed;
        } finally {
          source.close();
        }
      } catch (error) {
        if (error instanceof StorageError || error instanceof AssertionError || error instanceof WalCorruptionError) throw error;
        throw storageError('rewrite', this.active.file, error as Error);
      }
    });
  }

  /** Whether any record with zxid > `zxid` has already been written to a file. */
  removesWritten(zxid: Zxid): boolean {
    if ((this.sealed.at(-1)?.lastZxid ?? 0) > zxid) return true;
    const a = this.active;
    const index = indexAfter(a.zxids, zxid);
    return index < a.zxids.length && (a.offsets[index] as number) < a.writtenBytes;
  }

  /**
   * Hands the pending bytes to the OS without an fdatasync (planted bug ack-before-fsync only): a
   * kill -9 then loses nothing, a power cut loses them. The next sync fdatasyncs them with its marker.
   */
  flush(): Promise<void> {
    return this.enqueue(() => this.active.writePending());
  }

  /**
   * Writes the pending bytes and fdatasyncs, if anything changed since the last sync. A segment that
   * has reached `segmentBytes` is then sealed and the next one created: batches never span segments.
   */
  sync(): Promise<void> {
    return this.enqueue(async () => {
      const a = this.active;
      if (!a.dirty) return;
      a.dirty = false;
      // The batch's marker goes out with it: durable together, or (power cut) not vouched for.
      const end = a.writtenBytes + a.pendingBytes;
      if (end > a.batchStart) {
        a.pending.push(encodeMarker(end - a.batchStart, a.batchCrc));
        a.pendingBytes += markerBytes;
        a.markerEnds.push(end + markerBytes);
        a.batchCrc = 0;
      }
      a.preallocate(this.segmentBytes);
      await a.writePending();
      await a.datasync();
      if (a.writtenBytes >= this.segmentBytes && a.pendingBytes === 0 && !a.dirty) await this.roll();
    });
  }

  /** Seals the active segment (synced whole) and starts the next: a new empty file, then the manifest that lists both. */
  private async roll(): Promise<void> {
    const a = this.active;
    const first = a.zxids[0];
    const last = a.lastZxid;
    if (first === undefined || last === undefined) return;
    await a.trimPreallocation();
    const name = `txnlog.${this.nextSegment++}`;
    const file = path.join(this.dir, name);
    const sealed = [...this.sealed, { name: a.name, firstZxid: first, lastZxid: last, count: a.zxids.length, bytes: a.writtenBytes }];
    let fd: number;
    try {
      fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o644);
    } catch (error) {
      throw storageError('creating a segment', file, error as Error);
    }
    try {
      await writeManifest(this.dir, { sealed, active: name });
    } catch (error) {
      fs.closeSync(fd);
      await fsp.rm(file, { force: true });
      throw error;
    }
    a.close();
    this.sealed = sealed;
    this.active = SegmentFile.empty(this.dir, name, fd);
  }

  /** A sealed segment opened as a whole file: it was synced whole, so a bad record in it is corruption. */
  private openSealed(s: SealedSegment): SegmentFile {
    const opened = SegmentFile.open(this.dir, s.name);
    if (opened.tornTail !== undefined || opened.segment.zxids.length !== s.count) {
      opened.segment.close();
      throw new WalCorruptionError(opened.segment.file, opened.tornTail?.offset ?? 0, `the sealed segment does not hold the ${s.count} records the manifest lists`);
    }
    this.sparse.delete(s.name);
    return opened.segment;
  }

  /** Deletes segment files no manifest lists any more, then makes the deletions durable. */
  private async removeSegments(names: readonly string[]): Promise<void> {
    for (const name of names) {
      this.sparse.delete(name);
      await fsp.rm(path.join(this.dir, name), { force: true });
    }
    await fsyncDirectory(this.dir);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.active.close();
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
  await replaceFile(dir, name, `${epoch}\n`);
}

/** Replaces `dir/name` with `text` atomically (temp file, fsync, rename, fsync the folder); a failure is a StorageError. */
async function replaceFile(dir: string, name: string, text: string): Promise<void> {
  const file = path.join(dir, name);
  const temp = `${file}.tmp`;
  try {
    const handle = await fsp.open(temp, 'w', 0o644);
    try {
      await handle.writeFile(text);
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
