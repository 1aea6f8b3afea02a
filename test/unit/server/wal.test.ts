import { readFileSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAll, tempDir } from './wal-helpers.js';
import { AssertionError } from '../../../src/core/assert.js';
import type { LogStore, Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';
import { loadDurableState, InconsistentStateError } from '../../../src/server/durable.js';
import { createLogger } from '../../../src/server/logger.js';
import { acceptedEpochFileName, currentEpochFileName, readEpochFile, TxnLog, txnLogFileName, WalCorruptionError, writeEpochFile } from '../../../src/server/wal.js';


const txn = (epoch: number, counter: number, text = `m${epoch}.${counter}`): Txn => ({
  zxid: makeZxid(epoch, counter), originServer: 1, originSession: 'sess.1', originSeq: counter, data: Buffer.from(text),
});

/** Writes and syncs `txns` as one batch; returns the log file's bytes that hold them (the preallocated zeros after them left out). */
async function writeLog(dir: string, txns: Txn[]): Promise<Buffer> {
  const { log } = await TxnLog.open(dir);
  log.append(txns);
  await log.sync();
  const written = log.segments().at(-1)!.bytes;
  log.close();
  return readFileSync(join(dir, txnLogFileName)).subarray(0, written);
}

describe('transaction log', () => {
  it('recovers what was synced, in order', async () => {
    const dir = tempDir();
    const txns = [txn(1, 1), txn(1, 2), txn(2, 1, 'x'.repeat(1000))];
    await writeLog(dir, txns);
    const { log, recovered } = await openAll(dir);
    log.close();
    expect(recovered.txns.map((t) => [t.zxid, Buffer.from(t.data).toString()])).toEqual(txns.map((t) => [t.zxid, Buffer.from(t.data).toString()]));
    expect(recovered.tornTail).toBeUndefined();
  });

  it('keeps appended records in user space until sync', async () => {
    const dir = tempDir();
    const { log } = await TxnLog.open(dir);
    log.append([txn(1, 1)]);
    expect(statSync(join(dir, txnLogFileName)).size).toBe(0);
    await log.sync();
    expect(statSync(join(dir, txnLogFileName)).size).toBeGreaterThan(0);
    log.close();
  });

  it('cuts a torn last record off and keeps everything before it', async () => {
    const dir = tempDir();
    const whole = await writeLog(dir, [txn(1, 1), txn(1, 2), txn(1, 3)]);
    const file = join(dir, txnLogFileName);
    // Into the last record (the batch's 16-byte sync marker follows it).
    writeFileSync(file, whole.subarray(0, whole.length - 16 - 5));
    const { log, recovered } = await openAll(dir);
    expect(recovered.txns.map((t) => t.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2)]);
    expect(recovered.tornTail?.bytes).toBeGreaterThan(0);
    // the cut is durable and the log appends after it
    log.append([txn(1, 3)]);
    await log.sync();
    log.close();
    const again = await openAll(dir);
    again.log.close();
    expect(again.recovered.txns.map((t) => t.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2), makeZxid(1, 3)]);
    expect(again.recovered.tornTail).toBeUndefined();
  });

  it('zeros right after a synced batch are preallocated space, the clean end; zeros inside a batch are a torn tail', async () => {
    const dir = tempDir();
    const file = join(dir, txnLogFileName);
    const written = await writeLog(dir, [txn(1, 1)]);
    // The sync extended the file with zeros past its batch, so later syncs need not grow it.
    expect(statSync(file).size).toBeGreaterThan(written.length);
    const { log, recovered } = await openAll(dir);
    expect(recovered.txns).toHaveLength(1);
    expect(recovered.tornTail).toBeUndefined();
    // The next batch goes right after the first, into that space.
    log.append([txn(1, 2)]);
    await log.sync();
    log.close();
    const again = await openAll(dir);
    again.log.close();
    expect(again.recovered.txns.map((t) => t.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2)]);
    expect(again.recovered.tornTail).toBeUndefined();
    // Zeros where the batch's marker should be: the batch was torn.
    writeFileSync(file, Buffer.concat([written.subarray(0, written.length - 16), Buffer.alloc(4096)]));
    const torn = await openAll(dir);
    torn.log.close();
    expect(torn.recovered.txns).toHaveLength(1);
    expect(torn.recovered.tornTail?.bytes).toBe(4096);
    // A file of zeros only (preallocated, nothing synced into it): an empty log.
    writeFileSync(file, Buffer.alloc(4096));
    const empty = await openAll(dir);
    empty.log.close();
    expect(empty.recovered.txns).toHaveLength(0);
    expect(empty.recovered.tornTail).toBeUndefined();
  });

  it('reports corruption of a synced batch (a later batch verifies) with the file and the byte offset', async () => {
    const dir = tempDir();
    // Three syncs: three batches, each a record and its marker.
    const { log } = await TxnLog.open(dir);
    for (const t of [txn(1, 1), txn(1, 2), txn(1, 3)]) {
      log.append([t]);
      await log.sync();
    }
    const written = log.segments().at(-1)!.bytes;
    log.close();
    const file = join(dir, txnLogFileName);
    const bytes = readFileSync(file).subarray(0, written);
    const batchLength = bytes.length / 3;
    bytes[batchLength + 20] = (bytes[batchLength + 20] as number) ^ 0xff; // inside the second record
    writeFileSync(file, bytes);
    const error = await TxnLog.open(dir).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(WalCorruptionError);
    expect((error as WalCorruptionError).offset).toBe(batchLength);
    expect((error as Error).message).toContain(file);
    expect((error as Error).message).toContain(`offset ${batchLength}`);
    expect((error as Error).message).toContain(`the synced batch ending at byte ${bytes.length} follows it`);
  });

  it('a power cut inside the last batch (lost, torn or reordered pages) is a torn tail, never corruption', async () => {
    const dir = tempDir();
    const { log } = await TxnLog.open(dir);
    log.append([txn(1, 1)]);
    await log.sync();
    const synced = log.segments().at(-1)!.bytes;
    // The last batch: several records of 1.5 KiB, then its marker.
    log.append(Array.from({ length: 8 }, (_, k) => txn(1, 2 + k, 'y'.repeat(1500))));
    await log.sync();
    const written = log.segments().at(-1)!.bytes;
    log.close();
    const file = join(dir, txnLogFileName);
    const whole = readFileSync(file).subarray(0, written);
    const variants: [string, Buffer][] = [
      ['lost', whole.subarray(0, synced)],
      ['torn', whole.subarray(0, synced + 2000)],
      // reordered: a page in the middle of the batch never reached the disk, the pages after it did
      ['reordered', Buffer.concat([whole.subarray(0, 4096), Buffer.alloc(4096), whole.subarray(8192)])],
      ['the marker alone lost', whole.subarray(0, whole.length - 16)],
    ];
    for (const [what, image] of variants) {
      writeFileSync(file, image);
      const { log: reopened, recovered } = await openAll(dir);
      reopened.close();
      expect(recovered.txns[0]?.zxid, what).toBe(makeZxid(1, 1));
      const zxids = recovered.txns.map((t) => t.zxid);
      // What survives is a prefix of what was written: never a record after a hole.
      expect(zxids, what).toEqual(Array.from({ length: zxids.length }, (_, k) => makeZxid(1, 1 + k)));
      if (what === 'torn' || what === 'reordered') expect(recovered.tornTail, what).toBeDefined();
      // Records whose bytes are whole are kept even when their batch's marker is not: they are as written.
      if (what === 'the marker alone lost') expect(zxids, what).toHaveLength(9);
      if (what === 'lost') expect(zxids, what).toHaveLength(1);
    }
  });

  it('asserts that appended zxids increase, as recovery will demand', async () => {
    const dir = tempDir();
    const { log } = await TxnLog.open(dir);
    log.append([txn(1, 1), txn(1, 2)]);
    expect(() => log.append([txn(1, 2)])).toThrow(AssertionError);
    expect(() => log.append([txn(1, 4), txn(1, 3)])).toThrow(AssertionError);
    await expect(log.replaceAfter(makeZxid(1, 1), [txn(1, 1)])).rejects.toThrow(AssertionError);
    expect(log.length).toBe(2);
    log.close();
  });

  it('truncates after a zxid, including records not yet synced', async () => {
    const dir = tempDir();
    const { log } = await TxnLog.open(dir);
    log.append([txn(1, 1), txn(1, 2)]);
    await log.sync();
    log.append([txn(1, 3)]);
    expect(await log.truncateAfter(makeZxid(1, 1))).toBe(2);
    log.append([txn(2, 1)]);
    await log.sync();
    expect(await log.truncateAfter(makeZxid(5, 0))).toBe(0);
    log.close();
    const { log: reopened, recovered } = await openAll(dir);
    expect(recovered.txns.map((t) => t.zxid)).toEqual([makeZxid(1, 1), makeZxid(2, 1)]);
    expect(await reopened.truncateAfter(0)).toBe(2);
    await reopened.sync();
    reopened.close();
    expect(statSync(join(dir, txnLogFileName)).size).toBe(0);
  });
});

describe('epoch files', () => {
  it('replaces atomically and leaves no temp file', async () => {
    const dir = tempDir();
    expect(await readEpochFile(dir, currentEpochFileName)).toBe(0);
    await writeEpochFile(dir, currentEpochFileName, 3);
    await writeEpochFile(dir, currentEpochFileName, 4);
    expect(await readEpochFile(dir, currentEpochFileName)).toBe(4);
    expect(readdirSync(dir).sort()).toEqual([currentEpochFileName]);
  });

  it('refuses to start when the log is ahead of currentEpoch, unless epochs are not persisted (planted bug)', async () => {
    const dir = tempDir();
    await writeLog(dir, [txn(2, 1)]);
    await writeEpochFile(dir, acceptedEpochFileName, 1);
    await writeEpochFile(dir, currentEpochFileName, 1);
    const logger = createLogger(1, join(dir, 'node.log'));
    await expect(loadDurableState(dir, [], logger)).rejects.toThrow(InconsistentStateError);
    await expect(loadDurableState(dir, [], logger)).rejects.toThrow(/current epoch 1 .* older than the epoch of the last zxid 0x200000001/);
    const { log, durable } = await loadDurableState(dir, ['no-epoch-persist'], logger);
    log.close();
    expect([durable.acceptedEpoch, durable.currentEpoch]).toEqual([2, 2]);
  });

  it('cuts unacknowledged entries of an accepted-but-not-current epoch (a crash inside NEWLEADER) and starts', async () => {
    const dir = tempDir();
    await writeLog(dir, [txn(1, 1), txn(1, 2), txn(2, 1), txn(2, 2)]);
    await writeEpochFile(dir, acceptedEpochFileName, 2);
    await writeEpochFile(dir, currentEpochFileName, 1);
    const logger = createLogger(1, join(dir, 'node.log'));
    const { log, durable } = await loadDurableState(dir, [], logger);
    const store = durable.log as LogStore;
    expect(store.read(0, store.lastZxid()).map((entry) => entry.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2)]);
    log.close();
    // The cut is durable: a second start sees the same log.
    const again = await loadDurableState(dir, [], logger);
    const againStore = again.durable.log as LogStore;
    expect(againStore.read(0, againStore.lastZxid()).map((entry) => entry.zxid)).toEqual([makeZxid(1, 1), makeZxid(1, 2)]);
    again.log.close();
  });
});

describe('crash-atomic replacement', () => {
  it('replaces durable entries after a zxid with new ones in one rename', async () => {
    const dir = tempDir();
    const { log } = await TxnLog.open(dir);
    log.append([txn(1, 1), txn(1, 2), txn(1, 3)]);
    await log.sync();
    expect(log.removesWritten(makeZxid(1, 1))).toBe(true);
    expect(await log.replaceAfter(makeZxid(1, 1), [txn(2, 1), txn(2, 2)])).toBe(2);
    log.append([txn(2, 3)]);
    await log.sync();
    expect(await log.replaceAfter(0, [txn(3, 1)])).toBe(4);
    log.append([txn(3, 2)]);
    await log.sync();
    log.close();
    const { log: reopened, recovered } = await openAll(dir);
    reopened.close();
    expect(recovered.txns.map((t) => t.zxid)).toEqual([makeZxid(3, 1), makeZxid(3, 2)]);
    expect(readdirSync(dir).sort()).toEqual([txnLogFileName]);
  });
});
