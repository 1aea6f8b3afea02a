/**
 * The testbed's small interfaces (Jepsen's): Db, Client, Net, Nemesis, Generator, Checker.
 * A test is a plain typed object built from them. The testbed reaches servers only through their
 * public ports, as a user would; nothing here imports from src/core or src/server.
 */

// ---------------------------------------------------------------------------------------------
// History (interfaces.md "History format")

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';
export type ProcessId = number | 'nemesis';

export interface Op {
  readonly index: number;
  /** Nanoseconds since the test started, monotonic. */
  readonly time: number;
  readonly process: ProcessId;
  readonly type: OpType;
  readonly f: string;
  /** The server a client operation went to (client operations only). */
  readonly node?: string;
  readonly value: unknown;
  readonly error?: string;
}

/** An event as the testbed records it: an Op before the history gives it its index and time. */
export type HistoryEvent = Omit<Op, 'index' | 'time'>;

/** Where the workload and the runner record events (run-test.ts adapts jepsen-style/history.ts HistoryWriter to it). */
export interface HistorySink {
  /** Record one event now; returns its history index. */
  append(event: HistoryEvent): number;
}

/** A delivered message as the workload sees it. */
export interface Delivery {
  readonly id: string;
  /** "0x" + hex. */
  readonly zxid: string;
}

// ---------------------------------------------------------------------------------------------
// Systems under test

export type SystemName = 'zabkit' | 'zookeeper';

/**
 * Limit: servers per cluster, for every system. Why 9: node names are n1..n9, and ports come in
 * lock-filed blocks sized for 9 nodes and their proxies (cluster/ports.ts).
 */
export const maxNodes = 9;

/** A bad node count for a cluster (a programmer's or user's error, before anything starts). */
export function assertNodeCount(nodes: number): void {
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > maxNodes) throw new RangeError(`nodes must be an integer from 1 to ${maxNodes}, got ${nodes}`);
}

/** One node of a running cluster, as the testbed knows it. */
export interface NodeInfo {
  /** "n1".."n9" */
  readonly name: string;
  readonly id: number;
  /** Where clients connect (directly, never through Toxiproxy). */
  readonly clientHost: string;
  readonly clientPort: number;
  readonly dataDir: string;
  readonly logFile: string;
}

export interface NodeStatus {
  readonly name: string;
  readonly pid: number | undefined;
  readonly alive: boolean;
  readonly paused: boolean;
  /** Answered a status request within the timeout. */
  readonly answers: boolean;
  readonly role: 'leading' | 'following' | 'looking' | 'unknown';
  readonly phase?: string;
  readonly epoch?: number;
  /** "0x" + hex */
  readonly lastZxid?: string;
  readonly commitZxid?: string;
}

export interface StartOptions {
  readonly jvmFlags?: readonly string[];
}

/** Start/stop/kill/pause a system under test (Jepsen's DB + Kill + Pause + Primary + LogFiles). */
export interface Db {
  readonly system: SystemName;
  nodes(): readonly NodeInfo[];
  /** Start every node and wait until a leader is elected and every node is in broadcast. */
  setup(signal?: AbortSignal): Promise<void>;
  /** Kill every process group; leave logs and data for the report. Never throws. */
  teardown(): Promise<void>;
  kill(node: string): Promise<void>;
  /**
   * Start a node that is down. `options.jvmFlags` (a scenario's): extra JVM options for this node
   * from now on, for systems that run on a JVM (ZooKeeper); others ignore them.
   */
  start(node: string, options?: StartOptions): Promise<void>;
  /** Optional: a graceful stop (SIGTERM, then SIGKILL after a grace period); absent, a stop is a kill. */
  stop?(node: string): Promise<void>;
  pause(node: string): Promise<void>;
  resume(node: string): Promise<void>;
  /** Current leader by the nodes' own status, if exactly one claims it. */
  leader(): Promise<string | undefined>;
  status(): Promise<NodeStatus[]>;
  /** Wait (bounded) until every live node answers and they agree on a leader. */
  awaitHealthy(timeoutMs: number): Promise<boolean>;
  /** Optional: kill several nodes at one instant (the power package); absent, kills run in parallel. */
  killMany?(names: readonly string[]): Promise<void>;
  /**
   * Optional, with a fault filesystem under every node's data (cluster/faultfs.ts): a real power
   * cut of `names`: killed -9 at one instant, then what their disks held unsynced is lost whole,
   * torn or reordered (`mode`, choices seeded by `seed`). Absent: the power package kills -9.
   */
  /** True when every node's data lives on a fault filesystem: then powerCut and diskFault work. */
  readonly faultFilesystem?: boolean;
  powerCut?(names: readonly string[], mode: PowerCutMode, seed: number): Promise<Record<string, { lostBytes: number; keptBytes: number }>>;
  /** Optional, with a fault filesystem: hold disk faults on a node's disk (`{}` heals them). */
  diskFault?(name: string, faults: DiskFaults): Promise<void>;
}

/** What a power cut does to the writes a disk holds unsynced: all lost, a prefix kept (torn), pages kept at random (reorder). */
export type PowerCutMode = 'lose' | 'torn' | 'reorder';
export const powerCutModes: readonly PowerCutMode[] = ['lose', 'torn', 'reorder'];

/** Disk faults a fault filesystem can hold; the empty object is a healthy disk. */
export interface DiskFaults {
  readonly fsyncDelayMs?: number;
  readonly fsyncStall?: boolean;
  readonly eio?: 'write' | 'fsync' | 'both';
  readonly enospc?: boolean;
}

/** A bad option or argument (a fault package name, a CLI flag): the CLI prints the message and exits 254. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Thrown by Client.broadcast when the message can never be delivered. */
export class DefiniteFailure extends Error {
  override name = 'DefiniteFailure';
}
/** Thrown by Client.broadcast when the message may or may not be delivered. */
export class UnknownOutcome extends Error {
  override name = 'UnknownOutcome';
}

/** One worker's connection to one node. */
export interface Client {
  readonly node: string;
  /** Resolves with the zxid once committed; throws DefiniteFailure or UnknownOutcome. */
  broadcast(id: string, signal?: AbortSignal): Promise<{ zxid: string }>;
  /** Follow the node's deliveries after `fromZxid` (exclusive), in order. */
  subscribe(fromZxid: string | undefined, onDeliver: (delivery: Delivery) => void, onError: (error: Error) => void): void;
  /** The node's whole delivered sequence (after a sync, for systems that need one). */
  read(signal?: AbortSignal): Promise<Delivery[]>;
  close(): Promise<void>;
}

export interface ClientFactory {
  open(node: NodeInfo): Promise<Client>;
}

// ---------------------------------------------------------------------------------------------
// Network (Toxiproxy, one proxy per directed link)

export type CutMode = 'silent' | 'refuse';

export interface Net {
  /** Drop everything sent from `from` to `to` (one direction). */
  cut(from: string, to: string, mode: CutMode): Promise<void>;
  /** Delay every byte on the link from -> to. */
  latency(from: string, to: string, latencyMs: number, jitterMs: number): Promise<void>;
  bandwidth(from: string, to: string, rateKBps: number): Promise<void>;
  /** Reset connections on the link (mid-stream RST). */
  reset(from: string, to: string, timeoutMs: number): Promise<void>;
  slice(from: string, to: string, averageSize: number, sizeVariation: number, delayUs: number): Promise<void>;
  /** Remove every toxic and re-enable every proxy; recreates wedged proxies. Never throws. */
  healAll(): Promise<void>;
}

/** A Net (with optional capabilities) that can also undo one kind of fault on one directed link (cluster/net.ts ToxiproxyNet). */
export interface HealableNet extends Net {
  heal(from: string, to: string, kind: 'cut' | 'latency' | 'bandwidth' | 'reset' | 'slice'): Promise<void>;
  /**
   * Latency whose queued bytes a later cut of the link drops too (cluster/net.ts). Absent: plain
   * latency, under which a cut lets the one chunk each latency toxic is holding through.
   */
  sealedLatency?(from: string, to: string, latencyMs: number, jitterMs: number): Promise<void>;
  /** What the last healAll could not repair (healAll never throws); absent: it always heals. */
  healFailures?(): readonly string[];
}

/** A Net with no links: every fault is refused, healing does nothing (a Db without proxies). */
export const noopNet: HealableNet = {
  cut: () => Promise.reject(new Error('this net has no links to fault')),
  latency: () => Promise.reject(new Error('this net has no links to fault')),
  bandwidth: () => Promise.reject(new Error('this net has no links to fault')),
  reset: () => Promise.reject(new Error('this net has no links to fault')),
  slice: () => Promise.reject(new Error('this net has no links to fault')),
  heal: () => Promise.resolve(),
  healAll: () => Promise.resolve(),
};

// ---------------------------------------------------------------------------------------------
// Nemesis and generators

export interface NemesisEvent {
  readonly f: string;
  readonly value: unknown;
}

export interface Nemesis {
  /** Start one fault (an op with f and value); returns what actually happened, for the history. */
  invoke(op: NemesisEvent): Promise<NemesisEvent>;
  /** Heal everything this nemesis can have broken: resume, restart, heal the network. */
  healAll(): Promise<NemesisEvent[]>;
}

/** A nemesis that breaks nothing (`--nemesis none` needs no other): each op is recorded as asked. */
export const noopNemesis: Nemesis = {
  invoke: (op) => Promise.resolve(op),
  healAll: () => Promise.resolve([]),
};

/** Watches the testbed's own parts (Toxiproxy) during a run. */
export interface TestbedSupervisor {
  /** Each event is recorded in the history as {process: 'nemesis', type: 'info', f, value, error?}. */
  onEvent(listener: (event: { f: string; value: unknown; error?: string }) => void): void;
  /** Set once the testbed cannot be restored: the cause in one line. The run then ends as crashed (exit 255). */
  fatal(): string | undefined;
  /** Stop watching (before teardown, so stopping Toxiproxy is not mistaken for a crash). */
  stop(): void;
}

/** Three-valued validity, merged false > unknown > true. */
export type Validity = true | false | 'unknown';

export interface AnomalyReport {
  readonly count: number;
  /** Each example cites history `index` values. */
  readonly examples: readonly unknown[];
}

export interface CheckResult {
  readonly valid: Validity;
  readonly anomalies: Record<string, AnomalyReport>;
  readonly stats: Record<string, unknown>;
  readonly error?: string;
}

export interface Checker {
  check(history: readonly Op[]): CheckResult;
}

/** A checker that decides nothing: "unknown", never a pass. */
export const noopChecker: Checker = {
  check: () => ({ valid: 'unknown', anomalies: {}, stats: {}, error: 'no checker' }),
};
