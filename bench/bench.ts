/**
 * `zabkit bench`: throughput, latency and failover of zabkit and Apache ZooKeeper, side by side, in
 * one invocation on one machine, with the same load: `clients` sessions (spread over the nodes) x
 * `inFlight` outstanding broadcasts each (closed loop: a new one as soon as one commits), payloads of
 * `size` bytes, fsync on for both systems.
 *
 * Client paths (the fastest honest one per system):
 * - zabkit: ZabClient.broadcast (src/client; one round trip, the ack carries the zxid), pipelined.
 * - ZooKeeper: node-zookeeper-client, PERSISTENT_SEQUENTIAL creates pipelined on each session (no
 *   follow-up stat: the bench needs no zxid), under /bench.
 * An op's latency runs from its send to its commit acknowledgement. A warm-up (JIT, connections) is
 * not measured.
 *
 * --failover: at 40% of the measured time the leader is killed with SIGKILL (and not restarted);
 * failover_ms is the longest interval without any commit from the kill to the end of the run (or to
 * the first commit after the kill, if that comes later: waited for up to 30 s, not counted in ops/s).
 *
 * --messages N: the measured window ends once N broadcasts are acknowledged (bounded by --seconds).
 * Every server's resident memory (bench/rss.ts) is sampled every second from the start of the load
 * (warm-up included) to its end; the JSON holds the samples, the table each system's peak.
 * --restart: after the load, a follower is killed with SIGKILL and started again; restart_ms runs
 * from its start to the first broadcast acknowledged through it (what "serves again" means to a
 * client), and its memory right after that is recorded too. With a long run, that is the price of
 * a server's log: how long it takes to read it back, and what it holds in memory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Db, NodeInfo } from '../jepsen-style/types.js';
import { ZabClient } from '../src/client/zab-client.js';
import { createZookeeperCluster } from '../cluster/zookeeper/cluster.js';
import { debianZookeeperVersion } from '../cluster/zookeeper/versions.js';
import { sleep, withTimeout } from '../jepsen-style/async.js';
import { connectZk, ensureZnode, zk, zkCall, type RawZkClient } from '../cluster/zookeeper/zk-lib.js';
import { groupRssBytes, RssSampler, type RssSample } from './rss.js';

export type BenchSystem = 'zabkit' | 'zookeeper';

export interface BenchOptions {
  readonly systems: readonly BenchSystem[];
  readonly nodes: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly size: number;
  readonly clients: number;
  readonly inFlight: number;
  readonly failover: boolean;
  /** End the measured window once this many broadcasts are acknowledged (--seconds still bounds it). */
  readonly messages?: number;
  /** After the load: kill -9 a follower, start it, and time until a broadcast through it is acknowledged. */
  readonly restart?: boolean;
  readonly throughProxy: boolean;
  readonly repoRoot: string;
  readonly toxiproxyUrl?: string;
  /** The ZooKeeper release (cluster/zookeeper/versions.ts); default Debian's 3.8.0. */
  readonly zookeeperVersion?: string;
  /** zoo.cfg entries over the testbed's, and JVM options (`nK:FLAG` for one server), for ZooKeeper. */
  readonly zookeeperProperties?: Readonly<Record<string, string>>;
  readonly zookeeperJvmFlags?: readonly string[];
  /** Where clusters live; a temporary directory (removed afterwards) when absent. */
  readonly dir?: string;
  readonly log: (line: string) => void;
  /** Told how to tear down the system currently running (undefined once it is down), e.g. for SIGINT. */
  readonly onCleanup?: (close: (() => Promise<void>) | undefined) => void;
}

export interface BenchResult {
  readonly system: BenchSystem;
  readonly ops_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly max_ms: number;
  readonly failover_ms: number | null;
  /** Extensions (interfaces.md: extend freely). */
  readonly ops: number;
  readonly errors: number;
  readonly ratio: number;
  /** Each server's largest resident memory while the load ran, MiB (bench/rss.ts). */
  readonly rss_max_mib: Record<string, number>;
  /** With --restart: the follower restarted, ms from its start to a broadcast acknowledged through it, and its MiB then. */
  readonly restart: { readonly node: string; readonly restart_ms: number | null; readonly rss_mib: number | null } | null;
}

export interface BenchReport {
  readonly results: BenchResult[];
  readonly settings: Record<string, unknown>;
  /** Per system: every server's resident MiB, once a second while the load ran. */
  readonly rss: Record<string, RssSample[]>;
}

/** Limits (docs/LIMITS.md): every wait is bounded. */
export const benchLimits = {
  maxClients: 256,
  maxInFlight: 1024,
  maxSeconds: 3600,
  maxSize: 1024 * 1024,
  /** A session whose broadcast fails waits this long before the next try. */
  retryDelayMs: 20,
  /** Reopening a session (e.g. after its node was killed) is retried at this pace. */
  reopenDelayMs: 100,
  /** One broadcast longer than this counts as an error (and frees its slot). */
  opTimeoutMs: 10_000,
  /** After the measured window, in-flight ops get this long to finish (they are not counted). */
  drainMs: 5_000,
  /** With --failover and no commit since the kill by the end of the run, keep the load on this long for the first one. */
  failoverWaitMs: 30_000,
  setupTimeoutMs: 60_000,
  maxMessages: 1_000_000_000,
  /** Resident memory is sampled this often. */
  rssIntervalMs: 1_000,
  /** --restart: the restarted server must serve within this long, or restart_ms is null. */
  restartTimeoutMs: 120_000,
} as const;

/** "3x64" -> 3 clients x 64 in flight; "8" -> 8 x 1. */
export function parseConcurrency(text: string): { clients: number; inFlight: number } {
  const match = /^\s*(\d+)\s*(?:[xX*]\s*(\d+))?\s*$/.exec(text);
  if (!match) throw new RangeError(`--concurrency must look like 3x64 or 8, got ${JSON.stringify(text)}`);
  const clients = Number(match[1]);
  const inFlight = match[2] === undefined ? 1 : Number(match[2]);
  if (clients < 1 || clients > benchLimits.maxClients) throw new RangeError(`clients must be 1..${benchLimits.maxClients}`);
  if (inFlight < 1 || inFlight > benchLimits.maxInFlight) throw new RangeError(`in-flight must be 1..${benchLimits.maxInFlight}`);
  return { clients, inFlight };
}

/** One connection's worth of load. */
interface BenchSession {
  readonly node: string;
  submit(payload: Buffer): Promise<void>;
  /** true when submit itself gives up after benchLimits.opTimeoutMs (no second timer per op is needed). */
  readonly bounded?: boolean;
  /**
   * true once the session's connection is gone. A failed op on a live session (the node is between
   * leaders and answers 'fail'/'unknown') does not reopen it: closing it would fail its other
   * in-flight ops, whose errors would close the next session too, a reconnect storm that outlasts
   * the election. Absent: every error reopens.
   */
  dead?(): boolean;
  close(): Promise<void>;
}

/** A running system, ready for load. */
interface BenchTarget {
  readonly db: Db;
  open(node: NodeInfo): Promise<BenchSession>;
  /** true: the session reconnects by itself after errors (only a dead node forces a reopen). */
  readonly selfHealing: boolean;
  close(): Promise<void>;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

const round = (value: number, digits = 2): number => Number(value.toFixed(digits));

// ---------------------------------------------------------------------------------------------
// Systems

async function zookeeperTarget(options: BenchOptions, dir: string): Promise<BenchTarget> {
  const cluster = await createZookeeperCluster({
    dir,
    nodes: options.nodes,
    repoRoot: options.repoRoot,
    ...(options.zookeeperVersion ? { version: options.zookeeperVersion } : {}),
    ...(options.zookeeperProperties ? { properties: options.zookeeperProperties } : {}),
    ...(options.zookeeperJvmFlags ? { jvmFlags: options.zookeeperJvmFlags } : {}),
    throughProxy: options.throughProxy,
    ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
    setupTimeoutMs: benchLimits.setupTimeoutMs,
    log: options.log,
  });
  try {
    await cluster.db.setup();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  const parent = '/bench';
  let parentReady = false;
  return {
    db: cluster.db,
    selfHealing: true,
    async open(node) {
      const raw: RawZkClient = await connectZk(`${node.clientHost}:${node.clientPort}`, {
        sessionTimeoutMs: 10_000,
        connectTimeoutMs: 5_000,
      });
      if (!parentReady) {
        await ensureZnode(raw, parent);
        parentReady = true;
      }
      return {
        node: node.name,
        submit: (payload) =>
          zkCall<string>((cb) => raw.create(`${parent}/m-`, payload, zk.ACL.OPEN_ACL_UNSAFE, zk.CreateMode.PERSISTENT_SEQUENTIAL, cb)).then(
            () => undefined,
          ),
        close: async () => raw.close(),
      };
    },
    close: () => cluster.close(),
  };
}

async function zabkitTarget(options: BenchOptions, dir: string): Promise<BenchTarget> {
  const { createZabkitDb } = await import('../cluster/zabkit/db.js');
  const db = createZabkitDb({
    nodes: options.nodes,
    dir,
    repoRoot: options.repoRoot,
    proxied: options.throughProxy,
    ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
    setupTimeoutMs: benchLimits.setupTimeoutMs,
    // ZABKIT_BENCH_LOG_LEVEL=info keeps role changes and elections in the node logs (with --dir).
    logLevel: process.env['ZABKIT_BENCH_LOG_LEVEL'] ?? 'warn',
    log: options.log,
  });
  try {
    await db.setup();
  } catch (error) {
    await db.teardown();
    throw error;
  }
  return {
    db,
    selfHealing: false,
    async open(node) {
      const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: 5_000 });
      return {
        node: node.name,
        submit: (payload) => client.broadcast(payload, { timeoutMs: benchLimits.opTimeoutMs }).then(() => undefined),
        bounded: true,
        dead: () => client.closed,
        close: () => client.close(),
      };
    },
    close: () => db.teardown(),
  };
}

// ---------------------------------------------------------------------------------------------
// Load

interface LoadOutcome {
  readonly latencies: Float64Array;
  readonly commitTimes: Float64Array;
  readonly ops: number;
  readonly errors: number;
  readonly measuredMs: number;
  readonly killAt: number | undefined;
  readonly endAt: number;
  /** First commit after the kill (possibly after endAt), if any within failoverWaitMs. */
  readonly firstCommitAfterKill: number | undefined;
}

async function runLoad(target: BenchTarget, options: BenchOptions): Promise<LoadOutcome> {
  const nodes = target.db.nodes();
  const latencies: number[] = [];
  const commitTimes: number[] = [];
  let errors = 0;
  let measuring = false;
  let stopped = false;
  let killed: string | undefined;
  let killAt: number | undefined;
  let firstCommitAfterKill: number | undefined;
  let counter = 0;
  const prefix = `${process.pid.toString(36)}-${Date.now().toString(36)}-`;
  const payloadFor = (): Buffer => {
    const head = Buffer.from(`${prefix}${(counter++).toString(36)}-`, 'latin1');
    const payload = Buffer.alloc(options.size, 0x78); // 'x'
    head.copy(payload, 0, 0, Math.min(head.length, options.size));
    return payload;
  };

  const runClient = async (index: number): Promise<void> => {
    let nodeIndex = index % nodes.length;
    let session: BenchSession | undefined;
    let opening: Promise<void> | undefined;
    let failed = false;
    const ensure = async (): Promise<BenchSession | undefined> => {
      while (!stopped) {
        if (session && !failed) return session;
        if (!opening) {
          opening = (async () => {
            if (session) await session.close().catch(() => undefined);
            session = undefined;
            for (let attempt = 0; !stopped; attempt++) {
              let node = nodes[nodeIndex % nodes.length]!;
              if (node.name === killed) node = nodes[++nodeIndex % nodes.length]!;
              try {
                session = await withTimeout(target.open(node), 10_000, `opening a session on ${node.name} timed out`);
                failed = false;
                return;
              } catch {
                if (attempt % 5 === 4) nodeIndex++;
                await sleep(benchLimits.reopenDelayMs);
              }
            }
          })().finally(() => {
            opening = undefined;
          });
        }
        await opening;
      }
      return undefined;
    };
    const slot = async (): Promise<void> => {
      while (!stopped) {
        const current = await ensure();
        if (!current) return;
        const payload = payloadFor();
        const start = nowMs();
        try {
          await (current.bounded ? current.submit(payload) : withTimeout(current.submit(payload), benchLimits.opTimeoutMs, 'broadcast timed out'));
          const end = nowMs();
          if (killAt !== undefined && firstCommitAfterKill === undefined && end >= killAt) firstCommitAfterKill = end;
          if (measuring) {
            latencies.push(end - start);
            if (options.failover) commitTimes.push(end);
          }
        } catch {
          if (measuring) errors++;
          if (session === current && mustReopen(current, target.selfHealing, killed)) failed = true;
          await sleep(benchLimits.retryDelayMs);
        }
      }
    };
    await Promise.all(Array.from({ length: options.inFlight }, () => slot()));
    const last = session as BenchSession | undefined;
    await last?.close().catch(() => undefined);
  };

  const clients = Array.from({ length: options.clients }, (_, k) => runClient(k));
  await sleep(options.warmupSeconds * 1000);
  measuring = true;
  const begin = nowMs();
  if (options.failover) {
    await sleep(options.seconds * 400);
    const leader = await target.db.leader();
    if (leader) {
      killed = leader;
      killAt = nowMs();
      await target.db.kill(leader);
      options.log(`bench: killed leader ${leader} (SIGKILL) at ${round((killAt - begin) / 1000, 1)} s`);
    } else {
      options.log('bench: no single leader to kill; failover not measured');
    }
    await sleep(Math.max(0, begin + options.seconds * 1000 - nowMs()));
  } else {
    const end = begin + options.seconds * 1000;
    while (nowMs() < end && !(options.messages !== undefined && latencies.length >= options.messages)) await sleep(Math.min(50, Math.max(1, end - nowMs())));
  }
  measuring = false;
  const endAt = nowMs();
  if (killAt !== undefined && firstCommitAfterKill === undefined) {
    const until = nowMs() + benchLimits.failoverWaitMs;
    while (firstCommitAfterKill === undefined && nowMs() < until) await sleep(20);
  }
  stopped = true;
  await Promise.race([Promise.allSettled(clients), sleep(benchLimits.drainMs)]);
  return {
    latencies: Float64Array.from(latencies),
    commitTimes: Float64Array.from(commitTimes),
    ops: latencies.length,
    errors,
    measuredMs: endAt - begin,
    killAt,
    endAt,
    firstCommitAfterKill,
  };
}

/**
 * After a failed op: reopen the session? Yes when its node was killed, or (for a system whose
 * sessions do not heal themselves) when its connection is gone. Never for a live session that
 * merely answered 'fail'/'unknown' between leaders. Only the session the op ran on is concerned
 * (the caller checks it is still the current one), never a newer one opened meanwhile.
 */
export function mustReopen(session: { readonly node: string; dead?(): boolean }, selfHealing: boolean, killed: string | undefined): boolean {
  if (session.node === killed) return true;
  if (selfHealing) return false;
  return session.dead?.() ?? true;
}

/** Longest interval without a commit in [from, to]. */
export function longestGap(commitTimes: Float64Array, from: number, to: number): number {
  const times = Array.from(commitTimes).filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let previous = from;
  let gap = 0;
  for (const t of times) {
    gap = Math.max(gap, t - previous);
    previous = t;
  }
  return Math.max(gap, to - previous);
}

/**
 * The longest interval without a commit from the kill on. When nothing committed between the kill
 * and the end of the run, it runs to the first commit after the kill (waited for, bounded), so the
 * figure is not cut at the end of the run; with none at all it is the whole wait (a lower bound).
 */
function failoverGap(outcome: LoadOutcome): number {
  const killAt = outcome.killAt!;
  const inRun = longestGap(outcome.commitTimes, killAt, outcome.endAt);
  if (outcome.firstCommitAfterKill !== undefined && outcome.firstCommitAfterKill > outcome.endAt) {
    return Math.max(inRun, outcome.firstCommitAfterKill - killAt);
  }
  if (outcome.firstCommitAfterKill === undefined) return outcome.endAt - killAt + benchLimits.failoverWaitMs;
  return inRun;
}

// ---------------------------------------------------------------------------------------------
// The whole bench

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const rows: Omit<BenchResult, 'ratio'>[] = [];
  const rss: Record<string, RssSample[]> = {};
  const base = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'zabkit-bench-'));
  try {
    for (const system of options.systems) {
      const dir = path.join(base, system);
      options.log(`bench: ${system}: ${options.nodes} nodes, ${options.clients}x${options.inFlight}, ${options.size} B, ${options.seconds} s` +
        `${options.failover ? ', failover' : ''}${options.throughProxy ? ', through Toxiproxy' : ', direct links'}`);
      const target = system === 'zookeeper' ? await zookeeperTarget(options, dir) : await zabkitTarget(options, dir);
      let outcome: LoadOutcome;
      let restart: BenchResult['restart'] = null;
      // On SIGINT/SIGTERM (cli/bench.ts) this is all that runs before the exit: the folder the bench made goes too.
      options.onCleanup?.(async () => {
        await target.close();
        if (options.dir === undefined) rmSync(base, { recursive: true, force: true });
      });
      const sampler = new RssSampler(() => serverPids(target.db), benchLimits.rssIntervalMs);
      try {
        outcome = await runLoad(target, options);
        sampler.stop();
        await sampler.sample();
        if (options.restart) restart = await measureRestart(target, options);
      } finally {
        sampler.stop();
        await target.close();
        options.onCleanup?.(undefined);
      }
      rss[system] = sampler.samples;
      const sorted = outcome.latencies.slice().sort();
      rows.push({
        system,
        ops_per_s: round(outcome.ops / (outcome.measuredMs / 1000), 1),
        p50_ms: round(percentile(sorted, 50), 3),
        p99_ms: round(percentile(sorted, 99), 3),
        max_ms: round(sorted.length > 0 ? sorted[sorted.length - 1]! : 0, 3),
        failover_ms: outcome.killAt === undefined ? null : round(failoverGap(outcome), 1),
        ops: outcome.ops,
        errors: outcome.errors,
        rss_max_mib: sampler.maxByNode(),
        restart,
      });
    }
  } finally {
    if (options.dir === undefined) rmSync(base, { recursive: true, force: true });
  }
  const first = rows[0]?.ops_per_s ?? 0;
  const results = rows.map((row) => ({ ...row, ratio: first > 0 ? round(row.ops_per_s / first, 3) : 0 }));
  return {
    results,
    settings: {
      nodes: options.nodes,
      seconds: options.seconds,
      warmupSeconds: options.warmupSeconds,
      size: options.size,
      concurrency: `${options.clients}x${options.inFlight}`,
      failover: options.failover,
      messages: options.messages ?? null,
      restart: options.restart === true,
      throughProxy: options.throughProxy,
      fsync: true,
      cpus: os.cpus().length,
      ...(options.systems.includes('zookeeper') ? { zookeeper: { version: options.zookeeperVersion ?? debianZookeeperVersion, properties: options.zookeeperProperties ?? {}, jvmFlags: options.zookeeperJvmFlags ?? [] } } : {}),
    },
    rss,
  };
}

export function formatBenchTable(results: readonly BenchResult[]): string {
  const header = ['system', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'failover ms', 'ratio', 'ops', 'max RSS MiB', 'restart ms'];
  const lines = results.map((r) => {
    const rss = Object.values(r.rss_max_mib);
    return [
      r.system,
      r.ops_per_s.toFixed(1),
      r.p50_ms.toFixed(2),
      r.p99_ms.toFixed(2),
      r.max_ms.toFixed(2),
      r.failover_ms === null ? '-' : r.failover_ms.toFixed(0),
      r.ratio.toFixed(2),
      String(r.ops),
      rss.length === 0 ? '-' : Math.max(...rss).toFixed(0),
      r.restart === null ? '-' : r.restart.restart_ms === null ? 'none' : r.restart.restart_ms.toFixed(0),
    ];
  });
  const widths = header.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join('  ');
  return [fmt(header), ...lines.map(fmt)].join('\n');
}

export function writeBenchJson(file: string, report: BenchReport): void {
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
}

/** The process group of every running server (its pid: each is started as a group leader). */
async function serverPids(db: Db): Promise<Record<string, number | undefined>> {
  const statuses = await db.status();
  return Object.fromEntries(statuses.map((status) => [status.name, status.alive ? status.pid : undefined]));
}

/**
 * --restart: kill -9 a follower (the load has stopped), start it again, and time until a broadcast
 * through a new session on it is acknowledged; then its resident memory.
 */
async function measureRestart(target: BenchTarget, options: BenchOptions): Promise<NonNullable<BenchResult['restart']>> {
  const statuses = await target.db.status();
  const follower = statuses.find((status) => status.role === 'following') ?? statuses.find((status) => status.role !== 'leading');
  const node = target.db.nodes().find((info) => info.name === follower?.name);
  if (follower === undefined || node === undefined) throw new Error('bench --restart: no follower to restart');
  await target.db.kill(node.name);
  const started = nowMs();
  await target.db.start(node.name);
  const deadline = started + benchLimits.restartTimeoutMs;
  let served: number | undefined;
  const payload = Buffer.alloc(options.size, 0x72); // 'r'
  while (served === undefined && nowMs() < deadline) {
    let session: BenchSession | undefined;
    try {
      session = await withTimeout(target.open(node), Math.max(1, deadline - nowMs()), 'open timed out');
      while (served === undefined && nowMs() < deadline) {
        try {
          await withTimeout(session.submit(payload), Math.max(1, Math.min(benchLimits.opTimeoutMs, deadline - nowMs())), 'broadcast timed out');
          served = nowMs();
        } catch {
          if (session.dead?.() ?? false) break;
          await sleep(benchLimits.retryDelayMs);
        }
      }
    } catch {
      await sleep(benchLimits.retryDelayMs);
    } finally {
      await session?.close().catch(() => undefined);
    }
  }
  const pid = (await serverPids(target.db))[node.name];
  const bytes = pid === undefined ? undefined : groupRssBytes(pid);
  const restartMs = served === undefined ? null : round(served - started, 1);
  options.log(`bench: restarted ${node.name}: ${restartMs === null ? `did not serve within ${benchLimits.restartTimeoutMs / 1000} s` : `served again after ${restartMs} ms`}`);
  return { node: node.name, restart_ms: restartMs, rss_mib: bytes === undefined ? null : round(bytes / 2 ** 20, 1) };
}
