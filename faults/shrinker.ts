/**
 * `zabkit shrink RUN_DIR`: from a stored invalid run to the smallest fault scenario that still fails
 * the same way. The run's fault schedule becomes a plan (faults/shrink.ts), each candidate the search
 * proposes is written as a scenario and replayed as real runs (`zabkit test --scenario`, each in its
 * own process, as the nightly runs its cells), and the checker's verdict on each replay decides.
 *
 * Replays: timing varies from run to run (the scheduler, Toxiproxy, fsync), so a candidate that
 * failed once may have been lucky. A candidate is kept only if each of its `replays` runs (default
 * 2) fails with the target anomaly; the first run that does not ends its trial, so a candidate that
 * does not fail usually costs one run. The original schedule only has to fail again once, in up to
 * 3 replays: it has failed already, and a failure that comes back one time in three can still
 * shrink to a schedule that fails every time. If it does not fail again, the search runs anyway
 * (its candidates are short, focused runs that may fail where the long schedule rarely does); with
 * no candidate failing either, there is nothing to report (exit 2). The smallest plan is then replayed `verify` times
 * (default 5) and the count reported: how reliable the reproducer is.
 *
 * Everything lands in OUT (default RUN_DIR/shrink): shrink.json (the state: every trial and its
 * runs; a second invocation with the same OUT resumes from it, reusing every finished run),
 * scenario.json (the smallest failing scenario so far), candidates/ (each trial's scenario), runs/
 * (each replay's run folder and report), and index.html (what was tried, and the result).
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { generateSchedule } from './schedule.js';
import { describePlan, planFromSchedule, planFromScenario, planKey, planToScenario, reproduces, shrinkSearch, targetAnomalies, type ShrinkPlan, type TrialOutcome } from './shrink.js';
import { parsedPackages } from '../jepsen-style/vocabulary.js';
import { nightlyLimits, readRunOutcome, shellQuote } from '../jepsen-style/nightly.js';
import { validateScenario, type Scenario } from '../jepsen-style/scenario-format.js';
import { esc } from '../jepsen-style/report/svg.js';

export interface ShrinkOptions {
  readonly runDir: string;
  readonly out?: string;
  readonly budgetMinutes: number;
  readonly replays: number;
  readonly verify: number;
  /** Reproduce this anomaly rather than the original's safety anomalies. */
  readonly anomaly?: string;
  /** The zabkit CLI (dist/cli/main.js) the replays run. */
  readonly cli: string;
  readonly toxiproxyUrl?: string;
}

/** Limits of the shrinker (docs/LIMITS.md). */
export const shrinkerLimits = {
  /** The original schedule is replayed up to this many times (or --replays, if more) until it fails once. */
  baselineAttempts: 3,
  /** The verification reserved inside the budget is at most this share of it. */
  maxVerifyShare: 0.25,
} as const;

/** A run folder that cannot be shrunk (not a run, not invalid, a schedule the shrinker cannot read): exit 254. */
export class ShrinkError extends Error {
  override name = 'ShrinkError';
}

/** One replay of a candidate. */
export interface ShrinkRun {
  readonly name: string;
  readonly runDir: string | undefined;
  readonly exitCode: number;
  readonly valid: true | false | 'unknown' | 'crashed';
  readonly anomalies: Record<string, number>;
  readonly reproduced: boolean;
  readonly seconds: number;
  readonly reason?: string;
}

export interface ShrinkTrial {
  readonly index: number;
  readonly key: string;
  readonly pass: string;
  readonly change: string;
  readonly plan: ShrinkPlan;
  readonly scenarioFile: string;
  readonly runs: ShrinkRun[];
  /** Set once the trial is decided: every replay reproduced, or one did not. */
  outcome?: 'fails' | 'passes';
}

export interface ShrinkState {
  readonly version: 1;
  readonly original: string;
  readonly target: readonly string[];
  readonly replays: number;
  readonly trials: ShrinkTrial[];
  best?: { readonly key: string; readonly plan: ShrinkPlan; readonly trial: number };
  verification?: { readonly key: string; runs: ShrinkRun[] };
  /** Minutes spent by all invocations, and whether the last search stopped on the budget. */
  spentMinutes: number;
  exhausted?: boolean;
  finished?: boolean;
}

/** What test.json of a run holds that the shrinker needs. */
interface StoredTest {
  readonly name: string;
  readonly system: 'zabkit' | 'zookeeper';
  readonly nodes: number;
  readonly rate: number;
  readonly concurrency: number;
  readonly nemesis: readonly string[];
  readonly nemesisIntervalSeconds: number;
  readonly timeLimitSeconds: number;
  readonly seed: number;
  readonly bug?: string;
  readonly warmupSeconds?: number;
  readonly recoverySeconds?: number;
  readonly readsDuringRun?: boolean;
  readonly command?: string;
  readonly zookeeper?: { readonly version: string; readonly properties: Readonly<Record<string, string>>; readonly jvmFlags: readonly string[] };
  readonly scenario?: { readonly source: string; readonly scenario: unknown };
}

export interface ShrinkResult {
  readonly exitCode: number;
  readonly out: string;
  readonly state: ShrinkState;
}

export async function runShrink(options: ShrinkOptions, log: (line: string) => void): Promise<ShrinkResult> {
  const runDir = path.resolve(options.runDir);
  const { test, anomalies } = readRun(runDir);
  const target = options.anomaly !== undefined ? [options.anomaly] : targetAnomalies(anomalies);
  if (options.anomaly !== undefined && !(anomalies[options.anomaly] ?? 0)) throw new ShrinkError(`${runDir} has no ${options.anomaly} anomaly (it has ${Object.keys(anomalies).join(', ') || 'none'})`);
  const original = originalPlan(test, runDir);
  const out = path.resolve(options.out ?? path.join(runDir, 'shrink'));
  mkdirSync(path.join(out, 'candidates'), { recursive: true });
  const stateFile = path.join(out, 'shrink.json');
  const state = loadState(stateFile, runDir, target, options.replays);
  const resumed = state.trials.length > 0;
  const started = Date.now();
  const spentBefore = state.spentMinutes;
  const elapsedMinutes = (): number => (Date.now() - started) / 60_000;
  const save = (): void => {
    state.spentMinutes = spentBefore + elapsedMinutes();
    writeAtomically(stateFile, JSON.stringify(state, null, 2) + '\n');
  };
  const meta = scenarioMeta(test, runDir);
  log(`shrink: ${runDir}: ${describePlan(original)}; reproducing ${target.join(' or ')}; ${options.replays} replay${options.replays === 1 ? '' : 's'} per candidate, budget ${options.budgetMinutes} min${resumed ? `; resuming (${state.trials.length} trials done)` : ''}`);

  // The verification's share of the budget: `verify` runs as long as the best candidate's longest
  // run, but never more than a quarter of the budget (while the best is still the 60 s original, 5
  // such runs would leave the search half the budget; the verification may then run past it).
  const verifyReserveMinutes = (): number => {
    const bestTrial = state.best === undefined ? undefined : state.trials[state.best.trial];
    const seconds = bestTrial?.runs.reduce((max, run) => Math.max(max, run.seconds), 0) ?? 0;
    return Math.min((options.verify * seconds) / 60, options.budgetMinutes * shrinkerLimits.maxVerifyShare);
  };
  let ran = 0;
  const replay = async (plan: ShrinkPlan, file: string, name: string): Promise<ShrinkRun> => {
    const run = await replayScenario(plan, file, name, test, target, out, options);
    ran += 1;
    return run;
  };
  const trial = async (plan: ShrinkPlan, change: string, pass: string): Promise<TrialOutcome> => {
    const key = planKey(plan);
    let record = state.trials.find((t) => t.key === key);
    if (record?.outcome !== undefined) return record.outcome;
    // The budget covers every invocation of this shrink (shrink.json keeps what earlier ones spent): a resume with a larger --budget goes on.
    if (spentBefore + elapsedMinutes() + verifyReserveMinutes() >= options.budgetMinutes) return 'budget';
    if (record === undefined) {
      const index = state.trials.length;
      const scenarioFile = path.join(out, 'candidates', `t${index}.json`);
      writeFileSync(scenarioFile, JSON.stringify(planToScenario(plan, { ...meta, name: `shrink-t${index}` }), null, 2) + '\n');
      record = { index, key, pass, change, plan, scenarioFile, runs: [] };
      state.trials.push(record);
      save();
    }
    if (pass === 'original') {
      // The original already failed once: its replays must show that it can fail again as a
      // scenario, not that it always does. The first failure settles it.
      while (record.runs.length < Math.max(options.replays, shrinkerLimits.baselineAttempts) && !record.runs.some((run) => run.reproduced)) {
        record.runs.push(await replay(plan, record.scenarioFile, `t${record.index}-r${record.runs.length + 1}`));
        save();
      }
      record.outcome = record.runs.some((run) => run.reproduced) ? 'fails' : 'passes';
    } else {
      while (record.runs.length < options.replays) {
        const run = await replay(plan, record.scenarioFile, `t${record.index}-r${record.runs.length + 1}`);
        record.runs.push(run);
        save();
        if (!run.reproduced) break;
      }
      record.outcome = record.runs.every((run) => run.reproduced) && record.runs.length >= options.replays ? 'fails' : 'passes';
    }
    // The search keeps every candidate that fails (it is smaller than the best so far, by construction).
    if (record.outcome === 'fails') state.best = { key, plan, trial: record.index };
    save();
    progress(log, state, record, elapsedMinutes() + spentBefore, options.budgetMinutes);
    return record.outcome;
  };

  // The original schedule, replayed as a scenario. If it does not fail again, timing decides this
  // failure and the search still runs: its candidates are shorter, focused runs, and one that fails
  // every replay is a better reproducer than the original (the search needs no baseline to be right:
  // it keeps only candidates that fail). Only if none does is there nothing to report.
  const baseline = await trial(original, 'the original schedule, as a scenario', 'original');
  const baselineRuns = (): string => `${state.trials[0]?.runs.length ?? 0} replays (${state.trials[0]?.runs.map((r) => String(r.valid)).join(', ')})`;
  let exitCode: number;
  if (baseline === 'passes') log(`shrink: the original schedule did not fail again as a scenario in ${baselineRuns()}: timing decides this failure; searching for a smaller schedule that fails every replay`);
  if (baseline === 'budget') {
    state.finished = true;
    state.exhausted = true;
    save();
    log(`shrink: the budget of ${options.budgetMinutes} min does not cover one replay (spent ${state.spentMinutes.toFixed(1)} min); nothing shrunk`);
    exitCode = 2;
  } else {
    const { best, exhausted } = await shrinkSearch(original, trial, { originalFlaky: baseline === 'passes' });
    state.exhausted = exhausted;
    const bestKey = planKey(best);
    if (baseline === 'passes' && bestKey === planKey(original)) {
      state.finished = true;
      save();
      log(`shrink: no smaller schedule failed every replay${exhausted ? ` within the budget (${(spentBefore + elapsedMinutes()).toFixed(1)} min)` : ''}, and the original did not fail again in ${baselineRuns()}: nothing to shrink`);
      writeFileSync(path.join(out, 'index.html'), shrinkHtml(state, test, runDir, out, original, options));
      log(`shrink: ${ran} run${ran === 1 ? '' : 's'} in this invocation; report ${path.join(out, 'index.html')}, exit 2`);
      return { exitCode: 2, out, state };
    }
    if (exhausted) log(`shrink: the budget is spent (${(spentBefore + elapsedMinutes()).toFixed(1)} min); verifying the smallest plan found so far`);
    const scenario = planToScenario(best, { ...meta, name: `${meta.name}-shrunk` });
    writeFileSync(path.join(out, 'scenario.json'), JSON.stringify(scenario, null, 2) + '\n');
    if (state.verification?.key !== bestKey) state.verification = { key: bestKey, runs: [] };
    while (state.verification.runs.length < options.verify) {
      state.verification.runs.push(await replay(best, path.join(out, 'scenario.json'), `verify-r${state.verification.runs.length + 1}`));
      save();
    }
    state.finished = true;
    save();
    const failed = state.verification.runs.filter((run) => run.reproduced).length;
    log(`shrink: smallest: ${describePlan(best)}; it failed with ${target.join(' or ')} in ${failed} of ${options.verify} replays`);
    log(`shrink: reproduce with: ${reproduceCommand(test, path.join(out, 'scenario.json'))}`);
    exitCode = failed > 0 ? 1 : 2;
  }
  writeFileSync(path.join(out, 'index.html'), shrinkHtml(state, test, runDir, out, original, options));
  log(`shrink: ${ran} run${ran === 1 ? '' : 's'} in this invocation; report ${path.join(out, 'index.html')}, exit ${exitCode}`);
  return { exitCode, out, state };
}

function readRun(runDir: string): { test: StoredTest; anomalies: Record<string, number> } {
  const read = (name: string): Record<string, unknown> => {
    try {
      return JSON.parse(readFileSync(path.join(runDir, name), 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ShrinkError(`${runDir} is not a finished run (${name}: ${(error as Error).message})`);
    }
  };
  const test = read('test.json') as unknown as StoredTest;
  const results = read('results.json') as { valid?: unknown; anomalies?: Record<string, { count?: number }> };
  if (results.valid !== false) throw new ShrinkError(`${runDir} is not an invalid run (valid: ${JSON.stringify(results.valid)}): only a failure can be shrunk`);
  const anomalies = Object.fromEntries(Object.entries(results.anomalies ?? {}).map(([name, report]) => [name, report.count ?? 0]).filter(([, count]) => (count as number) > 0)) as Record<string, number>;
  for (const field of ['system', 'nodes', 'rate', 'concurrency', 'seed'] as const) {
    if (test[field] === undefined) throw new ShrinkError(`${runDir}/test.json has no ${field}`);
  }
  return { test, anomalies };
}

function originalPlan(test: StoredTest, runDir: string): ShrinkPlan {
  if (test.scenario !== undefined) {
    let scenario: Scenario;
    try {
      scenario = validateScenario(test.scenario.scenario, `${runDir}/test.json scenario`);
    } catch (error) {
      throw new ShrinkError((error as Error).message);
    }
    const plan = planFromScenario(scenario, test);
    if (plan === undefined) throw new ShrinkError(`${runDir} ran scenario ${scenario.name}, whose steps are not all timed fault steps: the shrinker takes random runs and the scenarios it writes`);
    return plan;
  }
  const schedule = generateSchedule({ packages: parsedPackages(test.nemesis), seed: test.seed, intervalSeconds: test.nemesisIntervalSeconds, timeLimitSeconds: test.timeLimitSeconds });
  return planFromSchedule(schedule, test);
}

function scenarioMeta(test: StoredTest, runDir: string): Parameters<typeof planToScenario>[1] {
  return {
    name: test.name.replace(/[^\w.-]/g, '').slice(0, 50) || 'run',
    description: `Shrunk by zabkit shrink from ${runDir} (seed ${test.seed}${test.bug ? `, --bug ${test.bug}` : ''}).`,
    systems: [test.system],
    reference: { shrunkFrom: runDir, seed: String(test.seed), ...(test.command ? { command: test.command } : {}), ...(test.bug ? { bug: test.bug } : {}) },
    ...(test.system === 'zookeeper' && test.zookeeper !== undefined ? { zookeeper: { properties: test.zookeeper.properties, jvmFlags: test.zookeeper.jvmFlags } } : {}),
  };
}

/** `zabkit test` arguments that replay a scenario file under the original run's settings. */
function testArgs(test: StoredTest, scenarioFile: string): string[] {
  return [
    'test', '--system', test.system, '--scenario', scenarioFile, '--seed', String(test.seed),
    ...(test.bug ? ['--bug', test.bug] : []),
    ...(test.system === 'zookeeper' && test.zookeeper !== undefined ? ['--zookeeper-version', test.zookeeper.version] : []),
    ...(test.warmupSeconds !== undefined ? ['--warmup', String(test.warmupSeconds)] : []),
    ...(test.recoverySeconds !== undefined ? ['--recovery', String(test.recoverySeconds)] : []),
    ...(test.readsDuringRun === true ? ['--reads-during-run'] : []),
  ];
}

function reproduceCommand(test: StoredTest, scenarioFile: string): string {
  return ['zabkit', ...testArgs(test, scenarioFile)].map(shellQuote).join(' ');
}

async function replayScenario(plan: ShrinkPlan, scenarioFile: string, name: string, test: StoredTest, target: readonly string[], out: string, options: ShrinkOptions): Promise<ShrinkRun> {
  const store = path.join(out, 'runs');
  const args = [...testArgs(test, scenarioFile), '--store', store, '--name', name, ...(options.toxiproxyUrl ? ['--toxiproxy-url', options.toxiproxyUrl] : [])];
  const started = Date.now();
  const result = await execa('node', [options.cli, ...args], {
    reject: false,
    all: true,
    timeout: (plan.durationMs / 1000 + nightlyLimits.cellMarginSeconds) * 1000,
    killSignal: 'SIGTERM',
  });
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  const exitCode = result.exitCode ?? 255;
  const stored = readRunOutcome(path.join(store, name, 'latest'), exitCode);
  const why = stored.valid === 'crashed' ? (stored.crashedCause ?? (result.all ?? '').split('\n').filter(Boolean).slice(-1)[0]) : stored.valid === 'unknown' ? stored.reason : undefined;
  return {
    name,
    runDir: stored.dir === undefined ? undefined : path.relative(out, stored.dir),
    exitCode,
    valid: stored.valid,
    anomalies: stored.anomalies,
    reproduced: reproduces(stored.valid, stored.anomalies, target),
    seconds,
    ...(why === undefined ? {} : { reason: why.slice(0, 300) }),
  };
}

function loadState(file: string, original: string, target: readonly string[], replays: number): ShrinkState {
  const fresh: ShrinkState = { version: 1, original, target, replays, trials: [], spentMinutes: 0 };
  if (!existsSync(file)) return fresh;
  let state: ShrinkState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as ShrinkState;
  } catch (error) {
    throw new ShrinkError(`${file}: not a shrink state (${(error as Error).message}); give another --out or remove it`);
  }
  if (state.version !== 1 || state.original !== original || JSON.stringify(state.target) !== JSON.stringify(target) || state.replays !== replays) {
    throw new ShrinkError(`${file} is the state of another shrink (of ${state.original}, reproducing ${(state.target ?? []).join(',')}, ${state.replays} replays): give another --out, or the same run, anomaly and --replays to resume it`);
  }
  // A trial cut short (its invocation stopped mid-replay) is decided again from its finished runs.
  for (const t of state.trials) if (t.outcome === undefined && t.pass !== 'original' && t.runs.some((run) => !run.reproduced)) t.outcome = 'passes';
  return state;
}

function writeAtomically(file: string, text: string): void {
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

function progress(log: (line: string) => void, state: ShrinkState, trial: ShrinkTrial, minutes: number, budget: number): void {
  const runs = trial.runs.map((run) => (run.reproduced ? 'fails' : String(run.valid === false ? 'other anomaly' : run.valid))).join(', ');
  const best = state.best === undefined ? 'none yet' : describePlan(state.best.plan, true);
  log(`shrink [${minutes.toFixed(1)}/${budget} min] trial ${trial.index} ${trial.pass}: ${trial.change}: ${trial.outcome === 'fails' ? 'still fails' : 'does not fail'} (${runs}) | smallest: ${best}`);
}

/** OUT/index.html: the original run, the result with its verification, and every trial. */
function shrinkHtml(state: ShrinkState, test: StoredTest, runDir: string, out: string, original: ShrinkPlan, options: ShrinkOptions): string {
  const link = (dir: string | undefined, text: string): string => (dir === undefined ? esc(text) : `<a href="${esc(path.join(dir, 'index.html'))}">${esc(text)}</a>`);
  const runCell = (run: ShrinkRun): string => {
    const word = run.reproduced ? 'fails' : run.valid === false ? `invalid (${Object.keys(run.anomalies).join(', ')})` : String(run.valid);
    return `<span class="${run.reproduced ? 'bad' : 'ok'}" title="${esc(run.reason ?? Object.entries(run.anomalies).map(([k, v]) => `${k} ${v}`).join(', '))}">${link(run.runDir, `${word} ${run.seconds}s`)}</span>`;
  };
  const verification = state.verification?.runs ?? [];
  const failed = verification.filter((run) => run.reproduced).length;
  const best = state.best?.plan;
  const rows = state.trials.map((t) => `<tr class="${t.outcome === 'fails' ? 'kept' : ''}"><td>${t.index}</td><td>${esc(t.pass)}</td><td>${esc(t.change)}</td><td>${t.plan.faults.length}</td><td>${t.plan.nodes}</td><td>${t.plan.rate}/s x ${t.plan.concurrency}</td><td>${(t.plan.durationMs / 1000).toFixed(1)} s</td><td>${t.runs.map(runCell).join(' ')}</td><td>${esc(t.outcome === 'fails' ? 'kept' : t.outcome === 'passes' ? 'rejected' : 'cut short')}</td><td><a href="${esc(path.relative(out, t.scenarioFile))}">scenario</a></td></tr>`);
  const relOriginal = path.relative(out, runDir);
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>zabkit shrink</title>',
    '<style>body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}tr.kept{background:#fff1f0}.bad{color:#cf222e;font-weight:600}.ok{color:#1a7f37}pre{background:#f6f8fa;padding:8px;overflow:auto}.muted{color:#57606a}</style></head><body>',
    `<h1>zabkit shrink</h1>`,
    `<p id="original">Original run: ${link(relOriginal, runDir)} (seed ${test.seed}${test.bug ? `, --bug ${esc(test.bug)}` : ''}): INVALID; reproducing <b>${esc(state.target.join(' or '))}</b>. Its schedule: ${esc(describePlan(original))}.</p>`,
    best === undefined
      ? '<p class="bad">No schedule failed every replay (the original did not fail again as a scenario, nor did any smaller one): nothing was shrunk.</p>'
      : `<p id="result">Smallest failing plan: <b>${esc(describePlan(best))}</b> (<a href="scenario.json">scenario.json</a>). Replayed ${verification.length} time${verification.length === 1 ? '' : 's'}: failed with ${esc(state.target.join(' or '))} in <b>${failed} of ${verification.length}</b>: ${verification.map(runCell).join(' ')}</p>`,
    best === undefined ? '' : `<pre>${esc(reproduceCommand(test, path.join(out, 'scenario.json')))}</pre>`,
    `<p class="muted">${state.trials.length} trials, ${state.trials.reduce((n, t) => n + t.runs.length, 0) + verification.length} runs, ${state.spentMinutes.toFixed(1)} min in all; budget ${options.budgetMinutes} min${state.exhausted ? ' (spent: the search stopped before it was done)' : ''}. A candidate is kept when each of its ${state.replays} replays fails with the target anomaly; the first replay that does not rejects it. The original schedule is replayed up to ${Math.max(state.replays, shrinkerLimits.baselineAttempts)} times until it fails once; if it never does, the search still looks for a smaller schedule that fails every replay.</p>`,
    '<table><thead><tr><th>#</th><th>pass</th><th>change</th><th>faults</th><th>nodes</th><th>load</th><th>length</th><th>replays</th><th>outcome</th><th></th></tr></thead><tbody>',
    ...rows,
    '</tbody></table></body></html>',
  ].join('\n');
}
