/**
 * `Net` over Toxiproxy, one proxy per directed link (docs/toxiproxy.md, "Modelling partitions"):
 * bytes from→to travel on P(from→to)'s upstream stream and on P(to→from)'s downstream stream, so
 * every one-direction fault is a toxic on both. Toxicity is always 1 (the nemesis owns randomness).
 *
 * Toxic names are `<kind>-<from>-<to>`, so one link's faults can be healed alone (`heal`), and
 * two different faults never collide. `healAll` removes every toxic, re-enables every proxy and
 * re-creates wedged ones; it never throws.
 */
import type { CutMode, Net } from '../jepsen-style/types.js';
import { ToxiproxyError, type ToxiproxyApi, type ToxicSpec } from './toxiproxy.js';
import type { ClusterProxy } from './types.js';

export type LinkFaultKind = 'cut' | 'latency' | 'bandwidth' | 'reset' | 'slice';

export class ToxiproxyNet implements Net {
  /** Directed links cut in 'refuse' mode: proxy from→to is disabled. */
  private readonly refused = new Set<string>();
  /** Errors swallowed by healAll, for the report. */
  readonly healErrors: string[] = [];

  constructor(
    readonly api: ToxiproxyApi,
    readonly proxies: readonly ClusterProxy[],
  ) {}

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
    await Promise.all(jobs.map(({ proxy, stream }) =>
      this.api.withRecovery(proxy, () => this.api.addToxic(proxy.name, { name, type, stream, attributes }))));
  }

  async cut(from: string, to: string, mode: CutMode): Promise<void> {
    if (mode === 'refuse') {
      // from can no longer connect to `to`; to's own connections to `from` lose from's bytes.
      await Promise.all(this.outgoing(from, to).map((proxy) => this.api.withRecovery(proxy, () => this.api.setEnabled(proxy, false))));
      this.refused.add(`${from}>${to}`);
      await Promise.all(this.outgoing(to, from).map((proxy) =>
        this.api.withRecovery(proxy, () => this.api.addToxic(proxy.name, { name: `cut-${from}-${to}`, type: 'timeout', stream: 'downstream', attributes: { timeout: 0 } }))));
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
    await Promise.all(jobs.map(({ proxy, stream }) => this.api.withRecovery(proxy, async () => {
      // In this order on each stream: the seal must come after the latency toxic in the chain.
      await this.api.addToxic(proxy.name, { name: `latency-${from}-${to}`, type: 'latency', stream, attributes: { latency: latencyMs, jitter: jitterMs } });
      await this.api.addToxic(proxy.name, { name: `latency-seal-${from}-${to}`, type: 'latency', stream, attributes: { latency: 0, jitter: 0 } });
    })));
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
    await Promise.all(jobs.map((proxy) => this.api.withRecovery(proxy, async () => {
      for (const name of names) await this.api.removeToxic(proxy.name, name);
    })));
    if (kind === 'cut' && this.refused.delete(`${from}>${to}`)) {
      await Promise.all(this.outgoing(from, to).map((proxy) => this.api.withRecovery(proxy, () => this.api.setEnabled(proxy, true))));
    }
  }

  async healAll(): Promise<void> {
    this.refused.clear();
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
