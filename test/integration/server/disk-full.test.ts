/**
 * A full disk: the server's data folder is a 256 KiB tmpfs. Broadcasting 4 KiB messages fills it; the
 * server must stop acknowledging and exit with a clear error, and every broadcast it acknowledged
 * must be on disk (a restart on a copy of the data folder delivers all of them). Needs root for the
 * mount, as CI has.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ZabClient } from '../../../src/client/zab-client.js';
import { waitFor } from './harness.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';

const mainJs = resolve(import.meta.dirname, '../../../dist/cli/main.js');

function startNode(dataDir: string, logFile: string, clientPort: number, peerPort: number): ChildProcess {
  return spawn(process.execPath, [mainJs, 'node', '--id', '1', '--peer-port', String(peerPort), '--client-port', String(clientPort),
    '--peers', '', '--data-dir', dataDir, '--log-file', logFile, '--seed', '1'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
}

function exited(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolveExit, reject) => {
    if (child.exitCode !== null) return resolveExit(child.exitCode);
    const timer = setTimeout(() => reject(new Error('the server did not exit')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveExit(code);
    });
  });
}

describe('a full disk', () => {
  const root = mkdtempSync(join(tmpdir(), 'zabkit-diskfull-'));
  const mountPoint = join(root, 'small');
  const children: ChildProcess[] = [];
  let mounted = false;
  let ports: PortBlock | undefined;

  beforeAll(async () => {
    ports = await allocatePorts({ count: 4, owner: `it-diskfull-${process.pid}` });
    mkdirSync(mountPoint);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]);
    mounted = true;
  });

  afterAll(() => {
    for (const child of children) if (child.exitCode === null && child.pid) try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    ports?.release();
    if (mounted) execFileSync('umount', ['-l', mountPoint]);
    rmSync(root, { recursive: true, force: true });
  });

  it('stops acknowledging, exits with a clear error, and loses no acknowledged broadcast', async () => {
    const dataDir = join(mountPoint, 'data');
    const logFile = join(root, 'node.log');
    const [clientPort, peerPort] = [ports!.take(), ports!.take()];
    const child = startNode(dataDir, logFile, clientPort, peerPort);
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const client = await waitFor('the client port', () => ZabClient.connect({ host: '127.0.0.1', port: clientPort, timeoutMs: 1000 }).catch(() => undefined));
    await waitFor('a leader serving', async () => ((await client.status()).phase === 'broadcast' ? true : undefined));

    const payload = 'x'.repeat(4096);
    const acknowledged: string[] = [];
    let failures = 0;
    for (let i = 0; i < 400 && failures === 0; i++) {
      const id = `m${i}-${payload}`;
      try {
        await client.broadcast(id, { timeoutMs: 3000 });
        acknowledged.push(id);
      } catch {
        failures++;
      }
    }
    await client.close().catch(() => undefined);
    expect(failures).toBe(1);
    expect(acknowledged.length).toBeGreaterThan(5);
    const code = await exited(child, 10_000);
    expect(code).not.toBe(0);
    const fatal = readFileSync(logFile, 'utf8') + stderr;
    expect(fatal).toMatch(/ENOSPC|no space/i);
    expect(fatal).toMatch(/fatal/);

    // Every acknowledged broadcast is durable: restart on a copy of the data folder on a normal disk.
    const copy = join(root, 'copy');
    cpSync(dataDir, copy, { recursive: true });
    const [clientPort2, peerPort2] = [ports!.take(), ports!.take()];
    const again = startNode(copy, join(root, 'node2.log'), clientPort2, peerPort2);
    children.push(again);
    const reader = await waitFor('the restarted client port', () => ZabClient.connect({ host: '127.0.0.1', port: clientPort2, timeoutMs: 1000 }).catch(() => undefined));
    const delivered = await waitFor('the restarted node delivering', async () => {
      const entries = await reader.read({ timeoutMs: 5000 });
      return entries.length >= acknowledged.length ? entries : undefined;
    });
    await reader.close();
    const ids = new Set(delivered.map((entry) => Buffer.from(entry.data).toString('utf8')));
    for (const id of acknowledged) expect(ids.has(id)).toBe(true);
    process.kill(-again.pid!, 'SIGKILL');
  });
});
