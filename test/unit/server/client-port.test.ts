/** The client port and the client library together, in-process over loopback, with a scripted stand-in for the core. */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BroadcastFailed, OutcomeUnknown, ZabClient, type Entry } from '../../../src/client/zab-client.js';
import { encodeRequest, op } from '../../../src/wire/client-protocol.js';
import type { NodeStatusReply } from '../../../src/wire/client-protocol.js';
import { ClientPort } from '../../../src/server/client-port.js';
import { DeliveredLog } from '../../../src/server/delivered-log.js';
import { MemoryLogStore } from '../../../src/core/log.js';
import type { Txn } from '../../../src/core/types.js';
import { maxPayloadBytes } from '../../../src/core/limits.js';
import { createLogger } from '../../../src/server/logger.js';
import { makeZxid } from '../../../src/core/zxid.js';

const logger = createLogger(1, '/dev/null');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Request { session: string; seq: number; data: Uint8Array }

/** The log the delivered sequence is read back from (the server's transaction log). */
function storeReader(store: MemoryLogStore): (from: number, to: number, maxBytes: number) => Txn[] {
  return (from, to, maxBytes) => store.read(from, to, { entries: Number.POSITIVE_INFINITY, bytes: maxBytes });
}

async function startPort(options: { store?: MemoryLogStore; keep?: number } = {}): Promise<{ port: ClientPort; requests: Request[]; ended: string[]; address: { host: string; port: number } }> {
  const store = options.store ?? new MemoryLogStore();
  const requests: Request[] = [];
  const ended: string[] = [];
  const port = new ClientPort({ host: '127.0.0.1', port: 0, serverId: 1, plantedBugs: false }, logger, {
    broadcast: (session, seq, data) => requests.push({ session, seq, data }),
    sessionEnded: (session) => void ended.push(session),
    status: () => ({ id: 1, state: 'leading', phase: 'broadcast', leader: 1, acceptedEpoch: 1, currentEpoch: 1, lastZxid: 0, commitZxid: 0, round: 1, pid: process.pid, serving: true, deliveredZxid: 0, delivered: 0 }) as NodeStatusReply,
  }, new DeliveredLog(storeReader(store), (from, to) => store.count(from, to), true, options.keep));
  await port.start();
  cleanups.push(() => port.close());
  return { port, requests, ended, address: { host: '127.0.0.1', port: port.port } };
}

async function connect(address: { host: string; port: number }): Promise<ZabClient> {
  const client = await ZabClient.connect({ ...address, timeoutMs: 2000 });
  cleanups.push(() => client.close());
  return client;
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
};

const txn = (counter: number, text: string) => ({ zxid: makeZxid(1, counter), originServer: 1, originSession: 's', originSeq: counter, data: Buffer.from(text) });

describe('client port + client library', () => {
  it('answers pipelined broadcasts ok / fail / unknown as the core decides', async () => {
    const { port, requests, address } = await startPort();
    const client = await connect(address);
    const results = [client.broadcast('a'), client.broadcast('b'), client.broadcast('c')].map((p) => p.catch((e: unknown) => e));
    await until(() => requests.length === 3);
    expect(requests.map((r) => Buffer.from(r.data).toString())).toEqual(['a', 'b', 'c']);
    expect(new Set(requests.map((r) => r.session)).size).toBe(1);
    port.reply({ session: requests[0]!.session, seq: requests[0]!.seq, type: 'ok', zxid: makeZxid(1, 1) });
    port.reply({ session: requests[1]!.session, seq: requests[1]!.seq, type: 'fail', reason: 'not in broadcast' });
    port.reply({ session: requests[2]!.session, seq: requests[2]!.seq, type: 'unknown', reason: 'left broadcast' });
    port.flush();
    const [a, b, c] = await Promise.all(results);
    expect(a).toEqual({ zxid: makeZxid(1, 1), zxidHex: '0x100000001' });
    expect(b).toBeInstanceOf(BroadcastFailed);
    expect(c).toBeInstanceOf(OutcomeUnknown);
  });

  it('after a FAIL or UNKNOWN the library resumes: later broadcasts go to a new core session, the old one is ended', async () => {
    const { port, requests, ended, address } = await startPort();
    const client = await connect(address);
    const first = client.broadcast('m1').catch((e: unknown) => e);
    await until(() => requests.length === 1);
    port.reply({ session: requests[0]!.session, seq: requests[0]!.seq, type: 'unknown', reason: 'left broadcast' });
    port.flush();
    expect(await first).toBeInstanceOf(OutcomeUnknown);
    void client.broadcast('m2').catch(() => undefined);
    await until(() => requests.length === 2);
    // RESUME reached the port before m2 (one TCP stream): m2 is in a new session, the old one ended.
    expect(ended).toEqual([requests[0]!.session]);
    expect(requests[1]!.session).not.toBe(requests[0]!.session);
    expect(requests[1]!.session.split('/')[0]).toBe(requests[0]!.session.split('/')[0]);
    await client.close();
    await until(() => ended.length === 2);
    expect(ended[1]).toBe(requests[1]!.session);
  });

  it('gives each connection its own session and reports status', async () => {
    const { requests, address } = await startPort();
    const one = await connect(address);
    const two = await connect(address);
    void one.broadcast('x').catch(() => undefined);
    void two.broadcast('y').catch(() => undefined);
    await until(() => requests.length === 2);
    expect(requests[0]!.session).not.toBe(requests[1]!.session);
    expect((await one.status()).serving).toBe(true);
  });

  it('times out a broadcast as unknown, and a lost connection makes pending broadcasts unknown', async () => {
    const { port, requests, address } = await startPort();
    const client = await connect(address);
    await expect(client.broadcast('slow', { timeoutMs: 50 })).rejects.toBeInstanceOf(OutcomeUnknown);
    const pending = client.broadcast('lost').catch((e: unknown) => e);
    await until(() => requests.length === 2);
    port.close();
    expect(await pending).toBeInstanceOf(OutcomeUnknown);
    // never sent: definitely not delivered
    await expect(client.broadcast('after')).rejects.toBeInstanceOf(BroadcastFailed);
  });

  it('refuses an oversize payload with a clear definite failure, from the library and from the server', async () => {
    const { requests, address } = await startPort();
    const client = await connect(address);
    await expect(client.broadcast(new Uint8Array(maxPayloadBytes + 1))).rejects.toThrow(/exceeds the limit of \d+ bytes/);
    // bypassing the library's check
    const reply = await new Promise<Buffer>((resolve) => {
      const socket = net.connect(address, () => socket.write(encodeRequest(op.broadcast, 1, new Uint8Array(maxPayloadBytes + 10))));
      let data = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const helloLength = data.length >= 4 ? 4 + data.readUInt32BE(0) : Infinity;
        if (data.length > helloLength + 4 && data.length >= helloLength + 4 + data.readUInt32BE(helloLength)) {
          socket.destroy();
          resolve(data.subarray(helloLength + 4));
        }
      });
    });
    expect(reply[0]).toBe(op.fail);
    expect(reply.toString('utf8', 5)).toMatch(/exceeds the limit/);
    expect(requests).toHaveLength(0);
  });

  it('after its own FAIL of an oversize payload the port fails the session\'s later broadcasts until RESUME (session order)', async () => {
    const { requests, address } = await startPort();
    const frames: Buffer[] = [];
    const socket = net.connect(address);
    cleanups.push(() => void socket.destroy());
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      while (data.length >= 4 && data.length >= 4 + data.readUInt32BE(0)) {
        frames.push(data.subarray(4, 4 + data.readUInt32BE(0)));
        data = data.subarray(4 + data.readUInt32BE(0));
      }
    });
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // pipelined: an oversize m1, then m2 sent before the client could see m1's FAIL
    socket.write(encodeRequest(op.broadcast, 1, new Uint8Array(maxPayloadBytes + 10)));
    socket.write(encodeRequest(op.broadcast, 2, new Uint8Array([1])));
    await until(() => frames.length === 3); // HELLO, FAIL m1, FAIL m2
    expect(frames.slice(1).map((f) => [f[0], f.readUInt32BE(1)])).toEqual([[op.fail, 1], [op.fail, 2]]);
    expect(frames[2]!.toString('utf8', 5)).toMatch(/session closed/);
    expect(requests).toHaveLength(0);
    // after RESUME a new session starts, and broadcasts reach the core again
    socket.write(encodeRequest(op.resume, 3));
    socket.write(encodeRequest(op.broadcast, 4, new Uint8Array([2])));
    await until(() => requests.length === 1);
    expect(requests[0]!.seq).toBe(4);
  });

  it('reads the whole delivered sequence across chunks, and subscribers catch up then follow live without repeats', async () => {
    const { port, address } = await startPort();
    const big = 'z'.repeat(60_000);
    port.deliver(undefined, Array.from({ length: 12 }, (_, i) => txn(i + 1, `${i}:${big}`)));
    const client = await connect(address);
    const entries = await client.read();
    expect(entries.map((e) => e.zxid)).toEqual(Array.from({ length: 12 }, (_, i) => makeZxid(1, i + 1)));
    expect(Buffer.from(entries[11]!.data).toString()).toBe(`11:${big}`);

    const seen: Entry[] = [];
    client.subscribe(makeZxid(1, 10), (entry) => seen.push(entry));
    await until(() => seen.length === 2);
    port.deliver(undefined, [txn(13, 'live-1'), txn(14, 'live-2')]);
    port.flush();
    await until(() => seen.length === 4);
    expect(seen.map((e) => e.zxid)).toEqual([11, 12, 13, 14].map((c) => makeZxid(1, c)));
  });

  it('serves delivered entries it no longer holds in memory from the log: a stored range, then entries compacted out', async () => {
    // A restarted server: its whole history is delivered as one range of the log.
    const history = Array.from({ length: 300 }, (_, i) => txn(i + 1, `h${i + 1}:${'y'.repeat(3000)}`));
    const store = new MemoryLogStore(history);
    const { port, address } = await startPort({ store, keep: 8 });
    const early = await connect(address);
    const earlySeen: Entry[] = [];
    early.subscribe(makeZxid(1, 5), (entry) => earlySeen.push(entry));
    await new Promise((r) => setTimeout(r, 50));
    port.deliver({ after: 0, upTo: makeZxid(1, 300) }, []);
    port.flush();
    await until(() => earlySeen.length === 295);
    // Live entries, then enough more that the oldest leave memory.
    const live = Array.from({ length: 40 }, (_, i) => txn(301 + i, `l${301 + i}`));
    store.persist(undefined, live);
    for (const t of live) {
      port.deliver(undefined, [t]);
      port.flush();
    }
    await until(() => earlySeen.length === 335);
    expect(earlySeen.map((e) => e.zxid)).toEqual(Array.from({ length: 335 }, (_, i) => makeZxid(1, i + 6)));
    const client = await connect(address);
    const all = await client.read();
    expect(all.map((e) => e.zxid)).toEqual(Array.from({ length: 340 }, (_, i) => makeZxid(1, i + 1)));
    expect(Buffer.from(all[299]!.data).toString()).toBe(`h300:${'y'.repeat(3000)}`);
    const late: Entry[] = [];
    client.subscribe(makeZxid(1, 320), (entry) => late.push(entry));
    await until(() => late.length === 20);
    expect(late.map((e) => e.zxid)).toEqual(Array.from({ length: 20 }, (_, i) => makeZxid(1, 321 + i)));
  });

  it('closes a connection that sends garbage, and keeps serving others', async () => {
    const { address } = await startPort();
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(address, () => socket.write(Buffer.from([0, 0, 0, 6, 0x42, 0, 0, 0, 1, 9])));
      socket.on('data', () => undefined);
      socket.on('close', () => resolve(true));
    });
    expect(closed).toBe(true);
    const client = await connect(address);
    expect((await client.status()).id).toBe(1);
  });
});
