/**
 * The zabkit client library.
 *
 *   const client = await ZabClient.connect({ host, port });
 *   const { zxid } = await client.broadcast('hello');      // pipelined, FIFO on this connection
 *   const entries = await client.read();                   // the server's whole delivered sequence
 *   const sub = client.subscribe(0, (entry) => ...);       // resumes after reconnects, no repeat, no gap
 *   await client.close();
 *
 * broadcast rejects with BroadcastFailed only when the message can never be delivered, and with
 * OutcomeUnknown when it may or may not be (timeout, lost connection, leader lost after proposing).
 * Every await is bounded: each call takes a timeout and an AbortSignal.
 */
import * as net from 'node:net';
import { zxidToHex } from '../core/zxid.js';
import { decodeEntries, encodeRequest, op, type Entry, type Hello, type NodeStatusReply } from '../wire/client-protocol.js';
import { FrameDecoder } from '../wire/framing.js';
import { maxClientFrameBytes } from '../wire/limits.js';

export type { Entry, NodeStatusReply };

/** The message will never be delivered (it was never proposed). */
export class BroadcastFailed extends Error {
  override name = 'BroadcastFailed';
}
/** The message may or may not be delivered. */
export class OutcomeUnknown extends Error {
  override name = 'OutcomeUnknown';
}
/** A read/status/connect that did not complete (timeout, abort, lost connection, server error). */
export class ClientError extends Error {
  override name = 'ClientError';
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface ConnectOptions extends Endpoint, CallOptions {
  /** Servers a subscription may move to when its server goes away (default: this one only). */
  readonly servers?: readonly Endpoint[];
}

export const defaultTimeouts = { connectMs: 5000, broadcastMs: 10_000, readMs: 30_000, statusMs: 5000 } as const;
/** Subscription reconnect backoff. */
const resubscribeInitialMs = 50;
const resubscribeMaxMs = 2000;

interface Pending {
  readonly kind: 'broadcast' | 'read' | 'status';
  resolve(value: unknown): void;
  reject(error: Error): void;
  entries?: Entry[];
}

/** One connection to one server. */
class Connection {
  private readonly pending = new Map<number, Pending>();
  private readonly deliverHandlers = new Map<number, (entries: Entry[]) => void>();
  private nextReqId = 1;
  /** The first request id of the current session (wire/client-protocol.ts "Session order"). */
  private sessionStartReqId = 1;
  closed = false;
  private closeError: Error | undefined;
  private readonly closeHandlers: ((error: Error) => void)[] = [];

  private constructor(readonly socket: net.Socket, readonly hello: Hello, private readonly decoder: FrameDecoder) {}

  /** Frames requested in this turn of the event loop, in order: they leave as one write (`send`). */
  private outgoing: Buffer[] = [];

  /**
   * Queues a frame; the queue is written once the current turn of the event loop is done, so the
   * requests a batch of replies sets off (a pipelined client) cost one write, not one each.
   */
  private send(frame: Buffer): void {
    this.outgoing.push(frame);
    if (this.outgoing.length > 1) return;
    setImmediate(() => {
      const frames = this.outgoing;
      this.outgoing = [];
      if (this.socket.destroyed) return;
      this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
    });
  }

  static open(endpoint: Endpoint, options: CallOptions = {}): Promise<Connection> {
    return bounded(options, defaultTimeouts.connectMs, `connect to ${endpoint.host}:${endpoint.port}`, ClientError, (settle) => {
      const socket = net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
      const decoder = new FrameDecoder(maxClientFrameBytes);
      const onData = (chunk: Buffer): void => {
        const frames = decoder.push(chunk);
        if (frames instanceof Error || frames.length === 0) {
          if (frames instanceof Error) fail(new ClientError(`bad frame from server: ${frames.message}`));
          return;
        }
        const first = frames[0] as Buffer;
        if (first[0] !== op.hello) return fail(new ClientError('server did not greet with HELLO'));
        let hello: Hello;
        try {
          hello = JSON.parse(first.toString('utf8', 5)) as Hello;
        } catch {
          return fail(new ClientError('malformed HELLO'));
        }
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('close', onClose);
        const connection = new Connection(socket, hello, decoder);
        connection.attach();
        settle.resolve(connection);
        // Frames that arrived with the HELLO (the decoder keeps any partial one).
        connection.handleFrames(frames.slice(1));
      };
      const fail = (error: Error): void => {
        socket.destroy();
        settle.reject(new ClientError(`connect to ${endpoint.host}:${endpoint.port} failed: ${error.message}`, { cause: error }));
      };
      const onClose = (): void => fail(new Error('connection closed'));
      socket.on('data', onData);
      socket.on('error', fail);
      socket.on('close', onClose);
      return () => socket.destroy();
    });
  }

  private attach(): void {
    this.socket.on('data', (chunk: Buffer) => {
      const frames = this.decoder.push(chunk);
      if (frames instanceof Error) return this.destroy(new ClientError(`bad frame from server: ${frames.message}`));
      this.handleFrames(frames);
    });
    this.socket.on('error', (error) => this.destroy(new ClientError(`connection error: ${error.message}`, { cause: error })));
    this.socket.on('close', () => this.destroy(new ClientError('connection closed')));
  }

  private handleFrames(frames: Buffer[]): void {
    for (const body of frames) {
      if (body.length < 5) return this.destroy(new ClientError('short frame from server'));
      const code = body[0];
      const reqId = body.readUInt32BE(1);
      if (code === op.deliver) {
        const entries = decodeEntries(body, 5);
        if (!entries) return this.destroy(new ClientError('malformed DELIVER'));
        this.deliverHandlers.get(reqId)?.(entries);
        continue;
      }
      const pending = this.pending.get(reqId);
      if (!pending) {
        // Answered after its timeout: ignored, but a FAIL/UNKNOWN still closed the session.
        if (code === op.fail || code === op.unknown) this.resumeAfter(reqId);
        continue;
      }
      switch (code) {
        case op.ok:
          this.pending.delete(reqId);
          pending.resolve(body.readDoubleBE(5));
          break;
        case op.fail:
        case op.unknown: {
          this.resumeAfter(reqId);
          this.pending.delete(reqId);
          const reason = body.toString('utf8', 5);
          pending.reject(code === op.fail ? new BroadcastFailed(reason) : new OutcomeUnknown(reason));
          break;
        }
        case op.readChunk: {
          const entries = decodeEntries(body, 6);
          if (!entries) return this.destroy(new ClientError('malformed READ_CHUNK'));
          pending.entries = (pending.entries ?? []).concat(entries);
          if (body[5] === 1) {
            this.pending.delete(reqId);
            pending.resolve(pending.entries);
          }
          break;
        }
        case op.statusReply:
          this.pending.delete(reqId);
          try {
            pending.resolve(JSON.parse(body.toString('utf8', 5)));
          } catch {
            pending.reject(new ClientError('malformed STATUS reply'));
          }
          break;
        case op.error:
          this.pending.delete(reqId);
          pending.reject(new ClientError(body.toString('utf8', 5)));
          break;
        default:
          return this.destroy(new ClientError(`unknown op 0x${(code ?? 0).toString(16)} from server`));
      }
    }
  }

  request(kind: Pending['kind'], code: number, options: CallOptions, timeoutMs: number, payload?: Uint8Array): Promise<unknown> {
    const errorClass = kind === 'broadcast' ? OutcomeUnknown : ClientError;
    if (this.closed) {
      const error = this.closeError ?? new ClientError('connection closed');
      // Never sent: a broadcast on a closed connection is definitely not delivered.
      return Promise.reject(kind === 'broadcast' ? new BroadcastFailed(`not sent: ${error.message}`) : error);
    }
    const reqId = this.nextReqId++;
    return bounded(options, timeoutMs, `${kind} request ${reqId}`, errorClass, (settle) => {
      this.pending.set(reqId, { kind, resolve: settle.resolve, reject: settle.reject });
      this.send(encodeRequest(code, reqId, payload));
      return () => this.pending.delete(reqId);
    });
  }

  /**
   * A FAIL/UNKNOWN of the current session closed it on the server: start a new one. Broadcasts
   * already sent in the old session fail ("session closed"); those sent from now on are in order
   * after everything this client has seen answered.
   */
  private resumeAfter(reqId: number): void {
    if (reqId < this.sessionStartReqId || this.closed) return;
    const resumeId = this.nextReqId++;
    this.sessionStartReqId = this.nextReqId;
    this.send(encodeRequest(op.resume, resumeId));
  }

  subscribe(fromZxid: number, onEntries: (entries: Entry[]) => void): void {
    const reqId = this.nextReqId++;
    this.deliverHandlers.set(reqId, onEntries);
    this.send(encodeRequest(op.subscribe, reqId, undefined, fromZxid));
  }

  onClose(handler: (error: Error) => void): void {
    if (this.closed) handler(this.closeError ?? new ClientError('connection closed'));
    else this.closeHandlers.push(handler);
  }

  destroy(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    this.socket.destroy();
    for (const [, pending] of this.pending) {
      pending.reject(pending.kind === 'broadcast' ? new OutcomeUnknown(`connection lost: ${error.message}`) : error);
    }
    this.pending.clear();
    for (const handler of this.closeHandlers.splice(0)) handler(error);
  }
}

/**
 * Runs `start` with a deadline and an optional AbortSignal; on timeout/abort it rejects with
 * `errorClass` and calls the cleanup `start` returned.
 */
function bounded<T>(
  options: CallOptions,
  defaultMs: number,
  what: string,
  errorClass: new (message: string) => Error,
  start: (settle: { resolve(value: T): void; reject(error: Error): void }) => () => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const signal = options.signal;
    if (signal?.aborted) {
      reject(new errorClass(`${what}: aborted`));
      return;
    }
    let done = false;
    const finish = (): void => {
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const settle = {
      resolve: (value: T) => {
        if (done) return;
        finish();
        resolve(value);
      },
      reject: (error: Error) => {
        if (done) return;
        finish();
        reject(error);
      },
    };
    const timeoutMs = options.timeoutMs ?? defaultMs;
    const timer = setTimeout(() => {
      if (done) return;
      finish();
      cleanup();
      reject(new errorClass(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const onAbort = (): void => {
      if (done) return;
      finish();
      cleanup();
      reject(new errorClass(`${what}: aborted`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const cleanup = start(settle);
  });
}

export interface Subscription {
  /** The last zxid handed to onDeliver (the resume point). */
  readonly lastZxid: number;
  close(): void;
}

export class ZabClient {
  private subscriptions = new Set<ResumingSubscription>();

  private constructor(
    private readonly connection: Connection,
    private readonly servers: readonly Endpoint[],
  ) {}

  static async connect(options: ConnectOptions): Promise<ZabClient> {
    const connection = await Connection.open(options, options);
    const servers = options.servers && options.servers.length > 0 ? options.servers : [{ host: options.host, port: options.port }];
    return new ZabClient(connection, servers);
  }

  /** The server's id and this connection's session. */
  get hello(): Hello {
    return this.connection.hello;
  }

  get closed(): boolean {
    return this.connection.closed;
  }

  /** Resolves once `payload` is committed, with its zxid. */
  async broadcast(payload: string | Uint8Array, options: CallOptions = {}): Promise<{ zxid: number; zxidHex: string }> {
    const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    if (data.length > this.connection.hello.maxPayloadBytes) {
      throw new BroadcastFailed(`payload of ${data.length} bytes exceeds the limit of ${this.connection.hello.maxPayloadBytes} bytes`);
    }
    const zxid = (await this.connection.request('broadcast', op.broadcast, options, defaultTimeouts.broadcastMs, data)) as number;
    return { zxid, zxidHex: zxidToHex(zxid) };
  }

  /** The server's whole delivered sequence. */
  async read(options: CallOptions = {}): Promise<Entry[]> {
    return (await this.connection.request('read', op.read, options, defaultTimeouts.readMs)) as Entry[];
  }

  async status(options: CallOptions = {}): Promise<NodeStatusReply> {
    return (await this.connection.request('status', op.status, options, defaultTimeouts.statusMs)) as NodeStatusReply;
  }

  /**
   * Deliveries with zxid > fromZxid, in order, live. On its own connections: when one breaks, it
   * resubscribes (to the next server of the list, with backoff) from the last zxid it handed out,
   * so there is no repeat and no gap. `onError` hears about each break; it never stops by itself.
   */
  subscribe(fromZxid: number, onDeliver: (entry: Entry) => void, onError?: (error: Error) => void): Subscription {
    const subscription = new ResumingSubscription(this.servers, fromZxid, onDeliver, onError, () => this.subscriptions.delete(subscription));
    this.subscriptions.add(subscription);
    return subscription;
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) subscription.close();
    this.connection.destroy(new ClientError('client closed'));
  }
}

class ResumingSubscription implements Subscription {
  lastZxid: number;
  private connection: Connection | undefined;
  private closed = false;
  private serverIndex = 0;
  private backoffMs = resubscribeInitialMs;
  private timer: NodeJS.Timeout | undefined;
  private abort = new AbortController();

  constructor(
    private readonly servers: readonly Endpoint[],
    fromZxid: number,
    private readonly onDeliver: (entry: Entry) => void,
    private readonly onError: ((error: Error) => void) | undefined,
    private readonly onClosed: () => void,
  ) {
    this.lastZxid = fromZxid;
    void this.open();
  }

  private async open(): Promise<void> {
    if (this.closed) return;
    const endpoint = this.servers[this.serverIndex % this.servers.length] as Endpoint;
    try {
      const connection = await Connection.open(endpoint, { signal: this.abort.signal });
      if (this.closed) {
        connection.destroy(new ClientError('subscription closed'));
        return;
      }
      this.connection = connection;
      this.backoffMs = resubscribeInitialMs;
      connection.onClose((error) => this.retry(error));
      connection.subscribe(this.lastZxid, (entries) => {
        for (const entry of entries) {
          if (entry.zxid <= this.lastZxid) continue; // never repeat
          this.lastZxid = entry.zxid;
          if (this.closed) return;
          this.onDeliver(entry);
        }
      });
    } catch (error) {
      this.retry(error as Error);
    }
  }

  private retry(error: Error): void {
    this.connection = undefined;
    if (this.closed) return;
    this.onError?.(error);
    this.serverIndex++;
    this.timer = setTimeout(() => void this.open(), this.backoffMs);
    this.backoffMs = Math.min(resubscribeMaxMs, this.backoffMs * 2);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort.abort();
    this.connection?.destroy(new ClientError('subscription closed'));
    this.onClosed();
  }
}
