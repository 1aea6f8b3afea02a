/**
 * Rough cost of the Toxiproxy hop on broadcast latency: the same 3-node cluster with peers dialing
 * each other directly, then through one proxy per directed link. Prints the figures; asserts only
 * that both work (no timed assertions in tests).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createZabkitDb } from '../../../cluster/zabkit/db.js';
import { ZabClient } from '../../../src/client/zab-client.js';

const broadcasts = 300;

async function measure(proxied: boolean): Promise<{ p50: number; p99: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'zabkit-hop-'));
  const db = createZabkitDb({ nodes: 3, dir, proxied, logLevel: 'warn' });
  try {
    await db.setup();
    const name = (await db.leader()) ?? 'n1';
    const info = db.nodes().find((n) => n.name === name)!;
    const client = await ZabClient.connect({ host: info.clientHost, port: info.clientPort, timeoutMs: 3000 });
    const times: number[] = [];
    try {
      for (let i = 0; i < 50; i++) await client.broadcast(`warm${i}`);
      for (let i = 0; i < broadcasts; i++) {
        const start = process.hrtime.bigint();
        await client.broadcast(`m${i}`);
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
    } finally {
      await client.close();
    }
    times.sort((a, b) => a - b);
    return { p50: times[Math.floor(times.length / 2)]!, p99: times[Math.floor(times.length * 0.99)]! };
  } finally {
    await db.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('proxy hop cost', () => {
  it('measures sequential broadcast latency, direct vs through Toxiproxy', async () => {
    const direct = await measure(false);
    const proxied = await measure(true);
    process.stdout.write(`broadcast latency (3 nodes, ${broadcasts} sequential, leader client): ` +
      `direct p50 ${direct.p50.toFixed(2)} ms p99 ${direct.p99.toFixed(2)} ms; ` +
      `through Toxiproxy p50 ${proxied.p50.toFixed(2)} ms p99 ${proxied.p99.toFixed(2)} ms\n`);
    expect(direct.p50).toBeGreaterThan(0);
    expect(proxied.p50).toBeGreaterThan(0);
  });
});
