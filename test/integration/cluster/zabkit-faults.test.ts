/**
 * Real `zabkit node` processes behind the real Toxiproxy, faulted by the nemesis: leader isolation,
 * a one-way cut, a pause longer than the session timeouts, a power outage of every node. Each
 * test gets a fresh 3-node cluster, and tears it down (no process, proxy or lock left).
 * Needs the build (npm run test:integration builds first).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep, waitFor } from '../../../jepsen-style/async.js';
import { createZabkitDb, type ZabkitDb } from '../../../cluster/zabkit/db.js';
import { tearDownAndCheck } from '../helpers.js';
import { createNemesis, type ZabNemesis } from '../../../faults/nemesis.js';
import type { NodeStatus } from '../../../jepsen-style/types.js';
import { ZabClient } from '../../../src/client/zab-client.js';

let db: ZabkitDb | undefined;
let dir: string | undefined;

async function cluster(nodes = 3): Promise<{ db: ZabkitDb; nemesis: ZabNemesis }> {
  dir = mkdtempSync(join(tmpdir(), 'zabkit-faults-'));
  db = createZabkitDb({ nodes, dir, seed: 11 });
  await db.setup();
  return { db, nemesis: createNemesis({ db, net: db.net(), seed: 11 }) };
}

afterEach(async () => {
  if (db) await tearDownAndCheck(db);
  db = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function byName(statuses: NodeStatus[], name: string): NodeStatus {
  return statuses.find((s) => s.name === name)!;
}

async function broadcast(node: string, message: string, timeoutMs = 10_000): Promise<string> {
  const info = db!.nodes().find((n) => n.name === node)!;
  const client = await ZabClient.connect({ host: info.clientHost, port: info.clientPort, timeoutMs: 3000 });
  try {
    return (await client.broadcast(message, { timeoutMs })).zxidHex;
  } finally {
    await client.close();
  }
}

async function read(node: string): Promise<string[]> {
  const info = db!.nodes().find((n) => n.name === node)!;
  const client = await ZabClient.connect({ host: info.clientHost, port: info.clientPort, timeoutMs: 3000 });
  try {
    return (await client.read({ timeoutMs: 10_000 })).map((entry) => Buffer.from(entry.data).toString('utf8'));
  } finally {
    await client.close();
  }
}

/** Healthy, and every node has delivered the same sequence. */
async function converged(timeoutMs: number): Promise<string[][]> {
  expect(await db!.awaitHealthy(timeoutMs)).toBe(true);
  let reads: string[][] = [];
  const same = await waitFor(async () => {
    reads = await Promise.all(db!.nodes().map((n) => read(n.name).catch(() => [] as string[])));
    return reads.every((r) => JSON.stringify(r) === JSON.stringify(reads[0]));
  }, timeoutMs, 200);
  expect(same).toBe(true);
  return reads;
}

describe('zabkit under the nemesis (3 real nodes, real Toxiproxy)', () => {
  it('isolating the leader elects a new one on the majority side; the old one steps down; healing converges', async () => {
    const { db, nemesis } = await cluster();
    const oldLeader = (await db.leader())!;
    expect(oldLeader).toBeDefined();
    await broadcast(oldLeader, 'before');
    const started = await nemesis.invoke({ f: 'partition', value: { id: 1, shape: 'leader', mode: 'silent', pick: 5 } });
    expect((started.value as { leader: string }).leader).toBe(oldLeader);
    let newLeader: string | undefined;
    const elected = await waitFor(async () => {
      const statuses = await db.status();
      const leaders = statuses.filter((s) => s.role === 'leading' && s.phase === 'broadcast' && s.name !== oldLeader);
      newLeader = leaders[0]?.name;
      return leaders.length === 1 && byName(statuses, oldLeader).role !== 'leading';
    }, 20_000, 100);
    expect(elected).toBe(true);
    await broadcast(newLeader!, 'during');
    await nemesis.invoke({ f: 'heal', value: { id: 1 } });
    const reads = await converged(30_000);
    expect(reads[0]).toEqual(['before', 'during']);
    expect(await db.leader()).not.toBe(oldLeader);
  });

  it('a one-way cut leader -> follower keeps the majority committing; the follower catches up after the heal', async () => {
    const { db, nemesis } = await cluster();
    const leader = (await db.leader())!;
    const started = await nemesis.invoke({ f: 'partition-one-way', value: { id: 2, direction: 'from-leader', pick: 3 } });
    const { from, to } = started.value as { from: string; to: string };
    expect(from).toBe(leader);
    await sleep(1500); // well past the follower's session timeout (syncLimit 10 ticks x 50 ms)
    await broadcast(leader, 'one-way');
    const other = db.nodes().map((n) => n.name).find((n) => n !== from && n !== to)!;
    expect(await waitFor(async () => (await read(other)).includes('one-way'), 10_000, 100)).toBe(true);
    expect(await read(to).catch(() => [])).not.toContain('one-way');
    await nemesis.invoke({ f: 'heal', value: { id: 2 } });
    const reads = await converged(30_000);
    expect(reads[0]).toContain('one-way');
  });

  it('a leader paused longer than the session timeouts is replaced, and rejoins when resumed', async () => {
    const { db, nemesis } = await cluster();
    const oldLeader = (await db.leader())!;
    await nemesis.invoke({ f: 'pause', value: { id: 3, targets: 'leader', pick: 1 } });
    expect((await db.status()).find((s) => s.name === oldLeader)!.paused).toBe(true);
    await sleep(2000); // the pause lasts several session timeouts (syncLimit 10 ticks x 50 ms)
    // the two live nodes agree on a new leader, in broadcast (paused nodes are not counted as live)
    expect(await db.awaitHealthy(20_000)).toBe(true);
    const newLeader = await db.leader();
    expect(newLeader).toBeDefined();
    expect(newLeader).not.toBe(oldLeader);
    await broadcast(newLeader!, 'while-paused');
    await nemesis.invoke({ f: 'resume', value: { id: 3 } });
    const reads = await converged(30_000);
    expect(reads[0]).toEqual(['while-paused']);
    expect(byName(await db.status(), oldLeader).role).toBe('following');
  });

  it('a power outage of every node at once loses no acknowledged message', async () => {
    const { db, nemesis } = await cluster();
    const leader = (await db.leader())!;
    const acknowledged: string[] = [];
    for (let i = 0; i < 20; i++) {
      await broadcast(i % 2 === 0 ? leader : db.nodes().map((n) => n.name).find((n) => n !== leader)!, `m${i}`);
      acknowledged.push(`m${i}`);
    }
    const off = await nemesis.invoke({ f: 'power-off', value: { id: 4, targets: 'all', pick: 9 } });
    expect((off.value as { nodes: string[] }).nodes.length).toBe(3);
    expect((await db.status()).every((s) => !s.alive)).toBe(true);
    await nemesis.invoke({ f: 'power-on', value: { id: 4 } });
    const reads = await converged(30_000);
    for (const r of reads) expect(r).toEqual(acknowledged);
  });

  it('healAll after a mix of faults restores a healthy, converged cluster', async () => {
    const { db, nemesis } = await cluster();
    await nemesis.invoke({ f: 'kill', value: { id: 5, targets: 'follower', pick: 2 } });
    await nemesis.invoke({ f: 'latency', value: { id: 6, scope: 'all', latencyMs: 50, jitterMs: 10, pick: 2 } });
    await nemesis.invoke({ f: 'partition', value: { id: 7, shape: 'ring', mode: 'refuse', pick: 2 } });
    const events = await nemesis.healAll();
    expect(events.map((e) => e.f)).toContain('start');
    expect(await db.net().faults()).toEqual([]);
    await converged(30_000);
  });
});
