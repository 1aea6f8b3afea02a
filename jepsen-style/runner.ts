/**
 * One chaos run (`zabkit test`): cluster up behind Toxiproxy, workload + nemesis on a seeded
 * schedule, heal, a bounded quiet period until the nodes converge, a final read of every node,
 * check, report, teardown. Phases follow Jepsen's canonical test shape (jepsen-anchors.md §1.2),
 * with etcd's guards against a run that proves nothing: the cluster must be healthy before faults,
 * traffic must flow when they land, and a minimum rate must be reached; otherwise the verdict is
 * "unknown", never "valid".
 */
import { writeFileSync, appendFileSync } from 'node:fs';
import path from 'node:path';
import { createPrng } from '../src/core/prng.js';
import type { CheckResult, Db, NemesisEvent, Nemesis, Validity, ClientFactory, Delivery } from './types.js';
import { Workload, sleep, type WorkloadCounters } from './workload.js';
import { packageOps } from '../faults/packages.js';
import { withTimeout } from '../cluster/proc.js';

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
}

/** A scheduled fault: at `atMs` after the fault phase starts, invoke `op`. */
export interface ScheduledFault {
  readonly atMs: number;
  readonly op: NemesisEvent;
}

/** Everything a run needs of a system; built by jepsen-style/systems.ts. */
export interface RunEnvironment {
  readonly db: Db;
  readonly nemesis: Nemesis;
  readonly factory: ClientFactory;
  readonly schedule: readonly ScheduledFault[];
  /** Stop Toxiproxy etc.; never throws. */
  close(): Promise<void>;
}

export interface RunDeps {
  readonly history: {
    append(event: Record<string, unknown>): number;
    readonly events: readonly Record<string, unknown>[];
    close(): Promise<void> | void;
  };
  readonly runDir: string;
  readonly check: (history: readonly any[]) => CheckResult;
  readonly log: (line: string) => void;
}

export interface RunOutcome {
  readonly valid: Validity;
  readonly result: CheckResult;
  readonly guards: readonly string[];
  readonly counters: WorkloadCounters;
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
} as const;

export async function runTest(options: TestOptions, env: RunEnvironment, deps: RunDeps): Promise<RunOutcome> {
  const { db, nemesis, factory } = env;
  const { history, log } = deps;
  const guards: string[] = [];
  const prng = createPrng(options.seed);
  const rolesFile = path.join(deps.runDir, 'roles.jsonl');
  writeFileSync(rolesFile, '');
  const started = process.hrtime.bigint();
  const nowNs = (): number => Number(process.hrtime.bigint() - started);

  const activeFaults = new Map<string, string>();
  const stopRoles = sampleRoles(db, rolesFile, nowNs);

  const workload = new Workload({
    nodes: db.nodes(),
    concurrency: options.concurrency,
    rate: options.rate,
    pipelineDepth: 8,
    pipelineEvery: 3,
    broadcastTimeoutMs: runnerLimits.broadcastTimeoutMs,
    prng: prng.fork(),
    factory,
    sink: { append: (event) => void history.append(event) },
  });

  const progress = startProgress(options, workload.counters, activeFaults, log);
  try {
    // Phase 1: healthy cluster, warm-up traffic.
    const healthy = await db.awaitHealthy(30_000);
    if (!healthy) guards.push('the cluster was not healthy before the faults');
    workload.start();
    await sleep(options.warmupSeconds * 1000);
    const warmupOk = workload.counters.ok;
    const minimum = Math.max(1, Math.floor(options.rate * options.warmupSeconds * runnerLimits.minimumRateFraction));
    if (warmupOk < minimum) {
      guards.push(`traffic was not flowing when the faults began: ${warmupOk} broadcasts acknowledged in the ${options.warmupSeconds}s warm-up, at least ${minimum} needed`);
    }

    // Phase 2: faults on the seeded schedule, for the time limit.
    const faultPhaseStart = Date.now();
    const deadline = faultPhaseStart + options.timeLimitSeconds * 1000;
    for (const fault of env.schedule) {
      const at = faultPhaseStart + fault.atMs;
      if (at >= deadline) break;
      await sleep(at - Date.now());
      await invokeNemesis(nemesis, fault.op, history, activeFaults, log);
    }
    await sleep(deadline - Date.now());

    // Phase 3: heal everything, stop the workload, let the cluster converge.
    log('healing the cluster');
    history.append({ process: 'nemesis', type: 'info', f: 'heal', value: 'all' });
    const healed = await withTimeout(nemesis.healAll(), runnerLimits.nemesisOperationMs, 'healing the cluster timed out').catch((error: unknown) => {
      guards.push(`healing failed: ${String(error)}`);
      return [] as NemesisEvent[];
    });
    history.append({ process: 'nemesis', type: 'info', f: 'heal', value: healed });
    activeFaults.clear();
    await workload.stop();
    const converged = await awaitConvergence(db, options.recoverySeconds * 1000);
    if (!converged) log(`nodes did not converge within ${options.recoverySeconds}s; reading anyway`);

    // Phase 4: a final read of every node.
    await finalReads(db, factory, workload.highestProcess + options.concurrency + 1, history);
  } finally {
    progress.stop();
    stopRoles();
  }

  const result = safeCheck(deps.check, history.events);
  const valid = mergeGuards(result.valid, guards);
  return { valid, result: { ...result, valid, stats: { ...result.stats, guards } }, guards, counters: workload.counters };
}

/** A found anomaly stays a failure; a guard only turns a pass into "unknown". */
export function mergeGuards(valid: Validity, guards: readonly string[]): Validity {
  if (valid === false) return false;
  if (guards.length > 0) return 'unknown';
  return valid;
}

function safeCheck(check: RunDeps['check'], events: readonly Record<string, unknown>[]): CheckResult {
  try {
    return check(events);
  } catch (error) {
    return { valid: 'unknown', anomalies: {}, stats: {}, error: `checker failed: ${String(error)}` };
  }
}

async function invokeNemesis(
  nemesis: Nemesis,
  op: NemesisEvent,
  history: RunDeps['history'],
  active: Map<string, string>,
  log: (line: string) => void,
): Promise<void> {
  history.append({ process: 'nemesis', type: 'info', f: op.f, value: op.value });
  try {
    const done = await withTimeout(nemesis.invoke(op), runnerLimits.nemesisOperationMs, `nemesis ${op.f} timed out`);
    history.append({ process: 'nemesis', type: 'info', f: done.f, value: done.value });
    const label = `${done.f} ${describe(done.value)}`;
    log(`nemesis: ${label}`);
    const id = String((done.value as { id?: unknown } | null)?.id ?? done.f);
    if (stopOps.has(op.f)) active.delete(id);
    else active.set(id, label);
  } catch (error) {
    history.append({ process: 'nemesis', type: 'info', f: op.f, value: op.value, error: String(error).slice(0, 200) });
    log(`nemesis ${op.f} failed: ${String(error)}`);
  }
}

const stopOps = new Set(Object.values(packageOps).map((ops) => ops.stop));

function describe(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? '' : text.length > 80 ? text.slice(0, 77) + '...' : text;
}

async function awaitConvergence(db: Db, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let stableSince: number | undefined;
  let lastKey = '';
  while (Date.now() < deadline) {
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
    await sleep(200);
  }
  return false;
}

async function finalReads(db: Db, factory: ClientFactory, firstProcess: number, history: RunDeps['history']): Promise<void> {
  let process = firstProcess;
  for (const node of db.nodes()) {
    const myProcess = process++;
    history.append({ process: myProcess, type: 'invoke', f: 'read', node: node.name, value: null });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), runnerLimits.finalReadMs);
    try {
      const client = await withTimeout(factory.open(node), runnerLimits.finalReadMs, `connecting to ${node.name} for the final read timed out`);
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
    db.status()
      .then((statuses) => {
        for (const status of statuses) {
          const role = !status.alive ? 'down' : status.paused ? 'paused' : status.answers ? status.role : 'unknown';
          const key = `${role}/${status.epoch ?? ''}`;
          if (last.get(status.name) === key) continue;
          last.set(status.name, key);
          appendFileSync(file, JSON.stringify({ time: nowNs(), node: status.name, role, epoch: status.epoch ?? null }) + '\n');
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
