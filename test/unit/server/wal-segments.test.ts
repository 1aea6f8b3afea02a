import { cpSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openAll, tempDir } from './wal-helpers.js';
import type { Txn } from '../../../src/core/types.js';
import { makeZxid } from '../../../src/core/zxid.js';
import { minSegmentBytes } from '../../../src/server/limits.js';
import { segmentManifestFileName, TxnLog, txnLogFileName, WalCorruptionError } from '../../../src/server/wal.js';

const txn = (epoch: number, counter: number): Txn => ({
  zxid: makeZxid(epoch, counter), originServer: 2, originSession: 'sess.7', originSeq: counter, data: Buffer.from(`m${epoch}.${counter}:${'p'.repeat(200)}`),
});
const zxidsOf = (txns: readonly Txn[]): number[] => txns.map((t) => t.zxid);
const segmentBytes = minSegmentBytes;

/** `batches` syncs of `perBatch` records of epoch 1 (about 240 bytes each): with 4 KiB segments, a segment every 2 batches of 10. */
async function writeBatches(dir: string, batches: number, perBatch: number): Promise<Txn[]> {
  const { log } = await TxnLog.open(dir, { segmentBytes });
  const all: Txn[] = [];
  for (let b = 0; b < batches; b++) {
    const batch = Array.from({ length: perBatch }, (_, k) => txn(1, b * perBatch + k + 1));
    log.append(batch);
    await log.sync();
    all.push(...batch);
  }
  log.close();
  return all;
}

describe('a segmented transaction log', () => {
  it('rolls to a new segment once the active one reaches segmentBytes, and recovers every record in order', async () => {
    const dir = tempDir('zabkit-segments-');
    const all = await writeBatches(dir, 20, 10);
    const { log, recovered } = await openAll(dir, { segmentBytes });
    const segments = log.segments();
    log.close();
    expect(zxidsOf(recovered.txns)).toEqual(zxidsOf(all));
    expect(Buffer.from(recovered.txns[17]!.data).toString()).toBe(Buffer.from(all[17]!.data).toString());
    expect(segments.length).toBeGreaterThan(5);
    expect(segments[0]?.name).toBe(txnLogFileName);
    // Each batch stays whole in one segment; the sealed ones are listed with their zxids and sizes.
    for (const s of segments.slice(0, -1)) {
      expect(s.bytes).toBeGreaterThanOrEqual(segmentBytes);
      expect(statSync(join(dir, s.name)).size).toBe(s.bytes);
      expect(s.count % 10).toBe(0);
    }
    expect(segments.reduce((n, s) => n + s.count, 0)).toBe(all.length);
    expect(readdirSync(dir).sort()).toEqual([...segments.map((s) => s.name), segmentManifestFileName].sort());
  });

  it('reads any range (from, to] across segments from the files', async () => {
    const dir = tempDir('zabkit-segments-');
    const all = await writeBatches(dir, 12, 10);
    const { log } = await TxnLog.open(dir, { segmentBytes });
    try {
      const z = zxidsOf(all);
      const cases: [number, number][] = [[0, z.at(-1)!], [z[4]!, z[5]!], [z[9]!, z[41]!], [z[18]!, z[102]!], [z[110]!, z.at(-1)! + 5], [0, 0], [z[30]!, z[30]!]];
      for (const [from, to] of cases) {
        expect(zxidsOf(log.read(from, to)), `(${from}, ${to}]`).toEqual(z.filter((x) => x > from && x <= to));
      }
      // Records appended but not yet written are not on disk.
      log.append([txn(1, 121)]);
      expect(zxidsOf(log.read(z[118]!, makeZxid(1, 121)))).toEqual([z[119]]);
    } finally {
      log.close();
    }
  });

  it('truncates back into a sealed segment: later segments go, the cut one becomes active, appends go on', async () => {
    const dir = tempDir('zabkit-segments-');
    const all = await writeBatches(dir, 12, 10);
    const { log } = await TxnLog.open(dir, { segmentBytes });
    const before = log.segments();
    expect(await log.truncateAfter(all[24]!.zxid)).toBe(all.length - 25);
    log.append([txn(2, 1), txn(2, 2)]);
    await log.sync();
    const after = log.segments();
    log.close();
    expect(after.length).toBeLessThan(before.length);
    for (const s of before.slice(after.length)) expect(existsSync(join(dir, s.name))).toBe(false);
    const { log: reopened, recovered } = await openAll(dir, { segmentBytes });
    reopened.close();
    expect(zxidsOf(recovered.txns)).toEqual([...zxidsOf(all.slice(0, 25)), makeZxid(2, 1), makeZxid(2, 2)]);
    // Truncating everything leaves one empty segment.
    const { log: again } = await openAll(dir, { segmentBytes });
    expect(await again.truncateAfter(0)).toBe(27);
    await again.sync();
    expect(again.segments()).toHaveLength(1);
    again.close();
    expect((await openAll(dir, { segmentBytes }).then(({ log: l, recovered: r }) => (l.close(), r.txns))).length).toBe(0);
  });

  it('replaces records from a sealed segment on crash-atomically: a crash before the manifest leaves the old log', async () => {
    const dir = tempDir('zabkit-segments-');
    const all = await writeBatches(dir, 12, 10);
    const snapshot = tempDir('zabkit-segments-');
    cpSync(dir, snapshot, { recursive: true });
    const { log } = await TxnLog.open(dir, { segmentBytes });
    const replacement = [txn(3, 1), txn(3, 2), txn(3, 3)];
    expect(await log.replaceAfter(all[33]!.zxid, replacement)).toBe(all.length - 34);
    const active = log.segments().at(-1)!;
    log.close();
    const { log: reopened, recovered } = await openAll(dir, { segmentBytes });
    reopened.close();
    expect(zxidsOf(recovered.txns)).toEqual([...zxidsOf(all.slice(0, 34)), ...zxidsOf(replacement)]);
    // The crash: the new segment written and fsynced, the manifest not yet switched.
    writeFileSync(join(snapshot, active.name), readFileSync(join(dir, active.name)));
    const { log: old, recovered: oldRecovered } = await openAll(snapshot, { segmentBytes });
    old.close();
    expect(zxidsOf(oldRecovered.txns)).toEqual(zxidsOf(all));
    expect(existsSync(join(snapshot, active.name))).toBe(false);
  });

  it('a sealed segment that does not verify is corruption, named with its file and offset; so is a bad manifest', async () => {
    const dir = tempDir('zabkit-segments-');
    await writeBatches(dir, 12, 10);
    // The active segment the manifest lists, gone: corruption, not a new empty log.
    const active = join(dir, readdirSync(dir).filter((name) => /^txnlog\.\d+$/.test(name)).sort((x, y) => Number(x.slice(7)) - Number(y.slice(7))).at(-1)!);
    const activeBytes = readFileSync(active);
    rmSync(active);
    await expect(TxnLog.open(dir, { segmentBytes })).rejects.toThrow(/the active segment the manifest lists is missing/);
    writeFileSync(active, activeBytes);
    const { log } = await TxnLog.open(dir, { segmentBytes });
    const second = log.segments()[1]!;
    log.close();
    const file = join(dir, second.name);
    const bytes = readFileSync(file);
    bytes[300] = (bytes[300] as number) ^ 0xff;
    writeFileSync(file, bytes);
    // A start reads only the active segment; the first read through the bad one finds it.
    const { log: opened } = await TxnLog.open(dir, { segmentBytes });
    let error: unknown;
    try {
      opened.read(0, opened.lastZxid);
    } catch (e) {
      error = e;
    } finally {
      opened.close();
    }
    expect(error).toBeInstanceOf(WalCorruptionError);
    expect((error as Error).message).toContain(file);
    // A sealed segment shorter than the manifest says.
    writeFileSync(file, bytes.subarray(0, 1000));
    await expect(TxnLog.open(dir, { segmentBytes })).rejects.toThrow(/a sealed segment of \d+ bytes has 1000/);
    const manifest = join(dir, segmentManifestFileName);
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('"count":', '"count": '));
    await expect(TxnLog.open(dir, { segmentBytes })).rejects.toThrow(/segment manifest fails its crc/);
  });

  it('a torn tail in the active segment is cut as before; sealed segments stay whole', async () => {
    const dir = tempDir('zabkit-segments-');
    const all = await writeBatches(dir, 11, 10);
    const { log } = await TxnLog.open(dir, { segmentBytes });
    const active = log.segments().at(-1)!;
    log.close();
    expect(active.count).toBeGreaterThan(0);
    const file = join(dir, active.name);
    const whole = readFileSync(file).subarray(0, active.bytes);
    writeFileSync(file, whole.subarray(0, whole.length - 16 - 5));
    const { log: reopened, recovered } = await openAll(dir, { segmentBytes });
    reopened.close();
    expect(recovered.tornTail).toBeDefined();
    expect(zxidsOf(recovered.txns)).toEqual(zxidsOf(all.slice(0, -1)));
  });
});
