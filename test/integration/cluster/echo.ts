/**
 * Shared by the Toxiproxy tests: two (or three) TCP echo servers on 127.0.0.1 standing in for
 * nodes, one real Toxiproxy with one proxy per directed link between them, and a way to push a
 * payload through a proxy and get back what was echoed. Everything is bounded and torn down.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createNet, type ToxiproxyNet } from '../../../cluster/net.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';
import { isAlive, killGroup } from '../../../cluster/proc.js';
import { buildLinkProxies, createProxies, listenPort, removeProxies } from '../../../cluster/topology.js';
import { startToxiproxy, type ToxiproxyHandle } from '../../../cluster/toxiproxy.js';
import type { ClusterProxy } from '../../../cluster/types.js';

const repoRoot = resolve(import.meta.dirname, '../../..');

export interface EchoBed {
  readonly dir: string;
  readonly block: PortBlock;
  readonly toxiproxy: ToxiproxyHandle;
  readonly toxiproxyPort: number;
  readonly proxies: ClusterProxy[];
  readonly net: ToxiproxyNet;
  readonly servers: Map<string, Server>;
  /** Every toxiproxy-server pid seen (restarts add more), to check none is left. */
  readonly pids: Set<number>;
  port(from: string, to: string): number;
  close(): Promise<void>;
}

export async function echoBed(names: readonly string[], prefix: string): Promise<EchoBed> {
  const dir = mkdtempSync(join(tmpdir(), `zabkit-${prefix}-`));
  const block = await allocatePorts({ count: names.length * names.length + names.length + 1, owner: `${prefix}-${process.pid}` });
  const servers = new Map<string, Server>();
  const open = new Set<Socket>();
  const serverPort = new Map<string, number>();
  for (const name of names) {
    const port = block.take();
    serverPort.set(name, port);
    const server = createServer((socket) => {
      socket.on('error', () => {});
      socket.pipe(socket);
      open.add(socket);
      socket.on('close', () => open.delete(socket));
    });
    await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
    servers.set(name, server);
  }
  const toxiproxyPort = block.take();
  const toxiproxy = await startToxiproxy({ repoRoot, port: toxiproxyPort, logFile: join(dir, 'toxiproxy.log') });
  const proxies = buildLinkProxies({ prefix: `${prefix}${process.pid}`, nodes: names, channels: [{ upstreamPort: (to) => serverPort.get(to)! }], takePort: () => block.take() });
  await createProxies(toxiproxy.api, proxies);
  const net = createNet(toxiproxy.api, proxies);
  const pids = new Set<number>([toxiproxy.pid!]);
  return {
    dir, block, toxiproxy, toxiproxyPort, proxies, net, servers, pids,
    port: (from, to) => listenPort(proxies.find((p) => p.from === from && p.to === to)!),
    close: async () => {
      if (toxiproxy.pid !== undefined) pids.add(toxiproxy.pid);
      if (isAlive(toxiproxy.pid)) await removeProxies(toxiproxy.api, proxies);
      await toxiproxy.stop();
      for (const pid of pids) if (isAlive(pid)) await killGroup(pid);
      for (const socket of open) socket.destroy();
      for (const server of servers.values()) await new Promise((done) => server.close(done));
      block.release();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function connect(port: number, timeoutMs = 2000): Promise<Socket> {
  return new Promise((done, fail) => {
    const socket = createConnection({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => { socket.destroy(); fail(new Error(`connect to ${port} timed out`)); }, timeoutMs);
    socket.once('connect', () => { clearTimeout(timer); done(socket); });
    socket.once('error', (error) => { clearTimeout(timer); fail(error); });
  });
}

export interface Echoed {
  /** Bytes that came back, in order. */
  readonly received: Buffer;
  /** The whole payload came back, byte for byte. */
  readonly intact: boolean;
  /** The connection was closed or reset before the payload came back. */
  readonly closed: boolean;
}

/** Connect to `port`, write `payload`, collect the echo until all of it is back, the connection ends, or `waitMs`. */
export async function pushThrough(port: number, payload: Buffer, waitMs: number): Promise<Echoed> {
  let socket: Socket;
  try {
    socket = await connect(port);
  } catch {
    return { received: Buffer.alloc(0), intact: false, closed: true };
  }
  return new Promise((done) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      socket.destroy();
      const received = Buffer.concat(chunks);
      done({ received, intact: received.equals(payload), closed });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length >= payload.length) finish(false);
    });
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.write(payload);
  });
}

/** An MTU-sized payload: big enough for the slicer to split it many times, small enough for 1 KB/s. */
export function payload(bytes = 1500): Buffer {
  return randomBytes(bytes);
}
