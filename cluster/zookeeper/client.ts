/**
 * The workload's Client for a real Apache ZooKeeper ensemble, over node-zookeeper-client (pure JS).
 * Atomic broadcast is mapped onto znodes so the same checker judges ZooKeeper unchanged:
 *
 * - broadcast(id): create a PERSISTENT_SEQUENTIAL znode PARENT/m-<seq> holding the message id. The
 *   library has no create2 (create with stat), so the zxid is the created node's czxid, read by a
 *   follow-up exists() on the same session (same server: it has applied the create when it replies).
 *   ConnectionLoss, timeouts, session expiry, a lost follow-up -> UnknownOutcome; definite errors
 *   (no parent, bad ACL, ...) or not connected before sending -> DefiniteFailure.
 * - deliveries: the parent's children in sequence order, as child watches reveal them on this node,
 *   each mapped to {id: data, zxid: czxid}. Sequence numbers come from the parent's cversion, which
 *   the leader assigns in zxid order, and a server's children list is always a prefix of its applied
 *   history, so sequence order is delivery order.
 * - read(): a sync barrier, then every child in sequence order with its data and czxid. The library
 *   has no sync() (a SYNC reply makes it drop the connection), so the barrier is a setData on the parent
 *   znode through the same session: ZooKeeper answers a session's requests in order, and the server
 *   has applied every earlier commit before it answers the write, exactly as sync() guarantees.
 */
import { bounded, sleep, withTimeout } from '../../jepsen-style/async.js';
import { zxidValue } from '../../jepsen-style/zxid.js';
import { DefiniteFailure, UnknownOutcome, type Client, type ClientFactory, type Delivery, type NodeInfo } from '../../jepsen-style/types.js';
import {
  connectZk,
  ensureZnode,
  errorCode,
  isDefinite,
  longToHex,
  sequenceOf,
  zk,
  zkCall,
  zkCodes,
  type RawZkClient,
  type ZkStat,
} from './zk-lib.js';

export interface ZookeeperClientOptions {
  /** Parent znode of the message znodes (default "/zabkit"). */
  readonly parent?: string;
  /** Requested session timeout; the servers cap it at maxSessionTimeout (cluster/zookeeper/config.ts: 30 s). Default 10 s. */
  readonly sessionTimeoutMs?: number;
  /** Bound on opening a session (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Bound on one broadcast, create + exists (default 5 s); past it the outcome is unknown. */
  readonly opTimeoutMs?: number;
}

const defaults = {
  parent: '/zabkit',
  sessionTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  opTimeoutMs: 5_000,
};

/** Batch size of the pipelined getData calls of a read. */
const readBatch = 256;
/**
 * Each child watch costs a full children listing (ZooKeeper has no incremental one), so watch fires
 * are coalesced: at most one listing per subscription per this many ms.
 */
const minListingIntervalMs = 100;

export function zookeeperClientFactory(options: ZookeeperClientOptions = {}): ClientFactory {
  const config = { ...defaults, ...options };
  return {
    async open(node: NodeInfo): Promise<Client> {
      const raw = await connectZk(`${node.clientHost}:${node.clientPort}`, config);
      try {
        await withTimeout(ensureZnode(raw, config.parent), config.opTimeoutMs, 'timed out').catch((error: unknown) => {
          throw new Error(`creating the parent znode: ${describe(error)}`);
        });
      } catch (error) {
        raw.close();
        throw error;
      }
      return new ZookeeperClient(node.name, raw, config);
    },
  };
}

class ZookeeperClient implements Client {
  private closed = false;
  private expired = false;

  constructor(
    readonly node: string,
    private readonly raw: RawZkClient,
    private readonly config: typeof defaults,
  ) {
    raw.on('expired', () => {
      this.expired = true;
    });
  }

  async broadcast(id: string, signal?: AbortSignal): Promise<{ zxid: string }> {
    if (this.closed) throw new DefiniteFailure('client closed');
    if (this.expired) throw new DefiniteFailure('session expired before sending');
    if (this.raw.getState().name !== 'SYNC_CONNECTED') throw new DefiniteFailure(`not connected (${this.raw.getState().name}), not sent`);
    if (signal?.aborted) throw new DefiniteFailure('aborted before sending');
    const deadline = Date.now() + this.config.opTimeoutMs;
    let path: string;
    try {
      path = await bounded(
        zkCall<string>((cb) =>
          this.raw.create(`${this.config.parent}/m-`, Buffer.from(id, 'utf8'), zk.ACL.OPEN_ACL_UNSAFE, zk.CreateMode.PERSISTENT_SEQUENTIAL, cb),
        ),
        deadline,
        signal,
      );
    } catch (error) {
      if (isDefinite(error)) throw new DefiniteFailure(describe(error));
      throw new UnknownOutcome(describe(error));
    }
    // The create happened; its zxid is the node's czxid. Retry the lookup until the deadline.
    for (;;) {
      try {
        const stat = await bounded(
          zkCall<ZkStat | null>((cb) => this.raw.exists(path, cb)),
          Math.max(deadline, Date.now() + 1_000),
          signal,
        );
        if (stat) return { zxid: longToHex(stat.czxid) };
        throw new UnknownOutcome(`created ${path} but exists() found nothing`);
      } catch (error) {
        if (error instanceof UnknownOutcome) throw error;
        if (Date.now() >= deadline || signal?.aborted || this.closed || this.expired) {
          throw new UnknownOutcome(`created ${path}, zxid unknown: ${describe(error)}`);
        }
        await sleep(50);
      }
    }
  }

  subscribe(fromZxid: string | undefined, onDeliver: (delivery: Delivery) => void, onError: (error: Error) => void): void {
    const from = fromZxid === undefined ? -1n : zxidValue(fromZxid);
    let lastSeq = -1;
    let running = false;
    let again = false;
    let stopped = false;
    let lastListing = 0;
    const stop = (error: Error): void => {
      if (stopped) return;
      stopped = true;
      onError(error);
    };
    const refresh = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          if (this.closed || stopped) return;
          const wait = lastListing + minListingIntervalMs - Date.now();
          if (wait > 0) await sleep(wait);
          if (this.closed || stopped) return;
          lastListing = Date.now();
          let children: string[];
          try {
            children = await zkCall<string[]>((cb) => this.raw.getChildren(this.config.parent, () => void refresh(), cb));
          } catch (error) {
            if (this.expired || errorCode(error) === zkCodes.SESSION_EXPIRED) {
              stop(new Error(`subscription on ${this.node} ended: session expired`));
              return;
            }
            // Connection loss: the library re-registers watches on reconnect; poll until then.
            setTimeout(() => void refresh(), 200);
            return;
          }
          const fresh = children
            .map((name) => ({ name, seq: sequenceOf(name) }))
            .filter((child) => Number.isFinite(child.seq) && child.seq > lastSeq)
            .sort((a, b) => a.seq - b.seq);
          for (let start = 0; start < fresh.length; start += readBatch) {
            const batch = fresh.slice(start, start + readBatch);
            let entries: Delivery[];
            try {
              entries = await Promise.all(batch.map((child) => this.fetch(child.name)));
            } catch {
              again = true;
              await sleep(100);
              break;
            }
            for (let k = 0; k < batch.length; k++) {
              const entry = entries[k]!;
              lastSeq = batch[k]!.seq;
              if (zxidValue(entry.zxid) > from && !stopped && !this.closed) onDeliver(entry);
            }
          }
        } while (again);
      } finally {
        running = false;
      }
    };
    this.raw.on('connected', () => void refresh());
    this.raw.on('expired', () => stop(new Error(`subscription on ${this.node} ended: session expired`)));
    void refresh();
  }

  async read(signal?: AbortSignal): Promise<Delivery[]> {
    const deadline = Date.now() + Math.max(this.config.opTimeoutMs, 20_000);
    // Sync barrier: a write through this session (see the file comment).
    await bounded(zkCall<ZkStat>((cb) => this.raw.setData(this.config.parent, Buffer.from('sync'), -1, cb)), deadline, signal);
    const children = await bounded(
      zkCall<string[]>((cb) => this.raw.getChildren(this.config.parent, undefined, cb)),
      deadline,
      signal,
    );
    const ordered = children
      .map((name) => ({ name, seq: sequenceOf(name) }))
      .filter((child) => Number.isFinite(child.seq))
      .sort((a, b) => a.seq - b.seq);
    const out: Delivery[] = [];
    for (let start = 0; start < ordered.length; start += readBatch) {
      const batch = ordered.slice(start, start + readBatch);
      out.push(...(await bounded(Promise.all(batch.map((child) => this.fetch(child.name))), deadline, signal)));
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
  }

  private async fetch(child: string): Promise<Delivery> {
    const [data, stat] = await new Promise<[Buffer | undefined, ZkStat]>((resolve, reject) => {
      this.raw.getData(`${this.config.parent}/${child}`, (error, value, st) => {
        if (error) reject(error);
        else resolve([value, st]);
      });
    });
    return { id: data ? data.toString('utf8') : '', zxid: longToHex(stat.czxid) };
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

