/** zabkit serve: lists runs, serves their files, refuses every path outside the store. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type RunningServer } from '../../../jepsen-style/serve.js';
import { createRunDir, listRuns } from '../../../jepsen-style/store.js';

let root = '';
let store = '';
let server: RunningServer | undefined;

/** A raw GET (no URL normalization by a client library). */
function get(path: string): Promise<{ status: number; body: string }> {
  const url = new URL(server?.url ?? 'http://127.0.0.1:1/');
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'zabkit-serve-'));
  store = join(root, 'store');
  writeFileSync(join(root, 'secret.txt'), 'TOP SECRET\n');
  const a = createRunDir(store, 'kill-5', new Date('2026-11-24T10:00:00Z'));
  writeFileSync(join(a, 'test.json'), JSON.stringify({ name: 'kill-5', seed: 42, nemesis: 'kill', system: 'zabkit' }));
  writeFileSync(join(a, 'results.json'), JSON.stringify({ valid: true, anomalies: {}, stats: { ops: 1234 } }));
  writeFileSync(join(a, 'index.html'), '<!doctype html><title>report</title>REPORT-A');
  mkdirSync(join(a, 'nodes', 'n1'), { recursive: true });
  writeFileSync(join(a, 'nodes', 'n1', 'zabkit.log'), 'log line\n');
  symlinkSync(join(root, 'secret.txt'), join(a, 'escape.txt'));
  symlinkSync(root, join(a, 'up'));
  const b = createRunDir(store, 'kill-5', new Date('2026-11-24T11:00:00Z'));
  writeFileSync(join(b, 'results.json'), JSON.stringify({ valid: false, anomalies: { lost: { count: 1, examples: [] } }, stats: { ops: 99 } }));
  server = await serve({ storeDir: store, port: 0 });
});

afterAll(async () => {
  await server?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('store', () => {
  it('lists runs newest first with verdict, seed, nemesis and operation count; latest points at the newest', () => {
    const runs = listRuns(store);
    expect(runs.map((r) => [r.testName, r.timestamp, r.valid, r.operations])).toEqual([
      ['kill-5', '20261124T110000.000Z', false, 99],
      ['kill-5', '20261124T100000.000Z', true, 1234],
    ]);
    expect(runs[1]).toMatchObject({ seed: 42, nemesis: 'kill', system: 'zabkit', hasReport: true });
    expect(runs[0]?.anomalies).toEqual(['lost']);
  });
  it('refuses a test name that is not a plain directory name', () => {
    expect(() => createRunDir(store, '../evil')).toThrow(/bad test name/);
  });
});

describe('serve', () => {
  it('binds 127.0.0.1 by default', () => {
    expect(server?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });
  it('lists the runs and serves a report and a node log', async () => {
    const index = await get('/');
    expect(index.status).toBe(200);
    expect(index.body).toContain('kill-5');
    expect(index.body).toContain('INVALID');
    expect(index.body).toContain('1,234');
    expect((await get('/runs/kill-5/20261124T100000.000Z/index.html')).body).toContain('REPORT-A');
    expect((await get('/runs/kill-5/latest/results.json')).body).toContain('"valid":false');
    expect((await get('/runs/kill-5/20261124T100000.000Z/nodes/n1/zabkit.log')).body).toBe('log line\n');
  });
  it('refuses traversal, encoded traversal and symlinks pointing out of the store', async () => {
    for (const path of [
      '/runs/../secret.txt',
      '/runs/kill-5/../../secret.txt',
      '/runs/%2e%2e/secret.txt',
      '/runs/kill-5/%2E%2E%2F%2E%2E%2Fsecret.txt',
      '/runs/..%2f..%2fsecret.txt',
      '/runs/kill-5/..%5c..%5csecret.txt',
      '/runs/kill-5/20261124T100000.000Z/escape.txt',
      '/runs/kill-5/20261124T100000.000Z/up/secret.txt',
      '/runs/%00',
    ]) {
      const response = await get(path);
      expect(response.status, path).toBeGreaterThanOrEqual(400);
      expect(response.body, path).not.toContain('TOP SECRET');
    }
  });
});
