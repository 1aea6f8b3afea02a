/**
 * `Net` over Toxiproxy, one proxy per directed link (docs/toxiproxy.md, "Modelling partitions"):
 * bytes from→to travel on P(from→to)'s upstream stream and on P(to→from)'s downstream stream, so
 * every one-direction fault is a toxic on both. Toxicity is always 1 (the nemesis owns randomness).
 *
 * Toxic names are `<kind>-<from>-<to>`, so one link's faults can be healed alone (`heal`), and
 * two different faults never collide. `healAll` removes every toxic, re-enables every proxy and
 * re-creates wedged ones; it never throws.
 *
 * The Net keeps a registry of what it has applied (every active toxic per proxy, in the order it
 * was added, and every disabled proxy), updated before each fault and heal is sent, so that a
 * Toxiproxy that died (cluster/toxiproxy-supervisor.ts restarts it) or a proxy that wedged can be
 * rebuilt exactly: `restore()`. With a gate attached (the supervisor), every call first waits
 * (bounded) while Toxiproxy is being restored, and a call that finds Toxiproxy unreachable asks the
 * gate to check at once, waits for the restore, and is retried (each call is idempotent).
 */
import type { CutMode, Net } from '../jepsen-style/types.js';
import { ToxiproxyError, type ToxiproxyApi, type ToxicSpec } from './toxiproxy.js';
import type { ClusterProxy } from './types.js';

export type LinkFaultKind = 'cut' | 'latency' | 'bandwidth' | 'reset' | 'slice';

/** What the Net asks of whoever watches Toxiproxy (cluster/toxiproxy-supervisor.ts). */
export interface ToxiproxyGate {
  /** Resolves at once while Toxiproxy is up; waits (bounded) during a restore; rejects with ToxiproxyUnavailable once it is lost. */
  ready(): Promise<void>;
  /** A call found Toxiproxy unreachable: check now; resolves when it is up again (restored or never gone), like ready(). */
  suspect(error: unknown): Promise<void>;
}

/** Every proxy and what is on it now, as the registry has it. */
export interface ProxyFaults {
  readonly proxy: ClusterProxy;
  readonly enabled: boolean;
  readonly toxics: readonly ToxicSpec[];
}

/** An error that says Toxiproxy did not answer at all (refused, reset, timed out), as opposed to an HTTP error. */
function unreachable(error: unknown): boolean {
  return error instanceof ToxiproxyError && error.status === undefined;
}

export class ToxiproxyNet implements Net {
  /** Directed links cut in 'refuse' mode: proxy from→to is disabled. */
  private readonly refused = new Set<string>();
  /** The registry: active toxics by proxy name, then toxic name (insertion order = chain order). */
  private readonly toxics = new Map<string, Map<string, ToxicSpec>>();
  /** The registry: proxies disabled by a 'refuse' cut. */
  private readonly disabled = new Set<string>();
  private gate: ToxiproxyGate | undefined;
  /** Errors swallowed by healAll, for the report. */
  readonly healErrors: string[] = [];
  /** What the last healAll could not repair (Toxiproxy lost, a proxy that could not be re-created): empty when it healed everything. */
  private lastHealFailures: string[] = [];

  /** The NemesisNet hook: what the last healAll left broken (the nemesis records it as a failed heal). */
  healFailures(): readonly string[] {
    return this.lastHealFailures;
  }

  constructor(
    readonly api: ToxiproxyApi,
    readonly proxies: readonly ClusterProxy[],
  ) {}

  /** Attach (or, with undefined, detach) the supervisor's gate. */
  setGate(gate: ToxiproxyGate | undefined): void {
    this.gate = gate;
  }

  /** What the registry says is on every proxy (proxies with nothing on them included). */
  registry(): ProxyFaults[] {
    return this.proxies.map((proxy) => this.entry(proxy));
  }

  private remember(proxy: ClusterProxy, toxic: ToxicSpec): void {
    let onProxy = this.toxics.get(proxy.name);
    if (!onProxy) this.toxics.set(proxy.name, (onProxy = new Map()));
    onProxy.set(toxic.name, toxic);
  }

  private forget(proxy: ClusterProxy, name: string): void {
    this.toxics.get(proxy.name)?.delete(name);
  }

  /**
   * Re-create one proxy as the registry has it: disabled first (not listening), then its toxics in
   * order, then enabled unless a 'refuse' cut holds it, so no connection is accepted before its
   * toxics are in place (docs/toxiproxy.md G6). Not gated: the supervisor calls it while restoring.
   */
  async restoreProxy(proxy: ClusterProxy, entry: ProxyFaults = this.entry(proxy)): Promise<number> {
    await this.api.create(proxy, false);
    for (const toxic of entry.toxics) await this.api.addToxic(proxy.name, toxic);
    if (entry.enabled) await this.api.setEnabled(proxy, true);
    return entry.toxics.length;
  }

  private entry(proxy: ClusterProxy): ProxyFaults {
    return { proxy, enabled: !this.disabled.has(proxy.name), toxics: [...(this.toxics.get(proxy.name)?.values() ?? [])] };
  }

  /**
   * Rebuild every proxy of the topology and every active toxic (after a restart of Toxiproxy),
   * then check through the API that Toxiproxy holds exactly that. Throws if it does not.
   */
  async restore(): Promise<{ proxies: number; toxics: number }> {
    // One snapshot: a heal that lands meanwhile changes the registry, not what this restore builds.
    const expected = this.registry();
    const counts = await Promise.all(expected.map((entry) => this.restoreProxy(entry.proxy, entry)));
    const listed = await this.api.list();
    for (const entry of expected) {
      const seen = listed[entry.proxy.name];
      const want = entry.toxics.map((toxic) => `${toxic.name}/${toxic.stream}`).sort();
      const got = (seen?.toxics ?? []).map((toxic) => `${toxic.name}/${toxic.stream}`).sort();
      if (!seen || seen.enabled !== entry.enabled || want.join() !== got.join()) {
        throw new ToxiproxyError(`restore of ${entry.proxy.name} incomplete: want enabled=${entry.enabled} [${want.join(', ')}], got ${seen ? `enabled=${seen.enabled} [${got.join(', ')}]` : 'no proxy'}`, undefined, false);
      }
    }
    return { proxies: this.proxies.length, toxics: counts.reduce((sum, n) => sum + n, 0) };
  }

  /**
   * One idempotent call on one proxy: waits for the gate; a wedged proxy is rebuilt from the
   * registry and the call retried (withRecovery); a Toxiproxy that does not answer at all is
   * reported to the gate, and once restored the call is retried once.
   */
  private async onProxy(proxy: ClusterProxy, run: () => Promise<void>): Promise<void> {
    const attempt = (): Promise<void> => this.api.withRecovery(proxy, run, async () => { await this.restoreProxy(proxy); });
    const gate = this.gate;
    if (!gate) return attempt();
    await gate.ready();
    try {
      await attempt();
    } catch (error) {
      if (!unreachable(error)) throw error;
      await gate.suspect(error);
      await attempt();
    }
  }

  private outgoing(from: string, to: string): ClusterProxy[] {
    const found = this.proxies.filter((proxy) => proxy.from === from && proxy.to === to);
    if (found.length === 0) throw new Error(`no proxy for link ${from}->${to}`);
    return found;
  }

  /** Put `kind` on the bytes from→to: P(from→to) upstream and P(to→from) downstream. */
  private async applyDirected(from: string, to: string, kind: LinkFaultKind, type: ToxicSpec['type'], attributes: Record<string, number>): Promise<void> {
    const name = `${kind}-${from}-${to}`;
    const jobs = [
      ...this.outgoing(from, to).map((proxy) => ({ proxy, stream: 'upstream' as const })),
      ...this.outgoing(to, from).map((proxy) => ({ proxy, stream: 'downstream' as const })),
    ];
    const toxics = jobs.map(({ proxy, stream }) => ({ proxy, toxic: { name, type, stream, attributes } satisfies ToxicSpec }));
    for (const { proxy, toxic } of toxics) this.remember(proxy, toxic);
    await Promise.all(toxics.map(({ proxy, toxic }) => this.onProxy(proxy, () => this.api.addToxic(proxy.name, toxic))));
  }

  async cut(from: string, to: string, mode: CutMode): Promise<void> {
    if (mode === 'refuse') {
      // from can no longer connect to `to`; to's own connections to `from` lose from's bytes.
      this.refused.add(`${from}>${to}`);
      for (const proxy of this.outgoing(from, to)) this.disabled.add(proxy.name);
      await Promise.all(this.outgoing(from, to).map((proxy) => this.onProxy(proxy, () => this.api.setEnabled(proxy, false))));
      const toxic: ToxicSpec = { name: `cut-${from}-${to}`, type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } };
      for (const proxy of this.outgoing(to, from)) this.remember(proxy, toxic);
      await Promise.all(this.outgoing(to, from).map((proxy) => this.onProxy(proxy, () => this.api.addToxic(proxy.name, toxic))));
      return;
    }
    await this.applyDirected(from, to, 'cut', 'timeout', { timeout: 0 });
  }

  latency(from: string, to: string, latencyMs: number, jitterMs: number): Promise<void> {
    return this.applyDirected(from, to, 'latency', 'latency', { latency: latencyMs, jitter: jitterMs });
  }

  /**
   * Latency whose queued bytes a later `cut` of the same link drops too (a slow link that then
   * fails: what was in flight is lost). Plain `latency` does not guarantee that: a cut is appended
   * to the end of the toxic chain, which interrupts the toxic before it, and Toxiproxy's latency
   * toxic answers an interrupt by forwarding the chunk it is holding at once ("don't drop any data
   * on the floor", toxics/latency.go), so one delayed chunk per connection and direction slips
   * past the cut, early. Here a 0 ms latency toxic (`latency-seal-<from>-<to>`) follows the real
   * one and takes that interrupt instead; it only ever holds bytes already due, and the chunks
   * still queued in the real latency toxic go on into the cut and are dropped.
   * `heal(from, to, 'latency')` removes both.
   */
  async sealedLatency(from: string, to: string, latencyMs: number, jitterMs: number): Promise<void> {
    const jobs = [
      ...this.outgoing(from, to).map((proxy) => ({ proxy, stream: 'upstream' as const })),
      ...this.outgoing(to, from).map((proxy) => ({ proxy, stream: 'downstream' as const })),
    ];
    await Promise.all(jobs.map(({ proxy, stream }) => {
      // In this order on each stream: the seal must come after the latency toxic in the chain.
      const delay: ToxicSpec = { name: `latency-${from}-${to}`, type: 'latency', stream, attributes: { latency: latencyMs, jitter: jitterMs } };
      const seal: ToxicSpec = { name: `latency-seal-${from}-${to}`, type: 'latency', stream, attributes: { latency: 0, jitter: 0 } };
      this.remember(proxy, delay);
      this.remember(proxy, seal);
      return this.onProxy(proxy, async () => {
        await this.api.addToxic(proxy.name, delay);
        await this.api.addToxic(proxy.name, seal);
      });
    }));
  }

  bandwidth(from: string, to: string, rateKBps: number): Promise<void> {
    return this.applyDirected(from, to, 'bandwidth', 'bandwidth', { rate: rateKBps });
  }

  reset(from: string, to: string, timeoutMs: number): Promise<void> {
    return this.applyDirected(from, to, 'reset', 'reset_peer', { timeout: timeoutMs });
  }

  slice(from: string, to: string, averageSize: number, sizeVariation: number, delayUs: number): Promise<void> {
    return this.applyDirected(from, to, 'slice', 'slicer', { average_size: averageSize, size_variation: sizeVariation, delay: delayUs });
  }

  /** Undo one fault on the bytes from→to (and re-enable P(from→to) after a 'refuse' cut). Wedged proxies are re-created. */
  async heal(from: string, to: string, kind: LinkFaultKind): Promise<void> {
    // A latency fault may have a seal after it (sealedLatency); a missing toxic counts as removed.
    const names = kind === 'latency' ? [`latency-${from}-${to}`, `latency-seal-${from}-${to}`] : [`${kind}-${from}-${to}`];
    const jobs = [...this.outgoing(from, to), ...this.outgoing(to, from)];
    for (const proxy of jobs) for (const name of names) this.forget(proxy, name);
    await Promise.all(jobs.map((proxy) => this.onProxy(proxy, async () => {
      for (const name of names) await this.api.removeToxic(proxy.name, name);
    })));
    if (kind === 'cut' && this.refused.delete(`${from}>${to}`)) {
      for (const proxy of this.outgoing(from, to)) this.disabled.delete(proxy.name);
      await Promise.all(this.outgoing(from, to).map((proxy) => this.onProxy(proxy, () => this.api.setEnabled(proxy, true))));
    }
  }

  async healAll(): Promise<void> {
    this.refused.clear();
    this.toxics.clear();
    this.disabled.clear();
    const failures: string[] = [];
    this.lastHealFailures = failures;
    if (this.gate) {
      try {
        await this.gate.ready();
      } catch (error) {
        this.healErrors.push(String(error));
        failures.push(String(error));
        return;
      }
    }
    let current: Awaited<ReturnType<ToxiproxyApi['list']>> | undefined;
    try {
      current = await this.api.list();
    } catch (error) {
      this.healErrors.push(String(error));
    }
    await Promise.all(this.proxies.map(async (proxy) => {
      try {
        const seen = current?.[proxy.name];
        if (current && !seen) { await this.api.create(proxy); return; }
        if (!seen || seen.listen !== proxy.listen || seen.upstream !== proxy.upstream) { await this.api.recreate(proxy); return; }
        for (const toxic of seen.toxics) await this.api.removeToxic(proxy.name, toxic.name);
        if (!seen.enabled) await this.api.setEnabled(proxy, true);
      } catch (error) {
        this.healErrors.push(`${proxy.name}: ${String(error)}`);
        try {
          await this.api.recreate(proxy);
        } catch (again) {
          this.healErrors.push(`${proxy.name} (recreate): ${String(again)}`);
          failures.push(`${proxy.name}: ${String(again)}`);
        }
      }
    }));
  }

  /** Every toxic and disabled proxy, for assertions and the report. */
  async faults(): Promise<{ proxy: string; enabled: boolean; toxics: string[] }[]> {
    const current = await this.api.list();
    return this.proxies.map((proxy) => {
      const seen = current[proxy.name];
      return { proxy: proxy.name, enabled: seen?.enabled ?? false, toxics: (seen?.toxics ?? []).map((toxic) => toxic.name) };
    }).filter((entry) => !entry.enabled || entry.toxics.length > 0);
  }
}

export function createNet(api: ToxiproxyApi, proxies: readonly ClusterProxy[]): ToxiproxyNet {
  return new ToxiproxyNet(api, proxies);
}

export { ToxiproxyError };
