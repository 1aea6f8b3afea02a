/**
 * A seeded in-memory simulation of N ZabPeer cores (VOPR style) inside a model of the real shell
 * (src/server/replica.ts + transport.ts), checked after every step and for liveness after healing.
 *
 * The shell, as the real one:
 * - Each Ready is executed by the shared ReadyExecution (ready-executor.ts) in the order of
 *   types.ts. Its fsync takes time: while it runs, inputs keep arriving and are stepped into the
 *   core (their output goes to the next Ready); advance() only after the fsync and the rest.
 *   A crash can hit any micro-step (ReadyCrashPoint), and any moment of the fsync wait.
 * - The disk keeps the page cache apart from what was fsynced: kill -9 keeps written-but-unsynced
 *   log bytes, a power loss (one machine, or all) does not. Recovery fsyncs what it read.
 * - One TCP connection per direction and peer pair (transport.ts). A connection breaks on its own
 *   (RST, a flapping NIC, a crash): what is in flight on it is lost, and each end learns at its own
 *   moment ('disconnected'); the sender then opens a new connection, and the receiver drops the old
 *   one when the new one's first bytes arrive (also reported). Nothing of a broken connection is
 *   delivered after its end was told. messagesAfterPersist to a peer whose stream broke during the
 *   persist are dropped, as the shell's stream generations do.
 * - Black holes: a direction that silently holds everything (nobody is told) for several
 *   syncLimits; at its end the connection either resumes (TCP retransmits everything) or turns out
 *   broken. Partitions are black holes on every direction across the cut.
 * - Clients: a few sessions per server incarnation, each with several requests in flight; a session
 *   that gets a non-ok reply is given up and the client continues under a new session name.
 *
 * Checked after every step: one leader per epoch; every server delivers a prefix of one sequence,
 * in zxid order; an 'ok' reply names what the server delivered at that zxid; a 'fail' is never
 * delivered; what a session gets delivered (anywhere) is a prefix of what it sent, in order; every
 * delivered txn is on the durable log of a quorum; every promise is on disk when it leaves (ACK:
 * the proposal is in the sender's durable log; ACK of NEWLEADER: currentEpoch on disk is that epoch
 * and the log the core had is durable; ACKEPOCH: acceptedEpoch on disk >= epoch, its lastZxid is
 * the last durable one).
 * After each round of faults: every link healed, every server up; within `stabiliseTicks` the cluster must
 * have one leader followed by everyone in broadcast, and a new client request must commit on every
 * server ("stuck" otherwise, with every server's state), then logs and deliveries must agree.
 */
import { ZabPeer } from '../../../src/core/peer.js';
import { createPrng, type Prng } from '../../../src/core/prng.js';
import type { ClientReply, DurableState, Envelope, Input, Message, PlantedBug, ServerId, Timing, Txn } from '../../../src/core/types.js';
import { counterOf, formatZxid, type Zxid } from '../../../src/core/zxid.js';
import { crashDisk, DiskLogStore, emptyDisk, readyCrashPoints, ReadyExecution, recoverDisk, syncDisk, type MemoryDisk, type ReadyCrashPoint } from './ready-executor.js';

/** Log entries each simulated server keeps in memory: few, so compaction and reads of the store run in every simulation. */
const simMemoryLogEntries = 4;
/** Log data per sync chunk: a few entries, so every sync streams in chunks that race new proposals and faults. */
const simSyncChunkBytes = 16;
/** Epoch ends each server's ACKEPOCH lists, by id: none (its leaders must SNAP it), one (a TRUNC only when its newest epoch meets), or the default. */
const simEpochEnds = [0, 1, 64] as const;

export const simTiming: Timing = {
  initLimitTicks: 20,
  syncLimitTicks: 10,
  finalizeWaitTicks: 2,
  notificationResendTicks: 4,
  pingIntervalTicks: 2,
};

/**
 * Time advances in units; a tick is `tickUnits` units (10 in the slow-link profiles, 50 in the
 * fast ones, where a message takes 1-2 units: a real link takes well under a millisecond of a
 * 50 ms tick). Rates are per tenth of a tick unless said otherwise (scaled to the unit).
 */
export interface FaultRates {
  readonly tickUnits: number;
  /** A client request (from one of the sessions of a random live server). */
  readonly request: number;
  /** One direction's connection breaks (RST): in-flight lost, each end told at its own moment. */
  readonly breakDirection: number;
  /** Both directions of one pair break (a proxy reset). */
  readonly resetLink: number;
  /** Every connection of one server breaks (its network flaps). */
  readonly flapNode: number;
  /** A direction, or both directions of a pair, silently holds everything for blackHoleSyncLimits. */
  readonly blackHole: number;
  /** A random split; every direction across it is a black hole for partitionTicks. */
  readonly partition: number;
  /** kill -9 of one server. */
  readonly crash: number;
  /** Power loss of one server. */
  readonly powerCut: number;
  /** Power loss of every server at once. */
  readonly power: number;
  /** Per down server. */
  readonly restart: number;
  /** Per Ready: the process dies at one of its micro-steps (kill -9, or a power loss one time in three). */
  readonly crashInReady: number;
  /** Per Ready with a persist: the fsync stalls for up to slowFsyncTicks. */
  readonly slowFsync: number;
  /** Per tick and server: the OS flushes log bytes written without fsync (planted bug ack-before-fsync). */
  readonly backgroundFlush: number;
  readonly maxMessageDelayUnits: number;
  /** How late an end learns its connection broke (reset, kill -9): half the time at once, else up to this; a power loss: up to 10x. */
  readonly maxNotifyDelayTicks: number;
  readonly maxFsyncUnits: number;
  readonly slowFsyncTicks: number;
  readonly blackHoleSyncLimits: readonly [number, number];
  readonly partitionTicks: readonly [number, number];
  /** Requests a session may have in flight. */
  readonly pipeline: number;
  readonly sessionsPerServer: number;
}

export const defaultFaults: FaultRates = {
  tickUnits: 10,
  request: 0.06,
  breakDirection: 0.001,
  resetLink: 0.001,
  flapNode: 0,
  blackHole: 0,
  partition: 0.001,
  crash: 0.001,
  powerCut: 0.0002,
  power: 0.0002,
  restart: 0.004,
  crashInReady: 0.002,
  slowFsync: 0,
  backgroundFlush: 0.02,
  maxMessageDelayUnits: 15,
  maxNotifyDelayTicks: 2,
  maxFsyncUnits: 3,
  slowFsyncTicks: 0,
  blackHoleSyncLimits: [2, 8],
  partitionTicks: [5, 40],
  pipeline: 3,
  sessionsPerServer: 2,
};

/**
 * The profiles the suite and test/soak/sim-soak.ts run. default and harsh keep the slow links of the
 * first simulation (a message takes up to 1.5 ticks); the others use fast links, as real ones are
 * (a message and an fsync take a small fraction of a tick, so a follower can drop out and rejoin
 * between two of the leader's ticks).
 */
export const profiles = {
  default: defaultFaults,
  /** Five times the faults of default. */
  harsh: {
    ...defaultFaults, request: 0.1, breakDirection: 0.005, resetLink: 0.005, partition: 0.004, crash: 0.004,
    powerCut: 0.001, power: 0.0008, restart: 0.01, crashInReady: 0.02,
  },
  /** Connections reset all the time (one direction, a pair, all of one server's), each end told at its own moment. */
  resets: {
    ...defaultFaults, tickUnits: 50, request: 0.15, breakDirection: 0.008, resetLink: 0.006, flapNode: 0.004, partition: 0,
    crash: 0.0005, powerCut: 0, power: 0, crashInReady: 0.004, maxMessageDelayUnits: 2, maxNotifyDelayTicks: 6, maxFsyncUnits: 3,
  },
  /** Silent black holes and partitions of many syncLimits, fsyncs that stall past syncLimit. */
  blackholes: {
    ...defaultFaults, tickUnits: 50, request: 0.1, breakDirection: 0.001, resetLink: 0.001, blackHole: 0.003, partition: 0.002,
    partitionTicks: [20, 150], crash: 0.0005, slowFsync: 0.01, slowFsyncTicks: 2 * simTiming.syncLimitTicks,
    maxMessageDelayUnits: 3, maxNotifyDelayTicks: 4, maxFsyncUnits: 3,
  },
  /** Crashes at every micro-step of Ready batches, kill -9 and power losses, slow fsyncs. */
  'ready-crashes': {
    ...defaultFaults, tickUnits: 50, request: 0.15, breakDirection: 0.001, resetLink: 0.001, partition: 0.0005, crash: 0.002,
    powerCut: 0.001, power: 0.0004, restart: 0.02, crashInReady: 0.03, slowFsync: 0.002, slowFsyncTicks: 6,
    maxMessageDelayUnits: 2, maxFsyncUnits: 5,
  },
  /** All of the above at once, on slow links. */
  chaos: {
    ...defaultFaults, request: 0.12, breakDirection: 0.004, resetLink: 0.003, flapNode: 0.001, blackHole: 0.0015,
    partition: 0.001, partitionTicks: [10, 120], crash: 0.002, powerCut: 0.0005, power: 0.0003, restart: 0.01,
    crashInReady: 0.015, slowFsync: 0.004, slowFsyncTicks: simTiming.syncLimitTicks, maxMessageDelayUnits: 4, maxNotifyDelayTicks: 5, maxFsyncUnits: 3,
  },
} satisfies Record<string, FaultRates>;
export type ProfileName = keyof typeof profiles;
export const profileNames = Object.keys(profiles) as ProfileName[];

export interface SimOptions {
  readonly seed: number;
  readonly servers: number;
  /** Ticks with faults and load (split over the episodes). */
  readonly faultTicks: number;
  /** Ticks after each full heal within which the cluster must be live again. */
  readonly stabiliseTicks: number;
  readonly bugs?: readonly PlantedBug[];
  readonly faults?: FaultRates;
  /** Rounds of faults, each followed by a full heal and the liveness check. Default 4. */
  readonly episodes?: number;
  /** Recovery fsyncs what it read (the shell does; false shows why it must). Default true. */
  readonly fsyncOnOpen?: boolean;
}

export interface SimStats {
  delivered: number;
  acked: number;
  crashes: number;
  readyCrashes: number;
  elections: number;
  maxEpoch: number;
  linkBreaks: number;
  blackHoles: number;
  probes: number;
  /** `drained` inputs stepped: chunks of sync streams that waited for the network. */
  drains: number;
  /** Messages sent during a persist (takeMessages). */
  earlySent: number;
  /** Syncs by mode. */
  syncs: { DIFF: number; TRUNC: number; SNAP: number };
}

/** safety: an invariant broke; promise: a promise left before it was durable; fifo: a session's order; stuck: not live after healing. */
export type ViolationKind = 'safety' | 'promise' | 'fifo' | 'stuck';

export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
  constructor(readonly kind: ViolationKind, message: string) {
    super(message);
  }
}

interface InFlight {
  readonly deliverAt: number;
  readonly message: Message;
}

/** One TCP connection from → to. */
interface Conn {
  readonly id: number;
  readonly from: ServerId;
  readonly to: ServerId;
  /** The sender's incarnation that opened it. */
  readonly incarnation: number;
  queue: InFlight[];
  broken: boolean;
}

interface Hole {
  readonly key: string;
  readonly outcome: 'stall' | 'break';
  until: number;
  ended: boolean;
  brokenConn: Conn | undefined;
}

interface Session {
  readonly name: string;
  nextSeq: number;
  inFlight: number;
  retired: boolean;
}

interface Node {
  readonly id: ServerId;
  peer: ZabPeer | undefined;
  readonly disk: MemoryDisk;
  incarnation: number;
  delivered: Txn[];
  deliveredKeys: Set<string>;
  readonly tickPhase: number;
  executing: { execution: ReadyExecution; lastZxid: Zxid } | undefined;
  readonly outgoing: Map<ServerId, Conn>;
  readonly inbound: Map<ServerId, Conn>;
  readonly generation: Map<ServerId, number>;
  sessions: Session[];
  sessionCounter: number;
}

interface Scheduled {
  readonly at: number;
  readonly order: number;
  readonly run: () => void;
}

function txnKey(t: Txn): string {
  return `${t.originServer}/${t.originSession}/${t.originSeq}`;
}

export class Sim {
  readonly nodes: Node[] = [];
  readonly stats: SimStats = { delivered: 0, acked: 0, crashes: 0, readyCrashes: 0, elections: 0, maxEpoch: 0, linkBreaks: 0, blackHoles: 0, probes: 0, drains: 0, earlySent: 0, syncs: { DIFF: 0, TRUNC: 0, SNAP: 0 } };
  private readonly prng: Prng;
  private readonly ids: ServerId[];
  private readonly conns = new Set<Conn>();
  private connCounter = 0;
  private readonly holes = new Map<string, Hole>();
  private scheduled: Scheduled[] = [];
  private scheduleCounter = 0;
  private now = 0;
  /** The longest committed sequence delivered by any server incarnation. */
  private readonly reference: Txn[] = [];
  private readonly referenceKeys = new Set<string>();
  /** Per session (server/session): how many of its requests are in the reference. */
  private readonly sessionDelivered = new Map<string, number>();
  private readonly epochLeader = new Map<number, ServerId>();
  private readonly acked = new Map<string, Zxid>();
  private readonly failed = new Set<string>();
  private readonly faults: FaultRates;
  private readonly bugs: ReadonlySet<PlantedBug>;
  private readonly fsyncOnOpen: boolean;
  private readonly quorum: number;
  private readonly tickUnits: number;
  /** Per-unit rates are per tenth of a tick. */
  private readonly rateScale: number;
  private faultsOn = true;
  readonly trace: string[] = [];

  constructor(private readonly options: SimOptions) {
    this.prng = createPrng(options.seed);
    this.faults = options.faults ?? defaultFaults;
    this.bugs = new Set(options.bugs ?? []);
    this.fsyncOnOpen = options.fsyncOnOpen ?? true;
    this.ids = Array.from({ length: options.servers }, (_, i) => i + 1);
    this.quorum = Math.floor(options.servers / 2) + 1;
    this.tickUnits = this.faults.tickUnits;
    this.rateScale = 10 / this.tickUnits;
    for (const id of this.ids) {
      this.nodes.push({
        id, peer: undefined, disk: emptyDisk(), incarnation: 0, delivered: [], deliveredKeys: new Set(),
        tickPhase: this.prng.int(this.tickUnits), executing: undefined, outgoing: new Map(), inbound: new Map(),
        generation: new Map(), sessions: [], sessionCounter: 0,
      });
    }
    for (const node of this.nodes) this.start(node);
  }

  private fail(kind: ViolationKind, message: string): never {
    const tail = this.trace.slice(-60).join('\n');
    throw new InvariantViolation(kind, `SEED=${this.options.seed} t=${this.now} [${kind}]: ${message}\n--- last events ---\n${tail}`);
  }

  private note(text: string): void {
    this.trace.push(`${this.now} ${text}`);
    if (this.trace.length > 600) this.trace.splice(0, 300);
  }

  private node(id: ServerId): Node {
    return this.nodes[id - 1]!;
  }

  private schedule(delay: number, run: () => void): void {
    this.scheduled.push({ at: this.now + Math.max(0, delay), order: this.scheduleCounter++, run });
  }

  private runDue(): void {
    for (;;) {
      const due = this.scheduled.filter((s) => s.at <= this.now);
      if (due.length === 0) return;
      this.scheduled = this.scheduled.filter((s) => s.at > this.now);
      due.sort((a, b) => a.at - b.at || a.order - b.order);
      for (const s of due) s.run();
    }
  }

  // ------------------------------------------------------------------ node lifecycle

  private start(node: Node): void {
    node.incarnation++;
    node.delivered = [];
    node.deliveredKeys = new Set();
    node.executing = undefined;
    node.inbound.clear();
    node.generation.clear();
    node.sessions = [];
    const log = recoverDisk(node.disk, this.fsyncOnOpen);
    const durable: DurableState = { acceptedEpoch: node.disk.acceptedEpoch, currentEpoch: node.disk.currentEpoch, log: new DiskLogStore(node.disk) };
    // A small memory window: syncs and deliveries read old entries back from the disk.
    node.peer = new ZabPeer({ id: node.id, servers: this.ids, timing: simTiming, bugs: this.bugs, memoryLogEntries: simMemoryLogEntries, syncChunkBytes: simSyncChunkBytes, maxEpochEnds: simEpochEnds[node.id % simEpochEnds.length] }, durable, this.prng.fork());
    for (const other of this.ids) if (other !== node.id) node.outgoing.set(other, this.openConn(node, other));
    this.note(`start ${node.id} inc=${node.incarnation} log=${formatZxid(lastOf(log))} durable=${formatZxid(lastOf(node.disk.durable))} a=${node.disk.acceptedEpoch} c=${node.disk.currentEpoch}`);
    this.pump(node);
  }

  private crash(node: Node, kind: 'kill' | 'power'): void {
    if (node.peer === undefined) return;
    node.peer = undefined;
    node.executing = undefined;
    crashDisk(node.disk, kind);
    this.stats.crashes++;
    this.note(`crash ${node.id} (${kind}) written=${formatZxid(lastOf(node.disk.written))} durable=${formatZxid(lastOf(node.disk.durable))}`);
    const late = (): number => this.prng.int((kind === 'power' ? 10 : 1) * this.maxNotifyUnits() + 1);
    // Its outgoing connections: after kill -9 the kernel may still send what was queued, then FIN.
    for (const conn of node.outgoing.values()) {
      if (conn.broken) continue;
      if (kind === 'kill' && this.prng.next() < 0.5) {
        const lastAt = conn.queue.length === 0 ? this.now : conn.queue[conn.queue.length - 1]!.deliverAt;
        this.schedule(lastAt - this.now + 1 + this.prng.int(this.maxNotifyUnits() + 1), () => this.breakConn(conn, undefined, 0));
      } else {
        this.breakConn(conn, undefined, late());
      }
    }
    node.outgoing.clear();
    // Connections to it: the senders learn when a write fails or times out.
    for (const other of this.nodes) {
      const conn = other.outgoing.get(node.id);
      if (conn !== undefined && !conn.broken) this.breakConn(conn, late(), undefined);
    }
    node.inbound.clear();
  }

  // ------------------------------------------------------------------ the shell: Ready execution

  private input(node: Node, input: Input): void {
    const peer = node.peer;
    if (peer === undefined) return;
    peer.step(input);
    // The shell sends the next batch's messages during a persist (replica.ts scheduleEarlySend): here at once, after every input.
    if (node.executing !== undefined) {
      for (const envelope of peer.takeMessages()) {
        this.stats.earlySent++;
        this.shellSend(node, envelope, false);
      }
    }
    this.pump(node);
  }

  /** Starts the next Ready when none is in flight (one at a time, as the shell's pump). */
  private pump(node: Node): void {
    while (node.peer !== undefined && node.executing === undefined && node.peer.hasReady()) {
      const peer = node.peer;
      const ready = peer.ready();
      for (const e of ready.events) {
        if (e.type === 'elected') this.stats.elections++;
        if (e.type === 'sync') this.stats.syncs[e.mode]++;
        if (e.type !== 'rejected') this.note(`${node.id} ${JSON.stringify(e)}`);
      }
      let crashAt: ReadyCrashPoint | undefined;
      let crashKind: 'kill' | 'power' = 'kill';
      if (this.faultsOn && this.prng.next() < this.faults.crashInReady) {
        crashAt = readyCrashPoints[this.prng.int(readyCrashPoints.length)];
        crashKind = this.prng.int(3) === 0 ? 'power' : 'kill';
      }
      const incarnation = node.incarnation;
      const execution = new ReadyExecution(ready, node.disk, {
        send: (envelope, afterPersist) => this.shellSend(node, envelope, afterPersist),
        generation: (peerId) => node.generation.get(peerId) ?? 0,
        deliver: (committed) => {
          for (const txn of committed) this.deliver(node, txn);
        },
        reply: (replies) => this.onReplies(node, replies),
        crash: (point) => {
          this.stats.readyCrashes++;
          this.note(`crash-in-ready ${node.id} ${point}`);
          this.crash(node, crashKind);
        },
        written: (log) => {
          for (let i = 1; i < log.length; i++) {
            if (log[i - 1]!.zxid >= log[i]!.zxid) this.fail('safety', `server ${node.id} log not strictly increasing at ${formatZxid(log[i]!.zxid)}`);
          }
        },
      }, crashAt, ready.deferSync || this.bugs.has('ack-before-fsync'));
      node.executing = { execution, lastZxid: peer.status().lastZxid };
      if (!execution.start()) return;
      if (execution.persists) {
        const f = this.faults;
        const delay = 1 + this.prng.int(f.maxFsyncUnits) +
          (this.faultsOn && f.slowFsyncTicks > 0 && this.prng.next() < f.slowFsync ? this.prng.int(f.slowFsyncTicks * this.tickUnits) : 0);
        this.schedule(delay, () => {
          if (node.incarnation === incarnation && node.executing?.execution === execution) this.finishReady(node);
        });
        return;
      }
      if (!this.finishReady(node)) return;
    }
  }

  private finishReady(node: Node): boolean {
    const { execution } = node.executing!;
    if (!execution.finish()) return false;
    node.executing = undefined;
    node.peer!.advance(execution.ready);
    for (const to of execution.ready.awaitDrain) this.whenDrained(node, to);
    this.checkNode(node);
    this.pump(node);
    return true;
  }

  /** The promise a message makes must be on disk when it leaves. */
  private checkPromise(node: Node, message: Message): void {
    const disk = node.disk;
    if (message.type === 'ACK') {
      if (counterOf(message.zxid) === 0) {
        const lastZxid = node.executing?.lastZxid;
        if (disk.currentEpoch !== message.epoch) this.fail('promise', `server ${node.id} sent ACK of NEWLEADER(${message.epoch}) with currentEpoch ${disk.currentEpoch} on disk`);
        if (lastZxid !== undefined && lastOf(disk.durable) !== lastZxid) {
          this.fail('promise', `server ${node.id} sent ACK of NEWLEADER(${message.epoch}) with its log up to ${formatZxid(lastZxid)} but only ${formatZxid(lastOf(disk.durable))} durable`);
        }
      } else if (!durableHas(disk, message.zxid)) {
        this.fail('promise', `server ${node.id} sent ACK ${formatZxid(message.zxid)} before it was durable (durable up to ${formatZxid(lastOf(disk.durable))})`);
      }
    } else if (message.type === 'ACKEPOCH') {
      if (disk.acceptedEpoch < message.epoch) this.fail('promise', `server ${node.id} sent ACKEPOCH(${message.epoch}) with acceptedEpoch ${disk.acceptedEpoch} on disk`);
      if (message.lastZxid !== lastOf(disk.durable)) {
        this.fail('promise', `server ${node.id} sent ACKEPOCH(${message.epoch}) reporting last ${formatZxid(message.lastZxid)} with ${formatZxid(lastOf(disk.durable))} durable`);
      }
    }
  }

  private shellSend(node: Node, envelope: Envelope, afterPersist: boolean): void {
    void afterPersist;
    this.checkPromise(node, envelope.message);
    const conn = node.outgoing.get(envelope.to);
    if (conn === undefined || conn.broken) return; // written to a dead socket: lost
    const receiver = this.node(envelope.to);
    if (receiver.peer === undefined) {
      // connect refused / timed out: the queued frames are dropped and the sender told
      this.breakConn(conn, 1 + this.notifyDelay(), undefined);
      return;
    }
    const last = conn.queue[conn.queue.length - 1];
    const at = Math.max(this.now + 1 + this.prng.int(this.faults.maxMessageDelayUnits), last?.deliverAt ?? 0);
    conn.queue.push({ deliverAt: at, message: envelope.message });
  }

  /**
   * The shell's `drained`: once the network has taken what is queued on the connection to `to`
   * (its last message delivered). A connection that breaks first never drains: the core hears
   * `disconnected` instead.
   */
  private whenDrained(node: Node, to: ServerId): void {
    const conn = node.outgoing.get(to);
    if (conn === undefined || conn.broken) return;
    const incarnation = node.incarnation;
    const lastAt = conn.queue.length === 0 ? this.now : conn.queue[conn.queue.length - 1]!.deliverAt;
    this.schedule(lastAt - this.now + 1, () => {
      if (node.incarnation !== incarnation || node.outgoing.get(to) !== conn || conn.broken) return;
      this.stats.drains++;
      this.input(node, { kind: 'drained', peer: to });
    });
  }

  private onReplies(node: Node, replies: readonly ClientReply[]): void {
    for (const reply of replies) {
      const key = `${node.id}/${reply.session}/${reply.seq}`;
      if (reply.type === 'ok') {
        const txn = node.delivered.find((t) => t.zxid === reply.zxid);
        if (txn === undefined || txnKey(txn) !== key) this.fail('safety', `server ${node.id} acked ${key} at ${formatZxid(reply.zxid)} but delivered ${txn ? txnKey(txn) : 'nothing'} there`);
        this.acked.set(key, reply.zxid);
        this.stats.acked++;
      } else if (reply.type === 'fail') {
        if (this.referenceKeys.has(key)) this.fail('safety', `request ${key} answered 'fail' was delivered`);
        this.failed.add(key);
      }
      if (reply.type !== 'ok') this.note(`reply ${key} ${reply.type} (${reply.reason})`);
      const session = node.sessions.find((s) => s.name === reply.session);
      if (session === undefined) continue;
      session.inFlight--;
      if (reply.type !== 'ok') session.retired = true;
      if (session.retired && session.inFlight === 0) {
        node.sessions = node.sessions.filter((s) => s !== session);
        // A core without this input ignores it.
        node.peer?.step({ kind: 'session-ended', session: session.name } as unknown as Input);
      }
    }
  }

  private deliver(node: Node, txn: Txn): void {
    const prev = node.delivered[node.delivered.length - 1];
    if (prev !== undefined && prev.zxid >= txn.zxid) this.fail('safety', `server ${node.id} delivered ${formatZxid(txn.zxid)} after ${formatZxid(prev.zxid)}`);
    const pos = node.delivered.length;
    const key = txnKey(txn);
    node.delivered.push(txn);
    node.deliveredKeys.add(key);
    this.stats.delivered++;
    const ref = this.reference[pos];
    if (ref === undefined) {
      this.reference.push(txn);
      this.referenceKeys.add(key);
      if (this.failed.has(key)) this.fail('safety', `request ${key} answered 'fail' was delivered`);
      const session = `${txn.originServer}/${txn.originSession}`;
      const count = this.sessionDelivered.get(session) ?? 0;
      if (txn.originSeq !== count) {
        this.fail('fifo', `session ${session}: #${txn.originSeq} delivered (at ${formatZxid(txn.zxid)}) after only ${count} of its earlier requests (#0..#${txn.originSeq - 1} sent before it)`);
      }
      this.sessionDelivered.set(session, count + 1);
    } else if (ref.zxid !== txn.zxid || txnKey(ref) !== key) {
      this.fail('safety', `prefix inconsistency: server ${node.id} inc ${node.incarnation} delivered #${pos} = ${formatZxid(txn.zxid)} ${key}, another server delivered ${formatZxid(ref.zxid)} ${txnKey(ref)}`);
    }
    let copies = 0;
    for (const n of this.nodes) if (durableHas(n.disk, txn.zxid, key)) copies++;
    if (copies < this.quorum) this.fail('safety', `server ${node.id} delivered ${formatZxid(txn.zxid)} ${key}, durable on only ${copies} of ${this.ids.length} servers`);
  }

  private checkNode(node: Node): void {
    const s = node.peer!.status();
    this.stats.maxEpoch = Math.max(this.stats.maxEpoch, s.currentEpoch);
    if (s.state === 'leading' && s.phase === 'broadcast') {
      const other = this.epochLeader.get(s.currentEpoch);
      if (other !== undefined && other !== node.id) this.fail('safety', `two leaders in broadcast for epoch ${s.currentEpoch}: ${other} and ${node.id}`);
      this.epochLeader.set(s.currentEpoch, node.id);
    }
  }

  // ------------------------------------------------------------------ network

  private openConn(node: Node, to: ServerId): Conn {
    const conn: Conn = { id: ++this.connCounter, from: node.id, to, incarnation: node.incarnation, queue: [], broken: false };
    this.conns.add(conn);
    return conn;
  }

  /**
   * The connection breaks now: what is in flight is lost. The sender is told after `senderDelay`,
   * the receiver after `receiverDelay` (undefined: not scheduled here; it learns later, or from
   * the replacement connection).
   */
  private breakConn(conn: Conn, senderDelay: number | undefined, receiverDelay: number | undefined): void {
    if (!conn.broken) {
      conn.broken = true;
      conn.queue = [];
      this.conns.delete(conn);
      this.stats.linkBreaks++;
    }
    if (senderDelay !== undefined) this.schedule(senderDelay, () => this.tellSender(conn));
    if (receiverDelay !== undefined) this.schedule(receiverDelay, () => this.tellReceiver(conn));
  }

  private tellSender(conn: Conn): void {
    const sender = this.node(conn.from);
    if (sender.peer === undefined || sender.incarnation !== conn.incarnation || sender.outgoing.get(conn.to) !== conn) return;
    sender.outgoing.set(conn.to, this.openConn(sender, conn.to));
    this.disconnected(sender, conn.to);
  }

  private tellReceiver(conn: Conn): void {
    const receiver = this.node(conn.to);
    if (receiver.peer === undefined || receiver.inbound.get(conn.from) !== conn) return;
    receiver.inbound.delete(conn.from);
    this.disconnected(receiver, conn.from);
  }

  private disconnected(node: Node, peer: ServerId): void {
    node.generation.set(peer, (node.generation.get(peer) ?? 0) + 1);
    this.input(node, { kind: 'disconnected', peer });
  }

  private deliverDue(): void {
    const conns = [...this.conns];
    // random order across connections, FIFO within one
    for (let i = conns.length - 1; i > 0; i--) {
      const j = this.prng.int(i + 1);
      [conns[i], conns[j]] = [conns[j]!, conns[i]!];
    }
    for (const conn of conns) {
      const hole = this.holes.get(`${conn.from}>${conn.to}`);
      if (hole !== undefined && this.now < hole.until) continue;
      const receiver = this.node(conn.to);
      while (!conn.broken && conn.queue.length > 0 && conn.queue[0]!.deliverAt <= this.now && receiver.peer !== undefined) {
        const current = receiver.inbound.get(conn.from);
        if (current !== undefined && current.id > conn.id) {
          // The rest of an older connection (a killed sender's last bytes) after the receiver took
          // the sender's new one: it dropped the old socket then, so this is never read.
          this.breakConn(conn, undefined, undefined);
          break;
        }
        if (current !== conn) {
          // The first bytes of a new connection: the receiver drops the old one (and says so).
          if (current !== undefined) {
            this.breakConn(current, undefined, undefined);
            receiver.inbound.delete(conn.from);
            this.disconnected(receiver, conn.from);
            if (conn.broken || receiver.peer === undefined) break;
          }
          receiver.inbound.set(conn.from, conn);
        }
        const { message } = conn.queue.shift()!;
        this.input(receiver, { kind: 'message', from: conn.from, message });
      }
    }
  }

  private startHole(from: ServerId, to: ServerId, units: number, outcome: 'stall' | 'break'): void {
    const key = `${from}>${to}`;
    const old = this.holes.get(key);
    if (old !== undefined) this.endHole(old);
    const hole: Hole = { key, outcome, until: this.now + units, ended: false, brokenConn: undefined };
    this.holes.set(key, hole);
    this.stats.blackHoles++;
    if (outcome === 'break') {
      // The sender may find out inside the hole (its send buffer overflows), or only at the end.
      this.schedule(this.prng.int(units + 1), () => {
        if (!hole.ended) this.holeBreak(hole, from, to);
      });
    }
    this.schedule(units, () => this.endHole(hole));
  }

  private holeBreak(hole: Hole, from: ServerId, to: ServerId): void {
    if (hole.brokenConn !== undefined) return;
    const conn = this.node(from).outgoing.get(to);
    if (conn === undefined || conn.broken) return;
    hole.brokenConn = conn;
    this.breakConn(conn, this.prng.int(this.maxNotifyUnits() + 1), undefined);
  }

  private endHole(hole: Hole): void {
    if (hole.ended) return;
    hole.ended = true;
    hole.until = Math.min(hole.until, this.now);
    if (this.holes.get(hole.key) === hole) this.holes.delete(hole.key);
    const [from, to] = hole.key.split('>').map(Number) as [number, number];
    if (hole.outcome === 'break') this.holeBreak(hole, from, to);
    if (hole.brokenConn !== undefined) {
      const conn = hole.brokenConn;
      this.schedule(this.prng.int(this.maxNotifyUnits() + 1), () => this.tellReceiver(conn));
    }
  }

  private maxNotifyUnits(): number {
    return this.faults.maxNotifyDelayTicks * this.tickUnits;
  }

  /** How late one end learns of a break: often at once, else anywhere up to the profile's maximum. */
  private notifyDelay(): number {
    return this.prng.next() < 0.5 ? this.prng.int(3) : this.prng.int(this.maxNotifyUnits() + 1);
  }

  private range([low, high]: readonly [number, number]): number {
    return low + this.prng.int(high - low + 1);
  }

  private randomPair(): [ServerId, ServerId] | undefined {
    const a = this.ids[this.prng.int(this.ids.length)]!, b = this.ids[this.prng.int(this.ids.length)]!;
    return a === b ? undefined : [a, b];
  }

  // ------------------------------------------------------------------ faults and load

  private request(node: Node): void {
    const f = this.faults;
    let session = node.sessions.filter((s) => !s.retired)[this.prng.int(f.sessionsPerServer)];
    if (session === undefined) {
      if (node.sessions.filter((s) => !s.retired).length >= f.sessionsPerServer) return;
      session = { name: `i${node.incarnation}.s${++node.sessionCounter}`, nextSeq: 0, inFlight: 0, retired: false };
      node.sessions.push(session);
    }
    if (session.inFlight >= f.pipeline) return;
    const seq = session.nextSeq++;
    session.inFlight++;
    this.note(`request ${node.id}/${session.name}/${seq}`);
    this.input(node, { kind: 'request', request: { session: session.name, seq, data: new TextEncoder().encode(`${node.id}.${session.name}.${seq}`) } });
  }

  private unit(): void {
    this.now++;
    this.runDue();
    this.deliverDue();
    for (const node of this.nodes) {
      if (node.peer !== undefined && (this.now + node.tickPhase) % this.tickUnits === 0) {
        this.input(node, { kind: 'tick' });
        // The OS writes back dirty pages on its own (what ack-before-fsync relies on).
        if (node.peer !== undefined && this.prng.next() < this.faults.backgroundFlush) syncDisk(node.disk);
      }
    }
    if (!this.faultsOn) return;
    const f = this.faults;
    const r = this.prng;
    if (r.next() < f.request * this.rateScale) {
      const live = this.nodes.filter((n) => n.peer !== undefined);
      if (live.length > 0) this.request(live[r.int(live.length)]!);
    }
    if (r.next() < f.breakDirection * this.rateScale) {
      const pair = this.randomPair();
      const conn = pair && this.node(pair[0]).outgoing.get(pair[1]);
      if (conn !== undefined && !conn.broken) {
        this.note(`break ${pair![0]}>${pair![1]}`);
        this.breakConn(conn, this.notifyDelay(), this.notifyDelay());
      }
    }
    if (r.next() < f.resetLink * this.rateScale) {
      const pair = this.randomPair();
      if (pair !== undefined) {
        this.note(`reset ${pair[0]}-${pair[1]}`);
        this.resetPair(pair[0], pair[1]);
      }
    }
    if (r.next() < f.flapNode * this.rateScale) {
      const id = this.ids[r.int(this.ids.length)]!;
      this.note(`flap ${id}`);
      for (const other of this.ids) if (other !== id) this.resetPair(id, other);
    }
    if (r.next() < f.blackHole * this.rateScale) {
      const pair = this.randomPair();
      if (pair !== undefined) {
        const units = this.range(f.blackHoleSyncLimits) * simTiming.syncLimitTicks * this.tickUnits;
        const both = r.next() < 0.5;
        const outcome = r.next() < 0.5 ? 'stall' : 'break';
        this.note(`black hole ${pair[0]}${both ? '<' : ''}>${pair[1]} for ${units} (${outcome})`);
        this.startHole(pair[0], pair[1], units, outcome);
        if (both) this.startHole(pair[1], pair[0], units, r.next() < 0.5 ? 'stall' : 'break');
      }
    }
    if (r.next() < f.partition * this.rateScale) {
      const side = new Set(this.ids.filter(() => r.next() < 0.5));
      const units = this.range(f.partitionTicks) * this.tickUnits;
      this.note(`partition ${[...side].join(',')} | ${this.ids.filter((i) => !side.has(i)).join(',')} for ${units}`);
      for (const a of this.ids) for (const b of this.ids) {
        if (side.has(a) && !side.has(b)) {
          this.startHole(a, b, units, r.next() < 0.5 ? 'stall' : 'break');
          this.startHole(b, a, units, r.next() < 0.5 ? 'stall' : 'break');
        }
      }
    }
    if (r.next() < f.crash * this.rateScale) this.crash(this.nodes[r.int(this.nodes.length)]!, 'kill');
    if (r.next() < f.powerCut * this.rateScale) this.crash(this.nodes[r.int(this.nodes.length)]!, 'power');
    if (r.next() < f.power * this.rateScale) {
      this.note('power loss');
      for (const node of this.nodes) this.crash(node, 'power');
    }
    for (const node of this.nodes) {
      if (node.peer === undefined && r.next() < f.restart * this.rateScale) this.start(node);
    }
  }

  private resetPair(a: ServerId, b: ServerId): void {
    for (const [from, to] of [[a, b], [b, a]] as const) {
      const conn = this.node(from).outgoing.get(to);
      if (conn !== undefined && !conn.broken) this.breakConn(conn, this.notifyDelay(), this.notifyDelay());
    }
  }

  // ------------------------------------------------------------------ the run

  /**
   * Runs the whole schedule: `episodes` rounds of faults, each followed by a full heal and the
   * liveness check (a stall that forms during the faults is found at the next heal, before a
   * later fault can hide it behind a new election). Throws InvariantViolation (message starts with
   * SEED=n) on any violation.
   */
  run(): SimStats {
    const episodes = this.options.episodes ?? 4;
    for (let episode = 0; episode < episodes; episode++) {
      this.faultsOn = true;
      const units = Math.floor(this.options.faultTicks / episodes) * this.tickUnits;
      for (let i = 0; i < units; i++) this.unit();
      this.faultsOn = false;
      this.healAndCheckLiveness(episode);
      this.checkFinal();
    }
    return this.stats;
  }

  private healAndCheckLiveness(episode: number): void {
    this.note(`heal all, restart all (episode ${episode + 1})`);
    for (const hole of [...this.holes.values()]) this.endHole(hole);
    for (const node of this.nodes) node.executing?.execution.disarm();
    for (const node of this.nodes) if (node.peer === undefined) this.start(node);
    const healedAt = this.now;
    let probe: { node: Node; key: string; at: number } | undefined;
    while (this.now - healedAt < this.options.stabiliseTicks * this.tickUnits) {
      this.unit();
      if ((this.now - healedAt) % 10 !== 0) continue;
      if (this.leaderOfAll() === undefined) continue;
      if (probe !== undefined && this.nodes.every((n) => n.deliveredKeys.has(probe!.key)) && this.convergence() === undefined) {
        // The shell flushes appends written without fsync eventually (ack-before-fsync).
        for (const node of this.nodes) syncDisk(node.disk);
        return;
      }
      // A probe answered fail/unknown, or lost with its server, or slow: try another one.
      if (probe === undefined || this.now - probe.at > 40 * this.tickUnits || probe.node.peer === undefined || this.failed.has(probe.key)) {
        const node = this.nodes[this.prng.int(this.nodes.length)]!;
        const session = `probe${++this.stats.probes}`;
        probe = { node, key: `${node.id}/${session}/0`, at: this.now };
        this.note(`probe ${probe.key}`);
        this.input(node, { kind: 'request', request: { session, seq: 0, data: new TextEncoder().encode(session) } });
      }
    }
    const leader = this.leaderOfAll();
    const why = leader === undefined ? 'no leader followed by every server in broadcast'
      : probe === undefined ? 'no probe' : `leader ${leader}, but probe ${probe.key} sent to ${probe.node.id} is delivered on ${this.nodes.filter((n) => n.deliveredKeys.has(probe!.key)).map((n) => n.id).join(',') || 'no server'}${this.convergence() === undefined ? '' : `; ${this.convergence()!}`}`;
    this.fail('stuck', `stuck (${this.diagnose()}) ${this.options.stabiliseTicks} ticks after full heal ${episode + 1}: ${why}\n${this.describeNodes()}`);
  }

  /** A name for the way a cluster is stuck (the transcripts in /work/shared/bugs name F1..F3). */
  private diagnose(): string {
    const statuses = this.nodes.map((n) => n.peer!.status());
    const byId = new Map(statuses.map((s) => [s.id, s]));
    if (this.leaderOfAll() !== undefined) return 'commit-stall';
    for (const s of statuses) {
      const other = s.state === 'following' && s.leader !== undefined ? byId.get(s.leader) : undefined;
      if (other !== undefined && other.state === 'following' && other.leader === s.id) return 'mutual-follow';
    }
    const leader = statuses.find((s) => s.state === 'leading' && s.phase === 'broadcast');
    if (leader !== undefined && statuses.some((s) => s.phase !== 'broadcast' && s.acceptedEpoch > leader.currentEpoch)) return 'accepted-epoch-lockout';
    return leader === undefined ? 'no-leader' : 'not-all-following';
  }

  describeNodes(): string {
    return this.nodes.map((n) => {
      if (n.peer === undefined) return `  ${n.id}: down`;
      const s = n.peer.status();
      return `  ${s.id}: ${s.state}/${s.phase} leader=${s.leader ?? '-'} a=${s.acceptedEpoch} c=${s.currentEpoch} last=${formatZxid(s.lastZxid)} commit=${formatZxid(s.commitZxid)} round=${s.round} delivered=${n.delivered.length}`;
    }).join('\n');
  }

  /** The leader every server follows in broadcast, if there is one. */
  private leaderOfAll(): ServerId | undefined {
    const statuses = this.nodes.map((n) => n.peer?.status());
    const leaders = statuses.filter((s) => s?.state === 'leading');
    if (leaders.length !== 1) return undefined;
    const leader = leaders[0]!.id;
    return statuses.every((s) => s !== undefined && s.phase === 'broadcast' && s.leader === leader) ? leader : undefined;
  }

  private convergence(): string | undefined {
    const statuses = this.nodes.map((n) => n.peer!.status());
    const leader = statuses.find((s) => s.state === 'leading')!;
    for (const s of statuses) {
      if (s.lastZxid !== leader.lastZxid || s.commitZxid !== s.lastZxid) return `server ${s.id} last ${formatZxid(s.lastZxid)} commit ${formatZxid(s.commitZxid)} vs leader ${formatZxid(leader.lastZxid)}`;
    }
    return undefined;
  }

  private checkFinal(): void {
    const leaderNode = this.nodes.find((n) => n.peer!.status().state === 'leading')!;
    const finalLog = leaderNode.disk.durable;
    for (const node of this.nodes) {
      const log = node.disk.durable;
      if (log.length !== finalLog.length || log.some((t, i) => t.zxid !== finalLog[i]!.zxid || txnKey(t) !== txnKey(finalLog[i]!))) {
        this.fail('safety', `server ${node.id} durable log differs from the leader's`);
      }
      if (node.delivered.length !== log.length) this.fail('safety', `server ${node.id} delivered ${node.delivered.length} of ${log.length} log entries`);
    }
    if (this.reference.length > finalLog.length) this.fail('safety', `a server delivered ${this.reference.length} txns, the converged log has ${finalLog.length}`);
    const byKey = new Map(finalLog.map((t) => [txnKey(t), t.zxid]));
    for (const [key, zxid] of this.acked) {
      if (byKey.get(key) !== zxid) this.fail('safety', `acknowledged ${key} at ${formatZxid(zxid)} missing from the converged log`);
    }
    for (const key of this.failed) if (byKey.has(key)) this.fail('safety', `request ${key} answered 'fail' was delivered`);
  }
}

function lastOf(log: readonly Txn[]): Zxid {
  return log.length === 0 ? 0 : log[log.length - 1]!.zxid;
}

function durableHas(disk: MemoryDisk, zxid: Zxid, key?: string): boolean {
  const log = disk.durable;
  let low = 0, high = log.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (log[mid]!.zxid < zxid) low = mid + 1;
    else high = mid;
  }
  const t = log[low];
  return t !== undefined && t.zxid === zxid && (key === undefined || txnKey(t) === key);
}

export function runSim(options: SimOptions): SimStats {
  return new Sim(options).run();
}

/** The command that replays one seed in the suite's runner. */
export function replayCommand(seed: number, profile: string, servers: number): string {
  return `SEED=${seed} PROFILE=${profile} SERVERS=${servers} npx vitest run test/unit/core/sim.test.ts`;
}
