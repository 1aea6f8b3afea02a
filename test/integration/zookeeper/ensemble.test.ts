/**
 * A real 3-server Apache ZooKeeper ensemble (Debian's jars, direct links): broadcasts through the
 * jepsen-style Client, deliveries observed through child watches, identical final reads on every node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { zookeeperAvailable, type ZookeeperDb } from '../../../cluster/zookeeper/db.js';
import { createZookeeperCluster, type ZookeeperCluster } from '../../../cluster/zookeeper/cluster.js';
import { zookeeperClientFactory } from '../../../cluster/zookeeper/client.js';
import type { Client, Delivery } from '../../../jepsen-style/types.js';

const available = zookeeperAvailable();

describe.skipIf(!available)('zookeeper ensemble (3 nodes, direct links)', () => {
  let dir: string;
  let db: ZookeeperDb;
  let cluster: ZookeeperCluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zabkit-zk-'));
    cluster = await createZookeeperCluster({ dir, nodes: 3, throughProxy: false, repoRoot: path.resolve(import.meta.dirname, '../../..') });
    db = cluster.db;
    await db.setup();
  });

  afterAll(async () => {
    for (const client of clients) await client.close();
    await cluster?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reports one leader and two followers with epochs and zxids', async () => {
    const statuses = await db.status();
    expect(statuses.filter((s) => s.role === 'leading')).toHaveLength(1);
    expect(statuses.filter((s) => s.role === 'following')).toHaveLength(2);
    for (const s of statuses) {
      expect(s.alive).toBe(true);
      expect(s.lastZxid).toMatch(/^0x[0-9a-f]+$/);
      expect(s.epoch).toBeGreaterThan(0);
    }
    expect(await db.leader()).toMatch(/^n[123]$/);
  });

  it('broadcasts, delivers in order on every node, and reads back identically', async () => {
    const factory = zookeeperClientFactory();
    const seen = new Map<string, Delivery[]>();
    for (const node of db.nodes()) {
      const client = await factory.open(node);
      clients.push(client);
      const list: Delivery[] = [];
      seen.set(node.name, list);
      client.subscribe(undefined, (d) => list.push(d), (e) => { throw e; });
    }
    const acks: { id: string; zxid: string }[] = [];
    for (let round = 0; round < 10; round++) {
      const results = await Promise.all(clients.map(async (client, k) => {
        const id = `${client.node}-${round}-${k}`;
        const { zxid } = await client.broadcast(id);
        return { id, zxid };
      }));
      acks.push(...results);
    }
    expect(acks).toHaveLength(30);
    const deadline = Date.now() + 10_000;
    while ([...seen.values()].some((list) => list.length < 30) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const reads = await Promise.all(clients.map((client) => client.read()));
    for (const read of reads) {
      expect(read).toEqual(reads[0]);
      expect(read).toHaveLength(30);
    }
    const byId = new Map(reads[0]!.map((d) => [d.id, d.zxid]));
    for (const ack of acks) expect(byId.get(ack.id)).toBe(ack.zxid);
    const zxids = reads[0]!.map((d) => BigInt(d.zxid));
    for (let k = 1; k < zxids.length; k++) expect(zxids[k]! > zxids[k - 1]!).toBe(true);
    for (const list of seen.values()) expect(list).toEqual(reads[0]);
  });
});
