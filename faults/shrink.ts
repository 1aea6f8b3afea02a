/**
 * Shrinking a failing run (`zabkit shrink`), the pure part: a run's fault schedule as a plan (the
 * faults with their start and end times, the node count, the load), the plan as a scenario of
 * `fault`/`end` steps at those times (replayable: jepsen-style/scenario-format.ts), and the search
 * for a smaller plan that still fails. The search only proposes candidates and keeps those that a
 * `Trial` says still fail; faults/shrinker.ts runs each candidate as real runs.
 *
 * The search, in rounds until a round changes nothing (each step keeps a candidate only if it fails):
 *   1. cut the schedule short: the run ends 2 s after its last fault (the random run went on to its
 *      time limit), then a binary search for the fewest first faults that still fail (not in the
 *      first round when the original did not fail again: its prefixes are as long and as flaky);
 *   2. a few faults alone: each window of 1, 2, then 3 consecutive faults (latest first), moved so
 *      it starts leadMs in, the run ending tailMs after it. A failure most often needs one fault
 *      and the one or two just before it (a cause, then what exposes it), and such a candidate is a
 *      short run in a fresh cluster; ddmin reaches it only through halves that each hold most of a
 *      flaky schedule;
 *   3. drop faults: Zeller's ddmin over the faults (a subset alone, then each complement, finer and finer);
 *   4. move the faults earlier: all of them so the first starts 1 s in, then each idle gap (no fault
 *      held) closed to 1 s;
 *   5. shorten each fault's hold: halved, down to 0.5 s;
 *   6. fewer nodes (3, then 5 ...: odd counts below the current);
 *   7. less load: the rate halved (down to 10/s), then the clients (down to 1).
 * Every candidate is a function of the current best alone, so a search resumed with the same trial
 * outcomes (faults/shrinker.ts caches them) takes the same path.
 */
import type { FaultDraw, Scenario, ScenarioStep } from '../jepsen-style/scenario-format.js';
import type { ScheduledFault, StartValue } from './schedule.js';

export interface PlanFault {
  /** The fault's id in the original run (its name in a scenario: `f<id>`). */
  readonly id: number;
  readonly draw: FaultDraw;
  readonly pick: number;
  readonly startMs: number;
  readonly endMs: number;
}

export interface ShrinkPlan {
  readonly nodes: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly faults: readonly PlanFault[];
  /** The steps' clock runs this long (the random run's time limit); with `trimmed`, derived: the last fault's end plus shrinkLimits.tailMs. */
  readonly durationMs: number;
  readonly trimmed: boolean;
}

/** The search's bounds (docs/LIMITS.md). */
export const shrinkLimits = {
  /** A trimmed run ends this long after its last fault ends: time for the load to meet what the fault left. */
  tailMs: 2_000,
  /** Moved faults keep this much time before the first and in each closed idle gap. */
  leadMs: 1_000,
  /** A fault is held at least this long (faults/schedule.ts: shorter is scheduling noise). */
  minHoldMs: 500,
  minRate: 10,
  minConcurrency: 1,
  minNodes: 3,
  /** The window pass tries runs of up to this many consecutive faults. */
  maxWindow: 3,
  /** Rounds of the search; each round runs every step once. */
  maxRounds: 4,
} as const;

/** A run's schedule (faults/schedule.ts) as a plan: the faults that began before the time limit. */
export function planFromSchedule(schedule: readonly ScheduledFault[], basics: { nodes: number; rate: number; concurrency: number; timeLimitSeconds: number }): ShrinkPlan {
  const limitMs = basics.timeLimitSeconds * 1000;
  const starts = new Map<number, { value: StartValue; atMs: number }>();
  const ends = new Map<number, number>();
  for (const { atMs, op } of schedule) {
    const value = op.value as Partial<StartValue> & { id: number };
    if (value.pick !== undefined) starts.set(value.id, { value: value as StartValue, atMs });
    else ends.set(value.id, atMs);
  }
  const faults: PlanFault[] = [];
  for (const [id, { value, atMs }] of starts) {
    if (atMs >= limitMs) continue;
    const { id: _id, pick, ...draw } = value;
    faults.push({ id, draw: draw as unknown as FaultDraw, pick, startMs: atMs, endMs: Math.min(ends.get(id) ?? limitMs - 1, limitMs - 1) });
  }
  return normalize({ nodes: basics.nodes, rate: basics.rate, concurrency: basics.concurrency, faults, durationMs: limitMs, trimmed: false });
}

/**
 * A scenario written by planToScenario (only fault, end and sleep steps, each with `at`) back as a
 * plan, so that a shrunk scenario can be shrunk again; undefined for any other scenario.
 */
export function planFromScenario(scenario: Scenario, load: { rate: number; concurrency: number }): ShrinkPlan | undefined {
  const open = new Map<string, { draw: FaultDraw; pick: number; startMs: number }>();
  const faults: PlanFault[] = [];
  let durationMs = 0;
  for (const step of scenario.steps) {
    if (step.at === undefined || step.node !== undefined || step.on !== undefined) return undefined;
    durationMs = Math.max(durationMs, step.at + (step.do === 'sleep' ? (step.ms ?? 0) : 0));
    if (step.do === 'fault') open.set(step.as!, { draw: step.fault as FaultDraw, pick: step.pick!, startMs: step.at });
    else if (step.do === 'end') {
      const start = open.get(step.fault as string);
      if (start === undefined) return undefined;
      open.delete(step.fault as string);
      const id = Number(/^f(\d+)$/.exec(step.fault as string)?.[1] ?? faults.length + 1);
      faults.push({ id, ...start, endMs: step.at });
    } else if (step.do !== 'sleep') return undefined;
  }
  if (open.size > 0) return undefined;
  return normalize({ nodes: scenario.nodes, rate: scenario.workload?.rate ?? load.rate, concurrency: scenario.workload?.concurrency ?? load.concurrency, faults, durationMs, trimmed: false });
}

/** Faults in start order (then id); a trimmed plan's duration derived from its last fault. */
export function normalize(plan: ShrinkPlan): ShrinkPlan {
  const faults = [...plan.faults].sort((a, b) => a.startMs - b.startMs || a.id - b.id);
  const lastEnd = faults.reduce((max, fault) => Math.max(max, fault.endMs), 0);
  return { ...plan, faults, durationMs: plan.trimmed ? lastEnd + shrinkLimits.tailMs : Math.max(plan.durationMs, lastEnd) };
}

/** The same plan gives the same key: what a trial's result is cached under. */
export function planKey(plan: ShrinkPlan): string {
  const p = normalize(plan);
  return JSON.stringify([p.nodes, p.rate, p.concurrency, p.durationMs, p.faults.map((f) => [f.id, f.startMs, f.endMs, f.pick, sortedDraw(f.draw)])]);
}

function sortedDraw(draw: FaultDraw): [string, unknown][] {
  return Object.entries(draw).sort(([a], [b]) => a.localeCompare(b));
}

/** One line: "3 faults (f2 partition/leader/silent, f5 kill/one, f7 rejoin), 5 nodes, 200/s x 10, 14.5 s"; brief: ids only past 4 faults. */
export function describePlan(plan: ShrinkPlan, brief = false): string {
  const faults = brief && plan.faults.length > 4 ? plan.faults.map((f) => `f${f.id}`).join(',') : plan.faults.map(describeFault).join(', ');
  return `${plan.faults.length} fault${plan.faults.length === 1 ? '' : 's'}${faults ? ` (${faults})` : ''}, ${plan.nodes} nodes, ${plan.rate}/s x ${plan.concurrency}, ${(plan.durationMs / 1000).toFixed(1)} s`;
}

export function describeFault(fault: PlanFault): string {
  const { package: pkg, ...rest } = fault.draw;
  const detail = Object.values(rest).join('/');
  return `f${fault.id} ${pkg}${detail ? `/${detail}` : ''}`;
}

export interface ScenarioMeta {
  readonly name: string;
  readonly description: string;
  readonly systems: Scenario['systems'];
  readonly reference?: Readonly<Record<string, string>>;
  readonly zookeeper?: Scenario['zookeeper'];
}

/**
 * The plan as a scenario: each fault a `fault` step at its start and an `end` step at its end (ends
 * before starts at the same instant, as the random schedule orders them), then a `sleep` that lasts
 * to the plan's duration, with the plan's load as the background workload.
 */
export function planToScenario(plan: ShrinkPlan, meta: ScenarioMeta): Scenario {
  const p = normalize(plan);
  const events = p.faults.flatMap((fault) => [
    { atMs: fault.startMs, start: 1, id: fault.id, step: { do: 'fault', as: `f${fault.id}`, fault: fault.draw, pick: fault.pick, at: fault.startMs } as ScenarioStep },
    { atMs: fault.endMs, start: 0, id: fault.id, step: { do: 'end', fault: `f${fault.id}`, at: fault.endMs } as ScenarioStep },
  ]);
  events.sort((a, b) => a.atMs - b.atMs || a.start - b.start || a.id - b.id);
  const steps: ScenarioStep[] = [...events.map((event) => event.step), { do: 'sleep', ms: 0, at: p.durationMs, note: 'the load runs on to the end of the plan' }];
  return {
    name: meta.name,
    description: meta.description,
    nodes: p.nodes,
    systems: meta.systems,
    ...(meta.reference === undefined ? {} : { reference: meta.reference }),
    ...(meta.zookeeper === undefined ? {} : { zookeeper: meta.zookeeper }),
    workload: { rate: p.rate, concurrency: p.concurrency },
    steps,
  };
}

/** What a trial says of a candidate: it still fails, it does not, or the budget is spent (the search stops). */
export type TrialOutcome = 'fails' | 'passes' | 'budget';
export type Trial = (candidate: ShrinkPlan, change: string, pass: string) => Promise<TrialOutcome>;

class BudgetSpent extends Error {}

export interface SearchOptions {
  /**
   * The original did not fail again when replayed: its prefixes, as long and as flaky, are skipped in
   * the first round (the windows' short runs come first).
   */
  readonly originalFlaky?: boolean;
}

/** The smallest plan the search found that the trial still calls failing (the original if none is). */
export async function shrinkSearch(original: ShrinkPlan, trial: Trial, options: SearchOptions = {}): Promise<{ best: ShrinkPlan; exhausted: boolean }> {
  let best = normalize(original);
  const attempt = async (candidate: ShrinkPlan, change: string, pass: string): Promise<boolean> => {
    const c = normalize(candidate);
    if (planKey(c) === planKey(best)) return false;
    const outcome = await trial(c, change, pass);
    if (outcome === 'budget') throw new BudgetSpent();
    if (outcome === 'fails') best = c;
    return outcome === 'fails';
  };
  try {
    for (let round = 1; round <= shrinkLimits.maxRounds; round++) {
      const before = planKey(best);
      if (!(round === 1 && options.originalFlaky === true)) await prefix(() => best, attempt);
      await windows(() => best, attempt);
      await ddmin(() => best, attempt);
      await moveEarlier(() => best, attempt);
      await shortenHolds(() => best, attempt);
      await fewerNodes(() => best, attempt);
      await lessLoad(() => best, attempt);
      if (planKey(best) === before) break;
    }
  } catch (error) {
    if (error instanceof BudgetSpent) return { best, exhausted: true };
    throw error;
  }
  return { best, exhausted: false };
}

type Attempt = (candidate: ShrinkPlan, change: string, pass: string) => Promise<boolean>;

/**
 * The shortest prefix of the schedule that still fails, the run ending tailMs after its last fault:
 * first the whole schedule so trimmed, then a binary search on how many of the first faults to keep
 * (a failure needs what came before it; what came after it only makes the run longer).
 */
async function prefix(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  const plan = current();
  if (!plan.trimmed) {
    const trimmed = normalize({ ...plan, trimmed: true });
    // When the last fault ends at the time limit there is no tail to cut: the prefixes below are trimmed anyway.
    if (trimmed.durationMs < plan.durationMs && !(await attempt(trimmed, `end ${shrinkLimits.tailMs / 1000} s after the last fault (${(plan.durationMs / 1000).toFixed(1)} -> ${(trimmed.durationMs / 1000).toFixed(1)} s)`, 'prefix'))) return;
  }
  let lo = 1;
  let hi = current().faults.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const faults = current().faults;
    const kept = faults.slice(0, mid);
    if (await attempt({ ...current(), trimmed: true, faults: kept }, `keep the first ${mid} faults (to ${describeFault(kept[kept.length - 1]!)}; ${faults.length} -> ${mid}), the run ending ${shrinkLimits.tailMs / 1000} s after it`, 'prefix')) hi = mid;
    else lo = mid + 1;
  }
}

/**
 * Each run of 1, 2, then up to maxWindow consecutive faults alone (the latest run first), moved so it
 * starts leadMs in and trimmed; the first that fails is kept. Only while the plan has more faults
 * than the window: otherwise ddmin and the moves do the rest.
 */
async function windows(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  const faults = current().faults;
  for (let size = 1; size <= shrinkLimits.maxWindow && size < faults.length; size++) {
    for (let last = faults.length - 1; last >= size - 1; last--) {
      const window = faults.slice(last - size + 1, last + 1);
      const delta = window[0]!.startMs - shrinkLimits.leadMs;
      const moved = window.map((f) => ({ ...f, startMs: f.startMs - delta, endMs: f.endMs - delta }));
      const names = window.map((f) => describeFault(f)).join(', ');
      if (await attempt({ ...current(), trimmed: true, faults: moved }, `only ${names}, from ${(shrinkLimits.leadMs / 1000).toFixed(1)} s (${faults.length} -> ${size} fault${size === 1 ? '' : 's'})`, 'window')) return;
    }
  }
}

/** Zeller's ddmin over the faults: try each chunk alone, then each complement; else split finer. */
async function ddmin(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  let n = 2;
  for (;;) {
    const faults = current().faults;
    if (faults.length === 0) return;
    if (faults.length === 1) {
      await attempt({ ...current(), faults: [] }, `drop ${describeFault(faults[0]!)} (no fault at all)`, 'drop');
      return;
    }
    const chunks = split(faults, Math.min(n, faults.length));
    let reduced = false;
    for (const chunk of chunks) {
      if (chunk.length === faults.length) continue;
      if (await attempt({ ...current(), faults: chunk }, `keep only ${chunk.map((f) => `f${f.id}`).join(',')} (${faults.length} -> ${chunk.length} faults)`, 'drop')) {
        n = 2;
        reduced = true;
        break;
      }
    }
    if (!reduced && chunks.length > 2) {
      for (const chunk of chunks) {
        const rest = faults.filter((f) => !chunk.includes(f));
        if (await attempt({ ...current(), faults: rest }, `drop ${chunk.map((f) => `f${f.id}`).join(',')} (${faults.length} -> ${rest.length} faults)`, 'drop')) {
          n = Math.max(n - 1, 2);
          reduced = true;
          break;
        }
      }
    }
    if (reduced) continue;
    if (n >= faults.length) return;
    n = Math.min(faults.length, n * 2);
  }
}

function split<T>(items: readonly T[], n: number): T[][] {
  const chunks: T[][] = [];
  let start = 0;
  for (let k = 0; k < n; k++) {
    const end = start + Math.ceil((items.length - start) / (n - k));
    chunks.push(items.slice(start, end));
    start = end;
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

/** Shift faults earlier: all so the first starts leadMs in; then each idle gap closed to leadMs. */
async function moveEarlier(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  const first = current().faults[0];
  if (first !== undefined && first.startMs > shrinkLimits.leadMs) {
    const delta = first.startMs - shrinkLimits.leadMs;
    await attempt(shift(current(), 0, delta), `move every fault ${(delta / 1000).toFixed(1)} s earlier`, 'move');
  }
  // Idle gaps: before fault k, no earlier fault is still held.
  for (let k = 1; k < current().faults.length; k++) {
    const plan = current();
    const heldUntil = plan.faults.slice(0, k).reduce((max, f) => Math.max(max, f.endMs), 0);
    const gap = plan.faults[k]!.startMs - heldUntil;
    if (gap > shrinkLimits.leadMs) {
      const delta = gap - shrinkLimits.leadMs;
      await attempt(shift(plan, k, delta), `close the idle gap before ${describeFault(plan.faults[k]!)} (${(gap / 1000).toFixed(1)} -> ${(shrinkLimits.leadMs / 1000).toFixed(1)} s)`, 'move');
    }
  }
}

/** Faults from index `from` on, moved `delta` ms earlier (with a fixed duration, the duration too). */
function shift(plan: ShrinkPlan, from: number, delta: number): ShrinkPlan {
  return {
    ...plan,
    faults: plan.faults.map((f, k) => (k < from ? f : { ...f, startMs: f.startMs - delta, endMs: f.endMs - delta })),
    durationMs: plan.trimmed ? plan.durationMs : plan.durationMs - delta,
  };
}

async function shortenHolds(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  for (const id of current().faults.map((f) => f.id)) {
    const fault = current().faults.find((f) => f.id === id)!;
    const hold = fault.endMs - fault.startMs;
    const shorter = Math.max(shrinkLimits.minHoldMs, Math.floor(hold / 2));
    if (shorter >= hold) continue;
    const faults = current().faults.map((f) => (f.id === id ? { ...f, endMs: f.startMs + shorter } : f));
    await attempt({ ...current(), faults }, `hold ${describeFault(fault)} ${(shorter / 1000).toFixed(1)} s instead of ${(hold / 1000).toFixed(1)} s`, 'hold');
  }
}

async function fewerNodes(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  for (let nodes = shrinkLimits.minNodes; nodes < current().nodes; nodes += 2) {
    if (await attempt({ ...current(), nodes }, `${nodes} nodes instead of ${current().nodes}`, 'nodes')) return;
  }
}

async function lessLoad(current: () => ShrinkPlan, attempt: Attempt): Promise<void> {
  while (current().rate > shrinkLimits.minRate) {
    const rate = Math.max(shrinkLimits.minRate, Math.floor(current().rate / 2));
    if (!(await attempt({ ...current(), rate }, `rate ${rate}/s instead of ${current().rate}/s`, 'load'))) break;
  }
  while (current().concurrency > shrinkLimits.minConcurrency) {
    const concurrency = Math.max(shrinkLimits.minConcurrency, Math.floor(current().concurrency / 2));
    if (!(await attempt({ ...current(), concurrency }, `${concurrency} client${concurrency === 1 ? '' : 's'} instead of ${current().concurrency}`, 'load'))) break;
  }
}

/**
 * The anomaly class a candidate must reproduce: the original's safety anomalies (liveness ones only
 * when it had no other), or the one the user names. A candidate reproduces when it is invalid with
 * at least one of them.
 */
export const livenessAnomalies: readonly string[] = ['not-converged', 'unavailable'];

export function targetAnomalies(found: Readonly<Record<string, number>>): string[] {
  const names = Object.entries(found).filter(([, count]) => count > 0).map(([name]) => name);
  const safety = names.filter((name) => !livenessAnomalies.includes(name));
  return safety.length > 0 ? safety : names;
}

export function reproduces(valid: unknown, found: Readonly<Record<string, number>>, target: readonly string[]): boolean {
  return valid === false && target.some((name) => (found[name] ?? 0) > 0);
}
