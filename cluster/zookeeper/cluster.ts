/**
 * A whole ZooKeeper test cluster in one call: a port block, optionally Toxiproxy with one proxy per
 * directed link per peer port (channels "quorum" and "election"), and the Db wired to dial through
 * them. The runner (`--system zookeeper`), the bench and the tests use this.
 */
import path from 'node:path';
import { ClusterAssembly } from '../assembly.js';
import type { ToxiproxyNet } from '../net.js';
import { listenPort } from '../topology.js';
import type { ToxiproxyHandle } from '../toxiproxy.js';
import type { ClusterNode, ClusterProxy } from '../types.js';
import { createZookeeperDb, type ZookeeperDb, type ZookeeperDbOptions } from './db.js';
import { debianZookeeperVersion, resolveZookeeper } from './versions.js';
import type { DiskFaults, PowerCutMode } from '../../jepsen-style/types.js';

export interface ZookeeperClusterOptions extends Omit<ZookeeperDbOptions, 'ports' | 'basePort' | 'dial'> {
  /** Route quorum and election links through Toxiproxy (default true). */
  readonly throughProxy?: boolean;
  /** Repository root, to find (or install) toxiproxy-server. */
  readonly repoRoot: string;
  /** Use a running Toxiproxy instead of starting one. */
  readonly toxiproxyUrl?: string;
  /** Cluster id: owner of the port locks and name of the registry entry (default: unique per run). */
  readonly owner?: string;
  /** The release to run (versions.ts): Debian's 3.8.0 by default, any other through the Maven cache. */
  readonly version?: string;
  /** The fault filesystem's binary: each node's dataDir is one (cluster/faultfs.ts). */
  readonly faultFs?: string;
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
  const dir = path.resolve(options.dir);
  // Before anything starts: a release Maven cannot resolve leaves nothing behind.
  const classpath = options.classpath ?? resolveZookeeper(options.version ?? debianZookeeperVersion, {
    repoRoot: options.repoRoot,
    ...(options.log ? { log: options.log } : {}),
  });
  // What a SIGKILLed runner left behind (zabkit's or ZooKeeper's) is cleaned up first, by the assembly.
  const assembly = await ClusterAssembly.open({
    system: 'zookeeper',
    clusterId: options.owner ?? `zk-${process.pid.toString(36)}-${Date.now().toString(36)}`,
    dir,
    nodes: options.nodes,
    nodePorts: ['client', 'quorum', 'election'],
    proxied: options.throughProxy ?? true,
    channels: [{ name: 'quorum', port: 'quorum' }, { name: 'election', port: 'election' }],
    proxyPrefix: (block) => `zk${block.base}`,
    repoRoot: options.repoRoot,
    ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
    ...(options.faultFs !== undefined ? { faultFs: options.faultFs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const dial = assembly.toxiproxy
    ? (from: string, to: string, kind: 'quorum' | 'election'): { host: string; port: number } => {
        const proxy = assembly.proxy(from, to, kind);
        if (!proxy) throw new Error(`no ${kind} proxy for ${from}->${to}`);
        return { host: proxy.listen.slice(0, proxy.listen.lastIndexOf(':')), port: listenPort(proxy) };
      }
    : undefined;
  const nodes = (): ClusterNode[] => db.nodes().map((node) => ({
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
  }));
  // cluster.json + the registry copy, so a later run can clean up after a dead runner.
  const record = (): void => {
    try {
      assembly.record(nodes());
    } catch {
      // best effort: the record only serves the cleanup of a crashed run
    }
  };
  // With a fault filesystem, each node's dataDir (snapshots and the txn log) is one, mounted before anything is written there.
  try {
    for (let k = 0; k < options.nodes; k++) await assembly.mountDisk(`n${k + 1}`, path.join(dir, 'nodes', `n${k + 1}`, 'data'));
  } catch (error) {
    await assembly.close(() => []);
    throw error;
  }
  const db: ZookeeperDb = createZookeeperDb({
    ...options,
    dir,
    classpath,
    ports: (index) => assembly.ports(`n${index + 1}`),
    ...(dial ? { dial } : {}),
    groups: assembly.groups,
    onProcessChange: () => {
      record();
      options.onProcessChange?.();
    },
  });
  if (assembly.faultFilesystem) {
    const setup = db.setup.bind(db);
    Object.assign(db, {
      faultFilesystem: true,
      // Once the ensemble is up, its disks write back (its first snapshot, snapshot.0, is never
      // fsynced by ZooKeeper; a cut that tears it leaves a server that will not start:
      // "No snapshot found, but there are log entries").
      async setup(signal?: AbortSignal) {
        await setup(signal);
        await assembly.syncDisks();
      },
      async powerCut(names: readonly string[], mode: PowerCutMode, seed: number) {
        await db.killMany(names);
        return assembly.cutDisks(names, mode, seed);
      },
      diskFault: (name: string, faults: DiskFaults) => assembly.diskFault(name, faults),
    });
  }
  record();
  return {
    db,
    net: assembly.net,
    toxiproxy: assembly.toxiproxy,
    proxies: assembly.proxies,
    async close(): Promise<void> {
      await db.teardown().catch(() => undefined);
      await assembly.close(nodes);
    },
  };
}
