/** The in-memory image of a server's log (committed or not), in zxid order. */
import type { Txn } from './types.js';
import type { Zxid } from './zxid.js';
import { counterOf, epochOf } from './zxid.js';

export class TxnLog {
  private entries: Txn[];

  constructor(entries: readonly Txn[]) {
    this.entries = [...entries];
  }

  get length(): number {
    return this.entries.length;
  }

  lastZxid(): Zxid {
    return this.entries.length === 0 ? 0 : this.entries[this.entries.length - 1]!.zxid;
  }

  all(): readonly Txn[] {
    return this.entries;
  }

  append(txn: Txn): void {
    this.entries.push(txn);
  }

  /** Index of the first entry with zxid > `zxid`. */
  indexAfter(zxid: Zxid): number {
    let lo = 0, hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.zxid <= zxid) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  has(zxid: Zxid): boolean {
    const i = this.indexAfter(zxid) - 1;
    return i >= 0 && this.entries[i]!.zxid === zxid;
  }

  get(zxid: Zxid): Txn | undefined {
    const i = this.indexAfter(zxid) - 1;
    return i >= 0 && this.entries[i]!.zxid === zxid ? this.entries[i] : undefined;
  }

  /** Entries with zxid in (from, to]. */
  range(from: Zxid, to: Zxid): Txn[] {
    return this.entries.slice(this.indexAfter(from), this.indexAfter(to));
  }

  /** The largest zxid in the log below `zxid` (0 if none). */
  lastBefore(zxid: Zxid): Zxid {
    const i = this.indexAfter(zxid - 1) - 1;
    return i >= 0 ? this.entries[i]!.zxid : 0;
  }

  /** Removes every entry with zxid > `zxid`; returns how many were removed. */
  truncateAfter(zxid: Zxid): number {
    const keep = this.indexAfter(zxid);
    const removed = this.entries.length - keep;
    this.entries.length = keep;
    return removed;
  }
}

/** Is `next` the zxid that must follow `last` in a contiguous log (enforceContinuousProposal)? */
export function followsContiguously(last: Zxid, next: Zxid): boolean {
  if (epochOf(next) === epochOf(last)) return counterOf(next) === counterOf(last) + 1;
  return epochOf(next) > epochOf(last) && counterOf(next) === 1;
}
