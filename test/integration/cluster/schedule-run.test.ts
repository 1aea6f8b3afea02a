/**
 * A whole seeded schedule with every fault package, on 3 real nodes behind the real Toxiproxy,
 * with a trickle of broadcasts: every start and every end op works, healAll converges the
 * cluster, and no acknowledged broadcast is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../../../jepsen-style/async.js';
import { createZabkitDb } from '../../../cluster/zabkit/db.js';
import { createNemesis } from '../../../faults/nemesis.js';
import { faultPackages } from '../../../jepsen-style/vocabulary.js';
import { generateSchedule } from '../../../faults/schedule.js';
import { ZabClient } from '../../../src/client/zab-client.js';

describe('a seeded schedule of every package', () => {
  it('runs every fault and its heal; the cluster converges with every acknowledged broadcast', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-schedule-'));
    const db = createZabkitDb({ nodes: 3, dir, seed: 3 });
    try {
      await db.setup();
      const nemesis = createNemesis({ db, net: db.net() });
      const schedule = generateSchedule([...faultPackages], 3, 1.5, 20);
      const seen = new Set(schedule.map((s) => (s.op.value as { package: string }).package));
      expect(seen.size).toBeGreaterThanOrEqual(5);

      const acknowledged: string[] = [];
      let stop = false;
      const traffic = (async () => {
        for (let i = 0; !stop; i++) {
          const node = db.nodes()[i % 3]!;
          try {
            const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: 500 });
            try {
              await client.broadcast(`t${i}`, { timeoutMs: 2000 });
              acknowledged.push(`t${i}`);
            } finally {
              await client.close();
            }
          } catch {
            // a fault: fail or unknown, both fine here
          }
          await sleep(100);
        }
      })();

      const errors: string[] = [];
      const start = Date.now();
      for (const { atMs, op } of schedule) {
        await sleep(start + atMs - Date.now());
        await nemesis.invoke(op).catch((error: unknown) => errors.push(`${op.f}: ${String(error)}`));
      }
      expect(errors).toEqual([]);
      expect(nemesis.activeFaults()).toEqual([]);
      await nemesis.healAll();
      stop = true;
      await traffic;

      expect(await db.awaitHealthy(30_000)).toBe(true);
      expect(await db.net().faults()).toEqual([]);
      let reads: string[][] = [];
      expect(await waitFor(async () => {
        reads = await Promise.all(db.nodes().map(async (node) => {
          const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: 2000 }).catch(() => undefined);
          if (!client) return [];
          try {
            return (await client.read({ timeoutMs: 5000 })).map((e) => Buffer.from(e.data).toString('utf8'));
          } catch {
            return [];
          } finally {
            await client.close();
          }
        }));
        return reads.every((r) => JSON.stringify(r) === JSON.stringify(reads[0]));
      }, 30_000, 250)).toBe(true);
      expect(acknowledged.length).toBeGreaterThan(10);
      for (const id of acknowledged) expect(reads[0]).toContain(id);
    } finally {
      await db.teardown();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
