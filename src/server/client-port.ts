/**
 * The client port: broadcast (pipelined), read, subscribe, status, over length-prefixed frames
 * (protocol in src/wire/client-protocol.ts). Each connection is one client session; session ids are
 * unique per server incarnation. Garbage closes the connection and is logged; the server keeps serving.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { assert } from '../core/assert.js';
import type { ClientReply, Txn } from '../core/types.js';
import { zxidToHex } from '../core/zxid.js';
import { maxPayloadBytes } from '../core/limits.js';
import { encodeEntries, encodeOk, encodeText, op, type Entry, type NodeStatusReply } from '../wire/client-protocol.js';
import { copyBytes, FrameDecoder } from '../wire/framing.js';
import { maxClientFrameBytes } from '../wire/limits.js';
import { boundPort, listen } from './listen.js';
import { writeFrames } from './write-frames.js';
import type { Logger } from './logger.js';
import type { DeliveredLog } from './delivered-log.js';
import { maxClientConnections, maxClientSendBufferBytes, maxInFlightPerClient, readChunkBytes, streamHighWaterBytes } from './limits.js';

export interface ClientPortHandler {
  broadcast(session: string, seq: number, data: Uint8Array): void;
  /** The core will never again see a broadcast of `session` (the client resumed, or went away). */
  sessionEnded(session: string): void;
  status(): NodeStatusReply;
}

interface Subscription {
  readonly reqId: number;
  /** Highest zxid sent to this subscriber. */
  after: number;
  /** Its entries are being streamed from the delivered log (catch-up); live deliveries wait for it. */
  catchingUp: boolean;
}

interface Session {
  readonly id: string;
  /** Bumped by RESUME: the core's session is `${id}/${generation}` (wire/client-protocol.ts "Session order"). */
  generation: number;
  /**
   * The port itself answered FAIL in this generation (an oversize payload, which never reaches the
   * core): like the core's closed sessions, every later broadcast fails until RESUME.
   */
  failedByPort: boolean;
  readonly socket: net.Socket;
  lastReqId: number;
  inFlight: number;
  paused: boolean;
  readonly subscriptions: Subscription[];
}

function coreSession(session: Session): string {
  return `${session.id}/${session.generation}`;
}

export class ClientPort {
  private readonly server: net.Server;
  private readonly sessions = new Map<string, Session>();
  private readonly incarnation = `${process.pid.toString(36)}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  private sessionCounter = 0;
  private closed = false;

  constructor(
    private readonly options: { host: string; port: number; serverId: number; plantedBugs: boolean },
    private readonly logger: Logger,
    private readonly handler: ClientPortHandler,
    private readonly delivered: DeliveredLog,
  ) {
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server.maxConnections = maxClientConnections;
  }

  start(): Promise<void> {
    return listen(this.server, this.options.host, this.options.port, this.logger, 'client port');
  }

  get port(): number {
    return boundPort(this.server, this.options.port);
  }

  /**
   * Frames for each session in the current batch (replies, deliveries), in order; `flush` writes
   * each session's with writeFrames (one write per connection per batch).
   */
  private readonly batched = new Map<Session, Buffer[]>();

  private batchWrite(session: Session, frame: Buffer): void {
    const frames = this.batched.get(session);
    if (frames === undefined) this.batched.set(session, [frame]);
    else frames.push(frame);
  }

  /** Answers a broadcast on its session's connection (dropped when the client has gone). */
  reply(reply: ClientReply): void {
    const session = this.sessions.get(reply.session.slice(0, reply.session.lastIndexOf('/')));
    if (!session) return;
    session.inFlight--;
    if (reply.type === 'ok') this.batchWrite(session, encodeOk(reply.seq, reply.zxid));
    else this.batchWrite(session, encodeText(reply.type === 'fail' ? op.fail : op.unknown, reply.seq, reply.reason));
    if (session.paused && session.inFlight < maxInFlightPerClient / 2) {
      session.paused = false;
      session.socket.resume();
    }
  }

  /**
   * Appends newly committed entries to the delivered sequence (`stored`: a range the log holds,
   * Ready.committedStored, then `txns`) and queues them for subscribers (sent at `flush()`).
   */
  deliver(stored: { readonly after: number; readonly upTo: number } | undefined, txns: readonly Txn[]): void {
    const before = this.delivered.lastZxid;
    const fresh: Entry[] = [];
    // The range kept as a range (not read): subscribers behind its end catch up from the log.
    let keptUpTo = 0;
    if (stored !== undefined) {
      const pushed = this.delivered.pushStored(stored.after, stored.upTo);
      if (pushed === undefined) keptUpTo = stored.upTo;
      else for (const txn of pushed) fresh.push({ zxid: txn.zxid, data: txn.data });
    }
    for (const txn of txns) {
      if (!this.delivered.push(txn.zxid, txn.data)) {
        // The core delivers each zxid once, in order; only a planted bug (a truncation of delivered
        // entries, which makes the core deliver again) may get here, and then the repeat is skipped.
        assert(this.options.plantedBugs, `core delivered ${zxidToHex(txn.zxid)} after ${zxidToHex(this.delivered.lastZxid)}`);
        this.logger.error({ zxid: txn.zxid, lastDelivered: this.delivered.lastZxid }, 'core delivered a zxid out of order (planted bug): skipped');
        continue;
      }
      fresh.push({ zxid: txn.zxid, data: txn.data });
    }
    const lastZxid = this.delivered.lastZxid;
    if (lastZxid === before) return;
    for (const session of this.sessions.values()) {
      for (const subscription of session.subscriptions) {
        if (subscription.catchingUp || subscription.after >= lastZxid) continue;
        if (subscription.after < keptUpTo) {
          this.catchUp(session, subscription);
          continue;
        }
        const entries = subscription.after < (fresh[0]?.zxid ?? lastZxid) ? fresh : fresh.filter((entry) => entry.zxid > subscription.after);
        this.batchWrite(session, encodeEntries(op.deliver, subscription.reqId, entries));
        subscription.after = lastZxid;
      }
    }
    this.delivered.compact();
  }

  /** Sends everything answered and delivered in this batch. */
  flush(): void {
    for (const [session, frames] of this.batched) {
      if (session.socket.destroyed) continue;
      writeFrames(session.socket, frames);
      this.checkBuffer(session);
    }
    this.batched.clear();
  }

  close(): void {
    this.closed = true;
    this.server.close();
    for (const session of this.sessions.values()) session.socket.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const session: Session = { id: `${this.incarnation}.${++this.sessionCounter}`, generation: 0, failedByPort: false, socket, lastReqId: 0, inFlight: 0, paused: false, subscriptions: [] };
    this.sessions.set(session.id, session);
    const decoder = new FrameDecoder(maxClientFrameBytes);
    const hello = JSON.stringify({ serverId: this.options.serverId, session: session.id, maxPayloadBytes });
    socket.write(encodeText(op.hello, 0, hello));
    const refuse = (reason: string): void => {
      this.logger.warn({ remote, session: session.id, reason }, 'closed client connection: bad input');
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames instanceof Error) return refuse(frames.message);
      for (const body of frames) {
        if (socket.destroyed) return;
        if (body.length < 5) return refuse('frame shorter than its header');
        const code = body[0];
        const reqId = body.readUInt32BE(1);
        switch (code) {
          case op.broadcast: {
            if (reqId <= session.lastReqId) return refuse(`request id ${reqId} does not increase`);
            session.lastReqId = reqId;
            const length = body.length - 5;
            if (length > maxPayloadBytes || session.failedByPort) {
              const reason = session.failedByPort ? 'session closed by an earlier failed request' : `payload of ${length} bytes exceeds the limit of ${maxPayloadBytes} bytes`;
              session.failedByPort = true;
              socket.write(encodeText(op.fail, reqId, reason));
              break;
            }
            session.inFlight++;
            this.handler.broadcast(coreSession(session), reqId, copyBytes(body.subarray(5)));
            if (session.inFlight >= maxInFlightPerClient && !session.paused) {
              session.paused = true;
              socket.pause();
            }
            break;
          }
          case op.resume:
            if (body.length !== 5) return refuse('RESUME with a body');
            this.handler.sessionEnded(coreSession(session));
            session.generation++;
            session.failedByPort = false;
            break;
          case op.read:
            if (body.length !== 5) return refuse('READ with a body');
            this.sendRead(session, reqId);
            break;
          case op.subscribe: {
            if (body.length !== 13) return refuse('SUBSCRIBE needs exactly a zxid');
            const from = body.readDoubleBE(5);
            if (!Number.isSafeInteger(from) || from < 0) return refuse('SUBSCRIBE: bad zxid');
            const subscription: Subscription = { reqId, after: from, catchingUp: false };
            session.subscriptions.push(subscription);
            this.catchUp(session, subscription);
            break;
          }
          case op.status:
            if (body.length !== 5) return refuse('STATUS with a body');
            socket.write(encodeText(op.statusReply, reqId, JSON.stringify(this.handler.status())));
            break;
          default:
            return refuse(`unknown op 0x${(code ?? 0).toString(16)}`);
        }
      }
      this.checkBuffer(session);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (decoder.pendingBytes > 0) this.logger.warn({ remote, session: session.id, bytes: decoder.pendingBytes }, 'client connection closed in the middle of a frame');
      this.sessions.delete(session.id);
      this.handler.sessionEnded(coreSession(session));
    });
  }

  /** The delivered sequence as it is now, in chunks of about readChunkBytes, the last one flagged. */
  private sendRead(session: Session, reqId: number): void {
    const end = this.delivered.lastZxid;
    this.stream(session, 0, end, (entries, last) => encodeEntries(op.readChunk, reqId, entries, last), () => undefined);
  }

  /** Streams a subscriber the delivered entries after its `after` until it has them all; live deliveries follow. */
  private catchUp(session: Session, subscription: Subscription): void {
    subscription.catchingUp = true;
    let reached = -1;
    const step = (): void => {
      const end = this.delivered.lastZxid;
      if (subscription.after >= end || subscription.after === reached) {
        // (the second: a stream that made no progress, which only a log that lost delivered entries could cause)
        if (subscription.after < end) this.logger.error({ after: subscription.after, end }, 'delivered entries missing from the log: catch-up stopped');
        subscription.after = Math.max(subscription.after, end);
        subscription.catchingUp = false;
        return;
      }
      reached = subscription.after;
      this.stream(session, subscription.after, end, (entries) => {
        subscription.after = entries.at(-1)?.zxid ?? subscription.after;
        return entries.length === 0 ? undefined : encodeEntries(op.deliver, subscription.reqId, entries);
      }, step);
    };
    step();
  }

  /**
   * Writes the delivered entries in (after, end] as frames of about readChunkBytes (`frame` makes
   * each; `last` marks the one that reaches `end`), reading old ones back from the log. While the
   * connection holds streamHighWaterBytes unsent, it waits for 'drain'. Calls `done` at the end
   * (not if the connection closes first).
   */
  private stream(session: Session, after: number, end: number, frame: (entries: Entry[], last: boolean) => Buffer | undefined, done: () => void): void {
    const socket = session.socket;
    let from = after;
    const pump = (): void => {
      for (;;) {
        if (socket.destroyed) return;
        if (socket.writableLength > streamHighWaterBytes) {
          socket.once('drain', pump);
          return;
        }
        const entries = from >= end ? [] : this.delivered.chunk(from, readChunkBytes).filter((entry) => entry.zxid <= end);
        const last = entries.length === 0 || (entries.at(-1) as Entry).zxid >= end;
        const bytes = frame(entries, last);
        if (bytes !== undefined) socket.write(bytes);
        from = entries.at(-1)?.zxid ?? end;
        if (last) return done();
      }
    };
    pump();
  }

  private checkBuffer(session: Session): void {
    if (session.socket.writableLength > maxClientSendBufferBytes) {
      this.logger.warn({ session: session.id, bufferedBytes: session.socket.writableLength }, 'client does not drain its connection: disconnecting');
      session.socket.destroy();
    }
  }
}
