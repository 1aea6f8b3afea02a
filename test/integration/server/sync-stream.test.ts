/**
 * A sync far longer than a peer connection may buffer (maxPeerSendBufferBytes, 64 MiB) in real
 * processes: a follower down while about 96 MiB are broadcast comes back and is synced by a DIFF
 * that streams from the leader's log in chunks, each once the last one left (Input 'drained').
 * Queued whole, that DIFF overflowed the send buffer: the leader dropped the connection ("does not
 * drain its connection") at each try, and the follower got in only by what each broken try had
 * delivered (bench/sync-catchup.ts measures both).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../jepsen-style/async.js';
import { maxPayloadBytes } from '../../../src/core/limits.js';
import { maxPeerSendBufferBytes } from '../../../src/server/limits.js';
import { ZabkitDbFixture } from '../helpers.js';

const fixture = new ZabkitDbFixture('zabkit-sync-stream-');
const client = (node: string) => fixture.client(node, 10_000);

describe('a sync longer than a connection may buffer (3 real nodes)', () => {
  it('a follower that missed 96 MiB catches up by a streamed DIFF and serves the same sequence', async () => {
    const db = fixture.create({ nodes: 3, seed: 7 });
    await db.setup();
    const leader = (await db.leader())!;
    const follower = db.nodes().map((n) => n.name).find((name) => name !== leader)!;
    await db.kill(follower);
    const payload = maxPayloadBytes / 2;
    const count = Math.ceil((1.5 * maxPeerSendBufferBytes) / payload);
    const c = await client(leader);
    try {
      for (let from = 0; from < count; from += 64) {
        const batch = Array.from({ length: Math.min(64, count - from) }, (_, k) => `m${from + k}:`.padEnd(payload, 'x'));
        await Promise.all(batch.map((data) => c.broadcast(data, { timeoutMs: 30_000 })));
      }
    } finally {
      await c.close();
    }
    await db.start(follower);
    expect(await db.awaitHealthy(60_000)).toBe(true);
    const lastZxid = async (node: string): Promise<number> => {
      const r = await client(node);
      try {
        return (await r.status({ timeoutMs: 5000 })).deliveredZxid;
      } finally {
        await r.close();
      }
    };
    const target = await lastZxid(leader);
    expect(await waitFor(async () => (await lastZxid(follower).catch(() => 0)) === target, 60_000, 200)).toBe(true);
    const r = await client(follower);
    try {
      const entries = await r.read({ timeoutMs: 30_000 });
      expect(entries.length).toBe(count);
      expect(entries.map((e) => Buffer.from(e.data.subarray(0, 12)).toString('utf8').split(':')[0])).toEqual(Array.from({ length: count }, (_, k) => `m${k}`));
    } finally {
      await r.close();
    }
    const leaderLog = readFileSync(db.nodes().find((n) => n.name === leader)!.logFile, 'utf8');
    expect(leaderLog).not.toContain('does not drain its connection');
    expect(leaderLog).toContain(`sync of ${db.nodes().find((n) => n.name === follower)!.id}: DIFF`);
  }, 240_000);
});
