/**
 * The one cluster assembly every system's Db is built on: a lock-filed port block, the cluster
 * folder, the (found, started or given) Toxiproxy with one proxy per directed link per channel, the
 * Net over those proxies, the process groups of the nodes (kill/stop/cont through cluster/proc.ts),
 * `cluster.json` plus its registry copy, and teardown. A Db adds only what is its own: the node's
 * config files and command line, status queries and leader detection.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanupStaleClusters, destroyCluster, ownerIsLive, unregisterCluster, writeClusterFile } from './cluster-file.js';
import { createNet, type ToxiproxyNet } from './net.js';
import { allocatePorts, type PortBlock } from './ports.js';
import { isAlive, killGroup, signalGroup } from './proc.js';
import { waitFor } from '../jepsen-style/async.js';
import { buildLinkProxies, createProxies, removeProxies } from './topology.js';
import { startToxiproxy, type ToxiproxyHandle } from './toxiproxy.js';
import type { ClusterDisk, ClusterFile, ClusterNode, ClusterProxy } from './types.js';
import { FaultFs } from './faultfs.js';
import type { DiskFaults, PowerCutMode } from '../jepsen-style/types.js';

/** The testbed could not bring a cluster up (ports, Toxiproxy, a process, a quorum in time). */
export class ClusterSetupError extends Error {
  override readonly name = 'ClusterSetupError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The process groups of a cluster's nodes: every node runs detached, its pid is its group id.
 * kill = SIGKILL to the group (waits until it is gone), pause/resume = SIGSTOP/SIGCONT.
 */
export class ProcessGroups {
  private readonly pids = new Map<string, number>();
  private readonly paused = new Set<string>();

  /** A node's process (group leader) was just started. */
  started(name: string, pid: number): void {
    this.pids.set(name, pid);
    this.paused.delete(name);
  }

  pid(name: string): number | undefined {
    return this.pids.get(name);
  }

  alive(name: string): boolean {
    return isAlive(this.pids.get(name));
  }

  isPaused(name: string): boolean {
    return this.paused.has(name);
  }

  async kill(name: string): Promise<void> {
    await killGroup(this.pids.get(name));
    this.paused.delete(name);
  }

  /** A graceful stop: SIGTERM, then SIGKILL if the group has not exited within `graceMs`. */
  async stop(name: string, graceMs: number): Promise<void> {
    const pid = this.pids.get(name);
    if (pid !== undefined && isAlive(pid)) {
      signalGroup(pid, 'SIGCONT');
      signalGroup(pid, 'SIGTERM');
      if (!(await waitFor(() => !isAlive(pid), graceMs, 20))) await killGroup(pid);
    }
    this.paused.delete(name);
  }

  /** SIGKILL several nodes at one instant (power loss), then wait until all are gone. */
  async killMany(names: readonly string[]): Promise<void> {
    for (const name of names) signalGroup(this.pids.get(name), 'SIGKILL');
    await Promise.all(names.map((name) => this.kill(name)));
  }

  pause(name: string): void {
    if (signalGroup(this.pids.get(name), 'SIGSTOP')) this.paused.add(name);
  }

  resume(name: string): void {
    signalGroup(this.pids.get(name), 'SIGCONT');
    this.paused.delete(name);
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.pids.keys()].map((name) => this.kill(name)));
  }
}

/** One kind of server-to-server connection; one proxy per directed link per channel. */
export interface AssemblyChannel<Port extends string> {
  /** Appended to the proxy name; absent when the system has a single channel. */
  readonly name?: string;
  /** Which of the target node's ports it forwards to. */
  readonly port: Port;
}

export interface ClusterAssemblyOptions<Port extends string> {
  readonly system: ClusterFile['system'];
  readonly clusterId: string;
  /** The cluster folder (absolute): cluster.json, toxiproxy.log, nodes/<name>/. */
  readonly dir: string;
  readonly nodes: number;
  /** The ports each node gets from the block, in this order. */
  readonly nodePorts: readonly Port[];
  /** Route the peer links through Toxiproxy. */
  readonly proxied: boolean;
  readonly channels: readonly AssemblyChannel<Port>[];
  /** Prefix of the proxy names (unique per cluster, several may share one Toxiproxy); default the cluster id. */
  readonly proxyPrefix?: (block: PortBlock) => string;
  /** Interface the proxies listen on, and the host Toxiproxy reaches the nodes at; default 127.0.0.1. */
  readonly proxyListenHost?: string;
  readonly nodeUpstreamHost?: string;
  readonly repoRoot: string;
  readonly toxiproxyUrl?: string;
  /** `zabkit cluster up`: the cluster outlives the process that started it. */
  readonly background?: boolean;
  /** The fault filesystem's binary (cluster/faultfs.ts): set, each node's data lives on one (mountDisk). */
  readonly faultFs?: string;
  readonly log?: (line: string) => void;
}

export class ClusterAssembly<Port extends string> {
  readonly names: readonly string[];
  readonly groups = new ProcessGroups();
  readonly createdAt = new Date().toISOString();
  private closed = false;
  /** Each node's fault filesystem, when the cluster has them. */
  private readonly disks = new Map<string, FaultFs>();

  private constructor(
    private readonly options: ClusterAssemblyOptions<Port>,
    readonly block: PortBlock,
    private readonly portMap: ReadonlyMap<string, Readonly<Record<Port, number>>>,
    readonly toxiproxy: ToxiproxyHandle | undefined,
    readonly proxies: readonly ClusterProxy[],
    readonly net: ToxiproxyNet | undefined,
  ) {
    this.names = [...portMap.keys()];
  }

  /**
   * Clean up after dead runners, take the port block, make the folder, start (or find) Toxiproxy
   * and create the proxies. On failure it gives back what it took and throws ClusterSetupError.
   */
  static async open<Port extends string>(options: ClusterAssemblyOptions<Port>): Promise<ClusterAssembly<Port>> {
    await cleanupStaleClusters(options.log).catch(() => 0);
    const n = options.nodes;
    const count = options.nodePorts.length * n + (options.proxied ? options.channels.length * n * (n - 1) + 1 : 0);
    let block: PortBlock;
    try {
      block = await allocatePorts({ count, owner: options.clusterId, isOwnerLive: ownerIsLive });
    } catch (error) {
      throw new ClusterSetupError(`could not allocate ${count} ports for cluster ${options.clusterId}`, { cause: error });
    }
    const names = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const portMap = new Map(names.map((name) => [name, Object.fromEntries(options.nodePorts.map((port) => [port, block.take()])) as Record<Port, number>]));
    let toxiproxy: ToxiproxyHandle | undefined;
    let proxies: ClusterProxy[] = [];
    try {
      mkdirSync(options.dir, { recursive: true });
      if (options.proxied) {
        toxiproxy = await startToxiproxy({
          repoRoot: options.repoRoot,
          ...(options.toxiproxyUrl ? { url: options.toxiproxyUrl } : {}),
          port: block.take(),
          logFile: join(options.dir, 'toxiproxy.log'),
        });
        proxies = buildLinkProxies({
          prefix: options.proxyPrefix?.(block) ?? options.clusterId,
          nodes: names,
          channels: options.channels.map((channel) => ({
            ...(channel.name ? { name: channel.name } : {}),
            upstreamPort: (to: string) => portMap.get(to)![channel.port],
          })),
          takePort: () => block.take(),
          ...(options.proxyListenHost ? { host: options.proxyListenHost } : {}),
          ...(options.nodeUpstreamHost ? { upstreamHost: options.nodeUpstreamHost } : {}),
        });
        await createProxies(toxiproxy.api, proxies);
      }
    } catch (error) {
      if (toxiproxy) await removeProxies(toxiproxy.api, proxies);
      await toxiproxy?.stop();
      block.release();
      throw new ClusterSetupError(`could not set up Toxiproxy for cluster ${options.clusterId}`, { cause: error });
    }
    const net = toxiproxy ? createNet(toxiproxy.api, proxies) : undefined;
    return new ClusterAssembly(options, block, portMap, toxiproxy, proxies, net);
  }

  get clusterId(): string {
    return this.options.clusterId;
  }

  get dir(): string {
    return this.options.dir;
  }

  /** The ports `name` was given, by the names in `nodePorts`. */
  ports(name: string): Readonly<Record<Port, number>> {
    const ports = this.portMap.get(name);
    if (!ports) throw new Error(`unknown node ${name}`);
    return ports;
  }

  /** The proxy `from` dials `to` through (on `channel`), when proxied. */
  proxy(from: string, to: string, channel?: string): ClusterProxy | undefined {
    return this.proxies.find((p) => p.from === from && p.to === to && (channel === undefined || p.channel === channel));
  }

  clusterFile(nodes: readonly ClusterNode[]): ClusterFile {
    const toxiproxy = this.toxiproxy;
    return {
      version: 1,
      system: this.options.system,
      clusterId: this.clusterId,
      dir: this.dir,
      runnerPid: process.pid,
      createdAt: this.createdAt,
      toxiproxy: toxiproxy ? { url: toxiproxy.url, ...(toxiproxy.pid !== undefined ? { pid: toxiproxy.pid } : {}) } : null,
      nodes,
      proxies: this.proxies,
      ...(this.options.background ? { background: true } : {}),
      portLocks: this.block.lockFiles,
      ...(toxiproxy?.pid !== undefined ? { toxiproxyLog: join(this.dir, 'toxiproxy.log') } : {}),
      ...(this.disks.size > 0 ? { disks: [...this.disks.entries()].map(([node, disk]): ClusterDisk => ({ node, mountpoint: disk.mountpoint, backing: disk.backing, pid: disk.pid, control: disk.control })) } : {}),
    };
  }

  /** Does every node's data live on a fault filesystem? */
  get faultFilesystem(): boolean {
    return this.options.faultFs !== undefined;
  }

  /**
   * With a fault filesystem: mount one at `dir` (a node's data folder, before the node first starts),
   * its files kept in `dir`.disk; a no-op without. On failure, a ClusterSetupError.
   */
  async mountDisk(name: string, dir: string): Promise<void> {
    if (this.options.faultFs === undefined || this.disks.has(name)) return;
    try {
      this.disks.set(name, await FaultFs.mount(this.options.faultFs, `${dir}.disk`, dir, `${dir}.faultfs.log`));
    } catch (error) {
      throw new ClusterSetupError(`could not mount the fault filesystem for ${name} at ${dir}`, { cause: error });
    }
  }

  /** The second half of a real power cut (the Db has killed the nodes -9): their disks lose what was not fsynced. */
  async cutDisks(names: readonly string[], mode: PowerCutMode, seed: number): Promise<Record<string, { lostBytes: number; keptBytes: number }>> {
    const results = await Promise.all(names.map(async (name, k) => {
      const disk = this.disks.get(name);
      if (disk === undefined) throw new Error(`${name} has no fault filesystem`);
      const { lostBytes, keptBytes } = await disk.powerCut(mode, seed + k);
      return [name, { lostBytes, keptBytes }] as const;
    }));
    return Object.fromEntries(results);
  }

  /**
   * Write back what every disk holds (sync(1)), once the cluster is up: its initial state (a
   * ZooKeeper's first snapshot, which it does not fsync) was laid down long before any power cut
   * of a real deployment; the cuts are for the writes of the run.
   */
  async syncDisks(): Promise<void> {
    await Promise.all([...this.disks.values()].map((disk) => disk.sync()));
  }

  async diskFault(name: string, faults: DiskFaults): Promise<void> {
    const disk = this.disks.get(name);
    if (disk === undefined) throw new Error(`${name} has no fault filesystem`);
    if (Object.keys(faults).length === 0) await disk.heal();
    else await disk.setFaults(faults);
  }

  /** Write cluster.json and its registry copy (so a later run can clean up after a dead runner). */
  record(nodes: readonly ClusterNode[]): void {
    writeClusterFile(this.clusterFile(nodes));
  }

  /**
   * Kill every node's group, remove the proxies (when Toxiproxy is shared), stop the Toxiproxy we
   * started, release the ports, unregister; then whatever the cluster file still records. Leaves
   * logs and data. Idempotent; never throws.
   */
  async close(nodes: () => readonly ClusterNode[]): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.groups.killAll();
      // The nodes are gone: each disk writes back what it holds (a clean shutdown) and unmounts.
      await Promise.all([...this.disks.values()].map((disk) => disk.unmount()));
      if (this.toxiproxy && this.toxiproxy.pid === undefined) await removeProxies(this.toxiproxy.api, this.proxies);
      await this.toxiproxy?.stop();
      this.block.release();
      unregisterCluster(this.clusterId);
      await destroyCluster(this.clusterFile(nodes())); // anything the lines above missed
    } catch (error) {
      this.options.log?.(`${this.options.system}: teardown: ${String(error)}`);
    }
  }
}
