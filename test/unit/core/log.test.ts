/**
 * The core's log (src/core/log.ts): reads within a limit across the store and memory, as a sync
 * stream's chunks take them, and the memory window bounded in entries and in bytes.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLogStore, TxnLog } from '../../../src/core/log.js';
import type { Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';

function txn(counter: number, bytes: number): Txn {
  return { zxid: makeZxid(1, counter), originServer: 1, originSession: 's', originSeq: counter, data: new Uint8Array(bytes) };
}

const counters = (txns: readonly Txn[]): number[] => txns.map((t) => t.zxid - makeZxid(1, 0));

describe('TxnLog.range with a limit (a sync chunk)', () => {
  // 1..6 in the store, 7..10 in memory, 100 bytes each.
  const store = new MemoryLogStore(Array.from({ length: 6 }, (_, i) => txn(i + 1, 100)));
  const log = new TxnLog(store);
  for (let c = 7; c <= 10; c++) log.append(txn(c, 100));

  it('stops at the entry count, within the store or across into memory', () => {
    expect(counters(log.range(0, makeZxid(1, 10), { entries: 4, bytes: 1e9 }))).toEqual([1, 2, 3, 4]);
    expect(counters(log.range(makeZxid(1, 4), makeZxid(1, 10), { entries: 4, bytes: 1e9 }))).toEqual([5, 6, 7, 8]);
  });

  it('stops after the entry that brings the data to the byte bound, and always returns one', () => {
    expect(counters(log.range(makeZxid(1, 4), makeZxid(1, 10), { entries: 100, bytes: 250 }))).toEqual([5, 6, 7]);
    expect(counters(log.range(makeZxid(1, 5), makeZxid(1, 10), { entries: 100, bytes: 200 }))).toEqual([6, 7]);
    expect(counters(log.range(makeZxid(1, 8), makeZxid(1, 10), { entries: 100, bytes: 1 }))).toEqual([9]);
  });

  it('without a limit, or a bound beyond the range, returns the whole range', () => {
    expect(counters(log.range(makeZxid(1, 2), makeZxid(1, 9)))).toEqual([3, 4, 5, 6, 7, 8, 9]);
    expect(counters(log.range(makeZxid(1, 2), makeZxid(1, 9), { entries: 100, bytes: 1e9 }))).toEqual([3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('TxnLog.compactTo: the memory window', () => {
  function logOf(n: number, bytes: number): { log: TxnLog; store: MemoryLogStore } {
    const store = new MemoryLogStore();
    const log = new TxnLog(store);
    const txns = Array.from({ length: n }, (_, i) => txn(i + 1, bytes));
    for (const t of txns) log.append(t);
    store.persist(undefined, txns);
    return { log, store };
  }

  it('keeps at most keepBytes of data in memory, whatever the entry count allows', () => {
    const { log } = logOf(100, 1024);
    log.compactTo(makeZxid(1, 100), 50, 10 * 1024);
    expect(log.memoryLength).toBe(10);
    expect(log.length).toBe(100);
    expect(counters(log.range(makeZxid(1, 85), makeZxid(1, 95)))).toEqual([86, 87, 88, 89, 90, 91, 92, 93, 94, 95]);
  });

  it('keeps at most keep entries when they hold less than keepBytes', () => {
    const { log } = logOf(100, 10);
    log.compactTo(makeZxid(1, 100), 20, 1e9);
    expect(log.memoryLength).toBe(20);
  });

  it('never lets an entry above the durable and delivered point leave memory', () => {
    const { log } = logOf(100, 1024);
    log.compactTo(makeZxid(1, 40), 0, 0);
    expect(log.memoryLength).toBe(60);
    expect(log.storedUpTo).toBe(makeZxid(1, 40));
  });
});
