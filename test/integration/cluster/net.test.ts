/**
 * Net over the real Toxiproxy, with plain TCP echo servers as the "nodes": a silent cut drops bytes
 * in one direction only, refuse refuses connects, latency delays, healAll restores everything.
 * Also prints the rough cost of one proxy hop (echo round trip direct vs proxied).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNet, type ToxiproxyNet } from '../../../cluster/net.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';
import { isAlive } from '../../../cluster/proc.js';
import { buildLinkProxies, createProxies, listenPort, removeProxies } from '../../../cluster/topology.js';
import { startToxiproxy, type ToxiproxyHandle } from '../../../cluster/toxiproxy.js';
import type { ClusterProxy } from '../../../cluster/types.js';

const repoRoot = resolve(import.meta.dirname, '../../..');
const names = ['a', 'b'];

function echoServer(port: number): Promise<Server> {
  const server = createServer((socket) => { socket.on('error', () => {}); socket.pipe(socket); });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done(server)));
}

function connect(port: number): Promise<Socket> {
  return new Promise((done, fail) => {
    const socket = createConnection({ port, host: '127.0.0.1' }, () => done(socket));
    socket.once('error', fail);
  });
}

/** Send one line, resolve with the echo's round trip in ms, or undefined after `waitMs`. */
function roundTrip(socket: Socket, waitMs: number): Promise<number | undefined> {
  return new Promise((done) => {
    const start = process.hrtime.bigint();
    const timer = setTimeout(() => { socket.off('data', onData); done(undefined); }, waitMs);
    const onData = (): void => { clearTimeout(timer); socket.off('data', onData); done(Number(process.hrtime.bigint() - start) / 1e6); };
    socket.on('data', onData);
    socket.write('x');
  });
}

describe('ToxiproxyNet (echo servers)', () => {
  let dir: string;
  let block: PortBlock;
  let toxiproxy: ToxiproxyHandle;
  let proxies: ClusterProxy[];
  let net: ToxiproxyNet;
  const servers: Server[] = [];
  const serverPort: Record<string, number> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'zabkit-net-'));
    block = await allocatePorts({ count: 10, owner: `net-test-${process.pid}` });
    for (const name of names) {
      serverPort[name] = block.take();
      servers.push(await echoServer(serverPort[name]!));
    }
    toxiproxy = await startToxiproxy({ repoRoot, port: block.take(), logFile: join(dir, 'toxiproxy.log') });
    proxies = buildLinkProxies({ prefix: `t${process.pid}`, nodes: names, channels: [{ upstreamPort: (to) => serverPort[to]! }], takePort: () => block.take() });
    await createProxies(toxiproxy.api, proxies);
    net = createNet(toxiproxy.api, proxies);
  });

  afterAll(async () => {
    if (toxiproxy) { await removeProxies(toxiproxy.api, proxies ?? []); await toxiproxy.stop(); expect(isAlive(toxiproxy.pid)).toBe(false); }
    for (const server of servers) await new Promise((done) => server.close(done));
    block?.release();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const port = (from: string, to: string): number => listenPort(proxies.find((p) => p.from === from && p.to === to)!);

  it('measures the proxy hop cost', async () => {
    const direct = await connect(serverPort.b!);
    const proxied = await connect(port('a', 'b'));
    const sample = async (socket: Socket): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 300; i++) times.push((await roundTrip(socket, 2000))!);
      times.sort((x, y) => x - y);
      return times[Math.floor(times.length / 2)]!;
    };
    await sample(direct); await sample(proxied); // warm up
    const directMs = await sample(direct);
    const proxiedMs = await sample(proxied);
    process.stdout.write(`proxy hop: echo round trip p50 direct ${directMs.toFixed(3)} ms, through Toxiproxy ${proxiedMs.toFixed(3)} ms\n`);
    direct.destroy(); proxied.destroy();
    expect(proxiedMs).toBeGreaterThan(0);
  });

  it('a silent cut a->b drops a\'s bytes to b, and b\'s bytes to a still flow', async () => {
    const aToB = await connect(port('a', 'b'));
    const bToA = await connect(port('b', 'a'));
    expect(await roundTrip(aToB, 1000)).toBeDefined();
    await net.cut('a', 'b', 'silent');
    // a's request never reaches b; b dials a, a echoes: that echo (a->b bytes) is dropped too.
    expect(await roundTrip(aToB, 500)).toBeUndefined();
    expect(await roundTrip(bToA, 500)).toBeUndefined();
    // the other direction alone: cut b->a is not set, so a fresh connection b->a delivers b's bytes to a
    const received = new Promise<boolean>((done) => { const s = servers[0]!; s.once('connection', (c) => c.once('data', () => done(true))); setTimeout(() => done(false), 1000); });
    const fresh = await connect(port('b', 'a'));
    fresh.write('y');
    expect(await received).toBe(true);
    expect((await net.faults()).length).toBe(2);
    await net.healAll();
    expect(await net.faults()).toEqual([]);
    const again = await connect(port('a', 'b'));
    expect(await roundTrip(again, 1000)).toBeDefined();
    for (const s of [aToB, bToA, fresh, again]) s.destroy();
  });

  it('refuse: connects are refused until healed', async () => {
    await net.cut('a', 'b', 'refuse');
    await expect(connect(port('a', 'b'))).rejects.toThrow(/ECONNREFUSED/);
    await net.heal('a', 'b', 'cut');
    const socket = await connect(port('a', 'b'));
    expect(await roundTrip(socket, 1000)).toBeDefined();
    socket.destroy();
    await net.cut('a', 'b', 'refuse');
    await net.healAll();
    const after = await connect(port('a', 'b'));
    expect(await roundTrip(after, 1000)).toBeDefined();
    after.destroy();
  });

  it('latency delays the round trip; heal of one kind leaves others', async () => {
    await net.latency('a', 'b', 200, 0);
    await net.bandwidth('b', 'a', 1000);
    const socket = await connect(port('a', 'b'));
    expect(await roundTrip(socket, 2000)).toBeGreaterThanOrEqual(190);
    await net.heal('a', 'b', 'latency');
    expect((await net.faults()).flatMap((f) => f.toxics)).toEqual(['bandwidth-b-a', 'bandwidth-b-a']);
    await net.reset('a', 'b', 0);
    await net.slice('a', 'b', 10, 5, 10);
    await net.healAll();
    expect(await net.faults()).toEqual([]);
    socket.destroy();
  });

  it('recreates a proxy deleted behind its back', async () => {
    await toxiproxy.api.remove(proxies[0]!.name);
    await net.healAll();
    const listed = await toxiproxy.api.list();
    expect(Object.keys(listed)).toContain(proxies[0]!.name);
  });
});
