/**
 * The shrinker's pure part (faults/shrink.ts): a run's schedule as a plan, the plan as a replayable
 * scenario and back, and the search, driven here by a model of a bug: a trial "fails" when the
 * candidate still holds the faults the bug needs (the way a real replay would), so the test sees
 * what a user would: the smallest plan and the trials it took.
 */
import { describe, expect, it } from 'vitest';
import { generateSchedule } from '../../../faults/schedule.js';
import { normalize, planFromSchedule, planFromScenario, planKey, planToScenario, reproduces, shrinkSearch, targetAnomalies, type ShrinkPlan, type TrialOutcome } from '../../../faults/shrink.js';
import { validateScenario } from '../../../jepsen-style/scenario-format.js';
import { faultPackages } from '../../../jepsen-style/vocabulary.js';

const basics = { nodes: 5, rate: 200, concurrency: 10, timeLimitSeconds: 60 };
const allSchedule = (seed: number): ShrinkPlan => planFromSchedule(generateSchedule({ packages: [...faultPackages], seed, intervalSeconds: 5, timeLimitSeconds: 60 }), basics);

const meta = { name: 'shrunk', description: 'test', systems: ['zabkit' as const], reference: { shrunkFrom: '/store/x/latest' } };

describe('a run as a plan', () => {
  it('has every fault of the schedule that began before the time limit, each with its start, end, draw and pick', () => {
    const schedule = generateSchedule({ packages: [...faultPackages], seed: 2, intervalSeconds: 5, timeLimitSeconds: 60 });
    const plan = planFromSchedule(schedule, basics);
    const starts = schedule.filter((e) => (e.op.value as { pick?: number }).pick !== undefined);
    expect(plan.faults.length).toBe(starts.length);
    expect(plan.faults.length).toBeGreaterThan(10);
    for (const fault of plan.faults) {
      const start = starts.find((e) => (e.op.value as { id: number }).id === fault.id)!;
      expect(fault.startMs).toBe(start.atMs);
      expect(fault.pick).toBe((start.op.value as { pick: number }).pick);
      expect(fault.endMs).toBeGreaterThan(fault.startMs);
      expect(fault.endMs).toBeLessThan(60_000);
      expect(fault.draw).not.toHaveProperty('id');
      expect(fault.draw).not.toHaveProperty('pick');
    }
    expect(plan.durationMs).toBe(60_000);
  });

  it('becomes a scenario the format accepts, with the load as its workload, and comes back the same plan', () => {
    const plan = allSchedule(3);
    const scenario = planToScenario(plan, meta);
    const parsed = validateScenario(JSON.parse(JSON.stringify(scenario)), 'shrunk.json');
    expect(parsed.workload).toEqual({ rate: 200, concurrency: 10 });
    expect(parsed.steps.filter((s) => s.do === 'fault')).toHaveLength(plan.faults.length);
    expect(parsed.steps.filter((s) => s.do === 'end')).toHaveLength(plan.faults.length);
    expect(parsed.steps.at(-1)).toMatchObject({ do: 'sleep', at: 60_000 });
    // Steps are in time order, an end before a start at the same instant.
    const ats = parsed.steps.map((s) => s.at!);
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);
    expect(planKey(planFromScenario(parsed, { rate: 1, concurrency: 1 })!)).toBe(planKey(plan));
  });

  it('a scenario with other steps (strikes, log waits) is not a plan', () => {
    const scenario = validateScenario({ name: 'x', nodes: 3, steps: [{ do: 'kill', node: 'leader' }, { do: 'start', node: 'down' }] }, 'x.json');
    expect(planFromScenario(scenario, { rate: 1, concurrency: 1 })).toBeUndefined();
  });
});

/** A model bug: it shows when the plan still has these faults, held at least `holdMs`, on at least `nodes` nodes. */
function bugNeeding(ids: readonly number[], options: { holdMs?: number; nodes?: number; rate?: number } = {}) {
  const trials: { change: string; pass: string; faults: number; outcome: TrialOutcome }[] = [];
  const trial = async (plan: ShrinkPlan, change: string, pass: string): Promise<TrialOutcome> => {
    const fails = ids.every((id) => plan.faults.some((f) => f.id === id && f.endMs - f.startMs >= (options.holdMs ?? 0)))
      && plan.nodes >= (options.nodes ?? 0) && plan.rate >= (options.rate ?? 0);
    const outcome: TrialOutcome = fails ? 'fails' : 'passes';
    trials.push({ change, pass, faults: plan.faults.length, outcome });
    return outcome;
  };
  return { trial, trials };
}

describe('the search', () => {
  it('shrinks 19 faults to the one the bug needs, moved to the start, held briefly, on 3 nodes at a low rate', async () => {
    const original = allSchedule(2);
    const needed = original.faults[7]!.id;
    const { trial, trials } = bugNeeding([needed]);
    const { best, exhausted } = await shrinkSearch(original, trial);
    expect(exhausted).toBe(false);
    expect(best.faults.map((f) => f.id)).toEqual([needed]);
    expect(best.faults[0]!.startMs).toBe(1_000);
    expect(best.faults[0]!.endMs - best.faults[0]!.startMs).toBe(500);
    expect(best.nodes).toBe(3);
    expect(best.rate).toBe(10);
    expect(best.concurrency).toBe(1);
    expect(best.durationMs).toBe(1_000 + 500 + 2_000);
    // ddmin with a binary search of the prefix first: a few dozen trials, not one per subset.
    expect(trials.length).toBeLessThan(60);
    expect(trials[0]!.pass).toBe('prefix');
    // Its last fault ends at the time limit: trimming alone would lengthen the run, so it is not tried.
    expect(original.faults.at(-1)!.endMs + 2_000).toBeGreaterThan(original.durationMs);
    expect(trials.some((t) => t.change.startsWith('end 2 s after the last fault'))).toBe(false);
  });

  it('keeps two faults the bug needs together, and what it needs of holds, nodes and load', async () => {
    const original = allSchedule(5);
    const [a, b] = [original.faults[2]!.id, original.faults[9]!.id];
    const { trial } = bugNeeding([a, b], { holdMs: 2_000, nodes: 5, rate: 100 });
    const { best } = await shrinkSearch(original, trial);
    expect(best.faults.map((f) => f.id).sort((x, y) => x - y)).toEqual([a, b].sort((x, y) => x - y));
    for (const fault of best.faults) expect(fault.endMs - fault.startMs).toBeGreaterThanOrEqual(2_000);
    expect(best.nodes).toBe(5);
    expect(best.rate).toBeGreaterThanOrEqual(100);
    expect(best.rate).toBeLessThan(200);
  });

  it('finds two consecutive faults the rest of the schedule hides, in short runs', async () => {
    // The model: the bug needs faults 6 and 7 and shows only when at most one other fault is held
    // with them (more of the schedule masks it), or in the original itself. ddmin gets there, if at
    // all, through candidates that keep the original's 60 s; the windows try the pair alone, moved
    // to the start, in a run of a few seconds. (Seeds 1-5, pairs at 3, 6, 10, 14: with the windows
    // the candidates' run time totals 8-16 min and the pair is always found; without, 28-145 min,
    // and 5 of the 20 never got below 3 faults.)
    const original = allSchedule(2);
    const needed = [original.faults[6]!.id, original.faults[7]!.id];
    let candidateMs = 0;
    const trial = async (plan: ShrinkPlan): Promise<TrialOutcome> => {
      candidateMs += plan.durationMs;
      const holds = needed.every((id) => plan.faults.some((f) => f.id === id));
      return holds && (plan.faults.length <= 3 || planKey(plan) === planKey(original)) ? 'fails' : 'passes';
    };
    const { best, exhausted } = await shrinkSearch(original, trial);
    expect(exhausted).toBe(false);
    expect(best.faults.map((f) => f.id)).toEqual(needed);
    expect(best.faults[0]!.startMs).toBe(1_000);
    expect(candidateMs).toBeLessThan(20 * 60_000);
  });

  it('with an original that did not fail again, starts with the windows, not its long prefixes', async () => {
    const original = allSchedule(3);
    const needed = original.faults[4]!.id;
    const { trial, trials } = bugNeeding([needed]);
    const { best } = await shrinkSearch(original, trial, { originalFlaky: true });
    expect(best.faults.map((f) => f.id)).toEqual([needed]);
    expect(trials[0]!.pass).toBe('window');
  });

  it('a bug that needs no fault at all ends with none', async () => {
    const { trial } = bugNeeding([]);
    const { best } = await shrinkSearch(allSchedule(1), trial);
    expect(best.faults).toEqual([]);
  });

  it('stops at once when the budget is spent, with the smallest plan so far', async () => {
    const original = allSchedule(2);
    let calls = 0;
    const { best, exhausted } = await shrinkSearch(original, async () => (++calls > 3 ? 'budget' : 'fails'));
    expect(exhausted).toBe(true);
    expect(calls).toBe(4);
    expect(best.faults.length).toBeLessThan(original.faults.length);
  });

  it('takes the same path again with the same outcomes (what a resumed shrink relies on)', async () => {
    const original = allSchedule(4);
    const needed = [original.faults[3]!.id, original.faults[4]!.id];
    const first = bugNeeding(needed);
    const second = bugNeeding(needed);
    const a = await shrinkSearch(original, first.trial);
    const b = await shrinkSearch(normalize(original), second.trial);
    expect(second.trials.map((t) => t.change)).toEqual(first.trials.map((t) => t.change));
    expect(planKey(b.best)).toBe(planKey(a.best));
  });
});

describe('the anomaly class', () => {
  it("is the original's safety anomalies; liveness ones only when it had nothing else", () => {
    expect(targetAnomalies({ lost: 3, 'not-converged': 1, divergence: 0 })).toEqual(['lost']);
    expect(targetAnomalies({ unavailable: 2 })).toEqual(['unavailable']);
  });

  it('a candidate reproduces when it is invalid with one of them', () => {
    expect(reproduces(false, { lost: 1 }, ['lost', 'divergence'])).toBe(true);
    expect(reproduces(false, { unavailable: 1 }, ['lost'])).toBe(false);
    expect(reproduces('unknown', { lost: 1 }, ['lost'])).toBe(false);
  });
});
