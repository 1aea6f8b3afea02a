/**
 * The proxy topology every Db shares: one Toxiproxy proxy per directed link (node `from` dials node
 * `to` only through proxy from->to), optionally several per link ("channels": ZooKeeper needs one for
 * its quorum port and one for its election port). docs/toxiproxy.md "one proxy per directed link".
 */
import type { ClusterProxy } from './types.js';
import type { ToxiproxyApi } from './toxiproxy.js';

export interface LinkChannel {
  /** Appended to the proxy name ("election" → "<prefix>-n1-n2-election"); absent for a single channel. */
  readonly name?: string;
  /** The port of `to` that this channel forwards to. */
  upstreamPort(to: string): number;
}

export interface LinkTopologyOptions {
  /** Unique per cluster (several clusters may share one Toxiproxy); URL-safe. */
  readonly prefix: string;
  readonly nodes: readonly string[];
  readonly channels: readonly LinkChannel[];
  /** Next free listen port. */
  takePort(): number;
  /** Interface the proxies listen on (Docker: 0.0.0.0); default 127.0.0.1. */
  readonly host?: string;
  /** Host Toxiproxy reaches the nodes at (Docker: the runner's service name); default `host`. */
  readonly upstreamHost?: string;
}

export function buildLinkProxies(options: LinkTopologyOptions): ClusterProxy[] {
  const host = options.host ?? '127.0.0.1';
  const upstreamHost = options.upstreamHost ?? host;
  if (!/^[A-Za-z0-9_.-]+$/.test(options.prefix)) throw new Error(`proxy prefix must be URL-safe: ${options.prefix}`);
  const proxies: ClusterProxy[] = [];
  for (const from of options.nodes) {
    for (const to of options.nodes) {
      if (from === to) continue;
      for (const channel of options.channels) {
        proxies.push({
          name: `${options.prefix}-${from}-${to}${channel.name ? `-${channel.name}` : ''}`,
          from, to,
          listen: `${host}:${options.takePort()}`,
          upstream: `${upstreamHost}:${channel.upstreamPort(to)}`,
          ...(channel.name ? { channel: channel.name } : {}),
        });
      }
    }
  }
  return proxies;
}

/** Every proxy that carries connections `from` opens to `to` (one per channel). */
export function proxiesFor(proxies: readonly ClusterProxy[], from: string, to: string): ClusterProxy[] {
  return proxies.filter((proxy) => proxy.from === from && proxy.to === to);
}

/** The port of `listen` ("127.0.0.1:21002" → 21002). */
export function listenPort(proxy: ClusterProxy): number {
  return Number(proxy.listen.slice(proxy.listen.lastIndexOf(':') + 1));
}

/** Create every proxy (replacing any of the same name). */
export async function createProxies(api: ToxiproxyApi, proxies: readonly ClusterProxy[]): Promise<void> {
  await Promise.all(proxies.map((proxy) => api.create(proxy)));
}

/** Delete every proxy; never throws (teardown). */
export async function removeProxies(api: ToxiproxyApi, proxies: readonly ClusterProxy[]): Promise<void> {
  await Promise.all(proxies.map((proxy) => api.remove(proxy.name).catch(() => {})));
}
