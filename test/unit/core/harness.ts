/**
 * A deterministic, hand-driven cluster of ZabPeer cores for transcript tests (testdata/*.txt).
 * Links are FIFO queues that only move when a command says so; the shell's Ready order of
 * types.ts is executed here, with optional crash points inside it.
 *
 * The commands (add-peers, tick, deliver, stabilize, propose, ...) and how to replay or write a
 * transcript: docs/TESTING.md, "Core transcripts".
 */
import { describeEvent, describeReady } from '../../../src/core/describe.js';
import { describeData, describeMessage } from '../../../src/core/messages.js';
import { ZabPeer } from '../../../src/core/peer.js';
import { createPrng } from '../../../src/core/prng.js';
import type { Input, Message, PlantedBug, Ready, ServerId, Timing, Txn } from '../../../src/core/types.js';
import { formatZxid, type Zxid } from '../../../src/core/zxid.js';
import { DiskLogStore, emptyDisk, ReadyExecution, recoverDisk, type MemoryDisk, type ReadyCrashPoint } from './ready-executor.js';

export const transcriptTiming: Timing = {
  initLimitTicks: 20, syncLimitTicks: 10, finalizeWaitTicks: 2, notificationResendTicks: 4, pingIntervalTicks: 2,
};

const crashPoints = ['before-persist', 'after-log', 'after-accepted-epoch', 'after-current-epoch', 'after-persist'] as const;
type CrashPoint = (typeof crashPoints)[number];
/** The transcript's crash points on the shared executor's (a crash here is a kill -9: the page cache survives). */
const executorPoint: Record<CrashPoint, ReadyCrashPoint> = {
  'before-persist': 'before-persist',
  'after-log': 'after-fsync',
  'after-accepted-epoch': 'after-accepted-epoch',
  'after-current-epoch': 'after-current-epoch',
  'after-persist': 'after-persist',
};

interface Node {
  readonly id: ServerId;
  peer: ZabPeer | undefined;
  disk: MemoryDisk;
  incarnation: number;
  seq: number;
  armed: { point: CrashPoint; when: keyof Ready; inflight: boolean } | undefined;
}

const z = formatZxid;

export class Cluster {
  readonly nodes = new Map<ServerId, Node>();
  private readonly links = new Map<string, Message[]>();
  private readonly blocked = new Set<string>();
  private ids: ServerId[] = [];
  private bugs: ReadonlySet<PlantedBug> = new Set();
  /** add-peers sync-chunk=B: the cores' syncChunkBytes (default: the core's own). */
  private syncChunkBytes: number | undefined = undefined;
  /** add-peers epoch-ends=N: the cores' maxEpochEnds (default: the core's own). */
  private maxEpochEnds: number | undefined = undefined;
  /** add-peers drain=manual: a Ready's awaitDrain is printed and waits for a `drained` command. */
  private manualDrain = false;
  private out: string[] = [];
  private readyTrace = false;
  /** Print every message sent (deliver prints what it delivers regardless). */
  private showPing = false;
  /** Set during `stabilize summary=on`. */
  private summary: Map<ServerId, { delivered: string[]; replies: Map<string, number> }> | undefined = undefined;

  run(command: string): string {
    this.out = [];
    const [name, ...args] = command.trim().split(/\s+/);
    const kv = new Map(args.filter((a) => a.includes('=')).map((a) => a.split('=') as [string, string]));
    const pos = args.filter((a) => !a.includes('='));
    switch (name) {
      case 'add-peers': {
        const n = Number(pos[0]);
        this.ids = Array.from({ length: n }, (_, i) => i + 1);
        this.bugs = new Set((kv.get('bugs') ?? '').split(',').filter((b) => b !== '') as PlantedBug[]);
        this.syncChunkBytes = kv.has('sync-chunk') ? Number(kv.get('sync-chunk')) : undefined;
        this.manualDrain = kv.get('drain') === 'manual';
        this.maxEpochEnds = kv.has('epoch-ends') ? Number(kv.get('epoch-ends')) : undefined;
        for (const id of this.ids) {
          this.nodes.set(id, { id, peer: undefined, disk: emptyDisk(), incarnation: 0, seq: 0, armed: undefined });
        }
        for (const id of this.ids) this.start(this.node(id));
        break;
      }
      case 'tick': {
        const times = Number(kv.get('n') ?? 1);
        const targets = pos.length > 0 ? pos.map(Number) : this.ids;
        for (let i = 0; i < times; i++) for (const id of targets) this.input(this.node(id), { kind: 'tick' });
        break;
      }
      case 'drained': this.input(this.node(Number(pos[0])), { kind: 'drained', peer: Number(pos[1]) }); break;
      case 'deliver': this.deliver(pos.length >= 2 ? [Number(pos[0]), Number(pos[1])] : undefined, kv.has('n') ? Number(kv.get('n')) : undefined); break;
      case 'stabilize': {
        // summary=on: deliveries and client replies are counted per node instead of printed
        this.summary = kv.get('summary') === 'on' ? new Map() : undefined;
        this.stabilize(Number(kv.get('ticks') ?? 200));
        for (const [id, { delivered, replies }] of [...(this.summary ?? new Map<ServerId, { delivered: string[]; replies: Map<string, number> }>())].sort((a, b) => a[0] - b[0])) {
          const firstLast = delivered.length === 0 ? '' : ` (${delivered[0]} .. ${delivered[delivered.length - 1]})`;
          const answered = [...replies].map(([type, n]) => `${n} ${type}`).join(', ');
          this.out.push(`${id}: delivered ${delivered.length}${firstLast}${answered === '' ? '' : `; replies: ${answered}`}`);
        }
        this.summary = undefined;
        break;
      }
      case 'propose': {
        const node = this.node(Number(pos[0]));
        const session = `c${node.id}.${node.incarnation}`;
        // n=N: N requests of the same session, named <name>1 .. <name>N
        const count = kv.has('n') ? Number(kv.get('n')) : undefined;
        for (let i = 1; i <= (count ?? 1); i++) {
          const data = new TextEncoder().encode(count === undefined ? (pos[1] ?? 'x') : `${pos[1] ?? 'x'}${i}`);
          this.input(node, { kind: 'request', request: { session, seq: node.seq++, data } });
        }
        break;
      }
      case 'partition': {
        const bar = pos.indexOf('|');
        const left = pos.slice(0, bar).map(Number), right = pos.slice(bar + 1).map(Number);
        this.out.push(`partition ${left.join(',')} | ${right.join(',')}`);
        for (const a of left) for (const b of right) {
          this.blocked.add(pair(a, b));
          this.cut(a, b);
        }
        break;
      }
      case 'heal': this.blocked.clear(); this.out.push('healed'); break;
      case 'drop': this.cut(Number(pos[0]), Number(pos[1])); break;
      case 'crash': this.crash(this.node(Number(pos[0])), kv.get('inflight') === 'deliver'); break;
      case 'restart': this.start(this.node(Number(pos[0]))); break;
      case 'crash-at': {
        const point = pos[1] as CrashPoint;
        if (!crashPoints.includes(point)) throw new Error(`unknown crash point ${point}`);
        this.node(Number(pos[0])).armed = { point, when: (kv.get('when') ?? 'currentEpoch') as keyof Ready, inflight: kv.get('inflight') === 'deliver' };
        this.out.push(`armed ${pos[0]} ${point} on the next Ready with ${kv.get('when') ?? 'currentEpoch'}`);
        break;
      }
      case 'ready-trace': this.readyTrace = pos[0] === 'on'; break;
      case 'show-ping': this.showPing = pos[0] === 'on'; break;
      case 'state': for (const id of this.ids) this.out.push(this.stateLine(this.node(id))); break;
      case 'log': {
        const targets = pos.length > 0 ? pos.map(Number) : this.ids;
        for (const id of targets) {
          const node = this.node(id);
          const commit = node.peer?.status().commitZxid;
          this.out.push(`${id}: ${elide(node.disk.written.map((t) => `${z(t.zxid)}:${describeData(t.data)}`)).join(' ') || '(empty)'}${commit === undefined ? '' : ` | commit=${z(commit)}`}`);
        }
        break;
      }
      default: throw new Error(`unknown command ${name}`);
    }
    return this.out.length === 0 ? 'ok' : this.out.join('\n');
  }

  private node(id: ServerId): Node {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no server ${id}`);
    return node;
  }

  private stateLine(node: Node): string {
    if (node.peer === undefined) return `${node.id}: down a=${node.disk.acceptedEpoch} c=${node.disk.currentEpoch} last=${z(last(node.disk.written))}`;
    const s = node.peer.status();
    return `${s.id}: ${s.state}/${s.phase} leader=${s.leader ?? '-'} a=${s.acceptedEpoch} c=${s.currentEpoch} last=${z(s.lastZxid)} commit=${z(s.commitZxid)}`;
  }

  private start(node: Node): void {
    node.incarnation++;
    node.seq = 0;
    this.out.push(`${node.id}: start a=${node.disk.acceptedEpoch} c=${node.disk.currentEpoch} last=${z(last(node.disk.written))}`);
    recoverDisk(node.disk, true);
    const chunk = this.syncChunkBytes === undefined ? {} : { syncChunkBytes: this.syncChunkBytes };
    const ends = this.maxEpochEnds === undefined ? {} : { maxEpochEnds: this.maxEpochEnds };
    node.peer = new ZabPeer({ id: node.id, servers: this.ids, timing: transcriptTiming, bugs: this.bugs, ...chunk, ...ends },
      { acceptedEpoch: node.disk.acceptedEpoch, currentEpoch: node.disk.currentEpoch, log: new DiskLogStore(node.disk) },
      createPrng(node.id * 1000 + node.incarnation));
    this.drain(node);
  }

  /** `inflight`: bytes already sent by the crashed server still arrive (before the connection closes). */
  private crash(node: Node, inflight = false): void {
    if (node.peer === undefined) return;
    node.peer = undefined;
    this.out.push(`${node.id}: crashed`);
    if (inflight) for (const id of this.ids) if (id !== node.id) this.deliver([node.id, id], undefined);
    for (const id of this.ids) if (id !== node.id) {
      this.links.delete(`${node.id}>${id}`);
      this.links.delete(`${id}>${node.id}`);
      this.input(this.node(id), { kind: 'disconnected', peer: node.id });
    }
  }

  private cut(a: ServerId, b: ServerId): void {
    this.links.delete(`${a}>${b}`);
    this.links.delete(`${b}>${a}`);
    this.input(this.node(a), { kind: 'disconnected', peer: b });
    this.input(this.node(b), { kind: 'disconnected', peer: a });
  }

  private input(node: Node, input: Input): void {
    if (node.peer === undefined) return;
    node.peer.step(input);
    this.drain(node);
  }

  private drain(node: Node): void {
    while (node.peer?.hasReady()) {
      const peer = node.peer;
      const ready = peer.ready();
      if (!this.execute(node, ready)) return;
      peer.advance(ready);
      // The harness's links take any amount at once: what was sent has left (drain=manual: when a command says so).
      for (const to of ready.awaitDrain) {
        if (this.manualDrain) this.out.push(`${node.id}: awaits drained ${to}`);
        else peer.step({ kind: 'drained', peer: to });
      }
    }
  }

  private execute(node: Node, r: Ready): boolean {
    const id = node.id;
    for (const e of r.events) this.out.push(`${id}: ${describeEvent(e)}`);
    if (this.readyTrace && (r.append.length > 0 || r.truncateAfter !== undefined || r.acceptedEpoch !== undefined || r.currentEpoch !== undefined || r.messagesAfterPersist.length > 0)) {
      this.out.push(`${id}: ready ${describeReady(r)}`);
    }
    const armed = node.armed !== undefined && isSet(r[node.armed.when]) ? node.armed.point : undefined;
    const execution = new ReadyExecution(r, node.disk, {
      send: (e) => this.send(id, e.to, e.message),
      deliver: (committed) => {
        const summary = this.summaryOf(id);
        if (summary !== undefined) summary.delivered.push(...committed.map((t) => `${z(t.zxid)}:${describeData(t.data)}`));
        else if (committed.length > 0) this.out.push(`${id}: deliver ${elide(committed.map((t) => `${z(t.zxid)}:${describeData(t.data)}`)).join(' ')}`);
      },
      reply: (replies) => {
        const summary = this.summaryOf(id);
        if (summary !== undefined) {
          for (const c of replies) summary.replies.set(c.type, (summary.replies.get(c.type) ?? 0) + 1);
          return;
        }
        for (const line of elide(replies.map((c) => `${id}: reply ${c.session}#${c.seq} ${c.type}${c.type === 'ok' ? ` ${z(c.zxid)}` : ` (${c.reason})`}`))) this.out.push(line);
      },
      crash: () => {
        const inflight = node.armed!.inflight;
        node.armed = undefined;
        this.out.push(`${id}: crash ${armed!}`);
        this.crash(node, inflight);
      },
    }, armed === undefined ? undefined : executorPoint[armed], false);
    return execution.run();
  }

  private send(from: ServerId, to: ServerId, m: Message): void {
    if (this.blocked.has(pair(from, to)) || this.nodes.get(to)?.peer === undefined) return;
    const key = `${from}>${to}`;
    const q = this.links.get(key) ?? [];
    q.push(m);
    this.links.set(key, q);
  }

  private pending(): number {
    let n = 0;
    for (const q of this.links.values()) n += q.length;
    return n;
  }

  /** Delivers what is queued now (on one link, or all links in id order); new messages wait. */
  private deliver(link: [ServerId, ServerId] | undefined, limit: number | undefined, quiet = false): void {
    const keys = link ? [`${link[0]}>${link[1]}`] : [...this.links.keys()].sort();
    const batches = keys.map((k) => [k, [...(this.links.get(k) ?? [])]] as const);
    const fresh = new Map<string, Message[]>();
    for (const k of keys) {
      const q: Message[] = [];
      fresh.set(k, q);
      this.links.set(k, q);
    }
    for (const [key, batch] of batches) {
      const [from, to] = key.split('>').map(Number) as [number, number];
      let count = 0;
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i]!;
        if (limit !== undefined && count >= limit) {
          // put the rest back, ahead of anything sent meanwhile
          this.links.set(key, [...batch.slice(i), ...(this.links.get(key) ?? [])]);
          break;
        }
        count++;
        if (!quiet && (this.showPing || (m.type !== 'PING' && m.type !== 'PONG'))) this.out.push(`${from}->${to} ${describeMessage(m)}`);
        if (this.links.get(key) !== fresh.get(key)) break; // link cut meanwhile: the rest is lost
        this.input(this.node(to), { kind: 'message', from, message: m });
      }
    }
  }

  private converged(): boolean {
    const live = this.ids.map((id) => this.node(id)).filter((n) => n.peer !== undefined);
    const leaders = live.filter((n) => n.peer!.status().state === 'leading' && n.peer!.status().phase === 'broadcast');
    if (leaders.length !== 1) return false;
    const leader = leaders[0]!.peer!.status();
    for (const n of live) {
      if (this.blocked.has(pair(n.id, leader.id))) continue;
      const s = n.peer!.status();
      if (s.phase !== 'broadcast' || s.leader !== leader.id || s.lastZxid !== leader.lastZxid || s.commitZxid !== s.lastZxid) return false;
    }
    return true;
  }

  /** Deliver everything, tick when the network is quiet, until converged or `ticks` ticks passed. Prints events only. */
  private summaryOf(id: ServerId): { delivered: string[]; replies: Map<string, number> } | undefined {
    if (this.summary === undefined) return undefined;
    let entry = this.summary.get(id);
    if (entry === undefined) this.summary.set(id, (entry = { delivered: [], replies: new Map() }));
    return entry;
  }

  private stabilize(ticks: number): void {
    for (let t = 0; t <= ticks; t++) {
      for (let round = 0; round < 1000 && this.pending() > 0; round++) this.deliver(undefined, undefined, true);
      if (this.converged()) return;
      for (const id of this.ids) this.input(this.node(id), { kind: 'tick' });
    }
    this.out.push('not converged');
  }
}

/** Long runs (more than 12 items) print as the first 3, a count, and the last 3. */
function elide(items: readonly string[]): string[] {
  if (items.length <= 12) return [...items];
  return [...items.slice(0, 3), `... (${items.length - 6} more) ...`, ...items.slice(-3)];
}

function pair(a: ServerId, b: ServerId): string {
  return a < b ? `${a}-${b}` : `${b}-${a}`;
}

function last(log: readonly Txn[]): Zxid {
  return log.length === 0 ? 0 : log[log.length - 1]!.zxid;
}

function isSet(v: unknown): boolean {
  if (v === undefined || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}
