/**
 * A seeded in-memory simulation of N ZabPeer cores (VOPR style): per-connection FIFO links with
 * random delays, connection drops, partitions, crashes at any point of the Ready/advance cycle,
 * restarts with exactly the durable state the shell would have persisted, and planted bugs.
 * Invariants are checked after every step; the run ends with a heal + stabilise + convergence check.
 */
import { ZabPeer } from '../../../src/core/peer.js';
import { createPrng, type Prng } from '../../../src/core/prng.js';
import type { DurableState, Input, Message, PlantedBug, Ready, ServerId, Timing, Txn } from '../../../src/core/types.js';
import { formatZxid, type Zxid } from '../../../src/core/zxid.js';

export const simTiming: Timing = {
  initLimitTicks: 20,
  syncLimitTicks: 10,
  finalizeWaitTicks: 2,
  notificationResendTicks: 4,
  pingIntervalTicks: 2,
};

export interface FaultRates {
  /** Per time unit. */
  readonly dropConnection: number;
  readonly partition: number;
  readonly heal: number;
  readonly crash: number;
  readonly restart: number;
  /** Crash every server at once (power loss). */
  readonly power: number;
  /** Per Ready: crash somewhere inside the shell's execution of it. */
  readonly crashInReady: number;
  /** Per time unit: a client request to a random live server. */
  readonly request: number;
  /** Per time unit: the disk flushes appends written without fsync (ack-before-fsync). */
  readonly backgroundFlush: number;
}

export const defaultFaults: FaultRates = {
  dropConnection: 0.002,
  partition: 0.001,
  heal: 0.004,
  crash: 0.001,
  restart: 0.004,
  power: 0.0002,
  crashInReady: 0.002,
  request: 0.06,
  backgroundFlush: 0.02,
};

export interface SimOptions {
  readonly seed: number;
  readonly servers: number;
  /** Time units with faults and load (a tick is `tickEvery` units). */
  readonly faultUnits: number;
  /** Time units allowed for convergence after healing. */
  readonly stabiliseUnits: number;
  readonly bugs?: readonly PlantedBug[];
  readonly faults?: FaultRates;
}

export interface SimStats {
  delivered: number;
  acked: number;
  crashes: number;
  elections: number;
  maxEpoch: number;
}

export class InvariantViolation extends Error {
  override name = 'InvariantViolation';
}

const tickEvery = 10;
const maxDelayUnits = 15;

interface Disk {
  acceptedEpoch: number;
  currentEpoch: number;
  log: Txn[];
  /** Appended without fsync (deferSync); lost on crash until flushed. */
  unsynced: Txn[];
}

interface Node {
  readonly id: ServerId;
  peer: ZabPeer | undefined;
  readonly disk: Disk;
  incarnation: number;
  delivered: Txn[];
  tickPhase: number;
  nextSeq: number;
}

interface InFlight {
  readonly deliverAt: number;
  readonly message: Message;
}

function txnKey(t: Txn): string {
  return `${t.originServer}/${t.originSession}/${t.originSeq}`;
}

export class Sim {
  readonly nodes: Node[] = [];
  readonly stats: SimStats = { delivered: 0, acked: 0, crashes: 0, elections: 0, maxEpoch: 0 };
  private readonly prng: Prng;
  private readonly ids: ServerId[];
  private readonly links = new Map<string, InFlight[]>();
  private readonly blocked = new Set<string>();
  private now = 0;
  /** The longest committed sequence delivered by any server incarnation. */
  private readonly reference: Txn[] = [];
  private readonly epochLeader = new Map<number, ServerId>();
  private readonly acked = new Map<string, Zxid>();
  private readonly failed = new Set<string>();
  private readonly faults: FaultRates;
  private readonly bugs: ReadonlySet<PlantedBug>;
  private faultsOn = true;
  readonly trace: string[] = [];

  constructor(private readonly options: SimOptions) {
    this.prng = createPrng(options.seed);
    this.faults = options.faults ?? defaultFaults;
    this.bugs = new Set(options.bugs ?? []);
    this.ids = Array.from({ length: options.servers }, (_, i) => i + 1);
    for (const id of this.ids) {
      const node: Node = {
        id, peer: undefined, disk: { acceptedEpoch: 0, currentEpoch: 0, log: [], unsynced: [] },
        incarnation: 0, delivered: [], tickPhase: this.prng.int(tickEvery), nextSeq: 0,
      };
      this.nodes.push(node);
    }
    for (const node of this.nodes) this.start(node);
  }

  private fail(message: string): never {
    const tail = this.trace.slice(-40).join('\n');
    throw new InvariantViolation(`SEED=${this.options.seed} t=${this.now}: ${message}\n--- last events ---\n${tail}`);
  }

  private note(text: string): void {
    this.trace.push(`${this.now} ${text}`);
    if (this.trace.length > 400) this.trace.splice(0, 200);
  }

  // ------------------------------------------------------------------ node lifecycle

  private start(node: Node): void {
    node.incarnation++;
    node.delivered = [];
    const durable: DurableState = {
      acceptedEpoch: node.disk.acceptedEpoch, currentEpoch: node.disk.currentEpoch, log: [...node.disk.log],
    };
    node.peer = new ZabPeer(
      { id: node.id, servers: this.ids, timing: simTiming, bugs: this.bugs },
      durable,
      this.prng.fork(),
    );
    this.note(`start ${node.id} inc=${node.incarnation} log=${formatZxid(lastOf(node.disk.log))} a=${node.disk.acceptedEpoch} c=${node.disk.currentEpoch}`);
    this.drain(node);
  }

  private crash(node: Node): void {
    if (node.peer === undefined) return;
    node.peer = undefined;
    node.disk.unsynced = [];
    this.stats.crashes++;
    this.note(`crash ${node.id}`);
    for (const other of this.nodes) if (other !== node) this.cutLink(node.id, other.id);
  }

  private cutLink(a: ServerId, b: ServerId): void {
    this.links.delete(`${a}>${b}`);
    this.links.delete(`${b}>${a}`);
    const na = this.node(a), nb = this.node(b);
    if (na.peer !== undefined) this.input(na, { kind: 'disconnected', peer: b });
    if (nb.peer !== undefined) this.input(nb, { kind: 'disconnected', peer: a });
  }

  private node(id: ServerId): Node {
    return this.nodes[id - 1]!;
  }

  // ------------------------------------------------------------------ the shell: Ready/advance

  private input(node: Node, input: Input): void {
    const peer = node.peer;
    if (peer === undefined) return;
    peer.step(input);
    this.drain(node);
  }

  private drain(node: Node): void {
    while (node.peer !== undefined && node.peer.hasReady()) {
      const peer = node.peer;
      const ready = peer.ready();
      if (!this.execute(node, ready)) return; // crashed inside
      peer.advance(ready);
      this.checkNode(node);
    }
    if (node.peer !== undefined) this.checkNode(node);
  }

  /** Executes one Ready in the order of types.ts; may crash at any point. Returns false if it crashed. */
  private execute(node: Node, ready: Ready): boolean {
    const crashAt = this.faultsOn && this.prng.next() < this.faults.crashInReady ? this.prng.int(6) : -1;
    for (const e of ready.events) {
      if (e.type === 'elected') this.stats.elections++;
      if (e.type !== 'rejected') this.note(`${node.id} ${JSON.stringify(e)}`);
    }
    if (crashAt === 0) return this.crashNow(node, 'before send');
    for (const env of ready.messages) this.send(node.id, env.to, env.message);
    if (crashAt === 1) return this.crashNow(node, 'after send');
    const disk = node.disk;
    if (ready.truncateAfter !== undefined || ready.append.length > 0) {
      let all = [...disk.log, ...disk.unsynced];
      if (ready.truncateAfter !== undefined) all = all.filter((t) => t.zxid <= ready.truncateAfter!);
      all.push(...ready.append);
      for (let i = 1; i < all.length; i++) {
        if (all[i - 1]!.zxid >= all[i]!.zxid) this.fail(`server ${node.id} log not strictly increasing at ${formatZxid(all[i]!.zxid)}`);
      }
      if (ready.deferSync) {
        const durableCount = Math.min(disk.log.length, all.length);
        disk.log = all.slice(0, durableCount);
        disk.unsynced = all.slice(durableCount);
      } else {
        disk.log = all;
        disk.unsynced = [];
      }
    }
    if (crashAt === 2) return this.crashNow(node, 'after log write');
    if (ready.acceptedEpoch !== undefined) disk.acceptedEpoch = ready.acceptedEpoch;
    if (crashAt === 3) return this.crashNow(node, 'after acceptedEpoch');
    if (ready.currentEpoch !== undefined) disk.currentEpoch = ready.currentEpoch;
    if (crashAt === 4) return this.crashNow(node, 'after currentEpoch');
    for (const env of ready.messagesAfterPersist) this.send(node.id, env.to, env.message);
    if (crashAt === 5) return this.crashNow(node, 'after messagesAfterPersist');
    for (const txn of ready.committed) this.deliver(node, txn);
    for (const reply of ready.clientReplies) {
      const key = `${node.id}/${reply.session}/${reply.seq}`;
      if (reply.type === 'ok') {
        const txn = node.delivered.find((t) => t.zxid === reply.zxid);
        if (txn === undefined || txnKey(txn) !== key) this.fail(`server ${node.id} acked ${key} at ${formatZxid(reply.zxid)} but delivered ${txn ? txnKey(txn) : 'nothing'} there`);
        this.acked.set(key, reply.zxid);
        this.stats.acked++;
      } else if (reply.type === 'fail') {
        this.failed.add(key);
      }
    }
    return true;
  }

  private crashNow(node: Node, where: string): false {
    this.note(`crash-in-ready ${node.id} ${where}`);
    this.crash(node);
    return false;
  }

  private deliver(node: Node, txn: Txn): void {
    const prev = node.delivered[node.delivered.length - 1];
    if (prev !== undefined && prev.zxid >= txn.zxid) this.fail(`server ${node.id} delivered ${formatZxid(txn.zxid)} after ${formatZxid(prev.zxid)}`);
    const pos = node.delivered.length;
    node.delivered.push(txn);
    this.stats.delivered++;
    const ref = this.reference[pos];
    if (ref === undefined) {
      this.reference.push(txn);
    } else if (ref.zxid !== txn.zxid || txnKey(ref) !== txnKey(txn)) {
      this.fail(`prefix inconsistency: server ${node.id} inc ${node.incarnation} delivered #${pos} = ${formatZxid(txn.zxid)} ${txnKey(txn)}, another server delivered ${formatZxid(ref.zxid)} ${txnKey(ref)}`);
    }
  }

  private checkNode(node: Node): void {
    const s = node.peer!.status();
    this.stats.maxEpoch = Math.max(this.stats.maxEpoch, s.currentEpoch);
    if (s.state === 'leading' && s.phase === 'broadcast') {
      const other = this.epochLeader.get(s.currentEpoch);
      if (other !== undefined && other !== node.id) this.fail(`two leaders in broadcast for epoch ${s.currentEpoch}: ${other} and ${node.id}`);
      this.epochLeader.set(s.currentEpoch, node.id);
    }
  }

  // ------------------------------------------------------------------ network

  private send(from: ServerId, to: ServerId, message: Message): void {
    if (this.blocked.has(pairKey(from, to))) return;
    if (this.node(to).peer === undefined) return;
    const key = `${from}>${to}`;
    let queue = this.links.get(key);
    if (queue === undefined) {
      queue = [];
      this.links.set(key, queue);
    }
    const last = queue[queue.length - 1];
    const at = Math.max(this.now + 1 + this.prng.int(maxDelayUnits), last?.deliverAt ?? 0);
    queue.push({ deliverAt: at, message });
  }

  private deliverDue(): void {
    const keys = [...this.links.keys()];
    // random order across links, FIFO within a link
    for (let i = keys.length - 1; i > 0; i--) {
      const j = this.prng.int(i + 1);
      [keys[i], keys[j]] = [keys[j]!, keys[i]!];
    }
    for (const key of keys) {
      const queue = this.links.get(key);
      if (queue === undefined) continue;
      const [from, to] = key.split('>').map(Number) as [number, number];
      while (queue.length > 0 && queue[0]!.deliverAt <= this.now && this.links.get(key) === queue) {
        const { message } = queue.shift()!;
        this.input(this.node(to), { kind: 'message', from, message });
      }
    }
  }

  // ------------------------------------------------------------------ the run

  private unit(): void {
    this.now++;
    this.deliverDue();
    for (const node of this.nodes) {
      if (node.peer !== undefined && (this.now + node.tickPhase) % tickEvery === 0) {
        this.input(node, { kind: 'tick' });
        if (node.disk.unsynced.length > 0 && this.prng.next() < this.faults.backgroundFlush * tickEvery) {
          node.disk.log.push(...node.disk.unsynced);
          node.disk.unsynced = [];
        }
      }
    }
    if (!this.faultsOn) return;
    const f = this.faults;
    const r = this.prng;
    if (r.next() < f.request) {
      const live = this.nodes.filter((n) => n.peer !== undefined);
      if (live.length > 0) {
        const node = live[r.int(live.length)]!;
        const seq = node.nextSeq++;
        const session = `s${node.incarnation}`;
        this.input(node, { kind: 'request', request: { session, seq, data: new TextEncoder().encode(`${node.id}.${session}.${seq}`) } });
      }
    }
    if (r.next() < f.dropConnection) {
      const a = this.ids[r.int(this.ids.length)]!, b = this.ids[r.int(this.ids.length)]!;
      if (a !== b) {
        this.note(`drop ${a}-${b}`);
        this.cutLink(a, b);
      }
    }
    if (this.blocked.size === 0 && r.next() < f.partition) {
      const side = new Set(this.ids.filter(() => r.next() < 0.5));
      this.note(`partition ${[...side].join(',')} | ${this.ids.filter((i) => !side.has(i)).join(',')}`);
      for (const a of this.ids) for (const b of this.ids) {
        if (a < b && side.has(a) !== side.has(b)) {
          this.blocked.add(pairKey(a, b));
          this.cutLink(a, b);
        }
      }
    } else if (this.blocked.size > 0 && r.next() < f.heal) {
      this.note('heal');
      this.blocked.clear();
    }
    if (r.next() < f.crash) {
      const node = this.nodes[r.int(this.nodes.length)]!;
      this.crash(node);
    }
    if (r.next() < f.power) {
      this.note('power loss');
      for (const node of this.nodes) this.crash(node);
    }
    for (const node of this.nodes) {
      if (node.peer === undefined && r.next() < f.restart) this.start(node);
    }
  }

  /** Runs the whole schedule; throws InvariantViolation (message starts with SEED=n) on any violation. */
  run(): SimStats {
    for (let i = 0; i < this.options.faultUnits; i++) this.unit();
    this.faultsOn = false;
    this.blocked.clear();
    this.note('heal all, restart all');
    for (const node of this.nodes) if (node.peer === undefined) this.start(node);
    let converged = false;
    for (let i = 0; i < this.options.stabiliseUnits && !converged; i++) {
      this.unit();
      if (i % 20 === 0) converged = this.convergence() === undefined;
    }
    const problem = this.convergence();
    if (problem !== undefined) this.fail(`not converged after healing: ${problem}`);
    // The shell flushes appends written without fsync eventually (ack-before-fsync).
    for (const node of this.nodes) {
      node.disk.log.push(...node.disk.unsynced);
      node.disk.unsynced = [];
    }
    this.checkFinal();
    return this.stats;
  }

  private convergence(): string | undefined {
    const statuses = this.nodes.map((n) => n.peer!.status());
    const leaders = statuses.filter((s) => s.state === 'leading');
    if (leaders.length !== 1) return `${leaders.length} leaders: ${JSON.stringify(statuses)}`;
    const leader = leaders[0]!;
    for (const s of statuses) {
      if (s.phase !== 'broadcast' || s.leader !== leader.id) return `server ${s.id} is ${s.state}/${s.phase} (leader ${s.leader})`;
      if (s.lastZxid !== leader.lastZxid || s.commitZxid !== s.lastZxid) return `server ${s.id} last ${formatZxid(s.lastZxid)} commit ${formatZxid(s.commitZxid)} vs leader ${formatZxid(leader.lastZxid)}`;
    }
    return undefined;
  }

  private checkFinal(): void {
    const leaderNode = this.nodes.find((n) => n.peer!.status().state === 'leading')!;
    const finalLog = leaderNode.disk.log;
    for (const node of this.nodes) {
      const log = node.disk.log;
      if (log.length !== finalLog.length || log.some((t, i) => t.zxid !== finalLog[i]!.zxid || txnKey(t) !== txnKey(finalLog[i]!))) {
        this.fail(`server ${node.id} durable log differs from the leader's`);
      }
      if (node.delivered.length !== log.length) this.fail(`server ${node.id} delivered ${node.delivered.length} of ${log.length} log entries`);
    }
    if (this.reference.length > finalLog.length) this.fail(`a server delivered ${this.reference.length} txns, the converged log has ${finalLog.length}`);
    const byKey = new Map(finalLog.map((t) => [txnKey(t), t.zxid]));
    for (const [key, zxid] of this.acked) {
      if (byKey.get(key) !== zxid) this.fail(`acknowledged ${key} at ${formatZxid(zxid)} missing from the converged log`);
    }
    for (const key of this.failed) if (byKey.has(key)) this.fail(`request ${key} answered 'fail' was delivered`);
  }
}

function pairKey(a: ServerId, b: ServerId): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

function lastOf(log: readonly Txn[]): Zxid {
  return log.length === 0 ? 0 : log[log.length - 1]!.zxid;
}

export function runSim(options: SimOptions): SimStats {
  return new Sim(options).run();
}
