/**
 * Sync benchmark: how a follower that missed a long stretch of the log catches up, and what it
 * costs the leader (issue 15: memory independent of the log's length). Three real nodes, direct
 * links; one follower is killed -9, `--mib` MiB are broadcast (payloads of `--payload` bytes, 2
 * sessions x 64 in flight), then the follower starts again and is synced by a DIFF the leader
 * streams from its log in chunks. Prints the catch-up time and every node's peak RSS during it.
 *
 *   npm run build && node dist/bench/sync-catchup.js [--mib 1024] [--payload 32768] [--seed 1]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZabkitDb } from '../cluster/zabkit/db.js';
import { sleep } from '../jepsen-style/async.js';
import { ZabClient } from '../src/client/zab-client.js';
import { maxPayloadBytes } from '../src/core/limits.js';
import { RssSampler } from './rss.js';

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} takes a whole number >= 1, not ${process.argv[at + 1]}`);
  return value;
}

/** The follower has not caught up after this long: the run says so and stops. */
const catchUpTimeoutMs = 600_000;

async function main(): Promise<number> {
  const mib = argument('--mib', 1024);
  const payload = argument('--payload', 32 * 1024);
  const seed = argument('--seed', 1);
  if (payload > maxPayloadBytes) throw new Error(`--payload is at most ${maxPayloadBytes} bytes (maxPayloadBytes)`);
  const count = Math.ceil((mib * 2 ** 20) / payload);
  const dir = mkdtempSync(join(tmpdir(), 'zabkit-sync-bench-'));
  const db = createZabkitDb({ nodes: 3, dir, seed, proxied: false });
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  try {
    out(`sync-catchup: seed ${seed}, ${count} broadcasts of ${payload} B (${mib} MiB), 3 nodes, direct links`);
    await db.setup();
    const leader = (await db.leader())!;
    const info = (name: string) => db.nodes().find((n) => n.name === name)!;
    const follower = db.nodes().map((n) => n.name).find((name) => name !== leader)!;
    const other = db.nodes().map((n) => n.name).find((name) => name !== leader && name !== follower)!;
    await db.kill(follower);
    const connect = (name: string): Promise<ZabClient> => ZabClient.connect({ host: info(name).clientHost, port: info(name).clientPort, timeoutMs: 30_000 });
    const writeStarted = Date.now();
    let next = 0;
    const data = (k: number): string => `m${k}:`.padEnd(payload, 'x');
    await Promise.all([leader, other].map(async (name) => {
      const c = await connect(name);
      try {
        await Promise.all(Array.from({ length: 64 }, async () => {
          while (next < count) await c.broadcast(data(next++), { timeoutMs: 60_000 });
        }));
      } finally {
        await c.close();
      }
    }));
    const writeS = (Date.now() - writeStarted) / 1000;
    out(`wrote ${count} broadcasts in ${writeS.toFixed(1)} s (${(mib / writeS).toFixed(1)} MiB/s) with ${follower} down`);
    const deliveredZxid = async (name: string): Promise<number> => {
      const c = await connect(name);
      try {
        return (await c.status({ timeoutMs: 5000 })).deliveredZxid;
      } finally {
        await c.close();
      }
    };
    const target = await deliveredZxid(leader);
    const sampler = new RssSampler(async () => Object.fromEntries((await db.status()).map((s) => [s.name, s.alive ? s.pid : undefined])), 200);
    const started = Date.now();
    await db.start(follower);
    let caughtUp: number | undefined;
    while (caughtUp === undefined && Date.now() - started < catchUpTimeoutMs) {
      if ((await deliveredZxid(follower).catch(() => 0)) >= target) caughtUp = Date.now();
      else await sleep(50);
    }
    await sampler.sample();
    sampler.stop();
    const peaks = Object.entries(sampler.maxByNode()).map(([name, v]) => `${name}${name === leader ? ' (leader)' : name === follower ? ' (follower)' : ''} ${v} MiB`).join(', ');
    if (caughtUp === undefined) {
      out(`${follower} did not catch up within ${catchUpTimeoutMs / 1000} s; peak RSS: ${peaks}`);
      return 1;
    }
    const s = (caughtUp - started) / 1000;
    out(`${follower} caught up ${mib} MiB in ${s.toFixed(1)} s from its start (${(mib / s).toFixed(1)} MiB/s); peak RSS while it did: ${peaks}`);
    return 0;
  } finally {
    await db.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then((code) => process.exit(code), (error: unknown) => {
  process.stderr.write(`sync-catchup: ${(error as Error).message}\n`);
  process.exit(2);
});
