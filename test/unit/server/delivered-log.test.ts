/** The delivered sequence's memory window (src/server/delivered-log.ts): bounded in entries and in bytes, the rest read back. */
import { describe, expect, it } from 'vitest';
import { MemoryLogStore } from '../../../src/core/log.js';
import type { Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';
import { DeliveredLog } from '../../../src/server/delivered-log.js';

function txn(counter: number, bytes: number): Txn {
  return { zxid: makeZxid(1, counter), originServer: 1, originSession: 's', originSeq: counter, data: new Uint8Array(bytes).fill(counter % 256) };
}

function deliveredOf(n: number, bytes: number, keep: number, keepBytes: number): { log: DeliveredLog; reads: number[] } {
  const txns = Array.from({ length: n }, (_, i) => txn(i + 1, bytes));
  const store = new MemoryLogStore(txns);
  const reads: number[] = [];
  const log = new DeliveredLog((from, to, maxBytes) => {
    reads.push(from);
    return store.read(from, to, { entries: Number.POSITIVE_INFINITY, bytes: maxBytes });
  }, (from, to) => store.count(from, to), true, keep, keepBytes);
  for (const t of txns) log.push(t.zxid, t.data);
  log.compact();
  return { log, reads };
}

describe('DeliveredLog: the memory window', () => {
  it('keeps at most keepBytes of data in memory, and reads older entries back from the log', () => {
    const { log, reads } = deliveredOf(100, 1024, 50, 10 * 1024);
    expect(log.length).toBe(100);
    // Entries 91..100 are in memory: a chunk after 90 reads nothing back.
    expect(log.chunk(makeZxid(1, 90), 1e9).map((e) => e.data[0])).toEqual([91, 92, 93, 94, 95, 96, 97, 98, 99, 100]);
    expect(reads).toEqual([]);
    expect(log.chunk(makeZxid(1, 89), 1e9).map((e) => e.data[0])).toEqual([90]);
    expect(reads).toEqual([makeZxid(1, 89)]);
  });

  it('keeps at most keep entries when they hold less than keepBytes', () => {
    const { log, reads } = deliveredOf(100, 10, 20, 1e9);
    expect(log.chunk(makeZxid(1, 80), 1e9)).toHaveLength(20);
    expect(reads).toEqual([]);
    log.chunk(makeZxid(1, 79), 1e9);
    expect(reads).toHaveLength(1);
  });

  it('does not compact below a quarter over either bound', () => {
    const { reads, log } = deliveredOf(12, 1024, 100, 10 * 1024);
    expect(log.chunk(0, 1e9)).toHaveLength(12);
    expect(reads).toEqual([]);
  });
});
