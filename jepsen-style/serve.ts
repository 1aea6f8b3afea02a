/**
 * `zabkit serve`: browse the run store over HTTP. `/` lists the runs (name, date, verdict, seed,
 * nemesis, operation count); `/runs/<test>/<timestamp>/<file>` serves a run's files (index.html is
 * the report). Binds 127.0.0.1 by default. Refuses any path outside the store: `..` segments, NUL,
 * backslashes, and symlinks whose target resolves outside the store (checked with realpath).
 */
import { createReadStream, readdirSync, realpathSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import { listRuns, type RunSummary } from './store.js';
import { esc } from './report/svg.js';

export interface ServeOptions {
  readonly storeDir: string;
  readonly port?: number;
  readonly host?: string;
}

export interface RunningServer {
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.jsonl': 'text/plain; charset=utf-8',
  '.log': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.xml': 'application/xml; charset=utf-8',
};

/**
 * Resolve a URL path under `root` or return undefined when it would leave the store. `root` must
 * already be a realpath.
 */
export function resolveInStore(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return undefined;
  const candidate = resolve(root, ...segments);
  if (candidate !== root && !candidate.startsWith(root + sep)) return undefined;
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    return undefined;
  }
  if (real !== root && !real.startsWith(root + sep)) return undefined;
  return real;
}

function verdictCell(valid: RunSummary['valid']): string {
  const cls = valid === true ? 'valid' : valid === false ? 'invalid' : 'unknown';
  const word = valid === true ? 'valid' : valid === false ? 'INVALID' : valid === 'unknown' ? 'unknown' : 'incomplete';
  return `<span class="v ${cls}">${word}</span>`;
}

function shown(value: unknown): string {
  if (value === undefined || value === null) return '<span class="muted">\u2013</span>';
  if (Array.isArray(value)) return esc(value.length > 0 ? value.join(', ') : 'none');
  return esc(typeof value === 'object' ? JSON.stringify(value) : String(value));
}

export function indexPage(runs: readonly RunSummary[], storeDir: string): string {
  const rows = runs
    .map((r) => {
      const href = `/runs/${encodeURIComponent(r.testName)}/${encodeURIComponent(r.timestamp)}/`;
      return `<tr><td><a href="${href}${r.hasReport ? 'index.html' : ''}">${esc(r.testName)}</a></td><td>${esc(r.date)}</td><td>${verdictCell(r.valid)}</td><td>${esc(r.anomalies.join(', '))}</td><td>${shown(r.seed)}</td><td>${shown(r.nemesis)}</td><td>${shown(r.system)}</td><td class="num">${r.operations === undefined ? '<span class="muted">\u2013</span>' : r.operations.toLocaleString('en-US')}</td><td><a href="${href}">files</a></td></tr>`;
    })
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>zabkit runs</title><style>
body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328}
header{background:#24292f;color:#fff;padding:12px 28px}main{max-width:1200px;margin:0 auto;padding:18px 28px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #d0d7de;padding:5px 8px;text-align:left}th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#656d76}
.v{border-radius:10px;padding:1px 8px;font-weight:700;font-size:12px;color:#fff}.v.valid{background:#1a7f37}.v.invalid{background:#cf222e}.v.unknown{background:#9a6700}
</style></head><body><header><b>zabkit</b> &nbsp; stored runs <span class="muted">${esc(storeDir)}</span></header><main>
<p>${runs.length} run${runs.length === 1 ? '' : 's'}, newest first.</p>
<table id="runs"><thead><tr><th>test</th><th>date</th><th>verdict</th><th>anomalies</th><th>seed</th><th>nemesis</th><th>system</th><th>operations</th><th></th></tr></thead><tbody>
${rows}
</tbody></table></main></body></html>`;
}

function directoryPage(urlPath: string, dir: string): string {
  const entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  const base = urlPath.endsWith('/') ? urlPath : `${urlPath}/`;
  const items = entries.map((e) => `<li><a href="${esc(base + encodeURIComponent(e.name))}${e.isDirectory() ? '/' : ''}">${esc(e.name)}${e.isDirectory() ? '/' : ''}</a></li>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(urlPath)}</title></head><body style="font:14px sans-serif;margin:20px"><p><a href="/">all runs</a></p><h3>${esc(urlPath)}</h3><ul>${items}</ul></body></html>`;
}

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
  res.end(body);
}

export function handler(storeDir: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
      const root = realpathSync(storeDir);
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname;
      if (path === '/' || path === '/index.html') return send(res, 200, indexPage(listRuns(root), storeDir), contentTypes['.html']);
      if (path === '/runs.json') return send(res, 200, JSON.stringify(listRuns(root), null, 2), contentTypes['.json']);
      if (!path.startsWith('/runs/')) return send(res, 404, 'not found\n');
      // Look at the raw (still encoded) path too: refuse traversal before any decoding tricks.
      const raw = (req.url ?? '').split('?')[0] ?? '';
      if (/(^|\/|%2f)(\.|%2e){2}(\/|%2f|$)/i.test(raw)) return send(res, 403, 'refused: path outside the store\n');
      const target = resolveInStore(root, path.slice('/runs/'.length));
      if (target === undefined) return send(res, 403, 'refused: path outside the store (or missing)\n');
      const stat = statSync(target);
      if (stat.isDirectory()) {
        if (!path.endsWith('/')) {
          res.writeHead(301, { location: `${path}/` });
          res.end();
          return;
        }
        return send(res, 200, directoryPage(path, target), contentTypes['.html']);
      }
      res.writeHead(200, { 'content-type': contentTypes[extname(target)] ?? 'application/octet-stream', 'content-length': stat.size, 'x-content-type-options': 'nosniff' });
      if (req.method === 'HEAD') return void res.end();
      createReadStream(target).pipe(res);
    } catch (error) {
      send(res, 500, `error: ${(error as Error).message}\n`);
    }
  };
}

/** Start serving the store; resolves once listening. */
export function serve(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer(handler(resolve(options.storeDir)));
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      const shownHost = host.includes(':') ? `[${host}]` : host;
      resolvePromise({
        url: `http://${shownHost}:${port}/`,
        server,
        close: () => new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}
