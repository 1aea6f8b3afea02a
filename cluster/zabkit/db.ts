/**
 * The `Db` for zabkit: N real `zabkit node` processes, every server-to-server link through the real
 * Toxiproxy (one proxy per directed link: node i dials node j at the listen port of proxy i->j).
 * Each node has its own folder DIR/nodes/<name>/ with config.json, data/, node.log (pino) and
 * stdout.log. Ports, Toxiproxy, the proxies, the Net, the process groups (kill = SIGKILL to the group,
 * pause/resume = SIGSTOP/SIGCONT), cluster.json and teardown are the shared ClusterAssembly
 * (cluster/assembly.ts); teardown leaves logs and data for the report.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertNodeCount, type Db, type DiskFaults, type NodeInfo, type NodeStatus, type PowerCutMode } from '../../jepsen-style/types.js';
import type { PlantedBug, Timing } from '../../src/core/types.js';
import type { NodeConfig } from '../../src/wire/node-config.js';
import { defaultTickMs, defaultTiming } from '../../src/wire/node-config.js';
import { ClusterAssembly, ClusterSetupError, type ProcessGroups } from '../assembly.js';
import type { ToxiproxyNet } from '../net.js';
import { sleep } from '../../jepsen-style/async.js';
import { defaultStatusTimeoutMs, probeStatus } from './status-probe.js';
import { optionalZxidHex } from '../../jepsen-style/zxid.js';
import { listenPort } from '../topology.js';
import type { ToxiproxyApi } from '../toxiproxy.js';
import type { ClusterFile, ClusterNode, ClusterProxy } from '../types.js';

/** The repository root (this file is cluster/zabkit/db.ts, or dist/cluster/zabkit/db.js). */
export function repoRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.includes(`${join('dist', 'cluster')}`) ? resolve(here, '..', '..', '..') : resolve(here, '..', '..');
}

/** Why: election + discovery + sync take a few hundred ms at 50 ms ticks; 2 busy cores need slack. */
export const defaultSetupTimeoutMs = 30_000;

export interface ZabkitDbOptions {
  /** 1..9 */
  readonly nodes: number;
  /** The cluster folder (cluster.json, toxiproxy.log, nodes/<name>/). */
  readonly dir: string;
  readonly repoRoot?: string;
  /** A running Toxiproxy to use (also TOXIPROXY_URL); otherwise one is started. */
  readonly toxiproxyUrl?: string;
  readonly tickMs?: number;
  readonly timing?: Partial<Timing>;
  /** Each node's transaction log rolls to a new segment file at this size (the server's default when absent). */
  readonly segmentBytes?: number;
  /** Durable, delivered log entries each node keeps in memory (the server's default when absent). */
  readonly memoryLogEntries?: number;
  /** Planted bugs, given to every node. */
  readonly bugs?: readonly string[];
  /** Base seed; node i gets seed + i. */
  readonly seed?: number;
  readonly clusterId?: string;
  readonly logLevel?: string;
  readonly setupTimeoutMs?: number;
  readonly statusTimeoutMs?: number;
  /** `zabkit cluster up`: the cluster outlives the process that started it. */
  readonly background?: boolean;
  /** false: peers dial each other directly, no Toxiproxy at all (for measuring the proxy hop). */
  readonly proxied?: boolean;
  readonly log?: (line: string) => void;
  /**
   * Addresses for a topology split across hosts (docker-compose.yml): the interface the nodes bind
   * their peer ports on, the interface the proxies listen on, the host nodes dial the proxies at,
   * and the host Toxiproxy reaches the nodes at. All default to 127.0.0.1.
   */
  readonly hosts?: Partial<ClusterHosts>;
  /** The fault filesystem's binary: each node's data folder is one (cluster/faultfs.ts), for real power cuts and disk faults. */
  readonly faultFs?: string;
}

export interface ClusterHosts {
  readonly bind: string;
  readonly proxyListen: string;
  readonly proxyDial: string;
  readonly nodeUpstream: string;
}

const loopbackHosts: ClusterHosts = { bind: '127.0.0.1', proxyListen: '127.0.0.1', proxyDial: '127.0.0.1', nodeUpstream: '127.0.0.1' };

interface NodeState {
  readonly info: NodeInfo;
  readonly configFile: string;
  readonly stdoutFile: string;
  readonly peerPort: number;
}

export class ZabkitDb implements Db {
  readonly system = 'zabkit' as const;
  readonly clusterId: string;
  readonly dir: string;
  private readonly states: NodeState[] = [];
  private assembly: ClusterAssembly<'client' | 'peer'> | undefined;
  private readonly log: (line: string) => void;
  private readonly root: string;
  /** Each node's last status reply: the leader it follows (for the health check). */
  private readonly leaderOf = new Map<string, number | undefined>();

  constructor(readonly options: ZabkitDbOptions) {
    assertNodeCount(options.nodes);
    for (const bug of options.bugs ?? []) if (!/^[a-z-]+$/.test(bug)) throw new RangeError(`bad bug name ${bug}`);
    this.clusterId = options.clusterId ?? `zk${randomBytes(4).toString('hex')}`;
    this.dir = resolve(options.dir);
    this.log = options.log ?? (() => {});
    this.root = options.repoRoot ?? repoRoot();
  }

  nodes(): readonly NodeInfo[] {
    return this.states.map((state) => state.info);
  }

  proxies(): readonly ClusterProxy[] {
    return this.assembly?.proxies ?? [];
  }

  /** The Toxiproxy API (after setup; undefined when not proxied). */
  toxiproxyApi(): ToxiproxyApi | undefined {
    return this.assembly?.toxiproxy?.api;
  }

  /** The Net over this cluster's proxies (after setup). */
  net(): ToxiproxyNet {
    const net = this.assembly?.net;
    if (!net) throw new Error('ZabkitDb.net(): call setup() first (and use proxied: true)');
    return net;
  }

  private state(name: string): NodeState {
    const state = this.states.find((candidate) => candidate.info.name === name);
    if (!state) throw new Error(`unknown node ${name}`);
    return state;
  }

  /** Prepare ports, Toxiproxy, proxies and configs, without starting nodes. */
  async prepare(): Promise<void> {
    const hosts: ClusterHosts = { ...loopbackHosts, ...this.options.hosts };
    const assembly = await ClusterAssembly.open({
      system: 'zabkit',
      clusterId: this.clusterId,
      dir: this.dir,
      nodes: this.options.nodes,
      nodePorts: ['client', 'peer'],
      proxied: this.options.proxied ?? true,
      channels: [{ port: 'peer' }],
      proxyListenHost: hosts.proxyListen,
      nodeUpstreamHost: hosts.nodeUpstream,
      repoRoot: this.root,
      ...(this.options.toxiproxyUrl ? { toxiproxyUrl: this.options.toxiproxyUrl } : {}),
      ...(this.options.background ? { background: true } : {}),
      ...(this.options.faultFs !== undefined ? { faultFs: this.options.faultFs } : {}),
      log: this.log,
    });
    this.assembly = assembly;
    const names = assembly.names;
    for (const [index, name] of names.entries()) {
      const id = index + 1;
      const folder = join(this.dir, 'nodes', name);
      const dataDir = join(folder, 'data');
      mkdirSync(dataDir, { recursive: true });
      await assembly.mountDisk(name, dataDir);
      const own = assembly.ports(name);
      const config: NodeConfig = {
        clusterId: this.clusterId,
        id,
        peerHost: hosts.bind,
        peerPort: own.peer,
        clientHost: '127.0.0.1',
        clientPort: own.client,
        peers: names.filter((other) => other !== name).map((other) => {
          const proxy = assembly.proxy(name, other);
          return { id: Number(other.slice(1)), host: proxy ? hosts.proxyDial : '127.0.0.1', port: proxy ? listenPort(proxy) : assembly.ports(other).peer };
        }),
        dataDir,
        logFile: join(folder, 'node.log'),
        logLevel: this.options.logLevel ?? 'info',
        tickMs: this.options.tickMs ?? defaultTickMs,
        ...(this.options.segmentBytes === undefined ? {} : { segmentBytes: this.options.segmentBytes }),
        ...(this.options.memoryLogEntries === undefined ? {} : { memoryLogEntries: this.options.memoryLogEntries }),
        timing: { ...defaultTiming, ...this.options.timing },
        bugs: (this.options.bugs ?? []) as PlantedBug[],
        seed: ((this.options.seed ?? 1) + id) >>> 0,
      };
      const configFile = join(folder, 'config.json');
      writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);
      this.states.push({
        info: { name, id, clientHost: '127.0.0.1', clientPort: own.client, dataDir, logFile: join(folder, 'node.log') },
        configFile, stdoutFile: join(folder, 'stdout.log'), peerPort: own.peer,
      });
    }
    this.writeFile();
  }

  async setup(signal?: AbortSignal): Promise<void> {
    await this.prepare();
    for (const state of this.states) await this.start(state.info.name);
    const timeoutMs = this.options.setupTimeoutMs ?? defaultSetupTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    while (!signal?.aborted) {
      if (await this.healthy(true)) {
        await this.assembly?.syncDisks();
        return;
      }
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    const statuses = await this.status();
    throw new ClusterSetupError(`zabkit cluster not ready within ${timeoutMs} ms: ${JSON.stringify(statuses.map((s) => [s.name, s.alive, s.role, s.phase]))}; logs in ${this.dir}/nodes`);
  }

  clusterFile(): ClusterFile {
    if (!this.assembly) throw new Error('ZabkitDb.clusterFile(): call setup() first');
    return this.assembly.clusterFile(this.clusterNodes());
  }

  private clusterNodes(): ClusterNode[] {
    return this.states.map((state): ClusterNode => ({
      name: state.info.name, id: state.info.id, clientHost: state.info.clientHost, clientPort: state.info.clientPort,
      peerHost: '127.0.0.1', peerPort: state.peerPort, pid: this.assembly?.groups.pid(state.info.name), dataDir: state.info.dataDir,
      logFile: state.info.logFile, configFile: state.configFile,
    }));
  }

  private writeFile(): void {
    this.assembly?.record(this.clusterNodes());
  }

  async start(name: string): Promise<void> {
    const state = this.state(name);
    const groups = this.groups();
    if (groups.alive(name)) return;
    const main = join(this.root, 'dist', 'cli', 'main.js');
    // The node writes to the file itself (an fd, not a pipe through us), so it outlives this process.
    const fd = openSync(state.stdoutFile, 'a');
    const child = execa(process.execPath, [...serverNodeFlags(), main, 'node', '--config', state.configFile], {
      detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: fd as never, stderr: fd as never,
    });
    closeSync(fd);
    child.catch(() => {});
    child.unref();
    if (child.pid === undefined) throw new ClusterSetupError(`could not start zabkit node ${name}`);
    groups.started(name, child.pid);
    this.writeFile();
  }

  private groups(): ProcessGroups {
    if (!this.assembly) throw new Error('ZabkitDb: call setup() first');
    return this.assembly.groups;
  }

  async kill(name: string): Promise<void> {
    this.state(name);
    await this.groups().kill(name);
  }

  /** SIGKILL several nodes at one instant (power loss), then wait until all are gone. */
  async killMany(names: readonly string[]): Promise<void> {
    for (const name of names) this.state(name);
    await this.groups().killMany(names);
  }

  get faultFilesystem(): boolean {
    return this.options.faultFs !== undefined;
  }

  async powerCut(names: readonly string[], mode: PowerCutMode, seed: number): Promise<Record<string, { lostBytes: number; keptBytes: number }>> {
    for (const name of names) this.state(name);
    if (!this.assembly) throw new Error('ZabkitDb: call setup() first');
    await this.killMany(names);
    return this.assembly.cutDisks(names, mode, seed);
  }

  async diskFault(name: string, faults: DiskFaults): Promise<void> {
    this.state(name);
    if (!this.assembly) throw new Error('ZabkitDb: call setup() first');
    await this.assembly.diskFault(name, faults);
  }

  async pause(name: string): Promise<void> {
    this.state(name);
    this.groups().pause(name);
  }

  async resume(name: string): Promise<void> {
    this.state(name);
    this.groups().resume(name);
  }

  async status(): Promise<NodeStatus[]> {
    const timeoutMs = this.options.statusTimeoutMs ?? defaultStatusTimeoutMs;
    return Promise.all(this.states.map(async (state): Promise<NodeStatus> => {
      const groups = this.groups();
      const alive = groups.alive(state.info.name);
      const paused = alive && groups.isPaused(state.info.name);
      const base = { name: state.info.name, pid: alive ? groups.pid(state.info.name) : undefined, alive, paused };
      if (!alive || paused) return { ...base, answers: false, role: 'unknown' };
      const reply = await probeStatus(state.info.clientHost, state.info.clientPort, timeoutMs);
      this.leaderOf.set(state.info.name, reply?.leader);
      if (!reply) return { ...base, answers: false, role: 'unknown' };
      return {
        ...base, answers: true, role: reply.state, phase: reply.phase, epoch: reply.currentEpoch,
        lastZxid: optionalZxidHex(reply.lastZxid), commitZxid: optionalZxidHex(reply.commitZxid),
      };
    }));
  }

  async leader(): Promise<string | undefined> {
    const leaders = (await this.status()).filter((s) => s.answers && s.role === 'leading');
    return leaders.length === 1 ? leaders[0]!.name : undefined;
  }

  /** Every live node answers, exactly one leads, all are in broadcast under it (and, with `all`, every node is live). */
  private async healthy(all: boolean): Promise<boolean> {
    const statuses = await this.status();
    const live = statuses.filter((s) => s.alive && !s.paused);
    if (live.length === 0 || (all && live.length !== statuses.length)) return false;
    if (!live.every((s) => s.answers && s.phase === 'broadcast')) return false;
    const leaders = live.filter((s) => s.role === 'leading');
    if (leaders.length !== 1) return false;
    const leaderId = Number(leaders[0]!.name.slice(1));
    return live.every((s) => this.leaderOf.get(s.name) === leaderId);
  }

  async awaitHealthy(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.healthy(false)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(100);
    }
  }

  async teardown(): Promise<void> {
    // With ZABKIT_NODE_FLAGS (a profiler), each server exits on SIGTERM first, so it writes its profile.
    if (this.assembly && serverNodeFlags().length > 0) {
      const groups = this.assembly.groups;
      await Promise.all(this.states.map((state) => groups.stop(state.info.name, profileExitGraceMs)));
    }
    await this.assembly?.close(() => this.clusterNodes());
  }
}

export function createZabkitDb(options: ZabkitDbOptions): ZabkitDb {
  return new ZabkitDb(options);
}

/** On SIGINT/SIGTERM, tear `db` down and exit (130/143). Returns a function that uninstalls it. */
export function teardownOnSignals(db: Db, after: (signal: NodeJS.Signals) => void = (signal) => process.exit(signal === 'SIGINT' ? 130 : 143)): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    void db.teardown().finally(() => after(signal));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * Node.js options for every server process, from ZABKIT_NODE_FLAGS (space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile each server under `zabkit bench` (Node refuses
 * --cpu-prof in NODE_OPTIONS). Unset: none.
 */
/** How long a profiled server has to exit on SIGTERM (and write its profile) before SIGKILL. */
const profileExitGraceMs = 10_000;

export function serverNodeFlags(): string[] {
  return (process.env['ZABKIT_NODE_FLAGS'] ?? '').split(/\s+/).filter((flag) => flag !== '');
}
