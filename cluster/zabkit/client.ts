/**
 * The workload's Client for zabkit, over the client library (src/client): the message id is the
 * payload. BroadcastFailed maps to DefiniteFailure (never delivered); everything else a broadcast can
 * end with (timeout, lost connection, leader lost after proposing) maps to UnknownOutcome.
 */
import { BroadcastFailed, ZabClient } from '../../src/client/zab-client.js';
import { zxidFromHex, zxidToHex } from '../../src/core/zxid.js';
import { DefiniteFailure, UnknownOutcome, type Client, type ClientFactory, type Delivery, type NodeInfo } from '../../jepsen-style/types.js';

export interface ZabkitClientOptions {
  /** Bound on connecting (default 5 s). */
  readonly connectTimeoutMs?: number;
  /** Bound on one broadcast (default 5 s); past it the outcome is unknown. */
  readonly broadcastTimeoutMs?: number;
  /** Bound on a final read (default 30 s). */
  readonly readTimeoutMs?: number;
}

export function zabkitClientFactory(options: ZabkitClientOptions = {}): ClientFactory {
  return {
    async open(node: NodeInfo): Promise<Client> {
      const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: options.connectTimeoutMs ?? 5000 });
      return new ZabkitClient(node.name, client, options);
    },
  };
}

class ZabkitClient implements Client {
  private readonly subscriptions: { close(): void }[] = [];

  constructor(
    readonly node: string,
    private readonly client: ZabClient,
    private readonly options: ZabkitClientOptions,
  ) {}

  async broadcast(id: string, signal?: AbortSignal): Promise<{ zxid: string }> {
    try {
      const { zxidHex } = await this.client.broadcast(id, { timeoutMs: this.options.broadcastTimeoutMs ?? 5000, ...(signal ? { signal } : {}) });
      return { zxid: zxidHex };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof BroadcastFailed) throw new DefiniteFailure(message, { cause: error });
      throw new UnknownOutcome(message, { cause: error });
    }
  }

  subscribe(fromZxid: string | undefined, onDeliver: (delivery: Delivery) => void, onError: (error: Error) => void): void {
    const from = fromZxid === undefined ? 0 : zxidFromHex(fromZxid);
    if (from === undefined) {
      onError(new Error(`not a zxid: ${fromZxid}`));
      return;
    }
    this.subscriptions.push(
      this.client.subscribe(from, (entry) => onDeliver({ id: Buffer.from(entry.data).toString('utf8'), zxid: zxidToHex(entry.zxid) }), onError),
    );
  }

  async read(signal?: AbortSignal): Promise<Delivery[]> {
    const entries = await this.client.read({ timeoutMs: this.options.readTimeoutMs ?? 30_000, ...(signal ? { signal } : {}) });
    return entries.map((entry) => ({ id: Buffer.from(entry.data).toString('utf8'), zxid: zxidToHex(entry.zxid) }));
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) subscription.close();
    await this.client.close();
  }
}
