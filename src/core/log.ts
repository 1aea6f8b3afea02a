/**
 * The server's log (committed or not) as the core sees it, in zxid order: a prefix held by the
 * `LogStore` (what the shell has persisted: etcd/raft's Storage) and a tail in memory. Entries leave
 * memory once they are durable and delivered (`compactTo`), except the most recent ones, so a server's
 * memory does not grow with its log; older ones are read back from the store when a sync or a
 * delivery needs them.
 */
import { assert } from './assert.js';
import type { LogStore, ReadLimit, Txn } from './types.js';
import type { Zxid } from './zxid.js';
import { counterOf, epochOf } from './zxid.js';


/** Index of the first of `entries` (in zxid order) with zxid > `zxid`. */
function indexAfter(entries: readonly Txn[], zxid: Zxid): number {
  let lo = 0, hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entries[mid]!.zxid <= zxid) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** entries[start, end) cut to `limit` (LogStore.read's rule: at least one entry). */
export function sliceWithin(entries: readonly Txn[], start: number, end: number, limit: ReadLimit | undefined): Txn[] {
  if (limit === undefined) return entries.slice(start, end);
  const out: Txn[] = [];
  let bytes = 0;
  for (let i = start; i < end && out.length < limit.entries && (out.length === 0 || bytes < limit.bytes); i++) {
    out.push(entries[i]!);
    bytes += entries[i]!.data.length;
  }
  return out;
}

/** What is left of `limit` after `taken` (undefined: nothing is). */
function remainingOf(limit: ReadLimit, taken: readonly Txn[]): ReadLimit | undefined {
  let bytes = 0;
  for (const txn of taken) bytes += txn.data.length;
  if (taken.length >= limit.entries || (taken.length > 0 && bytes >= limit.bytes)) return undefined;
  return { entries: limit.entries - taken.length, bytes: limit.bytes - bytes };
}

/** A LogStore in memory: the transcripts' and the simulation's disk, and a plain list of entries. */
export class MemoryLogStore implements LogStore {
  private readonly entries: Txn[];

  constructor(entries: readonly Txn[] = []) {
    for (let i = 1; i < entries.length; i++) assert(entries[i - 1]!.zxid < entries[i]!.zxid, 'log not in zxid order');
    this.entries = [...entries];
  }

  all(): readonly Txn[] {
    return this.entries;
  }

  lastZxid(): Zxid {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1]!.zxid;
  }

  read(from: Zxid, to: Zxid, limit?: ReadLimit): Txn[] {
    return sliceWithin(this.entries, indexAfter(this.entries, from), indexAfter(this.entries, to), limit);
  }

  floor(zxid: Zxid): Zxid {
    const i = indexAfter(this.entries, zxid) - 1;
    return i >= 0 ? this.entries[i]!.zxid : 0;
  }

  count(from: Zxid, to: Zxid): number {
    return Math.max(0, indexAfter(this.entries, to) - indexAfter(this.entries, from));
  }

  /** What the shell does with a Ready: truncate, then append. */
  persist(truncateAfter: Zxid | undefined, append: readonly Txn[]): void {
    if (truncateAfter !== undefined) this.entries.length = indexAfter(this.entries, truncateAfter);
    for (const txn of append) {
      assert(txn.zxid > this.lastZxid(), `append of ${txn.zxid} after ${this.lastZxid()}`);
      this.entries.push(txn);
    }
  }
}

export class TxnLog {
  /** Entries above `baseLast`, in memory. */
  private tail: Txn[] = [];
  /** Their data's bytes. */
  private tailBytes = 0;
  /** The store's entries up to here are this log's prefix (the store may hold more: a truncation not yet persisted). */
  private baseLast: Zxid;
  private baseCount: number;

  /** A log whose prefix is `store` as it is now; `empty`: none of it (a SNAP being staged, which replaces it). */
  constructor(private readonly store: LogStore, empty = false) {
    this.baseLast = empty ? 0 : store.lastZxid();
    this.baseCount = empty ? 0 : store.count(0, this.baseLast);
  }

  get length(): number {
    return this.baseCount + this.tail.length;
  }

  /** Entries in memory (the whole log when none of it is the store's). */
  get memoryLength(): number {
    return this.tail.length;
  }

  /** Highest zxid of the store prefix: entries up to here are read from the store. */
  get storedUpTo(): Zxid {
    return this.baseLast;
  }

  lastZxid(): Zxid {
    return this.tail.length === 0 ? this.baseLast : this.tail[this.tail.length - 1]!.zxid;
  }

  /** The entries in memory, for a log that is all in memory (a staged SNAP). */
  memoryEntries(): readonly Txn[] {
    assert(this.baseCount === 0, 'memoryEntries of a log with a store prefix');
    return this.tail;
  }

  append(txn: Txn): void {
    this.tail.push(txn);
    this.tailBytes += txn.data.length;
  }

  has(zxid: Zxid): boolean {
    if (zxid <= 0) return false;
    if (zxid <= this.baseLast) return this.store.floor(zxid) === zxid;
    const i = indexAfter(this.tail, zxid) - 1;
    return i >= 0 && this.tail[i]!.zxid === zxid;
  }

  /** Entries with zxid in (from, to]; with `limit`, the first of them (LogStore.read). */
  range(from: Zxid, to: Zxid, limit?: ReadLimit): Txn[] {
    const stored = from < this.baseLast ? this.store.read(from, Math.min(to, this.baseLast), limit) : [];
    if (to <= this.baseLast) return stored;
    const rest = limit === undefined ? undefined : remainingOf(limit, stored);
    if (limit !== undefined && rest === undefined) return stored;
    const memory = sliceWithin(this.tail, indexAfter(this.tail, from), indexAfter(this.tail, to), rest);
    return stored.length === 0 ? memory : stored.concat(memory);
  }

  /** The largest zxid in the log below `zxid` (0 if none). */
  lastBefore(zxid: Zxid): Zxid {
    const i = indexAfter(this.tail, zxid - 1) - 1;
    if (i >= 0) return this.tail[i]!.zxid;
    return this.baseLast === 0 ? 0 : this.store.floor(Math.min(zxid - 1, this.baseLast));
  }

  /** Removes every entry with zxid > `zxid`; returns how many were removed. */
  truncateAfter(zxid: Zxid): number {
    if (zxid >= this.baseLast) {
      const keep = indexAfter(this.tail, zxid);
      const removed = this.tail.length - keep;
      for (let i = keep; i < this.tail.length; i++) this.tailBytes -= this.tail[i]!.data.length;
      this.tail.length = keep;
      return removed;
    }
    const fromStore = this.store.count(zxid, this.baseLast);
    const removed = this.tail.length + fromStore;
    this.tail = [];
    this.tailBytes = 0;
    this.baseLast = this.store.floor(zxid);
    this.baseCount -= fromStore;
    return removed;
  }

  /**
   * Lets entries up to `zxid` (which the store durably holds as this log has them) leave memory,
   * oldest first, until at most `keep` entries holding at most `keepBytes` of data are left (the
   * newest stay, whatever their zxid).
   */
  compactTo(zxid: Zxid, keep: number, keepBytes: number): void {
    // In steps of a quarter of either bound: the tail is copied (and walked) once per step, not once per batch.
    if (this.tail.length < keep + (keep >> 2) && this.tailBytes < keepBytes + (keepBytes >> 2)) return;
    const limit = indexAfter(this.tail, zxid);
    let movable = 0;
    let bytes = this.tailBytes;
    while (movable < limit && (this.tail.length - movable > keep || bytes > keepBytes)) bytes -= this.tail[movable++]!.data.length;
    if (movable === 0) return;
    this.baseLast = this.tail[movable - 1]!.zxid;
    this.baseCount += movable;
    this.tail = this.tail.slice(movable);
    this.tailBytes = bytes;
  }
}

/** Is `next` the zxid that must follow `last` in a contiguous log (enforceContinuousProposal)? */
export function followsContiguously(last: Zxid, next: Zxid): boolean {
  if (epochOf(next) === epochOf(last)) return counterOf(next) === counterOf(last) + 1;
  return epochOf(next) > epochOf(last) && counterOf(next) === 1;
}
