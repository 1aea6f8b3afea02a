/**
 * `zabkit cluster up|down|status`: a local zabkit cluster behind the real Toxiproxy, described by
 * DIR/cluster.json. `up` returns with the cluster running in the background (`--foreground` keeps
 * the command attached until SIGINT/SIGTERM, then tears the cluster down).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { cleanupStaleClusters, destroyCluster, readClusterFile } from '../cluster/cluster-file.js';
import { isAlive } from '../cluster/proc.js';
import { probeStatus } from '../cluster/zabkit/status-probe.js';
import { optionalZxidHex } from '../jepsen-style/zxid.js';
import { createZabkitDb, teardownOnSignals } from '../cluster/zabkit/db.js';
import { maxNodes } from '../jepsen-style/types.js';
import { intOption, UsageError } from './exit.js';

const defaultDir = 'zabkit-cluster';

interface UpOptions {
  nodes?: string;
  dir: string;
  toxiproxyUrl?: string;
  tickMs?: string;
  bug: string[];
  seed?: string;
  foreground?: boolean;
}

export function registerClusterCommand(program: Command): void {
  const cluster = program.command('cluster').description('start, stop or inspect a local cluster behind Toxiproxy');

  cluster.command('up')
    .description('start a cluster in the background and write DIR/cluster.json')
    .option('--nodes <n>', `number of nodes (1..${maxNodes})`, '3')
    .option('--dir <dir>', 'cluster folder', defaultDir)
    .option('--toxiproxy-url <url>', 'use this running Toxiproxy (default: TOXIPROXY_URL, or start one)')
    .option('--tick-ms <ms>', 'server tick in milliseconds')
    .option('--bug <name>', 'run every node with this planted bug (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--seed <n>', 'seed of the nodes\' PRNGs')
    .option('--foreground', 'stay attached; SIGINT/SIGTERM tears the cluster down')
    .action(async (options: UpOptions) => {
      const dir = resolve(options.dir);
      const db = createZabkitDb({
        nodes: intOption('--nodes', options.nodes, 1, maxNodes),
        dir,
        toxiproxyUrl: options.toxiproxyUrl,
        ...(options.tickMs !== undefined ? { tickMs: intOption('--tick-ms', options.tickMs, 1, 10_000) } : {}),
        bugs: options.bug,
        seed: intOption('--seed', options.seed, 0, 2 ** 32 - 1, 1),
        background: !options.foreground,
        log: (line) => process.stderr.write(`${line}\n`),
      });
      const uninstall = teardownOnSignals(db);
      try {
        await db.setup();
      } catch (error) {
        await db.teardown();
        throw error;
      }
      process.stdout.write(`${JSON.stringify({ cluster: resolve(dir, 'cluster.json'), leader: await db.leader(), nodes: db.nodes().map((n) => `${n.name} 127.0.0.1:${n.clientPort}`) })}\n`);
      if (!options.foreground) { uninstall(); return; }
      process.stderr.write('zabkit: cluster running; SIGINT or SIGTERM tears it down\n');
      await new Promise<never>(() => { setInterval(() => {}, 1 << 30); });
    });

  cluster.command('down')
    .description('stop the cluster recorded in DIR/cluster.json (leaves logs and data)')
    .option('--dir <dir>', 'cluster folder', defaultDir)
    .action(async (options: { dir: string }) => {
      const file = readOrUsage(options.dir);
      const done = await destroyCluster(file);
      await cleanupStaleClusters((line) => process.stderr.write(`${line}\n`));
      process.stdout.write(`${JSON.stringify({ cluster: file.clusterId, done })}\n`);
    });

  cluster.command('status')
    .description('JSON: each node\'s pid, ports, role, epoch, last zxid, whether it answers')
    .option('--dir <dir>', 'cluster folder', defaultDir)
    .action(async (options: { dir: string }) => {
      const file = readOrUsage(options.dir);
      const nodes = await Promise.all(file.nodes.map(async (node) => {
        const alive = isAlive(node.pid);
        const reply = alive ? await probeStatus(node.clientHost, node.clientPort) : undefined;
        return {
          name: node.name, pid: node.pid, alive, clientPort: node.clientPort, peerPort: node.peerPort,
          answers: reply !== undefined, role: reply?.state ?? 'unknown', phase: reply?.phase,
          epoch: reply?.currentEpoch, lastZxid: optionalZxidHex(reply?.lastZxid), commitZxid: optionalZxidHex(reply?.commitZxid),
          leader: reply?.leader,
        };
      }));
      process.stdout.write(`${JSON.stringify({ clusterId: file.clusterId, toxiproxy: file.toxiproxy, runnerPid: file.runnerPid, nodes }, null, 2)}\n`);
    });
}

function readOrUsage(dir: string): ReturnType<typeof readClusterFile> {
  try {
    return readClusterFile(resolve(dir));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
