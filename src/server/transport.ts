/**
 * Peer transport: one TCP connection per direction and peer. This server dials every peer at the
 * address in its configuration (a Toxiproxy proxy in a cluster) and sends on that outgoing
 * connection only; it accepts inbound connections on its peer port and only reads from them.
 *
 * Each connection starts with a handshake frame {clusterId, from, to}; an inbound connection from a
 * stranger, another cluster, or for another receiver is refused (closed and logged). Whenever the
 * ordered stream to or from a peer breaks (either direction closes, an inbound connection is replaced,
 * a send buffer overflows, messages queued for a not-yet-connected peer are dropped) the transport
 * reports `disconnected(peer)`. Nothing is ever retransmitted across connections.
 */
import * as net from 'node:net';
import { assert } from '../core/assert.js';
import type { Message, ServerId } from '../core/types.js';
import type { PeerAddress } from '../wire/node-config.js';
import { FrameDecoder } from '../wire/framing.js';
import { maxPeerFrameBytes } from '../wire/limits.js';
import { decodeHandshake, decodeMessage, DecodeError, encodeHandshakeFrame, encodeMessageFrame } from '../wire/peer-codec.js';
import { boundPort, listen } from './listen.js';
import { writeFrames } from './write-frames.js';
import type { Logger } from './logger.js';
import {
  connectTimeoutMs,
  handshakeTimeoutMs,
  maxPeerPendingMessages,
  maxPeerSendBufferBytes,
  reconnectInitialMs,
  reconnectMaxMs,
} from './limits.js';

export interface TransportOptions {
  readonly clusterId: string;
  readonly id: ServerId;
  readonly peerHost: string;
  readonly peerPort: number;
  readonly peers: readonly PeerAddress[];
}

export interface TransportHandler {
  onMessage(from: ServerId, message: Message): void;
  onDisconnected(peer: ServerId): void;
}

interface OutgoingLink {
  readonly address: PeerAddress;
  socket: net.Socket | undefined;
  connected: boolean;
  connectedAt: number;
  /** Frames produced while no connection is up; sent first on the next one. */
  pending: Buffer[];
  /** Frames of the current batch, written at flush. */
  batch: Buffer[];
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  /** whenDrained's callback, waiting for this connection (or the next one) to take what was queued. */
  onDrained: (() => void) | undefined;
}

export class PeerTransport {
  private readonly streamGenerations = new Map<ServerId, number>();
  private readonly server: net.Server;
  private readonly links = new Map<ServerId, OutgoingLink>();
  private readonly inbound = new Map<ServerId, net.Socket>();
  private readonly unidentified = new Set<net.Socket>();
  private readonly dirty = new Set<OutgoingLink>();
  private closed = false;

  constructor(
    private readonly options: TransportOptions,
    private readonly logger: Logger,
    private readonly handler: TransportHandler,
  ) {
    for (const address of options.peers) {
      this.links.set(address.id, { address, socket: undefined, connected: false, connectedAt: 0, pending: [], batch: [], backoffMs: reconnectInitialMs, timer: undefined, onDrained: undefined });
    }
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  async start(): Promise<void> {
    await listen(this.server, this.options.peerHost, this.options.peerPort, this.logger, 'peer port');
    for (const link of this.links.values()) this.connect(link);
  }

  /** Queues `message` for `to`, a configured peer (the core addresses no one else); bytes leave at `flush()`. */
  send(to: ServerId, message: Message): void {
    const link = this.links.get(to);
    // (the message is built only on failure: this runs for every message sent)
    if (link === undefined) assert(false, `${message.type} addressed to server ${to}, which is not a configured peer of server ${this.options.id}`);
    const frame = this.encode(message);
    if (link.connected) {
      link.batch.push(frame);
      this.dirty.add(link);
    } else if (link.pending.length < maxPeerPendingMessages) {
      link.pending.push(frame);
    } else {
      link.pending = [];
      this.logger.warn({ peer: to }, 'peer not connected and its queue is full: messages dropped');
      this.notifyDisconnected(to);
    }
  }

  /** The last PROPOSAL/COMMIT encoded: the leader sends the same one to every follower in a row. */
  private lastEncoded: { type: string; epoch: number; zxid: number; txn: unknown; frame: Buffer } | undefined;

  private encode(message: Message): Buffer {
    if (message.type === 'PROPOSAL' || message.type === 'COMMIT') {
      const zxid = message.type === 'PROPOSAL' ? message.txn.zxid : message.zxid;
      const txn = message.type === 'PROPOSAL' ? message.txn : undefined;
      const last = this.lastEncoded;
      if (last && last.type === message.type && last.epoch === message.epoch && last.zxid === zxid && last.txn === txn) return last.frame;
      const frame = encodeMessageFrame(message);
      this.lastEncoded = { type: message.type, epoch: message.epoch, zxid, txn, frame };
      return frame;
    }
    return encodeMessageFrame(message);
  }

  /** Writes every queued batch, one write per peer. */
  flush(): void {
    for (const link of this.dirty) {
      const socket = link.socket;
      const batch = link.batch;
      link.batch = [];
      if (!socket || !link.connected) continue;
      writeFrames(socket, batch);
      if (socket.writableLength > maxPeerSendBufferBytes) {
        this.logger.warn({ peer: link.address.id, bufferedBytes: socket.writableLength }, 'peer does not drain its connection: disconnecting');
        socket.destroy();
      }
    }
    this.dirty.clear();
  }

  /**
   * Calls `drained` once what is queued for `to` (flushed) has left this process: at once when the
   * socket does not need a drain, else at its 'drain'. Queued while no connection is up, it waits
   * for the next one to take the pending frames; a connection that closes first never calls it
   * (the core is told `disconnected` instead). One callback per peer: a later one replaces it.
   */
  whenDrained(to: ServerId, drained: () => void): void {
    const link = this.links.get(to);
    if (link === undefined) return;
    link.onDrained = drained;
    if (link.connected) this.watchDrain(link);
  }

  private watchDrain(link: OutgoingLink): void {
    const socket = link.socket;
    if (socket === undefined || link.onDrained === undefined) return;
    const fire = (): void => {
      if (link.socket !== socket || !link.connected) return;
      const drained = link.onDrained;
      link.onDrained = undefined;
      drained?.();
    };
    if (socket.writableNeedDrain) socket.once('drain', fire);
    else setImmediate(fire);
  }

  /** The peer port actually bound (useful with port 0). */
  get port(): number {
    return boundPort(this.server, this.options.peerPort);
  }

  close(): void {
    this.closed = true;
    this.server.close();
    for (const link of this.links.values()) {
      if (link.timer) clearTimeout(link.timer);
      link.socket?.destroy();
    }
    for (const socket of this.inbound.values()) socket.destroy();
    for (const socket of this.unidentified) socket.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Outgoing

  private connect(link: OutgoingLink): void {
    if (this.closed) return;
    link.timer = undefined;
    const { host, port, id } = link.address;
    const socket = net.connect({ host, port, noDelay: true });
    link.socket = socket;
    socket.setTimeout(connectTimeoutMs);
    let opened = false;
    socket.once('connect', () => {
      if (link.socket !== socket) return;
      socket.setTimeout(0);
      socket.setKeepAlive(true, 1000);
      opened = true;
      link.connected = true;
      link.connectedAt = Date.now();
      socket.cork();
      socket.write(encodeHandshakeFrame({ clusterId: this.options.clusterId, from: this.options.id, to: id }));
      for (const frame of link.pending) socket.write(frame);
      socket.uncork();
      link.pending = [];
      this.logger.info({ peer: id, host, port }, 'connected to peer');
      this.watchDrain(link);
    });
    socket.on('timeout', () => socket.destroy());
    // The receiver never writes; anything it sends is ignored, but reading lets us see its close.
    socket.on('data', () => undefined);
    socket.on('end', () => socket.destroy());
    socket.on('error', (error) => {
      if (opened) this.logger.info({ peer: id, err: error.message }, 'connection to peer failed');
    });
    socket.on('close', () => {
      if (link.socket !== socket) return;
      const lived = opened ? Date.now() - link.connectedAt : 0;
      const hadPending = link.pending.length > 0;
      link.socket = undefined;
      link.connected = false;
      link.batch = [];
      link.pending = [];
      link.onDrained = undefined;
      this.dirty.delete(link);
      if (opened) this.logger.info({ peer: id }, 'connection to peer closed');
      if (opened || hadPending) this.notifyDisconnected(id);
      if (this.closed) return;
      link.backoffMs = lived > reconnectMaxMs ? reconnectInitialMs : Math.min(reconnectMaxMs, link.backoffMs * 2);
      link.timer = setTimeout(() => this.connect(link), link.backoffMs);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Inbound

  private accept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const decoder = new FrameDecoder(maxPeerFrameBytes);
    let from: ServerId | undefined;
    this.unidentified.add(socket);
    const timer = setTimeout(() => {
      this.logger.warn({ remote }, 'refused peer connection: no handshake in time');
      socket.destroy();
    }, handshakeTimeoutMs);
    const refuse = (reason: string): void => {
      this.logger.warn({ remote, from, reason }, 'refused peer connection');
      socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      const frames = decoder.push(chunk);
      if (frames instanceof Error) {
        refuse(frames.message);
        return;
      }
      for (const body of frames) {
        if (socket.destroyed) return;
        if (from === undefined) {
          const handshake = decodeHandshake(body);
          if (handshake instanceof DecodeError) return refuse(handshake.message);
          if (handshake.clusterId !== this.options.clusterId) return refuse(`wrong cluster id ${JSON.stringify(handshake.clusterId)}`);
          if (handshake.to !== this.options.id) return refuse(`handshake addressed to server ${handshake.to}, this is ${this.options.id}`);
          if (!this.links.has(handshake.from)) return refuse(`server ${handshake.from} is not in the configuration`);
          clearTimeout(timer);
          this.unidentified.delete(socket);
          from = handshake.from;
          const old = this.inbound.get(from);
          this.inbound.set(from, socket);
          if (old) {
            this.logger.info({ peer: from }, 'new connection from peer replaces the old one');
            old.destroy();
            this.notifyDisconnected(from);
          }
          this.logger.info({ peer: from, remote }, 'accepted peer connection');
          continue;
        }
        const message = decodeMessage(body);
        if (message instanceof DecodeError) return refuse(`bad message: ${message.message}`);
        this.handler.onMessage(from, message);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      this.unidentified.delete(socket);
      if (decoder.pendingBytes > 0) this.logger.warn({ remote, peer: from, bytes: decoder.pendingBytes }, 'peer connection closed in the middle of a frame');
      if (from !== undefined && this.inbound.get(from) === socket) {
        this.inbound.delete(from);
        this.logger.info({ peer: from }, 'connection from peer closed');
        this.notifyDisconnected(from);
      }
    });
  }

  private notifyDisconnected(peer: ServerId): void {
    if (this.closed) return;
    this.streamGenerations.set(peer, this.streamGeneration(peer) + 1);
    this.handler.onDisconnected(peer);
  }

  /**
   * How many times the stream with `peer` has broken. A message the core produced before a break
   * belongs to the old stream and must not be sent on the new one (the replica compares
   * generations across a batch's persist).
   */
  streamGeneration(peer: ServerId): number {
    return this.streamGenerations.get(peer) ?? 0;
  }
}
