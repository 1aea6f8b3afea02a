/**
 * One chaos run (`zabkit test`): cluster up behind Toxiproxy, workload + nemesis on a seeded
 * schedule, heal, Jepsen's final phase (every node must acknowledge a probe broadcast within
 * `finalPhaseMs` of the `final-phase` marker, or the checker reports `unavailable`), a bounded quiet
 * period until the nodes converge, a final read of every node, check, report, teardown. Phases
 * follow Jepsen's canonical test shape (jepsen-anchors.md §1.2), with etcd's guards against a run
 * that proves nothing: the cluster must be healthy before faults, traffic must flow when they land,
 * and a minimum rate must be reached; otherwise the verdict is "unknown", never "valid".
 *
 * With a `Script` (a scenario, `--scenario`), its exact steps replace the warm-up, the random
 * schedule and the background workload; a precondition it reports unmet is a guard (unknown).
 *
 * The testbed supervisor's events (Toxiproxy lost, restored) go into the history; once it reports
 * the testbed beyond repair (`fatal()`), the run heals what it can, skips the rest and ends crashed.
 * Everything the run records is timed on one clock: the history's (`RunDeps.history.now`).
 */
import { writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { createPrng } from '../src/core/prng.js';
import { type CheckResult, type Client, type Db, type NemesisEvent, type Nemesis, type NodeInfo, type Validity, type ClientFactory, type Delivery, type HistorySink, type TestbedSupervisor, type NodeStatus } from './types.js';
import { openWithin, recordBroadcast, Workload, type WorkloadCounters } from './workload.js';
import { sleep, withTimeout } from './async.js';
import { describeNodeStatus, nodeStatusF, packageOps } from './vocabulary.js';

export interface TestOptions {
  readonly name: string;
  readonly system: 'zabkit' | 'zookeeper';
  readonly nodes: number;
  readonly timeLimitSeconds: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly nemesis: readonly string[];
  readonly nemesisIntervalSeconds: number;
  readonly seed: number;
  readonly store: string;
  readonly bug: string | undefined;
  readonly toxiproxyUrl: string | undefined;
  /** Fault-free traffic before the first fault (guard: traffic must flow). */
  readonly warmupSeconds: number;
  /** Longest wait for convergence after healing. */
  readonly recoverySeconds: number;
  /** During the fault phase, also read a random node's whole delivered sequence now and then. */
  readonly readsDuringRun?: boolean;
}

/** A scheduled fault: at `atMs` after the fault phase starts, invoke `op`. */
export interface ScheduledFault {
  readonly atMs: number;
  readonly op: NemesisEvent;
}

/** What a scripted run (a scenario, faults/scenario.ts) gets from the runner. */
export interface ScriptContext {
  readonly history: HistorySink;
  /** Aborts when the testbed fails (the run is crashed). */
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  /**
   * Broadcast `count` messages (ids `<label>-<k>`) to `node`, up to 8 in flight on separate
   * processes, each recorded in the history like any client's; bounded by `timeoutMs` in all.
   */
  write(node: string, count: number, timeoutMs: number, label: string): Promise<{ ok: number; fail: number; info: number }>;
  /**
   * Deal one op of the random nemesis (a fault's start or its end), recorded as the random runs
   * record it (the op, then what it did, or the op with `error`); bounded like theirs.
   */
  invoke(op: NemesisEvent): Promise<NemesisResult>;
}

/** What a nemesis op did (its completion), or why it could not. */
export type NemesisResult = { readonly done: NemesisEvent; readonly error?: undefined } | { readonly done?: undefined; readonly error: string };

export interface ScriptOutcome {
  /** Set when a precondition did not hold: the run ends `unknown` with this reason (unless the checker finds an anomaly). */
  readonly unmet?: string;
  /** Set when the testbed could not do a step (its marker carries `error`): `unknown` as well. */
  readonly failed?: string;
}

/** An exact fault choreography that replaces the random schedule (and, unless `workload`, the background workload). */
export interface Script {
  readonly name: string;
  readonly steps: number;
  /** Run the background workload (after the warm-up, with its guard) while the steps run. */
  readonly workload?: boolean;
  run(context: ScriptContext): Promise<ScriptOutcome>;
}

/** Everything a run needs of a system; built by cli/systems.ts (the composition root). */
export interface RunEnvironment {
  readonly db: Db;
  readonly nemesis: Nemesis;
  readonly factory: ClientFactory;
  readonly schedule: readonly ScheduledFault[];
  /** A scenario: runs instead of the schedule, the warm-up and the background workload. */
  readonly script?: Script;
  /** Watches Toxiproxy during the run; a fatal() ends the run as crashed. */
  readonly supervisor?: TestbedSupervisor;
  /** Whether the nodes' data lives on the fault filesystem (real power cuts, disk faults), and if not, why. */
  readonly faultFilesystem?: { readonly used: boolean; readonly why?: string };
  /** Stop Toxiproxy etc.; never throws. */
  close(): Promise<void>;
}

export interface RunDeps {
  /** The run's history: every event the run records goes here (and to history.jsonl). */
  readonly history: HistorySink & {
    close(): Promise<void> | void;
    /**
     * Nanoseconds on the history's own monotonic clock (the `time` its next event would get). Every
     * timed thing a run records (roles.jsonl too) uses this one origin, so the report lines them up.
     */
    now(): number;
  };
  readonly runDir: string;
  /** Judge what the run recorded (run-test.ts reads history.jsonl back: what is on disk is judged). */
  readonly check: () => CheckResult;
  readonly log: (line: string) => void;
  /**
   * For tests: called once the final heal is recorded (the second `heal` event), before the workload
   * stops and the final phase begins; e.g. to make the healed cluster misbehave on purpose.
   */
  readonly afterHeal?: () => Promise<void> | void;
}

export interface RunOutcome {
  readonly valid: Validity;
  readonly result: CheckResult;
  readonly guards: readonly string[];
  readonly counters: WorkloadCounters;
  /** Set when the testbed itself failed (supervisor.fatal()): the run is crashed, exit 255. */
  readonly crashed?: string;
}

/** Limits of the runner (docs/LIMITS.md). */
export const runnerLimits = {
  /** Each nemesis operation is bounded; a hung one is recorded as failed and the run goes on. */
  nemesisOperationMs: 30_000,
  /** A final read not answered in this time is recorded as info. */
  finalReadMs: 20_000,
  /** How often node roles are sampled for the report. */
  roleSampleMs: 500,
  /** The converged state must hold this long before the final reads. */
  convergedStableMs: 1_000,
  /** Minimum fraction of --rate that must be acknowledged during warm-up. */
  minimumRateFraction: 0.1,
  broadcastTimeoutMs: 5_000,
  /**
   * Final phase (Jepsen's): after the heal, every node (restarted by the heal if it was down) must acknowledge a probe broadcast
   * within this bound, or the checker reports `unavailable`. A correct zabkit elects and syncs in
   * well under 2 s after a heal; a ZooKeeper node restarted at heal time needs a JVM start, an
   * election and a sync, 5-15 s on a loaded 2-core machine; 30 s is twice the slowest of those.
   */
  finalPhaseMs: 30_000,
  /** Pause between probe attempts of the final phase (after a fail, an info or no connection). */
  finalPhaseRetryMs: 250,
  /** How often the runner asks the testbed supervisor whether the testbed is beyond repair. */
  supervisorPollMs: 250,
  /** With --reads-during-run: the mean time between two reads of a random node's whole sequence. */
  readDuringRunEveryMs: 2_000,
  /** A scenario's write step: broadcasts in flight at once (each on its own process). */
  scriptWriteLanes: 8,
  /** With a background workload, a scenario's own client processes are numbered from here (the workers never get this far). */
  scriptProcessBase: 1_000_000_000,
} as const;

export async function runTest(options: TestOptions, env: RunEnvironment, deps: RunDeps): Promise<RunOutcome> {
  const { db, nemesis, factory, supervisor } = env;
  const { history, log } = deps;
  const guards: string[] = [];
  const prng = createPrng(options.seed);
  const rolesFile = path.join(deps.runDir, 'roles.jsonl');
  writeFileSync(rolesFile, '');
  // One clock for everything the run records: the history's.
  const nowNs = (): number => history.now();

  // The testbed supervisor: its events go into the history; a fatal() ends the run as crashed.
  const crash = new AbortController();
  let crashed: string | undefined;
  let recording = true;
  const checkFatal = (): void => {
    const cause = supervisor?.fatal();
    if (cause === undefined || crashed !== undefined) return;
    crashed = cause.split('\n')[0]?.slice(0, 500) ?? 'the testbed failed';
    log(`testbed failed: ${crashed}; ending the run`);
    crash.abort();
  };
  supervisor?.onEvent((event) => {
    if (!recording) return;
    history.append({ process: 'nemesis', type: 'info', f: event.f, value: event.value ?? null, ...(event.error === undefined ? {} : { error: String(event.error).slice(0, 200) }) });
    checkFatal();
  });
  const fatalPoll = supervisor === undefined ? undefined : setInterval(checkFatal, runnerLimits.supervisorPollMs);
  const signal = crash.signal;

  const activeFaults = new Map<string, string>();
  const stopRoles = sampleRoles(db, rolesFile, nowNs);

  const workload = new Workload({
    nodes: db.nodes(),
    concurrency: options.concurrency,
    rate: options.rate,
    pipelineDepth: 8,
    pipelineEvery: 3,
    broadcastTimeoutMs: runnerLimits.broadcastTimeoutMs,
    ...(options.readsDuringRun === true ? { readEveryMs: runnerLimits.readDuringRunEveryMs, readTimeoutMs: runnerLimits.finalReadMs } : {}),
    prng: prng.fork(),
    factory,
    sink: history,
  });

  // Client processes beyond the workers' (a scenario's writes, the final phase, the final reads).
  let nextProcess = options.concurrency + 1;
  // A scenario logs each step as it ends; the periodic line is the random run's (its counters are the workload's).
  const progress = env.script === undefined ? startProgress(options, workload.counters, activeFaults, log) : { stop: (): void => undefined };
  try {
    // Phase 1: healthy cluster, warm-up traffic.
    checkFatal();
    const healthy = signal.aborted ? false : await db.awaitHealthy(30_000);
    if (!healthy) guards.push('the cluster was not healthy before the faults');
    if (env.script?.workload === true || env.script === undefined) {
      workload.start();
      await sleep(options.warmupSeconds * 1000, signal);
      const warmupOk = workload.counters.ok;
      const minimum = Math.max(1, Math.floor(options.rate * options.warmupSeconds * runnerLimits.minimumRateFraction));
      if (warmupOk < minimum && !signal.aborted) {
        guards.push(`traffic was not flowing when the faults began: ${warmupOk} broadcasts acknowledged in the ${options.warmupSeconds}s warm-up, at least ${minimum} needed`);
      }
    }
    if (env.script !== undefined) {
      // Phase 2, scripted: the scenario's exact steps, with its own writes (and the background load if it asks for it).
      // Beside the workers (whose processes go up by the concurrency on each retirement), its own start far above them.
      if (env.script.workload === true) nextProcess = runnerLimits.scriptProcessBase;
      const outcome = signal.aborted ? {} : await env.script.run({
        history,
        signal,
        log,
        write: (node, count, timeoutMs, label) => writeBatch(db.nodes().find((n) => n.name === node), count, timeoutMs, label, factory, () => nextProcess++, history, signal),
        invoke: (op) => invokeNemesis(nemesis, op, history, activeFaults, log),
      });
      if (outcome.unmet !== undefined) guards.push(`scenario ${env.script.name}: precondition not met: ${outcome.unmet}`);
      if (outcome.failed !== undefined) guards.push(`scenario ${env.script.name}: the testbed could not run ${outcome.failed}`);
    } else {
      // Phase 2: faults on the seeded schedule, for the time limit (cut short if the testbed fails).
      const faultPhaseStart = Date.now();
      const deadline = faultPhaseStart + options.timeLimitSeconds * 1000;
      for (const fault of env.schedule) {
        const at = faultPhaseStart + fault.atMs;
        if (at >= deadline || signal.aborted) break;
        await sleep(at - Date.now(), signal);
        if (signal.aborted) break;
        await invokeNemesis(nemesis, fault.op, history, activeFaults, log);
      }
      await sleep(deadline - Date.now(), signal);
    }

    // Phase 3: heal everything (also after a testbed failure: heal what can be healed).
    log('healing the cluster');
    history.append({ process: 'nemesis', type: 'info', f: 'heal', value: 'all' });
    let healError: string | undefined;
    const healed = await withTimeout(nemesis.healAll(), runnerLimits.nemesisOperationMs, 'healing the cluster timed out').catch((error: unknown) => {
      healError = String(error).slice(0, 200);
      return [] as NemesisEvent[];
    });
    healError ??= healErrors(healed);
    if (healError !== undefined) guards.push(`healing failed: ${healError}`);
    history.append({ process: 'nemesis', type: 'info', f: 'heal', value: healed, ...(healError === undefined ? {} : { error: healError }) });
    activeFaults.clear();
    if (deps.afterHeal !== undefined) await deps.afterHeal();
    await workload.stop();
    nextProcess = Math.max(workload.highestProcess + 1, nextProcess);
    checkFatal();

    if (!signal.aborted) {
      // Phase 4: the final phase. The heal started every node that was down, so every node must
      // acknowledge a broadcast within the bound: one that exited again by itself (a server that
      // cannot load what a power cut left on its disk) is unavailable, not excused. (A heal that
      // could not start one is a testbed failure, recorded with the heal, which excuses it.)
      const live = db.nodes().map((node) => node.name);
      history.append({ process: 'nemesis', type: 'info', f: 'final-phase', value: { boundMs: runnerLimits.finalPhaseMs, nodes: live } });
      const finalDeadline = Date.now() + runnerLimits.finalPhaseMs;
      const allocate = (): number => nextProcess++;
      const nodes = db.nodes().filter((node) => live.includes(node.name));
      const probed = await Promise.all(nodes.map((node) => probeUntilAcknowledged(node, factory, allocate, finalDeadline, history, signal)));
      const silent = nodes.filter((_, k) => !probed[k]).map((node) => node.name);
      if (silent.length > 0) {
        log(`final phase: no broadcast acknowledged within ${runnerLimits.finalPhaseMs / 1000}s by ${silent.join(', ')}`);
        // Where each silent node stands, for whoever reads the log or the history: down, looking, stuck in sync.
        const statuses = await withTimeout(db.status(), runnerLimits.nemesisOperationMs, 'status timed out').catch(() => [] as NodeStatus[]);
        const stuck = statuses.filter((s) => silent.includes(s.name));
        for (const status of stuck) log(`  ${describeNodeStatus(status)}`);
        if (stuck.length > 0) history.append({ process: 'nemesis', type: 'info', f: nodeStatusF, value: { nodes: stuck } });
      }
    }

    if (!signal.aborted) {
      // Phase 5: let the cluster converge, then a final read of every node.
      const converged = await awaitConvergence(db, options.recoverySeconds * 1000, signal);
      if (!converged && !signal.aborted) log(`nodes did not converge within ${options.recoverySeconds}s; reading anyway`);
    }
    if (!signal.aborted) await finalReads(db, factory, nextProcess, history, signal);
  } finally {
    await workload.stop();
    progress.stop();
    stopRoles();
    if (fatalPoll !== undefined) clearInterval(fatalPoll);
    checkFatal();
    supervisor?.stop();
    recording = false;
  }

  const result = safeCheck(deps.check);
  if (crashed !== undefined) {
    // A run the tool could not complete is crashed, never invalid: "unknown" plus the cause.
    return { valid: 'unknown', result: { ...result, valid: 'unknown', stats: { ...result.stats, guards } }, guards, counters: workload.counters, crashed };
  }
  const valid = mergeGuards(result.valid, guards);
  return { valid, result: { ...result, valid, stats: { ...result.stats, guards } }, guards, counters: workload.counters };
}

/** The errors a never-throwing healAll reports inside its events (an `error` field or value). */
function healErrors(events: readonly NemesisEvent[]): string | undefined {
  const errors: string[] = [];
  for (const event of events) {
    const top = (event as { error?: unknown }).error;
    const inner = typeof event.value === 'object' && event.value !== null ? (event.value as { error?: unknown }).error : undefined;
    for (const e of [top, inner]) if (typeof e === 'string' && e !== '') errors.push(`${event.f}: ${e}`);
  }
  return errors.length === 0 ? undefined : errors.join('; ').slice(0, 200);
}

/**
 * One node's part of the final phase: fresh processes broadcast probe messages (`final-<node>-<k>`)
 * to the node until one is acknowledged or the deadline passes. A `fail` is retried by the same
 * process after a short pause; an `info` retires the process and a new one goes on. Each attempt is
 * bounded by the broadcast timeout and by the deadline. Returns whether a probe was acknowledged.
 */
async function probeUntilAcknowledged(
  node: NodeInfo,
  factory: ClientFactory,
  allocate: () => number,
  deadline: number,
  history: RunDeps['history'],
  signal: AbortSignal,
): Promise<boolean> {
  let sequence = 0;
  while (Date.now() < deadline && !signal.aborted) {
    const remaining = (): number => Math.max(1, deadline - Date.now());
    let client: Client;
    try {
      client = await openWithin(factory, node, remaining());
    } catch {
      await sleep(Math.min(runnerLimits.finalPhaseRetryMs, remaining()), signal);
      continue;
    }
    const process = allocate();
    try {
      while (Date.now() < deadline && !signal.aborted) {
        const id = `final-${node.name}-${sequence++}`;
        const outcome = await recordBroadcast(history, client, process, node.name, id, Math.min(runnerLimits.broadcastTimeoutMs, remaining()), signal);
        if (outcome === 'ok') return true;
        if (outcome === 'info') break; // retired: a new process continues
        await sleep(Math.min(runnerLimits.finalPhaseRetryMs, remaining()), signal);
      }
    } finally {
      await client.close().catch(() => undefined);
    }
    await sleep(Math.min(runnerLimits.finalPhaseRetryMs, remaining()), signal);
  }
  return false;
}

/** A scenario's write step (ScriptContext.write): lanes of sequential broadcasts; a lane whose broadcast ends `info` goes on as a new process. */
async function writeBatch(
  node: NodeInfo | undefined,
  count: number,
  timeoutMs: number,
  label: string,
  factory: ClientFactory,
  allocate: () => number,
  history: HistorySink,
  signal: AbortSignal,
): Promise<{ ok: number; fail: number; info: number }> {
  const counts = { ok: 0, fail: 0, info: 0 };
  if (node === undefined) return counts;
  const deadline = Date.now() + timeoutMs;
  const remaining = (): number => Math.max(1, deadline - Date.now());
  let sent = 0;
  const lane = async (): Promise<void> => {
    let client: Client | undefined;
    let process = allocate();
    try {
      while (sent < count && Date.now() < deadline && !signal.aborted) {
        if (client === undefined) {
          client = await openWithin(factory, node, remaining()).catch(() => undefined);
          if (client === undefined) {
            await sleep(Math.min(runnerLimits.finalPhaseRetryMs, remaining()), signal);
            continue;
          }
        }
        const id = `${label}-${sent++}`;
        const outcome = await recordBroadcast(history, client, process, node.name, id, Math.min(runnerLimits.broadcastTimeoutMs, remaining()), signal);
        counts[outcome] += 1;
        if (outcome === 'info') {
          await client.close().catch(() => undefined);
          client = undefined;
          process = allocate();
        }
      }
    } finally {
      await client?.close().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(runnerLimits.scriptWriteLanes, count) }, lane));
  return counts;
}

/** A found anomaly stays a failure; a guard only turns a pass into "unknown". */
export function mergeGuards(valid: Validity, guards: readonly string[]): Validity {
  if (valid === false) return false;
  if (guards.length > 0) return 'unknown';
  return valid;
}

function safeCheck(check: RunDeps['check']): CheckResult {
  try {
    return check();
  } catch (error) {
    return { valid: 'unknown', anomalies: {}, stats: {}, error: `checker failed: ${String(error)}` };
  }
}

async function invokeNemesis(
  nemesis: Nemesis,
  op: NemesisEvent,
  history: HistorySink,
  active: Map<string, string>,
  log: (line: string) => void,
): Promise<NemesisResult> {
  history.append({ process: 'nemesis', type: 'info', f: op.f, value: op.value });
  try {
    const done = await withTimeout(nemesis.invoke(op), runnerLimits.nemesisOperationMs, `nemesis ${op.f} timed out`);
    history.append({ process: 'nemesis', type: 'info', f: done.f, value: done.value });
    const label = `${done.f} ${describe(done.value)}`;
    log(`nemesis: ${label}`);
    const id = String((done.value as { id?: unknown } | null)?.id ?? done.f);
    if (stopOps.has(op.f)) active.delete(id);
    else active.set(id, label);
    return { done };
  } catch (error) {
    history.append({ process: 'nemesis', type: 'info', f: op.f, value: op.value, error: String(error).slice(0, 200) });
    log(`nemesis ${op.f} failed: ${String(error)}`);
    return { error: String(error).slice(0, 200) };
  }
}

const stopOps = new Set(Object.values(packageOps).map((ops) => ops.stop));

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? '' : text.length > 80 ? text.slice(0, 77) + '...' : text;
}

async function awaitConvergence(db: Db, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let stableSince: number | undefined;
  let lastKey = '';
  while (Date.now() < deadline && !signal.aborted) {
    const statuses = await db.status().catch(() => []);
    const live = statuses.filter((status) => status.alive);
    const answering = live.filter((status) => status.answers);
    const leaders = answering.filter((status) => status.role === 'leading');
    const zxids = new Set(answering.map((status) => status.commitZxid ?? status.lastZxid ?? '?'));
    const key = [...zxids].join(',');
    const ok = live.length > 0 && answering.length === live.length && leaders.length === 1 && zxids.size === 1;
    if (ok && key === lastKey) {
      stableSince ??= Date.now();
      if (Date.now() - stableSince >= runnerLimits.convergedStableMs) return true;
    } else {
      stableSince = ok ? Date.now() : undefined;
    }
    lastKey = key;
    await sleep(200, signal);
  }
  return false;
}

async function finalReads(db: Db, factory: ClientFactory, firstProcess: number, history: RunDeps['history'], signal: AbortSignal): Promise<void> {
  let process = firstProcess;
  for (const node of db.nodes()) {
    if (signal.aborted) return;
    const myProcess = process++;
    history.append({ process: myProcess, type: 'invoke', f: 'read', node: node.name, value: null });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), runnerLimits.finalReadMs);
    try {
      const client = await openWithin(factory, node, runnerLimits.finalReadMs);
      try {
        const deliveries: Delivery[] = await client.read(controller.signal);
        history.append({ process: myProcess, type: 'ok', f: 'read', node: node.name, value: { deliveries } });
      } finally {
        await client.close().catch(() => undefined);
      }
    } catch (error) {
      history.append({ process: myProcess, type: 'info', f: 'read', node: node.name, value: null, error: String(error).slice(0, 200) });
    } finally {
      clearTimeout(timer);
    }
  }
}

function sampleRoles(db: Db, file: string, nowNs: () => number): () => void {
  const last = new Map<string, string>();
  let stopped = false;
  let running = false;
  const timer = setInterval(() => {
    if (stopped || running) return;
    running = true;
    // The sample's time is when the status query began (the states it saw are at least that new).
    const asked = nowNs();
    db.status()
      .then((statuses) => {
        const time = asked;
        for (const status of statuses) {
          const role = !status.alive ? 'down' : status.paused ? 'paused' : status.answers ? status.role : 'unknown';
          const key = `${role}/${status.epoch ?? ''}`;
          if (last.get(status.name) === key) continue;
          last.set(status.name, key);
          appendFileSync(file, JSON.stringify({ time, node: status.name, role, epoch: status.epoch ?? null }) + '\n');
        }
      })
      .catch(() => undefined)
      .finally(() => {
        running = false;
      });
  }, runnerLimits.roleSampleMs);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}

function startProgress(
  options: TestOptions,
  counters: WorkloadCounters,
  active: Map<string, string>,
  log: (line: string) => void,
): { stop(): void } {
  const started = Date.now();
  const total = options.warmupSeconds + options.timeLimitSeconds;
  const tty = process.stderr.isTTY === true;
  const timer = setInterval(() => {
    const elapsed = Math.round((Date.now() - started) / 1000);
    const faults = active.size > 0 ? [...active.values()].join('; ') : 'none';
    const line = `[${elapsed}s/${total}s] ok=${counters.ok} fail=${counters.fail} info=${counters.info} delivered=${counters.delivered} faults: ${faults}`;
    if (tty) process.stderr.write(`\r\x1b[2K${line}`);
    else log(line);
  }, tty ? 500 : 5000);
  return {
    stop: () => {
      clearInterval(timer);
      if (tty) process.stderr.write('\n');
    },
  };
}
