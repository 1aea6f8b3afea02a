/**
 * Real processes: a server rejoining with an uncommitted entry the new leader never had (a TRUNC to
 * where the logs part: first they share nothing, then a prefix of the epoch), and garbage on the peer and client ports (the server keeps serving).
 * Run `npm run build` first.
 */
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BroadcastFailed, type ZabClient } from '../../../src/client/zab-client.js';
import { encodeHandshakeFrame, encodeMessageFrame } from '../../../src/wire/peer-codec.js';
import { ClusterFixture, waitFor, type TestCluster } from './harness.js';

const fixture = new ClusterFixture();
afterEach(fixture.teardown);
const open = (c: TestCluster, id: number): Promise<ZabClient> => fixture.open(c, id);

/**
 * Freezes both followers, has the leader log one proposal no one else will ever see, kills all three,
 * restarts the followers (they elect a new leader and commit `committed` messages), then restarts the
 * old leader. Returns the old leader's id.
 */
async function strandProposal(c: TestCluster, tag: string, committed: number): Promise<number> {
  const leader = await c.awaitHealthy();
  const followers = [1, 2, 3].filter((id) => id !== leader);
  const client = await open(c, leader);
  // Frozen followers keep their connections open (the leader stays in broadcast), and die before
  // they read the proposal out of their socket buffers.
  for (const id of followers) c.pause(id);
  const stranded = client.broadcast(`${tag}-stranded`).catch((error: unknown) => error);
  // Written to its log file (what a kill -9 keeps), though no follower will ever see it.
  const logFile = join(c.node(leader).dataDir, 'txnlog');
  await waitFor('the leader to log the stranded proposal', async () => (readFileSync(logFile).includes(`${tag}-stranded`) ? true : undefined));
  await Promise.all(followers.map((id) => c.kill(id)));
  await c.kill(leader);
  expect(await stranded).toBeInstanceOf(Error); // never acknowledged
  for (const id of followers) c.start(id);
  const newLeader = await c.awaitHealthy(followers);
  const next = await open(c, newLeader);
  await Promise.all(Array.from({ length: committed }, (_, i) => next.broadcast(`${tag}-${i}`)));
  c.start(leader);
  return leader;
}

describe('rejoining servers', () => {
  it('syncs by a TRUNC to where the logs part (nothing shared, then a prefix) and drops the stranded proposals everywhere', async () => {
    const cluster = await fixture.create(3);
    cluster.startAll();

    // The first leader's only entry is its stranded proposal: the new leader has nothing of that
    // epoch, and the old leader's ACKEPOCH says it has no other: the logs share nothing, TRUNC to 0/0.
    const snapped = await strandProposal(cluster, 'snap', 5);
    let reads = await cluster.awaitDelivered([1, 2, 3], 5);
    expect(cluster.logLines(snapped).some((l) => l['syncMode'] === 'TRUNC' && String(l['message']).endsWith('trunc=0/0'))).toBe(true);
    expect(reads.get(snapped)).toEqual(reads.get(snapped === 1 ? 2 : 1));

    // Now the leader has committed entries in its epoch before the stranded one: TRUNC.
    const truncated = await strandProposal(cluster, 'trunc', 5);
    reads = await cluster.awaitDelivered([1, 2, 3], 10);
    expect(cluster.logLines(truncated).some((l) => l['syncMode'] === 'TRUNC')).toBe(true);
    expect(reads.get(1)).toEqual(reads.get(2));
    expect(reads.get(3)).toEqual(reads.get(1));
    const messages = reads.get(1)!.map((line) => line.split(' ')[1]);
    expect(messages).toEqual([...Array.from({ length: 5 }, (_, i) => `snap-${i}`), ...Array.from({ length: 5 }, (_, i) => `trunc-${i}`)]);
  });
});

function sendRaw(port: number, bytes: Buffer, endAfter = true): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => {
      socket.write(bytes);
      if (endAfter) socket.end();
    });
    socket.on('data', () => undefined);
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    setTimeout(() => socket.destroy(), 3000).unref();
  });
}

describe('bad input', () => {
  it('refuses garbage, oversize frames, half frames, strangers and wrong cluster ids, and keeps serving', async () => {
    const cluster = await fixture.create(3);
    cluster.startAll();
    await cluster.awaitHealthy();
    const target = cluster.node(1);
    const oversize = Buffer.alloc(4);
    oversize.writeUInt32BE(0xffff_fff0);
    const handshake = (clusterId: string, from: number, to: number): Buffer => encodeHandshakeFrame({ clusterId, from, to });
    const halfFrame = encodeMessageFrame({ type: 'PROPOSAL', epoch: 1, txn: { zxid: 1, originServer: 2, originSession: 's', originSeq: 1, data: new Uint8Array(100) } });

    // peer port
    await sendRaw(target.peerPort, Buffer.from('\x00\x00\x00\x0bhello peer!'));
    await sendRaw(target.peerPort, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await sendRaw(target.peerPort, oversize);
    await sendRaw(target.peerPort, handshake('another-cluster', 2, 1));
    await sendRaw(target.peerPort, handshake(cluster.clusterId, 9, 1));
    await sendRaw(target.peerPort, handshake(cluster.clusterId, 2, 3));
    await sendRaw(target.peerPort, Buffer.concat([handshake(cluster.clusterId, 2, 1), halfFrame.subarray(0, 40)]));
    await sendRaw(target.peerPort, Buffer.concat([handshake(cluster.clusterId, 3, 1), Buffer.from([0, 0, 0, 3, 0x55, 1, 2])]));
    // client port
    await sendRaw(target.clientPort, Buffer.from('\x00\x00\x00\x05garbage!'));
    await sendRaw(target.clientPort, oversize);
    await sendRaw(target.clientPort, Buffer.from([0, 0, 1, 0, 1, 0, 0]));

    const refusals = cluster.logLines(1).filter((l) => String(l['msg']).startsWith('refused peer connection')).map((l) => String(l['reason']));
    expect(refusals.some((r) => r.includes('first frame is not a handshake'))).toBe(true);
    expect(refusals.some((r) => r.includes('outside 1..'))).toBe(true);
    expect(refusals.some((r) => r.includes('wrong cluster id'))).toBe(true);
    expect(refusals.some((r) => r.includes('not in the configuration'))).toBe(true);
    expect(refusals.some((r) => r.includes('addressed to server 3'))).toBe(true);
    expect(refusals.some((r) => r.includes('unknown message tag'))).toBe(true);
    expect(cluster.logLines(1).some((l) => String(l['msg']).includes('closed in the middle of a frame'))).toBe(true);
    expect(cluster.logLines(1).some((l) => String(l['msg']).includes('closed client connection: bad input'))).toBe(true);

    // An oversize payload is a clear, definite failure.
    const client = await open(cluster, 1);
    const tooBig = await client.broadcast(new Uint8Array(client.hello.maxPayloadBytes + 1)).catch((e: unknown) => e);
    expect(tooBig).toBeInstanceOf(BroadcastFailed);
    expect(String((tooBig as Error).message)).toMatch(/exceeds the limit/);

    // Still serving: the cluster (which saw two of its links replaced by impostors) commits again.
    await cluster.awaitHealthy();
    await Promise.all(Array.from({ length: 20 }, (_, i) => client.broadcast(`after-${i}`)));
    const reads = await cluster.awaitDelivered([1, 2, 3], 20);
    expect(reads.get(2)).toEqual(reads.get(1));
    expect(reads.get(3)).toEqual(reads.get(1));
    expect(cluster.node(1).process).toBeDefined();
  });
});
