/**
 * The real Toxiproxy: find it, start it, stop it, and talk to it through toxiproxy-node-client
 * 4.1.0 with per-call timeouts, readable errors (the HTTP status is kept) and wedge recovery
 * (a 5xx or a timeout on a proxy → delete and re-create it with the same name/listen/upstream,
 * docs/toxiproxy.md G4). We never write a proxy of our own.
 */
import { execa } from 'execa';
import { accessSync, closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { Toxiproxy, type ICreateToxicBody, type Proxy as ToxiProxy } from 'toxiproxy-node-client';
import { isAlive, killGroup, signalGroup } from './proc.js';
import { sleep, waitFor, withTimeout } from '../jepsen-style/async.js';
import { assertSurvivableToxic, type ToxicSpec } from './toxic-limits.js';

export const toxiproxyVersion = '2.12.0';
/** Why: the server's own handler timeout is 25 s; our calls give up well before and recover. */
export const defaultCallTimeoutMs = 5000;
/** Why: a fresh toxiproxy-server answers /version within a few hundred ms even on a busy box. */
const startTimeoutMs = 15_000;
/** Why: a panic's message and stack head fit in this; more of the log is not a one-line cause. */
const lastWordsBytes = 4096;

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

/**
 * Toxiproxy is gone (or being restarted) and a call could not wait for it: thrown by the Net when
 * the supervisor (cluster/toxiproxy-supervisor.ts) reports it lost, or does not restore it in time.
 */
export class ToxiproxyUnavailable extends Error {
  override name = 'ToxiproxyUnavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
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

export type { ToxicSpec, ToxicStream } from './toxic-limits.js';

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

  /**
   * Create the proxy; if one by that name exists (409), replace it. `enabled: false` creates it
   * without listening (so toxics can be added before any connection is accepted, G6).
   */
  async create(spec: ProxySpec, enabled = true): Promise<void> {
    const body = { name: spec.name, listen: spec.listen, upstream: spec.upstream, enabled };
    const post = (): Promise<unknown> => this.client.api.post(`${this.url}/proxies`, body);
    try {
      await this.call(`POST /proxies (${spec.name})`, post);
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || error.status !== 409) throw error;
      await this.remove(spec.name);
      await this.call(`POST /proxies (${spec.name})`, post);
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
      this.client.api.post(`${this.url}/proxies/${spec.name}`, { name: spec.name, listen: spec.listen, upstream: spec.upstream, enabled }));
  }

  /**
   * Add a toxic (toxicity 1 always: randomness belongs to the nemesis). 409 (already there) is
   * success. Attributes the real Toxiproxy would crash on (cluster/toxic-limits.ts) are refused
   * with a ToxicParameterError before anything is sent.
   */
  async addToxic(proxy: string, toxic: ToxicSpec): Promise<void> {
    assertSurvivableToxic(toxic);
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
   * Do `run` on a proxy; if Toxiproxy is wedged on it (5xx or timeout), re-create the proxy (with
   * `recreate`, default: bare, no toxics) and retry once. Errors that are not wedges are rethrown.
   */
  async withRecovery<T>(spec: ProxySpec, run: () => Promise<T>, recreate: () => Promise<void> = () => this.recreate(spec)): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof ToxiproxyError) || !error.wedged) throw error;
      await recreate();
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

/** How a toxiproxy-server we started ended without being asked to. */
export interface ToxiproxyExit {
  readonly pid: number | undefined;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** Its last words in the log: the `panic:` / `fatal error:` line, if it wrote one. */
  readonly lastWords: string | undefined;
}

export interface ToxiproxyHandle {
  readonly url: string;
  /** Set when we started it (the current process: a restart changes it). */
  readonly pid: number | undefined;
  readonly api: ToxiproxyApi;
  /** True when it was given (--toxiproxy-url): we cannot restart it. */
  readonly external: boolean;
  /** True once stop() was called: its end is no crash. */
  readonly stopped: boolean;
  /** Stop it if we started it (SIGTERM, then SIGKILL). Never throws. */
  stop(): Promise<void>;
  /**
   * Start it again on the same address (kills what is left of the old process group first); it
   * has no proxies. Throws if it does not answer in time, if it is external, or after stop().
   */
  restart(timeoutMs?: number): Promise<void>;
  /** Called when a toxiproxy-server we started exits without stop() or restart() asking it to. */
  onExit(listener: (exit: ToxiproxyExit) => void): () => void;
}

export interface StartToxiproxyOptions {
  readonly repoRoot: string;
  /** Use this running Toxiproxy instead of starting one (also TOXIPROXY_URL). */
  readonly url?: string;
  readonly port: number;
  readonly logFile: string;
  readonly callTimeoutMs?: number;
}

/** The handle startToxiproxy made for `api`, so a caller holding only the API can supervise it. */
const handles = new WeakMap<ToxiproxyApi, ToxiproxyHandle>();
export function handleOf(api: ToxiproxyApi): ToxiproxyHandle | undefined {
  return handles.get(api);
}

class ExternalToxiproxy implements ToxiproxyHandle {
  readonly pid = undefined;
  readonly external = true;
  stopped = false;
  constructor(readonly api: ToxiproxyApi) {}
  get url(): string {
    return this.api.url;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  async restart(): Promise<void> {
    throw new ToxiproxyUnavailable(`the Toxiproxy at ${this.api.url} was given (--toxiproxy-url); zabkit cannot restart it`);
  }
  onExit(): () => void {
    return () => {};
  }
}

/** The text a file gained after `offset` (at most the last `lastWordsBytes`). */
function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const from = Math.max(offset, size - lastWordsBytes);
    const buffer = Buffer.alloc(Math.max(0, size - from));
    readSync(fd, buffer, 0, buffer.length, from);
    return buffer.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The panic / fatal error line of a log tail, else its last line (e.g. "bind: address already in use"). */
function lastWords(text: string): string | undefined {
  const lines = text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
  const line = lines.find((candidate) => /^(panic: |fatal error: )/.test(candidate)) ?? lines.at(-1);
  return line?.slice(0, 300);
}

class StartedToxiproxy implements ToxiproxyHandle {
  readonly external = false;
  stopped = false;
  private current: number | undefined;
  /** Pids we are ending ourselves (restart, stop): their exit is not reported. */
  private readonly expected = new Set<number>();
  private readonly listeners = new Set<(exit: ToxiproxyExit) => void>();

  constructor(
    readonly url: string,
    readonly api: ToxiproxyApi,
    private readonly binary: string,
    private readonly options: StartToxiproxyOptions,
  ) {}

  get pid(): number | undefined {
    return this.current;
  }

  /** Spawn toxiproxy-server and wait until it answers; throws (and leaves nothing running) if not. */
  async spawn(timeoutMs: number): Promise<void> {
    const { port, logFile } = this.options;
    // The child writes to the file itself (an fd, not a pipe through us), so it outlives this process.
    const fd = openSync(logFile, 'a');
    const logOffset = fstatSync(fd).size;
    const child = execa(this.binary, ['-host', '127.0.0.1', '-port', String(port)], {
      env: { LOG_LEVEL: 'warn' }, detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: fd as never, stderr: fd as never,
    });
    closeSync(fd);
    child.unref();
    const pid = child.pid;
    this.current = pid;
    void child.then((result) => {
      if (pid === undefined || this.expected.delete(pid) || this.stopped) return;
      const exit: ToxiproxyExit = {
        pid, exitCode: result.exitCode, signal: result.signal, lastWords: lastWords(readFrom(logFile, logOffset)),
      };
      for (const listener of [...this.listeners]) listener(exit);
    }, () => {});
    // Toxiproxy 2.12.0 keeps running with no API when its port is taken (it logs "Server finished
    // with error" and idles), so its log is read too: that is a failed start, not a slow one.
    const apiFailed = (): boolean => readFrom(logFile, logOffset).includes('Server finished with error');
    const up = await waitFor(async () => {
      if (!isAlive(pid) || apiFailed()) return true;
      try {
        await this.api.version();
        return true;
      } catch {
        return false;
      }
    }, timeoutMs, 50);
    if (!up || !isAlive(pid) || this.stopped || apiFailed()) {
      if (pid !== undefined) this.expected.add(pid);
      await killGroup(pid);
      const words = lastWords(readFrom(logFile, logOffset));
      throw new Error(`toxiproxy-server (${this.binary}) did not start on port ${port}${words ? `: ${words}` : ''}; see ${logFile}`);
    }
  }

  async restart(timeoutMs = startTimeoutMs): Promise<void> {
    if (this.stopped) throw new ToxiproxyUnavailable('toxiproxy-server was stopped; not restarting it');
    const old = this.current;
    if (old !== undefined && isAlive(old)) {
      this.expected.add(old);
      await killGroup(old);
    }
    await this.spawn(timeoutMs);
  }

  onExit(listener: (exit: ToxiproxyExit) => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const pid = this.current;
    if (pid === undefined || !isAlive(pid)) return;
    this.expected.add(pid);
    signalGroup(pid, 'SIGTERM');
    if (!(await waitFor(() => !isAlive(pid), 3000, 20))) await killGroup(pid);
    await sleep(0);
  }
}

export async function startToxiproxy(options: StartToxiproxyOptions): Promise<ToxiproxyHandle> {
  const given = options.url ?? process.env.TOXIPROXY_URL;
  if (given) {
    const api = new ToxiproxyApi(given.replace(/\/+$/, ''), options.callTimeoutMs);
    await api.version();
    const handle = new ExternalToxiproxy(api);
    handles.set(api, handle);
    return handle;
  }
  const binary = await findToxiproxyServer(options.repoRoot);
  const url = `http://127.0.0.1:${options.port}`;
  const api = new ToxiproxyApi(url, options.callTimeoutMs);
  const handle = new StartedToxiproxy(url, api, binary, options);
  await handle.spawn(startTimeoutMs);
  handles.set(api, handle);
  return handle;
}
