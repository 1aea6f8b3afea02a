/**
 * A typed, promise-returning face over node-zookeeper-client 1.1.3 (pure JS, no typings), shared by
 * the jepsen-style Client and the benchmark. Only what zabkit uses.
 *
 * The library has no sync() (it would drop the connection on a SYNC reply) and no create2 (create
 * with stat), so callers use a write on the parent znode as a sync barrier and a follow-up exists()
 * for a created node's czxid.
 */
import { createRequire } from 'node:module';
import { zxidHex } from '../../jepsen-style/zxid.js';

const require = createRequire(import.meta.url);

export interface ZkStat {
  readonly czxid: Buffer;
  readonly mzxid: Buffer;
  readonly numChildren: number;
}

export interface ZkError extends Error {
  /** ZooKeeper's error code (Exception.CONNECTION_LOSS = -4, ...). */
  getCode?(): number;
  readonly code?: number;
}

type Cb<T> = (error: ZkError | null | undefined, value: T, extra?: any) => void;

export interface RawZkClient {
  connect(): void;
  close(): void;
  getState(): { name: string; code: number };
  getSessionTimeout(): number;
  on(event: string, listener: (...args: any[]) => void): void;
  once(event: string, listener: (...args: any[]) => void): void;
  removeListener(event: string, listener: (...args: any[]) => void): void;
  create(path: string, data: Buffer, acls: unknown[], mode: number, callback: Cb<string>): void;
  exists(path: string, callback: Cb<ZkStat | null>): void;
  getData(path: string, callback: (error: ZkError | null, data: Buffer | undefined, stat: ZkStat) => void): void;
  getChildren(path: string, watcher: ((event: unknown) => void) | undefined, callback: (error: ZkError | null, children: string[], stat: ZkStat) => void): void;
  setData(path: string, data: Buffer, version: number, callback: Cb<ZkStat>): void;
}

interface ZkModule {
  createClient(connectionString: string, options: { sessionTimeout: number; spinDelay: number; retries: number }): RawZkClient;
  ACL: { OPEN_ACL_UNSAFE: unknown[] };
  CreateMode: { PERSISTENT: number; PERSISTENT_SEQUENTIAL: number };
  Exception: Record<string, number>;
}

export const zk = require('node-zookeeper-client') as ZkModule;

/**
 * Two repairs of the library's framing, made once at load (it is pure JS and unmaintained):
 * - its ConnectionManager keeps the bytes of a half-received reply in `pendingBuffer` and never
 *   clears it when the connection drops, so a server killed mid-reply left stale bytes in front of
 *   the next connection's first reply, and garbage error codes came out of them ("Unknown code:
 *   1594687489", thrown from a socket handler: 3 of 13 runs on 3.9.3 under --nemesis all crashed);
 *   now a new connection starts with an empty buffer;
 * - a reply it still cannot parse closes the connection (what the library itself does on other
 *   surprises, like an xid out of order) instead of throwing out of the socket handler: the
 *   pending requests then fail with ConnectionLoss, an unknown outcome.
 */
interface ConnectionManagerLike {
  pendingBuffer: Buffer | null;
  socket?: { destroy(): void };
}
const connectionManager = require('node-zookeeper-client/lib/ConnectionManager.js') as {
  prototype: { connect(this: ConnectionManagerLike, ...args: unknown[]): unknown; onSocketData(this: ConnectionManagerLike, buffer: Buffer): unknown };
};
const libraryConnect = connectionManager.prototype.connect;
const libraryOnSocketData = connectionManager.prototype.onSocketData;
connectionManager.prototype.connect = function (this: ConnectionManagerLike, ...args: unknown[]): unknown {
  this.pendingBuffer = null;
  return libraryConnect.apply(this, args);
};
connectionManager.prototype.onSocketData = function (this: ConnectionManagerLike, buffer: Buffer): unknown {
  try {
    return libraryOnSocketData.call(this, buffer);
  } catch {
    this.pendingBuffer = null;
    this.socket?.destroy();
    return undefined;
  }
};

export const zkCodes = {
  CONNECTION_LOSS: -4,
  OPERATION_TIMEOUT: -7,
  NO_NODE: -101,
  NODE_EXISTS: -110,
  SESSION_EXPIRED: -112,
} as const;

export function errorCode(error: unknown): number | undefined {
  if (error && typeof error === 'object') {
    const e = error as ZkError;
    if (typeof e.getCode === 'function') return e.getCode();
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** Codes after which a create certainly did not and will not happen. */
const definiteCodes = new Set<number>([
  -8, // BAD_ARGUMENTS
  -101, // NO_NODE (parent missing)
  -102, // NO_AUTH
  -108, // NO_CHILDREN_FOR_EPHEMERALS
  -110, // NODE_EXISTS
  -114, // INVALID_ACL
  -115, // AUTH_FAILED
]);

export function isDefinite(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && definiteCodes.has(code);
}

/** An 8-byte big-endian long (the library's representation) as "0x" + hex, no leading zeros. */
export function longToHex(value: Buffer): string {
  return zxidHex(value.readBigUInt64BE(0));
}

/** Open a session to `connectionString`, bounded; rejects (and closes) if not connected in time. */
export function connectZk(
  connectionString: string,
  options: { sessionTimeoutMs: number; connectTimeoutMs: number; spinDelayMs?: number },
): Promise<RawZkClient> {
  const client = zk.createClient(connectionString, {
    sessionTimeout: options.sessionTimeoutMs,
    spinDelay: options.spinDelayMs ?? 100,
    retries: 0,
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.removeListener('connected', onConnected);
      client.close();
      reject(new Error(`could not connect to ZooKeeper at ${connectionString} within ${options.connectTimeoutMs} ms`));
    }, options.connectTimeoutMs);
    const onConnected = (): void => {
      clearTimeout(timer);
      resolve(client);
    };
    client.once('connected', onConnected);
    client.connect();
  });
}

export function zkCall<T>(start: (callback: (error: ZkError | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((error, value) => {
      if (error) reject(error);
      else resolve(value);
    });
  });
}

/** Create `path` (persistent, empty) unless it exists. */
export async function ensureZnode(client: RawZkClient, path: string): Promise<void> {
  const stat = await zkCall<ZkStat | null>((cb) => client.exists(path, cb));
  if (stat) return;
  try {
    await zkCall<string>((cb) => client.create(path, Buffer.alloc(0), zk.ACL.OPEN_ACL_UNSAFE, zk.CreateMode.PERSISTENT, cb));
  } catch (error) {
    if (errorCode(error) !== zkCodes.NODE_EXISTS) throw error;
  }
}

/** Sequence number of a sequential child name ("m-0000000042" -> 42). */
export function sequenceOf(child: string): number {
  const match = /(\d{10,})$/.exec(child);
  return match ? Number(match[1]) : Number.NaN;
}
