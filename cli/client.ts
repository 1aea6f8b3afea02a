/**
 * `zabkit client broadcast|read|tail --cluster FILE [--node N]`: talk to a running cluster through
 * its nodes' client ports, as a user would.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ClusterFile, ClusterNode } from '../cluster/types.js';
import { zxidFromHex, zxidToHex } from '../src/core/zxid.js';
import { ZabClient, type Entry } from '../src/client/zab-client.js';
import { UsageError } from './exit.js';

function readCluster(file: string | undefined): ClusterFile {
  if (file === undefined) throw new UsageError('--cluster FILE is required');
  let cluster: ClusterFile;
  try {
    cluster = JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
  } catch (error) {
    throw new UsageError(`cannot read cluster file ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(cluster.nodes) || cluster.nodes.length === 0) throw new UsageError(`${file} lists no nodes`);
  return cluster;
}

/** --node takes a name ("n1") or an id ("1"). */
export function findNode(cluster: ClusterFile, node: string): ClusterNode {
  const found = cluster.nodes.find((n) => n.name === node || String(n.id) === node);
  if (!found) throw new UsageError(`--node ${node}: no such node (known: ${cluster.nodes.map((n) => n.name).join(', ')})`);
  return found;
}

function line(entry: Entry): string {
  return JSON.stringify({ id: Buffer.from(entry.data).toString('utf8'), zxid: zxidToHex(entry.zxid) });
}

/** Without --node: the node that reports leading, else the first one that answers. */
async function pickNode(cluster: ClusterFile): Promise<ZabClient> {
  let fallback: ZabClient | undefined;
  for (const node of cluster.nodes) {
    try {
      const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: 1000 });
      const status = await client.status({ timeoutMs: 1000 }).catch(() => undefined);
      if (status?.state === 'leading' && status.serving) {
        if (fallback) await fallback.close();
        return client;
      }
      if (fallback) await client.close();
      else fallback = client;
    } catch {
      // not answering: try the next one
    }
  }
  if (!fallback) throw new Error('no node of the cluster answers');
  return fallback;
}

export function registerClientCommand(program: Command): void {
  const client = program.command('client').description('broadcast to, read from, or follow a running cluster');

  client
    .command('broadcast')
    .description('broadcast messages; prints each one\'s zxid')
    .option('--cluster <file>', 'cluster.json of a running cluster')
    .option('--node <node>', 'node name (n1) or id; default: the leader')
    .argument('<message...>', 'messages, in order')
    .action(async (messages: string[], options: { cluster?: string; node?: string }) => {
      const cluster = readCluster(options.cluster);
      let connection: ZabClient;
      if (options.node !== undefined) {
        const node = findNode(cluster, options.node);
        connection = await ZabClient.connect({ host: node.clientHost, port: node.clientPort });
      } else {
        connection = await pickNode(cluster);
      }
      try {
        // Pipelined: all sent at once, answered in order.
        const results = await Promise.allSettled(messages.map((message) => connection.broadcast(message)));
        let failed = 0;
        results.forEach((result, i) => {
          if (result.status === 'fulfilled') process.stdout.write(`${result.value.zxidHex}\n`);
          else {
            failed++;
            const error = result.reason as Error;
            process.stderr.write(`zabkit: broadcast of ${JSON.stringify(messages[i])}: ${error.name}: ${error.message}\n`);
          }
        });
        if (failed > 0) process.exitCode = 1;
      } finally {
        await connection.close();
      }
    });

  client
    .command('read')
    .description('print a node\'s delivered sequence as JSON lines')
    .option('--cluster <file>', 'cluster.json of a running cluster')
    .option('--node <node>', 'node name (n1) or id')
    .action(async (options: { cluster?: string; node?: string }) => {
      const cluster = readCluster(options.cluster);
      if (options.node === undefined) throw new UsageError('--node is required');
      const node = findNode(cluster, options.node);
      const connection = await ZabClient.connect({ host: node.clientHost, port: node.clientPort });
      try {
        const entries = await connection.read();
        process.stdout.write(entries.map((entry) => `${line(entry)}\n`).join(''));
      } finally {
        await connection.close();
      }
    });

  client
    .command('tail')
    .description('follow a node\'s deliveries live as JSON lines (until interrupted)')
    .option('--cluster <file>', 'cluster.json of a running cluster')
    .option('--node <node>', 'node name (n1) or id')
    .option('--from <zxid>', 'start after this zxid (0x... or decimal); default: from the start')
    .action(async (options: { cluster?: string; node?: string; from?: string }) => {
      const cluster = readCluster(options.cluster);
      if (options.node === undefined) throw new UsageError('--node is required');
      const node = findNode(cluster, options.node);
      const from = options.from === undefined ? 0 : zxidFromHex(options.from);
      if (from === undefined) throw new UsageError(`--from ${options.from}: not a zxid (0x... or decimal)`);
      const connection = await ZabClient.connect({ host: node.clientHost, port: node.clientPort });
      const subscription = connection.subscribe(
        from,
        (entry) => process.stdout.write(`${line(entry)}\n`),
        (error) => process.stderr.write(`zabkit: ${error.message}; resubscribing\n`),
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      subscription.close();
      await connection.close();
    });
}
