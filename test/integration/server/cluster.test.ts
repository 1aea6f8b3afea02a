/**
 * Real `zabkit node` processes on this machine, peers dialling each other directly: election,
 * broadcast, a leader's kill -9, and a kill -9 of every node at once (a power cut).
 * Run `npm run build` first.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ZabClient } from '../../../src/client/zab-client.js';
import { ClusterFixture, show, type TestCluster } from './harness.js';

const fixture = new ClusterFixture();
afterEach(fixture.teardown);
const open = (c: TestCluster, id: number): Promise<ZabClient> => fixture.open(c, id);

describe('zabkit node cluster', () => {
  it('elects a leader and delivers the same sequence on every node, subscribers included', async () => {
    const cluster = await fixture.create(3);
    cluster.startAll();
    const leader = await cluster.awaitHealthy();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const subscriber = await open(cluster, 3);
    const seen: string[] = [];
    subscriber.subscribe(0, (entry) => seen.push(show(entry)));

    const viaLeader = await open(cluster, leader);
    const viaFollower = await open(cluster, follower);
    const acks = await Promise.all([
      ...Array.from({ length: 150 }, (_, i) => viaLeader.broadcast(`L${i}`)),
      ...Array.from({ length: 150 }, (_, i) => viaFollower.broadcast(`F${i}`)),
    ]);

    const reads = await cluster.awaitDelivered([1, 2, 3], 300);
    expect(reads.get(1)).toHaveLength(300);
    expect(reads.get(2)).toEqual(reads.get(1));
    expect(reads.get(3)).toEqual(reads.get(1));
    // every acknowledged zxid holds the message that was acknowledged
    const byZxid = new Map(reads.get(1)!.map((line) => [line.split(' ')[0], line.split(' ')[1]]));
    acks.forEach((ack, i) => expect(byZxid.get(ack.zxid.toString(16))).toBe(i < 150 ? `L${i}` : `F${i - 150}`));
    // FIFO per connection
    const order = reads.get(1)!.map((line) => line.split(' ')[1]!);
    expect(order.filter((m) => m.startsWith('L'))).toEqual(Array.from({ length: 150 }, (_, i) => `L${i}`));
    // the live subscription saw exactly the delivered sequence
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(300);
    expect(seen).toEqual(reads.get(3));
  });

  it('survives a kill -9 of the leader: a new leader, then the old one rejoins by DIFF and converges', async () => {
    const cluster = await fixture.create(3);
    cluster.startAll();
    const oldLeader = await cluster.awaitHealthy();
    // A subscriber on the leader that may move to any server of the list.
    const servers = [oldLeader, ...[1, 2, 3].filter((id) => id !== oldLeader)].map((id) => ({ host: '127.0.0.1', port: cluster.node(id).clientPort }));
    const subscriberClient = fixture.track(await ZabClient.connect({ ...servers[0]!, servers }));
    const seen: string[] = [];
    subscriberClient.subscribe(0, (entry) => seen.push(show(entry)));
    const first = await open(cluster, oldLeader);
    await Promise.all(Array.from({ length: 50 }, (_, i) => first.broadcast(`a${i}`)));

    await cluster.kill(oldLeader);
    const others = [1, 2, 3].filter((id) => id !== oldLeader);
    const newLeader = await cluster.awaitHealthy(others);
    expect(newLeader).not.toBe(oldLeader);
    const second = await open(cluster, newLeader);
    await Promise.all(Array.from({ length: 50 }, (_, i) => second.broadcast(`b${i}`)));

    cluster.start(oldLeader);
    const reads = await cluster.awaitDelivered([1, 2, 3], 100);
    expect(reads.get(oldLeader)).toEqual(reads.get(newLeader));
    expect(reads.get(others[0]!)).toEqual(reads.get(newLeader));
    expect(reads.get(newLeader)!.map((l) => l.split(' ')[1])).toEqual([...Array.from({ length: 50 }, (_, i) => `a${i}`), ...Array.from({ length: 50 }, (_, i) => `b${i}`)]);
    expect(cluster.logLines(oldLeader).some((l) => l['syncMode'] === 'DIFF')).toBe(true);
    // The subscription resumed on another server: every delivery once, in order, no gap.
    await expect.poll(() => seen.length, { timeout: 30_000 }).toBe(100);
    expect(seen).toEqual(reads.get(newLeader));
  });

  it('loses no acknowledged message when every node is killed -9 at once', async () => {
    const cluster = await fixture.create(3);
    cluster.startAll();
    await cluster.awaitHealthy();
    const acked = new Map<string, number>();
    const writers = await Promise.all([1, 2, 3].map((id) => open(cluster, id)));
    let stop = false;
    const load = writers.map(async (client, w) => {
      for (let batch = 0; !stop; batch++) {
        const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => client.broadcast(`w${w}-${batch}-${i}`)));
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') acked.set(`w${w}-${batch}-${i}`, r.value.zxid);
        });
        if (results.some((r) => r.status === 'rejected')) return;
      }
    });
    await expect.poll(() => acked.size, { timeout: 30_000 }).toBeGreaterThan(300);
    await Promise.all([1, 2, 3].map((id) => cluster.kill(id)));
    stop = true;
    await Promise.all(load);
    const ackedBeforeCut = new Map(acked);

    cluster.startAll();
    await cluster.awaitHealthy();
    const reads = await cluster.awaitDelivered([1, 2, 3], ackedBeforeCut.size);
    expect(reads.get(2)).toEqual(reads.get(1));
    expect(reads.get(3)).toEqual(reads.get(1));
    const delivered = new Map(reads.get(1)!.map((line) => [line.split(' ')[1], parseInt(line.split(' ')[0]!, 16)]));
    for (const [message, zxid] of ackedBeforeCut) expect(delivered.get(message), message).toBe(zxid);
  });

  it('5 nodes: kill -9 of a minority holding the leader, the majority goes on, the minority rejoins and converges', async () => {
    const cluster = await fixture.create(5);
    cluster.startAll();
    const ids = [1, 2, 3, 4, 5];
    const oldLeader = await cluster.awaitHealthy();
    const first = await open(cluster, oldLeader);
    await Promise.all(Array.from({ length: 40 }, (_, i) => first.broadcast(`a${i}`)));

    // A minority: the leader and one follower, killed at the same instant.
    const follower = ids.find((id) => id !== oldLeader)!;
    await Promise.all([cluster.kill(oldLeader), cluster.kill(follower)]);
    const majority = ids.filter((id) => id !== oldLeader && id !== follower);
    const newLeader = await cluster.awaitHealthy(majority);
    expect(majority).toContain(newLeader);
    const second = await open(cluster, newLeader);
    await Promise.all(Array.from({ length: 40 }, (_, i) => second.broadcast(`b${i}`)));

    cluster.start(oldLeader);
    cluster.start(follower);
    await cluster.awaitHealthy(ids);
    const reads = await cluster.awaitDelivered(ids, 80);
    for (const id of ids) expect(reads.get(id)).toEqual(reads.get(newLeader));
    expect(reads.get(newLeader)!.map((l) => l.split(' ')[1])).toEqual([...Array.from({ length: 40 }, (_, i) => `a${i}`), ...Array.from({ length: 40 }, (_, i) => `b${i}`)]);
  });
});
