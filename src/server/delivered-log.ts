/**
 * The node's delivered sequence (committed entries in zxid order, as reads and subscriptions see
 * it): a prefix read back from the transaction log, and the most recent entries in memory. The
 * correct core delivers only entries its log holds durably and never cuts them, so any delivered
 * entry can be read back; with a planted bug (which may deliver what is later cut) every delivered
 * entry stays in memory, as delivered.
 */
import type { Txn, Zxid } from '../core/types.js';
import type { Entry } from '../wire/client-protocol.js';
import { deliveredMemoryBytes, deliveredMemoryEntries } from './limits.js';

/** Reads entries with zxid in (from, to] from the transaction log, stopping once about `maxBytes` of data are read. */
export type StoredReader = (from: Zxid, to: Zxid, maxBytes: number) => Txn[];

export class DeliveredLog {
  /** Delivered entries up to here are read from the log. */
  private storedUpTo: Zxid = 0;
  private storedCount = 0;
  /** Delivered entries above storedUpTo. */
  private readonly zxids: number[] = [];
  private readonly data: Uint8Array[] = [];
  /** Bytes of `data`. */
  private bytes = 0;

  constructor(
    private readonly read: StoredReader,
    private readonly count: (from: Zxid, to: Zxid) => number,
    /** false under a planted bug: every delivered entry stays in memory. */
    private readonly readBack: boolean,
    private readonly keep = deliveredMemoryEntries,
    private readonly keepBytes = deliveredMemoryBytes,
  ) {}

  get lastZxid(): Zxid {
    return this.zxids.length > 0 ? (this.zxids[this.zxids.length - 1] as number) : this.storedUpTo;
  }

  /** How many entries have been delivered. */
  get length(): number {
    return this.storedCount + this.zxids.length;
  }

  /** Appends a delivered entry; false (and nothing kept) when it does not follow the last one. */
  push(zxid: Zxid, data: Uint8Array): boolean {
    if (zxid <= this.lastZxid) return false;
    this.zxids.push(zxid);
    this.data.push(data);
    this.bytes += data.length;
    return true;
  }

  /**
   * The log's entries in (after, upTo] are delivered (Ready.committedStored). Kept as a range when
   * they follow the stored prefix directly; otherwise (a planted bug, or entries in memory) read now
   * and pushed one by one. Returns the entries pushed that way (for subscribers), or undefined.
   */
  pushStored(after: Zxid, upTo: Zxid): Txn[] | undefined {
    if (this.readBack && after === this.storedUpTo && this.zxids.length === 0) {
      this.storedCount += this.count(after, upTo);
      this.storedUpTo = upTo;
      return undefined;
    }
    const txns = this.read(after, upTo, Number.POSITIVE_INFINITY).filter((txn) => this.push(txn.zxid, txn.data));
    return txns;
  }

  /** Lets delivered entries beyond the newest `keep` (and `keepBytes` of data) leave memory (they are read back from the log). */
  compact(): void {
    // In steps of a quarter of either bound: the arrays are shifted once per step, not once per batch.
    if (!this.readBack || (this.zxids.length <= this.keep + (this.keep >> 2) && this.bytes <= this.keepBytes + (this.keepBytes >> 2))) return;
    let moved = 0;
    while (moved < this.zxids.length && (this.zxids.length - moved > this.keep || this.bytes > this.keepBytes)) this.bytes -= (this.data[moved++] as Uint8Array).length;
    if (moved === 0) return;
    this.storedUpTo = this.zxids[moved - 1] as number;
    this.storedCount += moved;
    this.zxids.splice(0, moved);
    this.data.splice(0, moved);
  }

  /** Delivered entries after `after`, in order, about `maxBytes` of data at most (at least one when there is one). */
  chunk(after: Zxid, maxBytes: number): Entry[] {
    if (after < this.storedUpTo) {
      return this.read(after, this.storedUpTo, maxBytes).map((txn) => ({ zxid: txn.zxid, data: txn.data }));
    }
    let i = this.indexAfter(after);
    const out: Entry[] = [];
    let bytes = 0;
    while (i < this.zxids.length && (out.length === 0 || bytes < maxBytes)) {
      const data = this.data[i] as Uint8Array;
      out.push({ zxid: this.zxids[i] as number, data });
      bytes += 12 + data.length;
      i++;
    }
    return out;
  }

  /** Index in memory of the first entry with zxid > `zxid`. */
  private indexAfter(zxid: Zxid): number {
    let low = 0;
    let high = this.zxids.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.zxids[mid] as number) <= zxid) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
