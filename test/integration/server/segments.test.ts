/**
 * The segmented transaction log in real processes: 3 nodes that keep 16 log entries in memory and
 * whose logs roll every 4 KiB (about 15
 * broadcasts of 256 B), a follower killed -9 and restarted behind the others, then the whole
 * cluster killed -9 and restarted (a segment rolls at the end of a batch, so a batch of many broadcasts makes it larger): every node recovers its segments and all deliver the same.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../jepsen-style/async.js';
import type { ZabClient } from '../../../src/client/zab-client.js';
import { minSegmentBytes } from '../../../src/server/limits.js';
import { segmentManifestFileName } from '../../../src/server/wal.js';
import { ZabkitDbFixture } from '../helpers.js';

const fixture = new ZabkitDbFixture('zabkit-segments-');
const client = (node: string): Promise<ZabClient> => fixture.client(node);

async function broadcastMany(node: string, from: number, count: number): Promise<void> {
  const c = await client(node);
  try {
    await Promise.all(Array.from({ length: count }, (_, k) => c.broadcast(`m${from + k}:${'x'.repeat(250)}`, { timeoutMs: 20_000 })));
  } finally {
    await c.close();
  }
}

async function read(node: string): Promise<string[]> {
  const c = await client(node);
  try {
    return (await c.read({ timeoutMs: 10_000 })).map((entry) => Buffer.from(entry.data).toString('utf8').split(':')[0]!);
  } finally {
    await c.close();
  }
}

function segmentFiles(node: string): string[] {
  const info = fixture.db.nodes().find((n) => n.name === node)!;
  return readdirSync(info.dataDir).filter((name) => /^txnlog(\.\d+)?$/.test(name));
}

describe('the segmented log (3 real nodes, 4 KiB segments)', () => {
  it('a follower and then the whole cluster killed -9 recover every segment and deliver the same sequence', async () => {
    // 16 entries in memory: the follower's DIFF, deliveries after restarts, reads and subscriptions read the segments back.
    const db = fixture.create({ nodes: 3, seed: 5, segmentBytes: minSegmentBytes, memoryLogEntries: 16 });
    await db.setup();
    const leader = (await db.leader())!;
    const follower = db.nodes().map((n) => n.name).find((name) => name !== leader)!;
    await broadcastMany(leader, 0, 300);
    await db.kill(follower);
    await broadcastMany(leader, 300, 300);
    await db.start(follower);
    expect(await db.awaitHealthy(30_000)).toBe(true);
    await broadcastMany(leader, 600, 100);
    const expected = Array.from({ length: 700 }, (_, k) => `m${k}`);
    const sameEverywhere = async (): Promise<boolean> => {
      const reads = await Promise.all(db.nodes().map((n) => read(n.name).catch(() => [])));
      return reads.every((r) => r.length === 700 && [...r].sort().join() === [...expected].sort().join() && r.join() === reads[0]!.join());
    };
    expect(await waitFor(sameEverywhere, 20_000, 200)).toBe(true);
    for (const n of db.nodes()) {
      expect(segmentFiles(n.name).length, n.name).toBeGreaterThan(2);
      expect(readdirSync(n.dataDir), n.name).toContain(segmentManifestFileName);
    }
    const names = db.nodes().map((n) => n.name);
    await db.killMany(names);
    for (const name of names) await db.start(name);
    expect(await db.awaitHealthy(30_000)).toBe(true);
    await broadcastMany((await db.leader())!, 700, 1);
    expect(await waitFor(async () => (await Promise.all(names.map((n) => read(n).catch(() => [])))).every((r) => r.length === 701), 20_000, 200)).toBe(true);
    // A subscriber from the start catches up from the segments, then follows live, in order, without repeats.
    const reads = await read(names[0]!);
    const subscriber = await client(names[0]!);
    try {
      const seen: string[] = [];
      subscriber.subscribe(0, (entry) => seen.push(Buffer.from(entry.data).toString('utf8').split(':')[0]!));
      expect(await waitFor(() => Promise.resolve(seen.length >= 701), 20_000, 100)).toBe(true);
      await broadcastMany((await db.leader())!, 701, 5);
      expect(await waitFor(() => Promise.resolve(seen.length >= 706), 20_000, 100)).toBe(true);
      expect(seen.slice(0, 701)).toEqual(reads);
      expect(new Set(seen).size).toBe(706);
    } finally {
      await subscriber.close();
    }
  }, 120_000);
});
