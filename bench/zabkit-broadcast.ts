/**
 * Broadcast throughput and latency of a local 3-node zabkit cluster (real processes, fsync on,
 * peers connected directly): CLIENTS connections x IN_FLIGHT pipelined broadcasts of SIZE-byte
 * messages for SECONDS, after a warm-up. Prints ops/s and p50/p99/max latency.
 *
 *   npm run build && node dist/bench/zabkit-broadcast.js [--seconds 10] [--clients 8] [--in-flight 32]
 *       [--size 256] [--target all|leader|followers] [--nodes 3]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ZabClient } from '../src/client/zab-client.js';

const mainJs = resolve(import.meta.dirname, '../cli/main.js');

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    clients: { type: 'string', default: '8' },
    'in-flight': { type: 'string', default: '32' },
    size: { type: 'string', default: '256' },
    target: { type: 'string', default: 'all' },
    nodes: { type: 'string', default: '3' },
  },
});
const seconds = Number(values.seconds);
const warmupSeconds = Number(values.warmup);
const clientCount = Number(values.clients);
const inFlight = Number(values['in-flight']);
const size = Number(values.size);
const nodeCount = Number(values.nodes);

async function freePort(): Promise<number> {
  return new Promise((done, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => done(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'zabkit-bench-'));
  const nodes = [];
  for (let id = 1; id <= nodeCount; id++) nodes.push({ id, peerPort: await freePort(), clientPort: await freePort() });
  const children: ChildProcess[] = [];
  const cleanup = (): void => {
    for (const child of children) if (child.pid !== undefined) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  try {
    for (const node of nodes) {
      const peers = nodes.filter((n) => n.id !== node.id).map((n) => `${n.id}@127.0.0.1:${n.peerPort}`).join(',');
      children.push(spawn(process.execPath, [mainJs, 'node', '--id', String(node.id), '--peer-port', String(node.peerPort), '--client-port', String(node.clientPort),
        '--peers', peers, '--data-dir', join(dir, `n${node.id}`), '--log-file', join(dir, `n${node.id}.log`), '--seed', String(node.id)], { detached: true, stdio: 'ignore' }));
    }
    // Wait for a leader that every node follows.
    let leader: number | undefined;
    const deadline = Date.now() + 60_000;
    while (leader === undefined) {
      if (Date.now() > deadline) throw new Error('no leader within 60 s');
      await new Promise((r) => setTimeout(r, 200));
      const statuses = await Promise.all(nodes.map(async (node) => {
        try {
          const client = await ZabClient.connect({ host: '127.0.0.1', port: node.clientPort, timeoutMs: 1000 });
          try { return await client.status({ timeoutMs: 1000 }); } finally { await client.close(); }
        } catch { return undefined; }
      }));
      if (statuses.every((s) => s?.serving) && new Set(statuses.map((s) => s!.leader)).size === 1) leader = statuses[0]!.leader;
    }
    const targets = values.target === 'leader' ? nodes.filter((n) => n.id === leader)
      : values.target === 'followers' ? nodes.filter((n) => n.id !== leader) : nodes;
    const clients = await Promise.all(Array.from({ length: clientCount }, (_, i) => {
      const node = targets[i % targets.length]!;
      return ZabClient.connect({ host: '127.0.0.1', port: node.clientPort });
    }));
    const payload = Buffer.alloc(size, 0x61);
    let measuring = false;
    let stopped = false;
    let ops = 0;
    let errors = 0;
    const latenciesUs: number[] = [];
    const worker = async (client: ZabClient): Promise<void> => {
      const one = async (): Promise<void> => {
        while (!stopped) {
          const start = process.hrtime.bigint();
          try {
            await client.broadcast(payload, { timeoutMs: 10_000 });
            if (measuring) {
              ops++;
              latenciesUs.push(Number(process.hrtime.bigint() - start) / 1000);
            }
          } catch {
            if (measuring) errors++;
          }
        }
      };
      await Promise.all(Array.from({ length: inFlight }, one));
    };
    const running = Promise.all(clients.map(worker));
    await new Promise((r) => setTimeout(r, warmupSeconds * 1000));
    measuring = true;
    const t0 = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    measuring = false;
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    stopped = true;
    await running;
    for (const client of clients) await client.close();
    latenciesUs.sort((a, b) => a - b);
    const pct = (p: number): number => (latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(p * latenciesUs.length))] ?? NaN) / 1000;
    const result = {
      nodes: nodeCount, target: values.target, clients: clientCount, inFlightPerClient: inFlight, sizeBytes: size, seconds: Math.round(elapsed * 10) / 10,
      ops_per_s: Math.round(ops / elapsed), p50_ms: +pct(0.5).toFixed(2), p99_ms: +pct(0.99).toFixed(2), max_ms: +pct(1).toFixed(2), errors,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${String(error)}\n`);
  process.exitCode = 1;
});
