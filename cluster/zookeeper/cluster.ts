/**
 * A whole ZooKeeper test cluster in one call: a port block, optionally Toxiproxy with one proxy per
 * directed link per peer port (channels "quorum" and "election"), and the Db wired to dial through
 * them. The runner (`--system zookeeper`), the bench and the tests use this.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createNet, type ToxiproxyNet } from '../net.js';
import { allocatePorts, type PortBlock } from '../ports.js';
import { buildLinkProxies, createProxies, listenPort, removeProxies } from '../topology.js';
import { startToxiproxy, type ToxiproxyHandle } from '../toxiproxy.js';
import type { ClusterFile, ClusterProxy } from '../types.js';
import { cleanupStaleClusters, ownerIsLive, unregisterCluster, writeClusterFile } from '../cluster-file.js';
import { createZookeeperDb, type ZookeeperDb, type ZookeeperDbOptions } from './db.js';
import type { ZkNodePorts } from './config.js';

export interface ZookeeperClusterOptions extends Omit<ZookeeperDbOptions, 'ports' | 'basePort' | 'dial'> {
  /** Route quorum and election links through Toxiproxy (default true). */
  readonly throughProxy?: boolean;
  /** Repository root, to find (or install) toxiproxy-server. */
  readonly repoRoot: string;
  /** Use a running Toxiproxy instead of starting one. */
  readonly toxiproxyUrl?: string;
  /** Cluster id: owner of the port locks and name of the registry entry (default: unique per run). */
  readonly owner?: string;
}

export interface ZookeeperCluster {
  readonly db: ZookeeperDb;
  /** Undefined without Toxiproxy. */
  readonly net: ToxiproxyNet | undefined;
  readonly toxiproxy: ToxiproxyHandle | undefined;
  readonly proxies: readonly ClusterProxy[];
  /** Teardown the Db, remove the proxies, stop Toxiproxy (if started here), release the ports. Never throws. */
  close(): Promise<void>;
}

export async function createZookeeperCluster(options: ZookeeperClusterOptions): Promise<ZookeeperCluster> {
  const throughProxy = options.throughProxy ?? true;
  const n = options.nodes;
  const names = Array.from({ length: n }, (_, k) => `n${k + 1}`);
  const count = 3 * n + (throughProxy ? 2 * n * (n - 1) + 1 : 0);
  // What a SIGKILLed runner left behind (zabkit's or ZooKeeper's) is cleaned up first.
  await cleanupStaleClusters(options.log).catch(() => 0);
  const clusterId = options.owner ?? `zk-${process.pid.toString(36)}-${Date.now().toString(36)}`;
  const block: PortBlock = await allocatePorts({ count, owner: clusterId, isOwnerLive: ownerIsLive });
  const ports: ZkNodePorts[] = names.map(() => ({ client: block.take(), quorum: block.take(), election: block.take() }));
  const portsOf = (name: string): ZkNodePorts => ports[Number(name.slice(1)) - 1]!;
  mkdirSync(path.resolve(options.dir), { recursive: true });
  let toxiproxy: ToxiproxyHandle | undefined;
  let proxies: ClusterProxy[] = [];
  try {
    if (throughProxy) {
      toxiproxy = await startToxiproxy({
        repoRoot: options.repoRoot,
        ...(options.toxiproxyUrl ? { url: options.toxiproxyUrl } : {}),
        port: block.take(),
        logFile: path.join(path.resolve(options.dir), 'toxiproxy.log'),
      });
      proxies = buildLinkProxies({
        prefix: `zk${block.base}`,
        nodes: names,
        channels: [
          { name: 'quorum', upstreamPort: (to) => portsOf(to).quorum },
          { name: 'election', upstreamPort: (to) => portsOf(to).election },
        ],
        takePort: () => block.take(),
      });
      await createProxies(toxiproxy.api, proxies);
    }
  } catch (error) {
    await toxiproxy?.stop();
    block.release();
    throw error;
  }
  const dial = throughProxy
    ? (from: string, to: string, kind: 'quorum' | 'election'): { host: string; port: number } => {
        const proxy = proxies.find((p) => p.from === from && p.to === to && p.name.endsWith(`-${kind}`));
        if (!proxy) throw new Error(`no ${kind} proxy for ${from}->${to}`);
        return { host: proxy.listen.slice(0, proxy.listen.lastIndexOf(':')), port: listenPort(proxy) };
      }
    : undefined;
  const dir = path.resolve(options.dir);
  // cluster.json + the registry copy, so a later run can clean up after a dead runner.
  const record = (): void => {
    const file: ClusterFile = {
      version: 1,
      system: 'zookeeper',
      clusterId,
      dir,
      runnerPid: process.pid,
      createdAt,
      toxiproxy: toxiproxy ? { url: toxiproxy.url, ...(toxiproxy.pid !== undefined ? { pid: toxiproxy.pid } : {}) } : null,
      nodes: db.nodes().map((node) => ({
        name: node.name,
        id: node.id,
        clientHost: node.clientHost,
        clientPort: node.clientPort,
        peerHost: '127.0.0.1',
        peerPort: node.ports.quorum,
        pid: db.pid(node.name),
        dataDir: node.dataDir,
        logFile: node.logFile,
        configFile: node.configFile,
      })),
      proxies,
      portLocks: block.lockFiles,
    };
    try {
      writeClusterFile(file);
    } catch {
      // best effort: the record only serves the cleanup of a crashed run
    }
  };
  const createdAt = new Date().toISOString();
  const db: ZookeeperDb = createZookeeperDb({
    ...options,
    ports: (index) => ports[index]!,
    ...(dial ? { dial } : {}),
    onProcessChange: () => {
      record();
      options.onProcessChange?.();
    },
  });
  record();
  const net = toxiproxy ? createNet(toxiproxy.api, proxies) : undefined;
  let closed = false;
  return {
    db,
    net,
    toxiproxy,
    proxies,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await db.teardown().catch(() => undefined);
      if (toxiproxy) {
        await removeProxies(toxiproxy.api, proxies).catch(() => undefined);
        await toxiproxy.stop().catch(() => undefined);
      }
      block.release();
      unregisterCluster(clusterId);
    },
  };
}
