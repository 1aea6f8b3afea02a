/**
 * One server process: the I/O shell around the pure core (ZabPeer).
 *
 * Inputs (ticks from a timer, peer messages, disconnections, client broadcasts) are stepped into the
 * core as they arrive; a single serialised pump drains `Ready` batches in the order of core/types.ts:
 *   1. send messages; 2. persist (truncate, append, write + fdatasync; acceptedEpoch; currentEpoch);
 *   3. send messagesAfterPersist; 4. deliver committed entries and answer clients; 5. advance.
 * Inputs that arrive while a batch is being fsynced land in the next batch: that is the group commit.
 */
import { existsSync } from 'node:fs';
import { assert } from '../core/assert.js';
import { createPrng } from '../core/prng.js';
import { describeEvent } from '../core/describe.js';
import { describeMessage } from '../core/messages.js';
import { ZabPeer } from '../core/peer.js';
import type { Input, PeerConfig, Ready, TraceEvent } from '../core/types.js';
import { zxidToHex } from '../core/zxid.js';
import type { NodeStatusReply } from '../wire/client-protocol.js';
import { ClientPort } from './client-port.js';
import { DeliveredLog } from './delivered-log.js';
import type { NodeConfig } from '../wire/node-config.js';
import { loadDurableState } from './durable.js';
import { deferredSyncDelayMs } from './limits.js';
import { createLogger, type Logger } from './logger.js';
import { PeerTransport } from './transport.js';
import { acceptedEpochFileName, currentEpochFileName, writeEpochFile, type TxnLog } from './wal.js';

export interface RunningNode {
  readonly peerPort: number;
  readonly clientPort: number;
  readonly logger: Logger;
  /** Resolves after a clean stop; rejects with the fatal error (failed fsync, full disk, core assertion). */
  readonly done: Promise<void>;
  stop(): Promise<void>;
}

// ---- Test-only switch: ZABKIT_TEST_FREEZE_COMMITS_FILE=<path> -----------------------------------
// While that file exists, client broadcasts are dropped before they reach the core: nothing new is
// proposed or committed, yet elections, pings and status answers go on, so the cluster looks
// healthy. Dropped broadcasts are never answered (the client times out; a connection that keeps
// sending stalls at maxInFlightPerClient). The testbed uses it to prove that its final phase catches a cluster that never commits
// again after the heal (test/integration/pipeline/final-phase.test.ts). Unset: never consulted.
const testFreezeCommitsFile = process.env['ZABKIT_TEST_FREEZE_COMMITS_FILE'] ?? '';
function testFreezeCommits(): boolean {
  return testFreezeCommitsFile !== '' && existsSync(testFreezeCommitsFile);
}
// ------------------------------------------------------------------------------------------------

export async function runNode(config: NodeConfig): Promise<RunningNode> {
  assert(Number.isSafeInteger(config.tickMs) && config.tickMs > 0, `tickMs must be a positive whole number of milliseconds, got ${config.tickMs}`);
  const logger = createLogger(config.id, config.logFile, config.logLevel);
  logger.info({ config: { ...config, peers: config.peers.map((p) => `${p.id}@${p.host}:${p.port}`) }, seed: config.seed }, 'starting');
  let loaded: Awaited<ReturnType<typeof loadDurableState>>;
  try {
    loaded = await loadDurableState(config.dataDir, config.bugs, logger, config.segmentBytes);
  } catch (error) {
    logger.fatal({ err: error }, `cannot start: ${(error as Error).message}`);
    throw error;
  }
  const { log, durable } = loaded;
  const peerConfig: PeerConfig = {
    ...(config.memoryLogEntries === undefined ? {} : { memoryLogEntries: config.memoryLogEntries }),
    id: config.id,
    servers: [config.id, ...config.peers.map((p) => p.id)].sort((a, b) => a - b),
    timing: config.timing,
    bugs: new Set(config.bugs),
  };
  const peer = new ZabPeer(peerConfig, durable, createPrng(config.seed));
  return new Replica(config, logger, log, peer).start();
}

/** A promise with its resolve and reject (Promise.withResolvers, which Node 20 lacks). */
function settleable(): { promise: Promise<void>; resolve(): void; reject(error: Error): void } {
  let settle: { resolve(): void; reject(error: Error): void } | undefined;
  const promise = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  assert(settle !== undefined, 'a Promise executor runs synchronously');
  return { promise, ...settle };
}

class Replica {
  private readonly transport: PeerTransport;
  private readonly clientPort: ClientPort;
  private readonly delivered: DeliveredLog;
  private roleLogger: Logger;
  private tickTimer: NodeJS.Timeout | undefined;
  private deferredTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private stopped = false;
  /** A Ready's persist is in flight (the pump awaits it): the next batch's messages may leave early. */
  private persisting = false;
  private earlySendScheduled = false;
  private readonly finished = settleable();
  private readonly done = this.finished.promise;

  constructor(
    private readonly config: NodeConfig,
    private readonly logger: Logger,
    private readonly log: TxnLog,
    private readonly peer: ZabPeer,
  ) {
    // Delivered entries are read back from the log, except under a planted bug (which may deliver what it later cuts).
    this.delivered = new DeliveredLog((from, to, maxBytes) => log.read(from, to, maxBytes), (from, to) => log.count(from, to), config.bugs.length === 0, config.memoryLogEntries);
    const status = peer.status();
    this.roleLogger = logger.child({ role: status.state, epoch: status.currentEpoch });
    this.transport = new PeerTransport(config, logger, {
      onMessage: (from, message) => {
        if (message.type === 'DIFF' || message.type === 'TRUNC' || message.type === 'SNAP') {
          this.roleLogger.info({ syncMode: message.type, from, message: describeMessage(message) }, `sync from leader: ${message.type}`);
        }
        this.step({ kind: 'message', from, message });
      },
      onDisconnected: (peerId) => this.step({ kind: 'disconnected', peer: peerId }),
    });
    this.clientPort = new ClientPort({ host: config.clientHost, port: config.clientPort, serverId: config.id, plantedBugs: config.bugs.length > 0 }, logger, {
      broadcast: (session, seq, data) => {
        if (testFreezeCommits()) return;
        this.step({ kind: 'request', request: { session, seq, data } });
      },
      sessionEnded: (session) => this.step({ kind: 'session-ended', session }),
      status: () => this.status(),
    }, this.delivered);
  }

  async start(): Promise<RunningNode> {
    // Surface a fatal error that happens before anyone awaits `done` without an unhandled rejection.
    this.done.catch(() => undefined);
    try {
      await this.transport.start();
      await this.clientPort.start();
    } catch (error) {
      this.transport.close();
      this.clientPort.close();
      this.log.close();
      throw error;
    }
    this.tickTimer = setInterval(() => this.step({ kind: 'tick' }), this.config.tickMs);
    this.logger.info({ peerPort: this.transport.port, clientPort: this.clientPort.port }, 'serving');
    this.schedulePump();
    return {
      peerPort: this.transport.port,
      clientPort: this.clientPort.port,
      logger: this.logger,
      done: this.done,
      stop: () => this.stop(),
    };
  }

  private status(): NodeStatusReply {
    const status = this.peer.status();
    return {
      ...status,
      pid: process.pid,
      serving: !this.stopped && status.phase === 'broadcast' && status.state !== 'looking',
      deliveredZxid: this.delivered.lastZxid,
      delivered: this.delivered.length,
    };
  }

  private step(input: Input): void {
    if (this.stopped) return;
    try {
      this.peer.step(input);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (this.persisting) this.scheduleEarlySend();
    this.schedulePump();
  }

  /**
   * During a batch's persist, the next batch's messages go out once per I/O turn (peer.takeMessages):
   * the leader's proposals reach the followers while its own fsync runs.
   */
  private scheduleEarlySend(): void {
    if (this.earlySendScheduled) return;
    this.earlySendScheduled = true;
    setImmediate(() => {
      this.earlySendScheduled = false;
      if (this.stopped || !this.persisting) return;
      const envelopes = this.peer.takeMessages();
      if (envelopes.length === 0) return;
      for (const envelope of envelopes) this.transport.send(envelope.to, envelope.message);
      this.transport.flush();
    });
  }

  private schedulePump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    // setImmediate: inputs of the same I/O turn join one batch.
    setImmediate(() => {
      this.pump().then(
        () => {
          this.pumping = false;
          if (!this.stopped && this.peer.hasReady()) this.schedulePump();
        },
        (error: unknown) => this.fail(error as Error),
      );
    });
  }

  private async pump(): Promise<void> {
    while (!this.stopped && this.peer.hasReady()) {
      const ready = this.peer.ready();
      this.logEvents(ready.events);
      // 1. messages that do not depend on this batch's persistence
      for (const envelope of ready.messages) this.transport.send(envelope.to, envelope.message);
      this.transport.flush();
      // 2. persist
      const generations = new Map(ready.messagesAfterPersist.map((envelope) => [envelope.to, this.transport.streamGeneration(envelope.to)]));
      this.persisting = true;
      try {
        await this.persist(ready);
      } finally {
        this.persisting = false;
      }
      if (this.stopped) return;
      // 3. promises about durable state, on the stream they were made for: if that stream broke
      // during the persist (the core has already been told), they belong to a session that is over.
      for (const envelope of ready.messagesAfterPersist) {
        if (this.transport.streamGeneration(envelope.to) === generations.get(envelope.to)) this.transport.send(envelope.to, envelope.message);
      }
      this.transport.flush();
      // A sync stream's next chunk once this one has left the process.
      for (const to of ready.awaitDrain) this.transport.whenDrained(to, () => this.step({ kind: 'drained', peer: to }));
      // 4. deliver and answer
      this.clientPort.deliver(ready.committedStored, ready.committed);
      for (const reply of ready.clientReplies) this.clientPort.reply(reply);
      this.clientPort.flush();
      // 5.
      this.peer.advance(ready);
    }
  }

  private async persist(ready: Ready): Promise<void> {
    if (ready.truncateAfter !== undefined && ready.append.length > 0 && this.log.removesWritten(ready.truncateAfter)) {
      // Durable entries are replaced (SNAP, or TRUNC with entries): crash-atomic rewrite of the log.
      const removed = await this.log.replaceAfter(ready.truncateAfter, ready.append);
      this.roleLogger.info({ after: zxidToHex(ready.truncateAfter), removed, appended: ready.append.length }, 'log truncated and rewritten atomically');
    } else {
      if (ready.truncateAfter !== undefined) {
        const removed = await this.log.truncateAfter(ready.truncateAfter);
        this.roleLogger.info({ after: zxidToHex(ready.truncateAfter), removed }, 'log truncated');
      }
      this.log.append(ready.append);
    }
    if (ready.deferSync || this.config.bugs.includes('ack-before-fsync')) {
      // Planted bug ack-before-fsync: the ACKs leave once the bytes are in the OS's page cache,
      // before they reach the disk. A kill -9 loses nothing then; a real power cut (the fault
      // filesystem) loses them. Every batch waits for the periodic fdatasync (a later batch without
      // ACKs must not sync the earlier ones early, or the bug would hide behind the next COMMIT).
      await this.log.flush();
      this.deferredTimer ??= setTimeout(() => {
        this.deferredTimer = undefined;
        this.log.sync().catch((error: unknown) => this.fail(error as Error));
      }, deferredSyncDelayMs);
    } else {
      await this.log.sync();
    }
    if (ready.acceptedEpoch !== undefined) await writeEpochFile(this.config.dataDir, acceptedEpochFileName, ready.acceptedEpoch);
    if (ready.currentEpoch !== undefined) await writeEpochFile(this.config.dataDir, currentEpochFileName, ready.currentEpoch);
  }

  private logEvents(events: readonly TraceEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case 'state':
          this.roleLogger = this.logger.child({ role: event.state, epoch: event.epoch });
          this.roleLogger.info({ phase: event.phase, leader: event.leader }, `role: ${event.state} (${event.phase})`);
          break;
        case 'elected':
          this.roleLogger.info({ leader: event.leader, round: event.round, vote: { ...event.vote, zxid: zxidToHex(event.vote.zxid) } }, `election result: leader ${event.leader}`);
          break;
        case 'sync':
          this.roleLogger.info({ peer: event.peer, syncMode: event.mode, peerLastZxid: zxidToHex(event.peerLastZxid), fromZxid: zxidToHex(event.fromZxid) }, `sync of ${event.peer}: ${event.mode}`);
          break;
        case 'truncated':
          this.roleLogger.info({ after: zxidToHex(event.after), removed: event.removed }, 'truncation');
          break;
        case 'rejected':
          this.roleLogger.warn({ from: event.from, messageType: event.messageType, reason: event.reason }, 'refused input');
          break;
        case 'step-down':
          this.roleLogger.info({ reason: event.reason }, 'step down');
          break;
        case 'dropped':
          this.roleLogger.warn({ peer: event.peer, reason: event.reason }, describeEvent(event));
          break;
      }
    }
  }

  private fail(error: Error): void {
    if (this.stopped) return;
    this.logger.fatal({ err: error }, `fatal: ${error.message}`);
    this.shutdown();
    this.finished.reject(error);
  }

  private async stop(): Promise<void> {
    if (this.stopped) return this.done;
    this.logger.info('stopping');
    this.shutdown();
    this.finished.resolve();
    return this.done;
  }

  private shutdown(): void {
    this.stopped = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.deferredTimer) clearTimeout(this.deferredTimer);
    this.transport.close();
    this.clientPort.close();
    this.log.close();
  }
}
