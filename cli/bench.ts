/**
 * `zabkit bench`: zabkit and Apache ZooKeeper side by side (interfaces.md). The work is in
 * bench/bench.ts; this file parses options, prints the table and writes --json.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { formatBenchTable, parseConcurrency, runBench, writeBenchJson, benchLimits, type BenchSystem } from '../bench/bench.js';
import { repoRoot } from '../cluster/zabkit/db.js';
import { assertZookeeperVersion } from '../cluster/zookeeper/versions.js';
import { assertJvmFlagEntries, parseZkProperty } from '../cluster/zookeeper/config.js';
import { maxNodes } from '../jepsen-style/types.js';
import { collect, intOption, UsageError } from './exit.js';

interface BenchCliOptions {
  systems: string;
  nodes: string;
  seconds?: string;
  warmup: string;
  size: string;
  concurrency?: string;
  failover?: boolean;
  messages?: string;
  restart?: boolean;
  throughProxy?: boolean;
  toxiproxyUrl?: string;
  dir?: string;
  json?: string;
  zookeeperVersion?: string;
  zkProperty: string[];
  zkJvmFlag: string[];
}

export function registerBenchCommand(program: Command): void {
  program.command('bench')
    .description('throughput / latency / failover of zabkit and Apache ZooKeeper, side by side (same load, same machine, fsync on)')
    .option('--systems <list>', 'comma-separated systems, run in turn: zabkit,zookeeper', 'zabkit,zookeeper')
    .option('--nodes <n>', `servers per system (1..${maxNodes})`, '3')
    .option('--seconds <s>', 'measured seconds per system (default 10; with --messages, at most this long: default 3600)')
    .option('--warmup <s>', 'unmeasured warm-up seconds per system', '1')
    .option('--size <bytes>', 'payload bytes per broadcast', '256')
    .option('--concurrency <clients x in-flight>', 'sessions x outstanding broadcasts each, e.g. 3x64 (default: NODESx32)')
    .option('--failover', 'kill -9 the leader at 40% of the run; report the longest gap between commits')
    .option('--messages <n>', 'a long run: measure until this many broadcasts are acknowledged (e.g. 10000000)')
    .option('--restart', "after the load, kill -9 a follower and start it again: report how long until it serves (a broadcast through it is acknowledged) and its memory then; every run reports each server's peak RSS")
    .option('--through-proxy', 'server-to-server links through Toxiproxy (default: direct)')
    .option('--toxiproxy-url <url>', 'use this running Toxiproxy')
    .option('--dir <dir>', 'keep the clusters\' folders (logs, data) here; default: a temporary folder, removed')
    .option('--json <file>', 'also write {"results": [...]} to FILE')
    .option('--zookeeper-version <version>', 'the ZooKeeper release to measure (3.8.0 is Debian\'s; others are resolved with Maven into .tools/zookeeper/)')
    .option('--zk-property <key=value>', 'a zoo.cfg entry for the ZooKeeper servers over the testbed\'s (repeatable)', collect, [])
    .option('--zk-jvm-flag <flag>', 'a JVM option for every ZooKeeper server, like -Xmx2g (the testbed gives -Xmx256m), or nK:FLAG for server nK only (repeatable)', collect, [])
    .action(async (options: BenchCliOptions) => {
      const systems = options.systems.split(',').map((s) => s.trim()).filter((s) => s !== '');
      for (const system of systems) {
        if (system !== 'zabkit' && system !== 'zookeeper') throw new UsageError(`--systems: unknown system ${JSON.stringify(system)} (zabkit, zookeeper)`);
      }
      if (systems.length === 0) throw new UsageError('--systems is empty');
      const nodes = intOption('--nodes', options.nodes, 1, maxNodes);
      let concurrency: { clients: number; inFlight: number };
      try {
        concurrency = parseConcurrency(options.concurrency ?? `${nodes}x32`);
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error));
      }
      const messages = options.messages === undefined ? undefined : intOption('--messages', options.messages, 1, benchLimits.maxMessages);
      if (messages !== undefined && options.failover === true) throw new UsageError('--messages and --failover do not go together: the failover kill is timed at 40% of --seconds');
      const zookeeperTuning = parseZookeeperTuning(options, systems, nodes);
      let cleanup: (() => Promise<void>) | undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        void (cleanup?.() ?? Promise.resolve()).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const report = await runBench({
          systems: systems as BenchSystem[],
          nodes,
          seconds: intOption('--seconds', options.seconds ?? (messages === undefined ? '10' : String(benchLimits.maxSeconds)), 1, benchLimits.maxSeconds),
          ...(messages === undefined ? {} : { messages }),
          restart: options.restart === true,
          warmupSeconds: intOption('--warmup', options.warmup, 0, 600),
          size: intOption('--size', options.size, 1, benchLimits.maxSize),
          clients: concurrency.clients,
          inFlight: concurrency.inFlight,
          failover: options.failover === true,
          throughProxy: options.throughProxy === true,
          repoRoot: repoRoot(),
          ...(options.zookeeperVersion === undefined ? {} : { zookeeperVersion: checkedVersion(options.zookeeperVersion) }),
          ...zookeeperTuning,
          ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
          ...(options.dir ? { dir: resolve(options.dir) } : {}),
          log: (line) => process.stderr.write(`${line}\n`),
          onCleanup: (close) => {
            cleanup = close;
          },
        });
        process.stdout.write(`${formatBenchTable(report.results)}\n`);
        if (options.json) writeBenchJson(resolve(options.json), report);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}

/** --zk-property and --zk-jvm-flag: only with ZooKeeper among --systems, each checked now. */
function parseZookeeperTuning(options: BenchCliOptions, systems: readonly string[], nodes: number): { zookeeperProperties?: Record<string, string>; zookeeperJvmFlags?: string[] } {
  if (options.zkProperty.length === 0 && options.zkJvmFlag.length === 0) return {};
  if (!systems.includes('zookeeper')) throw new UsageError('--zk-property and --zk-jvm-flag tune the ZooKeeper servers: add zookeeper to --systems');
  try {
    assertJvmFlagEntries(options.zkJvmFlag, nodes);
    return { zookeeperProperties: Object.fromEntries(options.zkProperty.map((entry) => parseZkProperty(entry))), zookeeperJvmFlags: [...options.zkJvmFlag] };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function checkedVersion(version: string): string {
  try {
    assertZookeeperVersion(version);
    return version;
  } catch (error) {
    throw new UsageError(`--zookeeper-version: ${(error as Error).message}`);
  }
}
