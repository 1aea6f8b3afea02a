/**
 * A real 3-server ZooKeeper ensemble behind Toxiproxy (one proxy per directed link per peer port),
 * driven by the same Workload as zabkit, through a kill -9 of the leader and a silent partition that
 * isolates the (new) leader; after healing, final reads of every node; the history must pass the
 * same checker that judges zabkit.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createZookeeperCluster, type ZookeeperCluster } from '../../../cluster/zookeeper/cluster.js';
import { zookeeperAvailable } from '../../../cluster/zookeeper/db.js';
import { zookeeperClientFactory } from '../../../cluster/zookeeper/client.js';
import { Workload } from '../../../jepsen-style/workload.js';
import { checkHistory } from '../../../jepsen-style/checker.js';
import { createPrng } from '../../../src/core/prng.js';
import type { Op } from '../../../jepsen-style/types.js';

const repoRoot = path.resolve(import.meta.dirname, '../../..');
import { sleep } from '../../../jepsen-style/async.js';

describe.skipIf(!zookeeperAvailable())('zookeeper under faults (3 nodes, through Toxiproxy)', () => {
  let dir: string;
  let cluster: ZookeeperCluster;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'zabkit-zkf-'));
    cluster = await createZookeeperCluster({ dir, nodes: 3, repoRoot, throughProxy: true });
    await cluster.db.setup();
  });

  afterAll(async () => {
    await cluster?.close();
    if (dir && process.env['ZABKIT_KEEP_TEST_DIRS'] !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('survives a leader kill and an isolated leader; the checker accepts the history', async () => {
    const { db, net } = cluster;
    const history: Op[] = [];
    const t0 = process.hrtime.bigint();
    const append = (event: Record<string, unknown>): number => {
      const index = history.length;
      history.push({ index, time: Number(process.hrtime.bigint() - t0), ...event } as unknown as Op);
      return index;
    };
    const nemesis = (f: string, value: unknown): void => void append({ process: 'nemesis', type: 'info', f, value });
    const factory = zookeeperClientFactory({ opTimeoutMs: 3_000 });
    const workload = new Workload({
      nodes: db.nodes(),
      concurrency: 3,
      rate: 150,
      pipelineDepth: 4,
      pipelineEvery: 3,
      broadcastTimeoutMs: 3_000,
      prng: createPrng(7),
      factory,
      sink: { append },
    });
    workload.start();
    await sleep(1_500);

    const first = await db.leader();
    expect(first).toBeDefined();
    nemesis('kill', [first]);
    await db.kill(first!);
    await sleep(2_000);
    nemesis('start', [first]);
    await db.start(first!);
    expect(await db.awaitHealthy(30_000)).toBe(true);
    await sleep(1_000);

    const second = await db.leader();
    expect(second).toBeDefined();
    const others = db.nodes().map((n) => n.name).filter((n) => n !== second);
    nemesis('partition', { isolated: second, from: others });
    for (const other of others) {
      await net!.cut(second!, other, 'silent');
      await net!.cut(other, second!, 'silent');
    }
    await sleep(3_000);
    nemesis('heal', null);
    await net!.healAll();
    expect(await db.awaitHealthy(30_000)).toBe(true);
    await sleep(1_000);
    await workload.stop();

    // Final reads, one fresh process per node.
    let processId = 1_000;
    for (const node of db.nodes()) {
      const p = processId++;
      append({ process: p, type: 'invoke', f: 'read', node: node.name, value: null });
      const client = await factory.open(node);
      try {
        const deliveries = await client.read();
        append({ process: p, type: 'ok', f: 'read', node: node.name, value: { deliveries } });
      } finally {
        await client.close();
      }
    }
    const result = checkHistory(history);
    console.log(`zookeeper faults: ${JSON.stringify(workload.counters)} valid=${String(result.valid)} leaders ${first} -> ${second}`);
    const reads = history.filter((op) => op.f === 'read' && op.type === 'ok');
    expect(reads).toHaveLength(3);
    expect(workload.counters.ok).toBeGreaterThan(50);
    if (result.valid !== true) {
      console.error(JSON.stringify(result, null, 2).slice(0, 4000));
      if (process.env['ZABKIT_KEEP_TEST_DIRS'] === '1') {
        const kept = path.join(os.tmpdir(), `zabkit-zkf-history-${process.pid}.jsonl`);
        writeFileSync(kept, history.map((op) => JSON.stringify(op)).join('\n') + '\n');
        console.error(`history kept in ${kept}; node logs in ${dir}`);
      }
    }
    expect(result.valid).toBe(true);
  });
});
