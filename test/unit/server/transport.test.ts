/** Two peer transports in-process over loopback: handshake, one-way data, refusals, disconnections. */
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../../src/core/assert.js';
import type { Message, ServerId } from '../../../src/core/types.js';
import { encodeHandshakeFrame } from '../../../src/wire/peer-codec.js';
import { createLogger } from '../../../src/server/logger.js';
import { PeerTransport } from '../../../src/server/transport.js';

const logger = createLogger(0, '/dev/null');
const transports: PeerTransport[] = [];
afterEach(() => {
  for (const t of transports.splice(0)) t.close();
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
}

interface Recorder {
  messages: [ServerId, Message][];
  disconnected: ServerId[];
}

async function pair(): Promise<{ a: PeerTransport; b: PeerTransport; ra: Recorder; rb: Recorder; portA: number; portB: number }> {
  const [portA, portB] = [await freePort(), await freePort()];
  const make = (id: number, port: number, peerId: number, peerPort: number): [PeerTransport, Recorder] => {
    const recorder: Recorder = { messages: [], disconnected: [] };
    const transport = new PeerTransport({ clusterId: 'unit', id, peerHost: '127.0.0.1', peerPort: port, peers: [{ id: peerId, host: '127.0.0.1', port: peerPort }] }, logger, {
      onMessage: (from, message) => recorder.messages.push([from, message]),
      onDisconnected: (peer) => recorder.disconnected.push(peer),
    });
    transports.push(transport);
    return [transport, recorder];
  };
  const [a, ra] = make(1, portA, 2, portB);
  const [b, rb] = make(2, portB, 1, portA);
  await a.start();
  await b.start();
  return { a, b, ra, rb, portA, portB };
}

const until = async (condition: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(condition()).toBe(true);
};

/** Messages sent before a connection exists are dropped (with a 'disconnected') if the connect fails: probe until one arrives. */
async function established(from: PeerTransport, to: ServerId, recorder: Recorder): Promise<void> {
  await until(() => {
    from.send(to, { type: 'PONG', epoch: 0 });
    from.flush();
    return recorder.messages.length > 0;
  });
  await new Promise((r) => setTimeout(r, 50));
  recorder.messages.length = 0;
}

describe('peer transport', () => {
  it('delivers messages in order on the sender\'s own connection', async () => {
    const { a, rb } = await pair();
    await established(a, 2, rb);
    for (let i = 0; i < 100; i++) a.send(2, { type: 'PING', epoch: 1, commitZxid: i });
    a.flush();
    await until(() => rb.messages.length === 100);
    expect(rb.messages.map(([from, m]) => [from, (m as { commitZxid: number }).commitZxid])).toEqual(Array.from({ length: 100 }, (_, i) => [1, i]));
  });

  it('whenDrained: calls back once what was queued has left the process (16 MiB in one flush: at the socket\'s drain)', async () => {
    const { a, rb } = await pair();
    await established(a, 2, rb);
    // 16 MiB in one flush: the socket needs a drain; the callback waits for it.
    const txn = { zxid: 1, originServer: 1, originSession: 's', originSeq: 0, data: new Uint8Array(64 * 1024) };
    for (let i = 0; i < 256; i++) a.send(2, { type: 'PROPOSAL', epoch: 1, txn: { ...txn, zxid: i + 1 } });
    a.flush();
    let drainedAt: number | undefined;
    a.whenDrained(2, () => {
      drainedAt = rb.messages.length;
    });
    expect(drainedAt).toBeUndefined();
    await until(() => drainedAt !== undefined);
    await until(() => rb.messages.length === 256);
  });

  it('whenDrained before a connection exists waits for the connection to take the queued frames', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const disconnected: ServerId[] = [];
    const a = new PeerTransport({ clusterId: 'unit', id: 1, peerHost: '127.0.0.1', peerPort: portA, peers: [{ id: 2, host: '127.0.0.1', port: portB }] }, logger, {
      onMessage: () => undefined,
      onDisconnected: (peer) => void disconnected.push(peer),
    });
    transports.push(a);
    await a.start();
    a.send(2, { type: 'PONG', epoch: 0 });
    let drained = 0;
    a.whenDrained(2, () => void drained++);
    // Nobody listens on portB: the connect fails, the queued frame is dropped, the core hears 'disconnected', never 'drained'.
    await until(() => disconnected.includes(2));
    await new Promise((r) => setTimeout(r, 50));
    expect(drained).toBe(0);
  });

  it('reports disconnected when the peer goes away, and reconnects when it returns', async () => {
    const { a, b, ra, rb, portB } = await pair();
    await established(a, 2, rb);
    await established(b, 1, ra);
    b.close();
    await until(() => ra.disconnected.includes(2));
    // b comes back on the same port
    const recorder: Recorder = { messages: [], disconnected: [] };
    const again = new PeerTransport({ clusterId: 'unit', id: 2, peerHost: '127.0.0.1', peerPort: portB, peers: [{ id: 1, host: '127.0.0.1', port: a.port }] }, logger, {
      onMessage: (from, message) => recorder.messages.push([from, message]),
      onDisconnected: (peer) => recorder.disconnected.push(peer),
    });
    transports.push(again);
    await again.start();
    await until(() => {
      a.send(2, { type: 'PONG', epoch: 2 });
      a.flush();
      return recorder.messages.length > 0;
    });
    expect(recorder.messages[0]![1]).toEqual({ type: 'PONG', epoch: 2 });
  });

  it('refuses a wrong cluster id and reports a replaced inbound connection as a disconnection', async () => {
    const { a, b, ra, rb, portB } = await pair();
    await established(a, 2, rb);
    const send = (bytes: Buffer): Promise<void> => new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port: portB }, () => socket.write(bytes));
      socket.on('close', () => resolve());
      socket.on('error', () => undefined);
      setTimeout(() => socket.destroy(), 300);
    });
    await send(encodeHandshakeFrame({ clusterId: 'other', from: 1, to: 2 }));
    expect(rb.disconnected).toEqual([]);
    // an impostor claiming to be server 1 replaces the real stream: b must hear of the break
    await send(encodeHandshakeFrame({ clusterId: 'unit', from: 1, to: 2 }));
    await until(() => rb.disconnected.includes(1));
    expect(ra.messages).toEqual([]);
    // the real server 1 reconnects on its own and its stream flows again
    rb.messages.length = 0;
    await established(a, 2, rb);
    void b;
  });
});

describe('peer transport: programmer errors', () => {
  it('asserts that a message is addressed to a configured peer', async () => {
    const { a } = await pair();
    expect(() => a.send(7, { type: 'PONG', epoch: 0 })).toThrow(AssertionError);
  });
});
