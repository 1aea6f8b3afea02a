/**
 * The real Toxiproxy: find it, start it, stop it, and talk to it through toxiproxy-node-client
 * 4.1.0 with per-call timeouts, readable errors (the HTTP status is kept) and wedge recovery
 * (a 5xx or a timeout on a proxy → delete and re-create it with the same name/listen/upstream,
 * docs/toxiproxy.md G4). We never write a proxy of our own.
 */
import { execa } from 'execa';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, renameSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { Toxiproxy, type ICreateToxicBody, type Proxy as ToxiProxy } from 'toxiproxy-node-client';
import { isAlive, killGroup, signalGroup, sleep, waitFor, withTimeout } from './proc.js';

export const toxiproxyVersion = '2.12.0';
/** Why: the server's own handler timeout is 25 s; our calls give up well before and recover. */
export const defaultCallTimeoutMs = 5000;
/** Why: a fresh toxiproxy-server answers /version within a few hundred ms even on a busy box. */
const startTimeoutMs = 15_000;

export class ToxiproxyError extends Error {
  override name = 'ToxiproxyError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly timedOut: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
  get wedged(): boolean {
    return this.timedOut || (this.status !== undefined && this.status >= 500);
  }
}

export interface ProxySpec {
  readonly name: string;
  readonly listen: string;
  readonly upstream: string;
}

export interface ProxyState {
  readonly name: string;
  readonly listen: string;
  readonly upstream: string;
  readonly enabled: boolean;
  readonly toxics: readonly { readonly name: string; readonly type: string; readonly stream: string }[];
}

export type ToxicStream = 'upstream' | 'downstream';

export interface ToxicSpec {
  readonly name: string;
  readonly type: 'latency' | 'bandwidth' | 'timeout' | 'reset_peer' | 'slicer' | 'slow_close' | 'limit_data';
  readonly stream: ToxicStream;
  readonly attributes: Record<string, number>;
}

function statusOf(error: unknown): number | undefined {
  const match = /status code (\d{3})/.exec(error instanceof Error ? error.message : String(error));
  return match ? Number(match[1]) : undefined;
}

/** A Toxiproxy API client: every call bounded, every error a ToxiproxyError with its status. */
export class ToxiproxyApi {
  readonly client: Toxiproxy;
  constructor(
    readonly url: string,
    readonly callTimeoutMs = defaultCallTimeoutMs,
  ) {
    this.client = new Toxiproxy(url);
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(run(), this.callTimeoutMs, `${what}: no answer within ${this.callTimeoutMs} ms`);
    } catch (error) {
      if (error instanceof ToxiproxyError) throw error;
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      const status = statusOf(error);
      const reason = timedOut ? (error as Error).message
        : status !== undefined ? `${what}: HTTP ${status}`
        : `${what}: ${error instanceof Error ? error.message : String(error)} (is Toxiproxy running at ${this.url}?)`;
      throw new ToxiproxyError(reason, status, timedOut, { cause: error });
    }
  }

  version(): Promise<string> {
    return this.call('GET /version', async () => (JSON.parse(await this.client.getVersion()) as { version: string }).version);
  }

  /** Every proxy with its toxics (raw GET /proxies: the library's Proxy objects drop the toxics). */
  list(): Promise<Record<string, ProxyState>> {
    return this.call('GET /proxies', async () => (await this.client.api.get<Record<string, ProxyState>>(`${this.url}/proxies`)).data ?? {});
  }

  get(name: string): Promise<ToxiProxy> {
    return this.call(`GET /proxies/${name}`, () => this.client.get(name));
  }

  /** Create the proxy; if one by that name exists (409), replace it. */
  async create(spec: ProxySpec): Promise<void> {
    try {
      await this.call(`POST /proxies (${spec.name})`, () => this.client.createProxy({ ...spec }));
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || error.status !== 409) throw error;
      await this.remove(spec.name);
      await this.call(`POST /proxies (${spec.name})`, () => this.client.createProxy({ ...spec }));
    }
  }

  /** Delete a proxy; a missing one (404) counts as deleted. */
  async remove(name: string): Promise<void> {
    try {
      await this.call(`DELETE /proxies/${name}`, () => this.client.api.delete(`${this.url}/proxies/${name}`));
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || error.status !== 404) throw error;
    }
  }

  async setEnabled(spec: ProxySpec, enabled: boolean): Promise<void> {
    await this.call(`POST /proxies/${spec.name} enabled=${enabled}`, () =>
      this.client.api.post(`${this.url}/proxies/${spec.name}`, { ...spec, enabled }));
  }

  /** Add a toxic (toxicity 1 always: randomness belongs to the nemesis). 409 (already there) is success. */
  async addToxic(proxy: string, toxic: ToxicSpec): Promise<void> {
    try {
      const body: ICreateToxicBody<Record<string, number>> = { ...toxic, toxicity: 1 } as never;
      await this.call(`POST /proxies/${proxy}/toxics (${toxic.name})`, () =>
        this.client.api.post(`${this.url}/proxies/${proxy}/toxics`, body));
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || error.status !== 409) throw error;
    }
  }

  /** Remove a toxic by name; a missing one (404) counts as removed. */
  async removeToxic(proxy: string, toxic: string): Promise<void> {
    try {
      await this.call(`DELETE /proxies/${proxy}/toxics/${toxic}`, () =>
        this.client.api.delete(`${this.url}/proxies/${proxy}/toxics/${toxic}`));
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || error.status !== 404) throw error;
    }
  }

  /** Wedge recovery: delete and re-create the proxy (its toxics are gone, it is enabled). */
  async recreate(spec: ProxySpec): Promise<void> {
    await this.remove(spec.name);
    await this.create(spec);
  }

  /**
   * Do `run` on a proxy; if Toxiproxy is wedged on it (5xx or timeout), re-create the proxy and
   * retry once. Errors that are not wedges are rethrown.
   */
  async withRecovery<T>(spec: ProxySpec, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || !error.wedged) throw error;
      await this.recreate(spec);
      return run();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Finding and running the binary

export class ToxiproxyNotFound extends Error {
  override name = 'ToxiproxyNotFound';
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** toxiproxy-server on PATH; else <repo>/.tools/bin/toxiproxy-server; else `go install` it there. */
export async function findToxiproxyServer(repoRoot: string, log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<string> {
  const found = onPath('toxiproxy-server');
  if (found) return found;
  const binDir = resolve(repoRoot, '.tools', 'bin');
  const local = join(binDir, 'toxiproxy-server');
  if (executable(local)) return local;
  const go = onPath('go');
  if (!go) {
    throw new ToxiproxyNotFound(
      `Toxiproxy not found. Either pass --toxiproxy-url URL (or set TOXIPROXY_URL) to use a running one, ` +
      `put toxiproxy-server on PATH, or install Go >= 1.23 and run: ` +
      `GOBIN=${binDir} go install github.com/Shopify/toxiproxy/v2/cmd/server@v${toxiproxyVersion} && mv ${binDir}/server ${local}`,
    );
  }
  log(`zabkit: toxiproxy-server not found; installing Toxiproxy v${toxiproxyVersion} with go install into ${binDir} ...`);
  mkdirSync(binDir, { recursive: true });
  const result = await execa(go, ['install', `github.com/Shopify/toxiproxy/v2/cmd/server@v${toxiproxyVersion}`], {
    env: { GOBIN: binDir }, reject: false, timeout: 600_000, all: true,
  });
  if (result.exitCode !== 0 || !existsSync(join(binDir, 'server'))) {
    throw new ToxiproxyNotFound(`go install of Toxiproxy v${toxiproxyVersion} failed (exit ${result.exitCode}): ${String(result.all ?? '').slice(-2000)}`);
  }
  renameSync(join(binDir, 'server'), local);
  log(`zabkit: installed ${local}`);
  return local;
}

export interface ToxiproxyHandle {
  readonly url: string;
  /** Set when we started it. */
  readonly pid: number | undefined;
  readonly api: ToxiproxyApi;
  /** Stop it if we started it (SIGTERM, then SIGKILL). Never throws. */
  stop(): Promise<void>;
}

export interface StartToxiproxyOptions {
  readonly repoRoot: string;
  /** Use this running Toxiproxy instead of starting one (also TOXIPROXY_URL). */
  readonly url?: string;
  readonly port: number;
  readonly logFile: string;
  readonly callTimeoutMs?: number;
}

export async function startToxiproxy(options: StartToxiproxyOptions): Promise<ToxiproxyHandle> {
  const given = options.url ?? process.env.TOXIPROXY_URL;
  if (given) {
    const api = new ToxiproxyApi(given.replace(/\/+$/, ''), options.callTimeoutMs);
    await api.version();
    return { url: api.url, pid: undefined, api, stop: async () => {} };
  }
  const binary = await findToxiproxyServer(options.repoRoot);
  // The child writes to the file itself (an fd, not a pipe through us), so it outlives this process.
  const fd = openSync(options.logFile, 'a');
  const child = execa(binary, ['-host', '127.0.0.1', '-port', String(options.port)], {
    env: { LOG_LEVEL: 'warn' }, detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: fd as never, stderr: fd as never,
  });
  closeSync(fd);
  child.catch(() => {});
  child.unref();
  const pid = child.pid;
  const url = `http://127.0.0.1:${options.port}`;
  const api = new ToxiproxyApi(url, options.callTimeoutMs);
  const up = await waitFor(async () => {
    if (!isAlive(pid)) return true;
    try {
      await api.version();
      return true;
    } catch {
      return false;
    }
  }, startTimeoutMs, 50);
  if (!up || !isAlive(pid)) {
    await killGroup(pid);
    throw new Error(`toxiproxy-server (${binary}) did not start on port ${options.port}; see ${options.logFile}`);
  }
  return {
    url, pid, api,
    stop: async () => {
      if (!isAlive(pid)) return;
      signalGroup(pid, 'SIGTERM');
      if (!(await waitFor(() => !isAlive(pid), 3000, 20))) await killGroup(pid);
      await sleep(0);
    },
  };
}
