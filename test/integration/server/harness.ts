/**
 * A real-process cluster of `zabkit node` servers for integration tests: peers dial each other
 * directly (no Toxiproxy). Each node is its own process group, killed by PID in teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ZabClient, type Entry, type NodeStatusReply } from '../../../src/client/zab-client.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';

const mainJs = resolve(import.meta.dirname, '../../../dist/cli/main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface TestNode {
  readonly id: number;
  readonly peerPort: number;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  process: ChildProcess | undefined;
}

export class TestCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'zabkit-it-'));
  readonly nodes: TestNode[] = [];
  private ports: PortBlock | undefined;
  private constructor(readonly clusterId: string) {}

  static async create(size = 3, clusterId = 'it-cluster'): Promise<TestCluster> {
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build first`);
    const cluster = new TestCluster(clusterId);
    // Ports from the testbed's locked block below the ephemeral range: a port picked by binding 0
    // can be taken by another test's outgoing connection before the node binds it.
    cluster.ports = await allocatePorts({ count: 2 * size, owner: `it-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}` });
    for (let id = 1; id <= size; id++) {
      cluster.nodes.push({
        id,
        peerPort: cluster.ports.take(),
        clientPort: cluster.ports.take(),
        dataDir: join(cluster.dir, `n${id}`, 'data'),
        logFile: join(cluster.dir, `n${id}`, 'node.log'),
        process: undefined,
      });
    }
    return cluster;
  }

  node(id: number): TestNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  start(id: number, extraArgs: string[] = []): void {
    const node = this.node(id);
    if (node.process) throw new Error(`node ${id} is running`);
    const peers = this.nodes.filter((n) => n.id !== id).map((n) => `${n.id}@127.0.0.1:${n.peerPort}`).join(',');
    const child = spawn(process.execPath, [mainJs, 'node', '--cluster-id', this.clusterId, '--id', String(id), '--peer-port', String(node.peerPort),
      '--client-port', String(node.clientPort), '--peers', peers, '--data-dir', node.dataDir, '--log-file', node.logFile, '--seed', String(id), ...extraArgs], {
      detached: true,
      stdio: 'ignore',
    });
    node.process = child;
    child.once('exit', () => {
      if (node.process === child) node.process = undefined;
    });
  }

  startAll(): void {
    for (const node of this.nodes) this.start(node.id);
  }

  /** kill -9 of the node's process group; resolves once it has exited. */
  async kill(id: number): Promise<void> {
    await this.signal(id, 'SIGKILL');
  }

  async signal(id: number, signal: NodeJS.Signals): Promise<void> {
    const child = this.node(id).process;
    if (!child || child.pid === undefined) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    try {
      process.kill(-child.pid, signal);
    } catch {
      return;
    }
    if (signal === 'SIGKILL' || signal === 'SIGTERM') await exited;
  }

  pause(id: number): void {
    const pid = this.node(id).process?.pid;
    if (pid !== undefined) process.kill(-pid, 'SIGSTOP');
  }

  resume(id: number): void {
    const pid = this.node(id).process?.pid;
    if (pid !== undefined) process.kill(-pid, 'SIGCONT');
  }

  async teardown(): Promise<void> {
    for (const node of this.nodes) {
      const pid = node.process?.pid;
      if (pid === undefined) continue;
      try {
        process.kill(-pid, 'SIGCONT');
      } catch {
        // gone
      }
      await this.kill(node.id);
    }
    this.ports?.release();
    if (process.env['ZABKIT_KEEP_TEST_DIRS'] === undefined) rmSync(this.dir, { recursive: true, force: true });
    else process.stderr.write(`kept ${this.dir}\n`);
  }

  async client(id: number): Promise<ZabClient> {
    const node = this.node(id);
    return ZabClient.connect({ host: '127.0.0.1', port: node.clientPort, timeoutMs: 2000 });
  }

  async status(id: number): Promise<NodeStatusReply | undefined> {
    if (!this.node(id).process) return undefined;
    let client: ZabClient | undefined;
    try {
      client = await this.client(id);
      return await client.status({ timeoutMs: 1000 });
    } catch {
      return undefined;
    } finally {
      await client?.close();
    }
  }

  /** Waits until the running nodes (or `ids`) agree on one leader and all serve. Returns the leader id. */
  async awaitHealthy(ids = this.nodes.filter((n) => n.process).map((n) => n.id), timeoutMs = 60_000): Promise<number> {
    return waitFor(`a leader served by nodes ${ids.join(',')}`, async () => {
      const statuses = await Promise.all(ids.map((id) => this.status(id)));
      if (statuses.some((s) => !s || !s.serving)) return undefined;
      const leaders = new Set(statuses.map((s) => s!.leader));
      const leader = [...leaders][0];
      return leaders.size === 1 && leader !== undefined && statuses.some((s) => s!.state === 'leading') ? leader : undefined;
    }, timeoutMs);
  }

  async read(id: number): Promise<Entry[]> {
    const client = await this.client(id);
    try {
      return await client.read({ timeoutMs: 10_000 });
    } finally {
      await client.close();
    }
  }

  /** Waits until every listed node has delivered at least `count` entries; returns their reads. */
  async awaitDelivered(ids: number[], count: number): Promise<Map<number, string[]>> {
    return waitFor(`${count} deliveries on nodes ${ids.join(',')}`, async () => {
      const reads = new Map<number, string[]>();
      for (const id of ids) {
        const entries = await this.read(id);
        if (entries.length < count) return undefined;
        reads.set(id, entries.map(show));
      }
      return reads;
    });
  }

  logLines(id: number): Record<string, unknown>[] {
    const file = this.node(id).logFile;
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

/** "zxid payload", for comparing delivered sequences. */
export function show(entry: Entry): string {
  return `${entry.zxid.toString(16)} ${Buffer.from(entry.data).toString('utf8')}`;
}

/**
 * One cluster per test and the clients it opened, torn down after each test (register with
 * `afterEach(fixture.teardown)`): `create` starts nothing; `open` connects a client to a node.
 */
export class ClusterFixture {
  cluster: TestCluster | undefined;
  private readonly clients: ZabClient[] = [];

  async create(size = 3): Promise<TestCluster> {
    this.cluster = await TestCluster.create(size);
    return this.cluster;
  }

  async open(c: TestCluster, id: number): Promise<ZabClient> {
    return this.track(await c.client(id));
  }

  /** Close `client` with the cluster after the test. */
  track(client: ZabClient): ZabClient {
    this.clients.push(client);
    return client;
  }

  readonly teardown = async (): Promise<void> => {
    for (const client of this.clients.splice(0)) await client.close();
    await this.cluster?.teardown();
    this.cluster = undefined;
  };
}
