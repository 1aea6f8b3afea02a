/**
 * The Toxiproxy API wrapper against a fake server on 127.0.0.1: statuses survive into readable
 * errors, calls are bounded, a wedged proxy (5xx) is deleted and re-created, then the call retried.
 * Also: two concurrent port allocations never share a port, and release removes their locks.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allocatePorts } from '../../../cluster/ports.js';
import { ToxiproxyApi, ToxiproxyError } from '../../../cluster/toxiproxy.js';

describe('ToxiproxyApi against a fake server', () => {
  let server: Server;
  let url: string;
  const calls: string[] = [];
  let wedged = true;
  let hang = false;

  beforeAll(async () => {
    server = createServer((request: IncomingMessage, response) => {
      calls.push(`${request.method} ${request.url}`);
      request.resume();
      if (hang) return; // never answers
      if (request.method === 'POST' && request.url?.endsWith('/toxics')) {
        if (wedged) { wedged = false; response.writeHead(503).end('{"error":"wedged","status":503}'); return; }
        response.writeHead(200).end('{}');
        return;
      }
      if (request.method === 'DELETE') { response.writeHead(204).end(); return; }
      if (request.method === 'POST' && request.url === '/proxies') { response.writeHead(201).end('{"name":"p","listen":"127.0.0.1:1","upstream":"127.0.0.1:2","enabled":true,"toxics":[]}'); return; }
      response.writeHead(404).end('{"error":"not found","status":404}');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const address = server.address() as { port: number };
    url = `http://127.0.0.1:${address.port}`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  });

  it('recovers a wedged proxy by delete + re-create, then retries', async () => {
    const api = new ToxiproxyApi(url, 1000);
    const spec = { name: 'p', listen: '127.0.0.1:1', upstream: '127.0.0.1:2' };
    await api.withRecovery(spec, () => api.addToxic('p', { name: 'cut-a-b', type: 'timeout', stream: 'upstream', attributes: { timeout: 0 } }));
    expect(calls).toEqual(['POST /proxies/p/toxics', 'DELETE /proxies/p', 'POST /proxies', 'POST /proxies/p/toxics']);
  });

  it('keeps the status in the error, and bounds every call', async () => {
    const api = new ToxiproxyApi(url, 300);
    const error = await api.get('missing').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToxiproxyError);
    expect((error as ToxiproxyError).status).toBe(404);
    expect(String(error)).toMatch(/GET \/proxies\/missing: HTTP 404/);
    hang = true;
    const started = Date.now();
    const timeout = await api.list().catch((e: unknown) => e);
    hang = false;
    expect((timeout as ToxiproxyError).timedOut).toBe(true);
    expect((timeout as ToxiproxyError).wedged).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('port blocks', () => {
  it('two concurrent allocations never share a port; release removes the locks', async () => {
    const [a, b] = await Promise.all([
      allocatePorts({ count: 150, owner: `ports-test-a-${process.pid}` }),
      allocatePorts({ count: 150, owner: `ports-test-b-${process.pid}` }),
    ]);
    const shared = a.ports.filter((port) => b.ports.includes(port));
    expect(shared).toEqual([]);
    expect(a.lockFiles.length).toBe(2);
    a.release();
    b.release();
    for (const file of [...a.lockFiles, ...b.lockFiles]) expect(existsSync(file)).toBe(false);
  });
});
