/**
 * Watches the testbed's Toxiproxy for a whole run, so the testbed's own failures are never blamed
 * on the system under test (issue 10). Loss is noticed three ways: the toxiproxy-server we started
 * exits (its child process ends), a periodic GET /version goes unanswered `probeMissesInARow`
 * times in a row, or a Net call finds the API unreachable (the gate's suspect(), probed at once).
 * A Toxiproxy we started is then restarted on the same address and the Net rebuilds every proxy
 * and every active toxic from its registry (cluster/net.ts restore()); meanwhile Net calls wait
 * (bounded) at the gate. A Toxiproxy given by --toxiproxy-url cannot be restarted: its loss is
 * fatal at once. Events, for the history (process 'nemesis', type 'info'):
 *   toxiproxy-down     {cause}                      when the loss is noticed
 *   toxiproxy-restored {proxies, toxics, downMs}    after a restore
 *   toxiproxy-down     {cause}, error: <cause>      when it cannot be restored; fatal() is set
 */
import type { TestbedSupervisor } from '../jepsen-style/types.js';
import type { ToxiproxyGate, ToxiproxyNet } from './net.js';
import { isAlive } from './proc.js';
import { sleep, withTimeout } from '../jepsen-style/async.js';
import { ToxiproxyApi, ToxiproxyUnavailable, type ToxiproxyExit, type ToxiproxyHandle } from './toxiproxy.js';

/** Limits of the supervisor (docs/LIMITS.md, "Toxiproxy supervision"). */
export const supervisorLimits = {
  /** Why 500: a lost API is noticed within about a second, at the cost of 2 GETs a second. */
  probeIntervalMs: 500,
  /** Why 1000: /version answers in about a millisecond; a second tolerates a busy 2-core box. */
  probeTimeoutMs: 1000,
  /** Why 3: one slow answer under load is not a loss; a hung API is noticed in 1.5-4.5 s. */
  probeMissesInARow: 3,
  /** Why 3: a restart that fails three times (port taken, binary gone) will not succeed on a fourth. */
  restoreAttempts: 3,
  /** Why 5000: a fresh toxiproxy-server answers /version within a few hundred ms even when busy. */
  restartTimeoutMs: 5000,
  /** Why: a port still held by the dead process's socket, or a box under load, gets a moment. */
  restoreBackoffMs: 500,
  /**
   * Why 20 s: the longest a Net call waits at the gate for a restore. Worst case restore is 3 x
   * (5 s start + re-create) + backoff, about 17 s; it stays below the runner's 30 s bound on a
   * nemesis operation, so a call that waited in vain fails as itself with a typed error.
   */
  waitForRestoreMs: 20_000,
  /** Why: events before the first listener (setup) are kept; a bound so nothing grows without one. */
  bufferedEvents: 100,
} as const;

export type SupervisorLimits = { -readonly [K in keyof typeof supervisorLimits]: number };

export interface SupervisorEvent {
  readonly f: string;
  readonly value: unknown;
  readonly error?: string;
}

export interface ToxiproxySupervisorOptions {
  readonly handle: ToxiproxyHandle;
  readonly net: ToxiproxyNet;
  readonly limits?: Partial<SupervisorLimits>;
  /** Also told of every event (e.g. to rewrite cluster.json with the new pid after a restore). */
  readonly onEvent?: (event: SupervisorEvent) => void;
}

type State = 'up' | 'restoring' | 'lost' | 'stopped';

export class ToxiproxySupervisor implements TestbedSupervisor, ToxiproxyGate {
  private state: State = 'up';
  private readonly limits: SupervisorLimits;
  private readonly probeApi: ToxiproxyApi;
  private readonly listeners: ((event: SupervisorEvent) => void)[] = [];
  private readonly buffered: SupervisorEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private unwatchExit: (() => void) | undefined;
  private probing = false;
  private misses = 0;
  private restoring: Promise<void> | undefined;
  private fatalCause: string | undefined;
  /** Restores done, with how long each loss lasted: for tests and the run's note. */

  constructor(private readonly options: ToxiproxySupervisorOptions) {
    this.limits = { ...supervisorLimits, ...options.limits };
    this.probeApi = new ToxiproxyApi(options.handle.url, this.limits.probeTimeoutMs);
  }

  /** Start watching; attaches itself to the Net as its gate. */
  start(): this {
    if (this.timer) return this;
    this.options.net.setGate(this);
    this.unwatchExit = this.options.handle.onExit((exit) => this.noticeLoss(describeExit(exit)));
    this.timer = setInterval(() => void this.probe(), this.limits.probeIntervalMs);
    this.timer.unref();
    return this;
  }

  onEvent(listener: (event: SupervisorEvent) => void): void {
    this.listeners.push(listener);
    for (const event of this.buffered.splice(0)) listener(event);
  }

  fatal(): string | undefined {
    return this.fatalCause;
  }

  stop(): void {
    if (this.state !== 'lost') this.state = 'stopped';
    clearInterval(this.timer);
    this.unwatchExit?.();
    this.options.net.setGate(undefined);
  }

  // --- the gate -----------------------------------------------------------------------------

  async ready(): Promise<void> {
    if (this.state === 'up' || this.state === 'stopped') return;
    if (this.state === 'restoring' && this.restoring) {
      await withTimeout(this.restoring, this.limits.waitForRestoreMs, `Toxiproxy was not restored within ${this.limits.waitForRestoreMs} ms`)
        .catch((error: unknown) => { throw new ToxiproxyUnavailable(String(error instanceof Error ? error.message : error), { cause: error }); });
    }
    if (this.state === 'lost') throw new ToxiproxyUnavailable(`Toxiproxy is lost: ${this.fatalCause ?? 'unknown cause'}`);
  }

  async suspect(error: unknown): Promise<void> {
    if (this.state === 'up') {
      const problem = await this.check();
      if (problem === undefined) return; // it answers: the caller's retry will tell
      this.noticeLoss(`${problem} (after a call failed: ${error instanceof Error ? error.message : String(error)})`);
    }
    await this.ready();
  }

  // --- watching -----------------------------------------------------------------------------

  /** One look: undefined if Toxiproxy is up, else why not. */
  private async check(): Promise<string | undefined> {
    const { handle } = this.options;
    if (!handle.external && !isAlive(handle.pid)) return `toxiproxy-server (pid ${handle.pid}) is gone`;
    try {
      await this.probeApi.version();
      return undefined;
    } catch (error) {
      return `the API at ${handle.url} did not answer: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private async probe(): Promise<void> {
    if (this.state !== 'up' || this.probing) return;
    if (this.options.handle.stopped) { this.stop(); return; } // teardown came first: not a crash
    this.probing = true;
    try {
      const problem = await this.check();
      if (this.state !== 'up' || this.options.handle.stopped) return;
      if (problem === undefined) { this.misses = 0; return; }
      const dead = !this.options.handle.external && !isAlive(this.options.handle.pid);
      if (dead || ++this.misses >= this.limits.probeMissesInARow) {
        this.noticeLoss(dead ? problem : `${problem} (${this.misses} probes in a row)`);
      }
    } finally {
      this.probing = false;
    }
  }

  private emit(event: SupervisorEvent): void {
    this.options.onEvent?.(event);
    if (this.listeners.length === 0) {
      if (this.buffered.length < this.limits.bufferedEvents) this.buffered.push(event);
      return;
    }
    for (const listener of this.listeners) listener(event);
  }

  private noticeLoss(cause: string): void {
    if (this.state !== 'up' || this.options.handle.stopped) return;
    this.state = 'restoring';
    this.misses = 0;
    this.emit({ f: 'toxiproxy-down', value: { cause } });
    this.restoring = this.restore(cause, Date.now());
  }

  private async restore(cause: string, downAt: number): Promise<void> {
    const { handle, net } = this.options;
    let last = cause;
    if (handle.external) {
      this.lose(`the Toxiproxy at ${handle.url} (given by --toxiproxy-url) is lost and cannot be restarted: ${cause}`);
      return;
    }
    for (let attempt = 1; attempt <= this.limits.restoreAttempts; attempt++) {
      if (this.isStopped()) return;
      try {
        await handle.restart(this.limits.restartTimeoutMs);
        if (this.isStopped()) return;
        const counts = await net.restore();
        const downMs = Date.now() - downAt;
        this.state = 'up';
        this.emit({ f: 'toxiproxy-restored', value: { ...counts, downMs } });
        return;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
        if (attempt < this.limits.restoreAttempts) await sleep(this.limits.restoreBackoffMs * attempt);
      }
    }
    if (this.isStopped()) return;
    this.lose(`Toxiproxy could not be restored after ${this.limits.restoreAttempts} attempts (it went down: ${cause}); last error: ${last}`);
  }

  private isStopped(): boolean {
    return (this.state as State) === 'stopped' || this.options.handle.stopped;
  }

  private lose(cause: string): void {
    const line = cause.replace(/\s+/g, ' ').slice(0, 500);
    this.fatalCause = line;
    this.state = 'lost';
    this.emit({ f: 'toxiproxy-down', value: { cause: line }, error: line });
  }
}

function describeExit(exit: ToxiproxyExit): string {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode}`;
  return `toxiproxy-server (pid ${exit.pid}) ${how}${exit.lastWords ? `: ${exit.lastWords}` : ''}`;
}

/** Supervise `handle`'s Toxiproxy and the proxies of `net`; started at once. */
export function superviseToxiproxy(options: ToxiproxySupervisorOptions): ToxiproxySupervisor {
  return new ToxiproxySupervisor(options).start();
}
