/**
 * A `Db` for a real Apache ZooKeeper ensemble: N servers run directly with java
 * (org.apache.zookeeper.server.quorum.QuorumPeerMain) from a release's jars (versions.ts: Debian's
 * 3.8.0 by default), each with its own zoo.cfg, myid, data dir and logging file, started detached
 * (own process group) so kill -9 and SIGSTOP act on the whole group. fsync is on (forceSync=yes)
 * unless a `--zk-property` says otherwise.
 *
 * Server-to-server links: in server i's zoo.cfg, server.i is its own real listen address and server.j
 * is wherever `dial(i, j, kind)` says, for the quorum and the election port. With Toxiproxy that is the
 * listen address of proxy i->j for that port (cluster.ts, over cluster/assembly.ts), so the nemesis
 * packages work unchanged; without it (`dial` omitted) the links are direct.
 *
 * Status comes from the four-letter word `srvr` over the client port: Mode (leader/follower) and Zxid
 * (lastProcessedZxid; epoch = zxid >> 32).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync, existsSync, readFileSync, writeSync, fsyncSync } from 'node:fs';
import path from 'node:path';
import { assertNodeCount, type Db, type NodeInfo, type NodeStatus, type StartOptions } from '../../jepsen-style/types.js';
import {
  defaultZkTiming,
  javaArgs,
  jvmFlagsFor,
  renderLog4j,
  renderLogback,
  renderZooCfg,
  type HostPort,
  type ZkLinkKind,
  type ZkNodePorts,
  type ZkTiming,
} from './config.js';
import { fourLetterWord, parseSrvr } from './four-letter.js';
import { sleep } from '../../jepsen-style/async.js';
import { ClusterSetupError, ProcessGroups } from '../assembly.js';
import { debianZookeeperVersion, resolveZookeeper } from './versions.js';

export type { ZkLinkKind, ZkNodePorts, ZkTiming } from './config.js';

export interface ZookeeperDbOptions {
  /** Base directory: node n<i> lives in DIR/nodes/n<i>/ (zoo.cfg, data/, zookeeper.log, stdout.log). */
  readonly dir: string;
  /** Number of servers (1..9). */
  readonly nodes: number;
  readonly host?: string;
  /** Real listen ports of node k (0-based index); default: zkDefaultPorts(basePort). */
  readonly ports?: (index: number) => ZkNodePorts;
  /** First port of the default layout (client base+k, quorum base+10+k, election base+20+k); default 24100. */
  readonly basePort?: number;
  /** Where node `from` dials node `to` for `kind` (e.g. the listen address of proxy from->to); default direct. */
  readonly dial?: (from: string, to: string, kind: ZkLinkKind) => HostPort;
  readonly timing?: Partial<ZkTiming>;
  /** JVM heap per server, MB (default 256). */
  readonly heapMb?: number;
  readonly java?: string;
  /** fsync the transaction log (default true). */
  readonly forceSync?: boolean;
  /** The release's jars (versions.ts resolveZookeeper); default Debian's 3.8.0. */
  readonly classpath?: string;
  /** zoo.cfg entries of the user's (`--zk-property`), over the testbed's defaults. */
  readonly properties?: Readonly<Record<string, string>>;
  /** JVM options (`--zk-jvm-flag`): `FLAG` for every server, `nK:FLAG` for one. */
  readonly jvmFlags?: readonly string[];
  /** How long a graceful stop (SIGTERM) may take before SIGKILL (default 10 s). */
  readonly stopGraceMs?: number;
  readonly maxSessionTimeoutMs?: number;
  /** Bound on setup()/start() waiting for a leader and serving followers (default 60 s). */
  readonly setupTimeoutMs?: number;
  /** Bound on one `srvr` request (default 1000 ms). */
  readonly statusTimeoutMs?: number;
  readonly log?: (line: string) => void;
  /** Called after a node's process starts or dies (e.g. to rewrite cluster.json). */
  readonly onProcessChange?: () => void;
  /** The process groups to run the servers in (the cluster assembly's); default its own. */
  readonly groups?: ProcessGroups;
}

export interface ZookeeperNodeInfo extends NodeInfo {
  readonly ports: ZkNodePorts;
  readonly configFile: string;
  readonly dir: string;
}

export function zkDefaultPorts(basePort: number): (index: number) => ZkNodePorts {
  return (index) => ({ client: basePort + index, quorum: basePort + 10 + index, election: basePort + 20 + index });
}

export interface ZookeeperDb extends Db {
  readonly system: 'zookeeper';
  nodes(): readonly ZookeeperNodeInfo[];
  /** Process id (= process group id) of a node, if running. */
  pid(node: string): number | undefined;
  /** SIGKILL several nodes at one instant (a power outage), then wait until all are gone. */
  killMany(names: readonly string[]): Promise<void>;
  stop(node: string): Promise<void>;
}

export function createZookeeperDb(options: ZookeeperDbOptions): ZookeeperDb {
  assertNodeCount(options.nodes);
  const host = options.host ?? '127.0.0.1';
  const portsOf = options.ports ?? zkDefaultPorts(options.basePort ?? 24100);
  const timing: ZkTiming = { ...defaultZkTiming, ...options.timing };
  const heapMb = options.heapMb ?? 256;
  const java = options.java ?? 'java';
  const setupTimeoutMs = options.setupTimeoutMs ?? 60_000;
  const statusTimeoutMs = options.statusTimeoutMs ?? 1_000;
  const log = options.log ?? ((): void => undefined);
  const root = path.resolve(options.dir);

  const infos: ZookeeperNodeInfo[] = [];
  for (let k = 0; k < options.nodes; k++) {
    const name = `n${k + 1}`;
    const dir = path.join(root, 'nodes', name);
    infos.push({
      name,
      id: k + 1,
      clientHost: host,
      clientPort: portsOf(k).client,
      dataDir: path.join(dir, 'data'),
      logFile: path.join(dir, 'zookeeper.log'),
      ports: portsOf(k),
      configFile: path.join(dir, 'zoo.cfg'),
      dir,
    });
  }
  const byName = new Map(infos.map((info) => [info.name, info]));
  const groups = options.groups ?? new ProcessGroups();
  const started = new Set<string>();
  let classpath = options.classpath;
  /** JVM options a scenario gave one node (Db.start options), after the run's own. */
  const nodeJvmFlags = new Map<string, readonly string[]>();

  const info = (node: string): ZookeeperNodeInfo => {
    const found = byName.get(node);
    if (!found) throw new Error(`unknown node ${node}`);
    return found;
  };

  function writeFiles(node: ZookeeperNodeInfo): void {
    mkdirSync(node.dataDir, { recursive: true });
    // fsynced: on a fault filesystem a power cut would take back an unsynced myid, and the server would not start.
    writeFileDurably(path.join(node.dataDir, 'myid'), `${node.id}\n`);
    const servers = infos.map((peer) => ({
      id: peer.id,
      quorum: peer.name === node.name ? { host, port: peer.ports.quorum } : dialOf(node.name, peer, 'quorum'),
      election: peer.name === node.name ? { host, port: peer.ports.election } : dialOf(node.name, peer, 'election'),
    }));
    writeFileSync(
      node.configFile,
      renderZooCfg({
        id: node.id,
        dataDir: node.dataDir,
        host,
        ports: node.ports,
        timing,
        servers,
        forceSync: options.forceSync ?? true,
        maxSessionTimeoutMs: options.maxSessionTimeoutMs ?? 30_000,
        ...(options.properties ? { properties: options.properties } : {}),
      }),
    );
    writeFileSync(path.join(node.dir, 'log4j.properties'), renderLog4j(node.logFile));
    writeFileSync(path.join(node.dir, 'logback.xml'), renderLogback(node.logFile));
  }

  function dialOf(from: string, to: ZookeeperNodeInfo, kind: ZkLinkKind): HostPort {
    if (options.dial) return options.dial(from, to.name, kind);
    return { host, port: kind === 'quorum' ? to.ports.quorum : to.ports.election };
  }

  function spawnNode(node: ZookeeperNodeInfo): void {
    if (groups.alive(node.name)) return;
    classpath ??= resolveZookeeper(debianZookeeperVersion, { repoRoot: root });
    writeFiles(node);
    const out = openSync(path.join(node.dir, 'stdout.log'), 'a');
    let pid: number | undefined;
    try {
      const child = spawn(
        java,
        javaArgs({
          classpath,
          configFile: node.configFile,
          log4jFile: path.join(node.dir, 'log4j.properties'),
          logbackFile: path.join(node.dir, 'logback.xml'),
          heapMb,
          jvmFlags: [...jvmFlagsFor(options.jvmFlags ?? [], node.name), ...(nodeJvmFlags.get(node.name) ?? [])],
        }),
        { detached: true, stdio: ['ignore', out, out], cwd: node.dir },
      );
      child.once('error', () => undefined);
      pid = child.pid;
    } finally {
      closeSync(out);
    }
    if (pid === undefined) throw new ClusterSetupError(`could not start java for ${node.name}`);
    groups.started(node.name, pid);
    started.add(node.name);
    options.onProcessChange?.();
    log(`zookeeper ${node.name} started, pid ${pid}`);
  }

  async function killNode(node: string): Promise<void> {
    if (!started.has(node)) return;
    await groups.kill(node);
    started.delete(node);
    options.onProcessChange?.();
    log(`zookeeper ${node} killed`);
  }

  async function statusOf(node: ZookeeperNodeInfo): Promise<NodeStatus> {
    const alive = groups.alive(node.name);
    const isPaused = alive && groups.isPaused(node.name);
    const base = { name: node.name, pid: alive ? groups.pid(node.name) : undefined, alive, paused: isPaused };
    if (!alive || isPaused) return { ...base, answers: false, role: 'unknown' };
    try {
      const reply = parseSrvr(await fourLetterWord(host, node.clientPort, 'srvr', statusTimeoutMs));
      if (!reply.serving) return { ...base, answers: true, role: 'looking' };
      // srvr's Zxid is the last processed one (0 until the first write); the epoch a server has
      // acknowledged is in DATA/version-2/currentEpoch.
      const epoch = readEpoch(node.dataDir) ?? reply.epoch;
      const role = reply.mode === 'leader' || reply.mode === 'standalone' ? 'leading' : reply.mode === 'follower' ? 'following' : 'unknown';
      return {
        ...base,
        answers: true,
        role,
        phase: 'broadcast',
        ...(epoch !== undefined ? { epoch } : {}),
        ...(reply.zxid !== undefined ? { lastZxid: reply.zxid } : {}),
      };
    } catch {
      return { ...base, answers: false, role: 'unknown' };
    }
  }

  async function status(): Promise<NodeStatus[]> {
    return Promise.all(infos.map((node) => statusOf(node)));
  }

  /** Every live, unpaused node answers; exactly one leads and every other one follows. */
  function healthy(statuses: readonly NodeStatus[]): boolean {
    const live = statuses.filter((s) => s.alive && !s.paused);
    if (live.length === 0) return false;
    if (!live.every((s) => s.answers)) return false;
    const leaders = live.filter((s) => s.role === 'leading').length;
    return leaders === 1 && live.every((s) => s.role === 'leading' || s.role === 'following');
  }

  async function awaitHealthy(timeoutMs: number, signal?: AbortSignal, failOnExit = false): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted) return false;
      for (const name of started) {
        if (failOnExit && !groups.alive(name)) {
          const cause = firstError(info(name).logFile);
          throw new ClusterSetupError(`ZooKeeper server ${name} exited during startup${cause ? `: ${cause}` : ''}; see ${root}/nodes/${name}/zookeeper.log and stdout.log`);
        }
      }
      if (healthy(await status())) return true;
      if (Date.now() >= deadline) return false;
      await sleep(200);
    }
  }

  return {
    system: 'zookeeper',
    nodes: () => infos,
    pid: (node) => (groups.alive(node) ? groups.pid(node) : undefined),

    async setup(signal?: AbortSignal): Promise<void> {
      mkdirSync(root, { recursive: true });
      for (const node of infos) spawnNode(node);
      const ok = await awaitHealthy(setupTimeoutMs, signal, true);
      if (!ok) {
        const summary = (await status()).map((s) => `${s.name}:${s.role}${s.answers ? '' : '(silent)'}`).join(' ');
        throw new ClusterSetupError(`ZooKeeper ensemble not healthy within ${setupTimeoutMs} ms: ${summary}`);
      }
      // Scenarios and the report read every server's log: a release that logs nothing is a setup failure.
      const silent = infos.filter((node) => !existsSync(node.logFile)).map((node) => node.name);
      if (silent.length > 0) throw new ClusterSetupError(`ZooKeeper servers ${silent.join(', ')} write no log (no slf4j backend on the classpath?); see their stdout.log`);
      log(`zookeeper ensemble of ${infos.length} is serving`);
    },

    async teardown(): Promise<void> {
      await Promise.all([...started].map((node) => killNode(node).catch(() => undefined)));
    },

    kill: (node) => {
      info(node);
      return killNode(node);
    },

    async killMany(names: readonly string[]): Promise<void> {
      const nodes = names.map((name) => info(name).name).filter((name) => started.has(name));
      await groups.killMany(nodes);
      await Promise.all(nodes.map((name) => killNode(name)));
    },

    async start(node: string, startOptions?: StartOptions): Promise<void> {
      const found = info(node);
      if (startOptions?.jvmFlags !== undefined) nodeJvmFlags.set(found.name, [...startOptions.jvmFlags]);
      spawnNode(found);
    },

    async stop(node: string): Promise<void> {
      if (!started.has(info(node).name)) return;
      await groups.stop(node, options.stopGraceMs ?? 10_000);
      started.delete(node);
      options.onProcessChange?.();
      log(`zookeeper ${node} stopped`);
    },

    async pause(node: string): Promise<void> {
      if (started.has(info(node).name)) groups.pause(node);
    },

    async resume(node: string): Promise<void> {
      if (started.has(info(node).name)) groups.resume(node);
    },

    async leader(): Promise<string | undefined> {
      const leaders = (await status()).filter((s) => s.role === 'leading');
      return leaders.length === 1 ? leaders[0]?.name : undefined;
    },

    status,

    async awaitHealthy(timeoutMs: number): Promise<boolean> {
      return awaitHealthy(timeoutMs);
    },
  };
}

/** The first ERROR line or exception of a server's log (why it exited), shortened. */
function firstError(logFile: string): string | undefined {
  try {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => / ERROR |Exception|Error:/.test(l));
    return line?.trim().slice(0, 300);
  } catch {
    return undefined;
  }
}

function writeFileDurably(file: string, text: string): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function readEpoch(dataDir: string): number | undefined {
  try {
    const value = Number(readFileSync(path.join(dataDir, 'version-2', 'currentEpoch'), 'utf8').trim());
    return Number.isInteger(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Does this machine have what a ZooKeeper run needs (java and the jars)? */
export function zookeeperAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  try {
    resolveZookeeper(debianZookeeperVersion, { repoRoot: '.', env });
  } catch {
    return false;
  }
  return ['/usr/bin/java', '/usr/local/bin/java'].some((p) => existsSync(p)) || (env['JAVA_HOME'] !== undefined && existsSync(path.join(env['JAVA_HOME'], 'bin', 'java')));
}
