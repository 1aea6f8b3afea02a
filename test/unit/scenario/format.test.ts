/** The scenario format as a user meets it: the shipped files load, and every mistake in a file is a ScenarioError naming the step and the field. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkScenarioFor, parseScenario, patternFor, ScenarioError, validateScenario, type Scenario } from '../../../jepsen-style/scenario-format.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const shipped = (name: string): Scenario => parseScenario(readFileSync(path.join(root, 'scenarios', `${name}.json`), 'utf8'), `${name}.json`);

/** A scenario with these steps (and top-level fields), as it would be written in t.json. */
function scenario(steps: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 't', description: 'test', nodes: 5, systems: ['zookeeper', 'zabkit'], steps, ...extra };
}

/** The ScenarioError that validating `raw` throws; fails the test if it does not throw one. */
function errorOf(raw: unknown): ScenarioError {
  try {
    validateScenario(raw, 't.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ScenarioError);
    return error as ScenarioError;
  }
  throw new Error('expected a ScenarioError');
}

const diff = { zookeeper: 'Getting a diff from the leader', zabkit: 'sync from leader: DIFF' };

describe('shipped scenarios', () => {
  for (const name of ['zk-4925', 'zk-4785', 'zk-2332']) {
    it(`${name} parses and runs on both systems`, () => {
      const s = shipped(name);
      expect(s.name).toBe(name);
      expect(s.steps.length).toBeGreaterThan(5);
      expect(s.reference?.['issue']).toBe(name.replace('zk-', 'ZOOKEEPER-'));
      expect(() => checkScenarioFor(s, 'zookeeper')).not.toThrow();
      expect(() => checkScenarioFor(s, 'zabkit')).not.toThrow();
    });
  }

  it('zk-4785 keeps its strike and the jvmFlags of its restart', () => {
    const s = shipped('zk-4785');
    const strike = s.steps.find((step) => step.on !== undefined);
    expect(strike?.do).toBe('kill');
    expect(strike?.on?.timeoutMs).toBe(30_000);
    expect(strike?.on?.withinMs).toBe(100);
    expect(strike?.on?.file?.minBytes).toBe(16);
    expect(s.steps.find((step) => step.do === 'start')?.jvmFlags).toEqual(['-Dzookeeper.maxBatchSize=1']);
  });
});

describe('scenario errors', () => {
  it('non-JSON text names the file', () => {
    expect(() => parseScenario('{"name": "t", steps: []', 'bad.json')).toThrow(ScenarioError);
    expect(() => parseScenario('{"name": "t", steps: []', 'bad.json')).toThrow(/^bad\.json: not JSON: /);
  });

  it('an unknown top-level field is named, with the allowed ones', () => {
    const e = errorOf(scenario([{ do: 'heal' }], { step: [] }));
    expect(e.message).toMatch(/^t\.json: top level: unknown field "step"/);
    expect(e.message).toContain('allowed: name, description, nodes, systems');
  });

  it('an unknown step kind names the step and lists the kinds', () => {
    const e = errorOf(scenario([{ do: 'heal' }, { do: 'explode', node: 'n1' }]));
    expect(e.message).toMatch(/^t\.json: step 2 do: one of kill, stop, start/);
  });

  it('an unknown field on a step names the step, its kind and the field', () => {
    const e = errorOf(scenario([{ do: 'kill', node: 'n1', count: 3 }]));
    expect(e.message).toMatch(/^t\.json: step 1 \(kill\): unknown field "count" \(allowed: do, as, note, at, node, on\)/);
  });

  it('a bad node selector is refused with the forms allowed', () => {
    for (const node of ['primary', 'n0', 'n10', 'follower:middle', '@', 'step:x']) {
      expect(errorOf(scenario([{ do: 'kill', node }])).message).toMatch(/^t\.json: step 1 node: leader, follower, follower:highest/);
    }
    expect(errorOf(scenario([{ do: 'cut', from: 'n1', to: 'leaderr' }])).message).toMatch(/^t\.json: step 1 to: /);
  });

  it('a process step without a node says it needs one', () => {
    expect(errorOf(scenario([{ do: 'pause' }])).message).toBe('t.json: step 1 node: a node is required');
  });

  it('@NAME must be named by an earlier step (not a later one, not an unknown one)', () => {
    expect(errorOf(scenario([{ do: 'kill', node: 'leader', as: 'L' }, { do: 'start', node: '@X' }])).message).toBe('t.json: step 2 node: no earlier step is named X');
    expect(errorOf(scenario([{ do: 'start', node: '@L' }, { do: 'kill', node: 'leader', as: 'L' }])).message).toBe('t.json: step 1 node: no earlier step is named L');
    expect(errorOf(scenario([{ do: 'kill', node: 'leader', as: 'L' }, { do: 'await-leader', expect: '@M' }])).message).toBe('t.json: step 2 expect: no earlier step is named M');
    expect(() => validateScenario(scenario([{ do: 'kill', node: 'leader', as: 'L' }, { do: 'start', node: '@L' }]), 't.json')).not.toThrow();
  });

  it('a name given twice by `as` is refused at the second', () => {
    const e = errorOf(scenario([{ do: 'stop', node: 'n1', as: 'A' }, { do: 'heal' }, { do: 'stop', node: 'n2', as: 'A' }]));
    expect(e.message).toBe('t.json: step 3 as: A names an earlier step already');
  });

  it('step:K must name an earlier step', () => {
    const steps = [{ do: 'stop', node: 'n1' }, { do: 'start', node: 'step:3' }, { do: 'heal' }];
    expect(errorOf(scenario(steps)).message).toBe('t.json: step 2 node: step:K must name an earlier step');
    expect(errorOf(scenario([{ do: 'stop', node: 'step:1' }])).message).toBe('t.json: step 1 node: step:K must name an earlier step');
    expect(() => validateScenario(scenario([{ do: 'stop', node: 'n1' }, { do: 'start', node: 'step:1' }]), 't.json')).not.toThrow();
  });

  it('nK must be one of the scenario\'s nodes', () => {
    expect(errorOf(scenario([{ do: 'kill', node: 'n7' }])).message).toBe('t.json: step 1 node: n7 is not one of the 5 nodes');
    expect(() => validateScenario(scenario([{ do: 'kill', node: 'n5' }]), 't.json')).not.toThrow();
    expect(() => validateScenario(scenario([{ do: 'kill', node: 'n7' }], { nodes: 7 }), 't.json')).not.toThrow();
  });

  it('a write needs a count of at least 1', () => {
    expect(errorOf(scenario([{ do: 'write' }])).message).toBe('t.json: step 1 count: an integer from 1 to 100000');
    expect(errorOf(scenario([{ do: 'write', count: 0 }])).message).toBe('t.json: step 1 count: an integer from 1 to 100000');
    expect(errorOf(scenario([{ do: 'write', count: 100_001 }])).message).toBe('t.json: step 1 count: an integer from 1 to 100000');
    expect(() => validateScenario(scenario([{ do: 'write', count: 1 }]), 't.json')).not.toThrow();
  });

  it('an invalid regex names the field (and, per system, any of its patterns)', () => {
    expect(errorOf(scenario([{ do: 'await-log', node: 'n1', log: 'Getting a (diff' }])).message).toMatch(/^t\.json: step 1 log: not a regex: /);
    expect(errorOf(scenario([{ do: 'await-log', node: 'n1', log: diff, failOn: { zookeeper: 'ok', zabkit: '[SNAP' } }])).message).toMatch(/^t\.json: step 1 failOn: not a regex: /);
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: '*x', timeoutMs: 10 } }])).message).toMatch(/^t\.json: step 1 on\.log: not a regex: /);
    expect(errorOf(scenario([{ do: 'await-log', node: 'n1', log: { zookeeper: 'x', etcd: 'y' } }])).message).toBe('t.json: step 1 log: unknown system etcd');
  });

  it('an await-log without a pattern says one is required', () => {
    expect(errorOf(scenario([{ do: 'await-log', node: 'n1' }])).message).toBe('t.json: step 1 log: a log pattern is required');
  });

  it('a strike needs its timeoutMs', () => {
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: 'x' } }])).message).toBe('t.json: step 1 on.timeoutMs: an integer from 1 to 600000');
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: 'x', timeoutMs: 0 } }])).message).toBe('t.json: step 1 on.timeoutMs: an integer from 1 to 600000');
    expect(() => validateScenario(scenario([{ do: 'kill', node: 'n1', on: { log: 'x', timeoutMs: 1 } }]), 't.json')).not.toThrow();
  });

  it("a strike's file condition needs a path pattern and a positive minBytes", () => {
    const on = (file: unknown): unknown[] => [{ do: 'kill', node: 'n1', on: { log: 'x', timeoutMs: 10, file } }];
    expect(errorOf(scenario(on('log.*'))).message).toBe('t.json: step 1 on.file: must be an object: {"path": PATTERN, "minBytes": N}');
    expect(errorOf(scenario(on({ minBytes: 16 }))).message).toBe('t.json: step 1 on.file.path: a log pattern is required');
    expect(errorOf(scenario(on({ path: 'log', minBytes: 0 }))).message).toBe('t.json: step 1 on.file.minBytes: a positive integer');
    expect(errorOf(scenario(on({ path: 'log', minBytes: 16, size: 1 }))).message).toMatch(/^t\.json: step 1 on\.file: unknown field "size"/);
    expect(() => validateScenario(scenario(on({ path: { zookeeper: '^version-2/log\\.' }, minBytes: 16 })), 't.json')).not.toThrow();
  });

  it('a strike needs a node to watch: its own or the step\'s', () => {
    expect(errorOf(scenario([{ do: 'heal', on: { log: 'x', timeoutMs: 100 } }])).message).toBe('t.json: step 1 on.node: whose log to watch');
    expect(errorOf(scenario([{ do: 'cut', from: 'n1', to: 'n2', on: { log: 'x', timeoutMs: 100 } }])).message).toBe('t.json: step 1 on.node: whose log to watch');
    expect(() => validateScenario(scenario([{ do: 'heal', on: { log: 'x', node: 'leader', timeoutMs: 100 } }]), 't.json')).not.toThrow();
  });

  it('a strike\'s node gets the checks of every other node field', () => {
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: 'x', node: '@NOPE', timeoutMs: 10 } }])).message).toBe('t.json: step 1 on.node: no earlier step is named NOPE');
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: 'x', node: 'n7', timeoutMs: 10 } }])).message).toBe('t.json: step 1 on.node: n7 is not one of the 5 nodes');
    expect(errorOf(scenario([{ do: 'kill', node: 'n1', on: { log: 'x', node: 'step:5', timeoutMs: 10 } }])).message).toBe('t.json: step 1 on.node: step:K must name an earlier step');
  });
});

describe('checkScenarioFor', () => {
  it('refuses a system the scenario is not written for', () => {
    const s = validateScenario(scenario([{ do: 'heal' }], { systems: ['zabkit'] }), 't.json');
    expect(() => checkScenarioFor(s, 'zabkit')).not.toThrow();
    expect(() => checkScenarioFor(s, 'zookeeper')).toThrow(ScenarioError);
    expect(() => checkScenarioFor(s, 'zookeeper')).toThrow('scenario t is written for zabkit, not zookeeper');
  });

  it('refuses a system that a per-system log pattern leaves out, naming the step and field', () => {
    const s = validateScenario(scenario([
      { do: 'heal' },
      { do: 'await-log', node: 'n1', log: diff, failOn: { zookeeper: 'Getting a snapshot' } },
    ]), 't.json');
    expect(() => checkScenarioFor(s, 'zookeeper')).not.toThrow();
    expect(() => checkScenarioFor(s, 'zabkit')).toThrow('scenario t step 2 failOn: no log pattern for zabkit');

    const strike = validateScenario(scenario([{ do: 'kill', node: 'n2', on: { log: { zabkit: 'sync from leader' }, timeoutMs: 100 } }]), 't.json');
    expect(() => checkScenarioFor(strike, 'zabkit')).not.toThrow();
    expect(() => checkScenarioFor(strike, 'zookeeper')).toThrow('scenario t step 1 on.log: no log pattern for zookeeper');
  });

  it('a plain string pattern serves every system', () => {
    const s = validateScenario(scenario([{ do: 'await-log', node: 'n1', log: 'LEADING' }]), 't.json');
    expect(() => checkScenarioFor(s, 'zookeeper')).not.toThrow();
    expect(() => checkScenarioFor(s, 'zabkit')).not.toThrow();
  });
});

describe('patternFor', () => {
  it('gives each system its own regex, a plain string to all, and undefined when there is none', () => {
    expect(patternFor(diff, 'zookeeper')?.test('2026-12-02 00:12:34,567 [myid:2] - INFO  [QuorumPeer] - Getting a diff from the leader 0x100000005')).toBe(true);
    expect(patternFor(diff, 'zookeeper')?.test('{"msg":"sync from leader: DIFF"}')).toBe(false);
    expect(patternFor(diff, 'zabkit')?.test('{"msg":"sync from leader: DIFF"}')).toBe(true);
    expect(patternFor('SNAP|TRUNC', 'zabkit')?.source).toBe('SNAP|TRUNC');
    expect(patternFor('SNAP|TRUNC', 'zookeeper')?.test('Truncating: TRUNC')).toBe(true);
    expect(patternFor({ zookeeper: 'x' }, 'zabkit')).toBeUndefined();
    expect(patternFor(undefined, 'zabkit')).toBeUndefined();
  });
});

describe('fault steps, at and workload (the scenarios zabkit shrink writes)', () => {
  const partition = { package: 'partition', shape: 'leader', mode: 'silent' };

  it('a fault step deals a drawn fault, an end step names it, at times the steps, workload sets the load', () => {
    const s = validateScenario(scenario([
      { do: 'fault', as: 'f1', fault: partition, pick: 7, at: 1000 },
      { do: 'end', fault: 'f1', at: 3500 },
      { do: 'sleep', ms: 0, at: 5500 },
    ], { workload: { rate: 100, concurrency: 4 } }), 't.json');
    expect(s.workload).toEqual({ rate: 100, concurrency: 4 });
    expect(s.steps[0]).toMatchObject({ do: 'fault', fault: partition, pick: 7, at: 1000 });
  });

  it('a fault must be one the schedule could draw: its package, every field, known values', () => {
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'flood' }, pick: 1 }])).message).toMatch(/step 1 fault: package: one of kill, /);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'partition', shape: 'leader' }, pick: 1 }])).message).toMatch(/partition needs "mode"/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'kill', targets: 'everyone' }, pick: 1 }])).message).toMatch(/kill.targets: one of one, leader/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'latency', scope: 'all', latencyMs: -5, jitterMs: 0 }, pick: 1 }])).message).toMatch(/latency.latencyMs: a whole number/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'rejoin', speed: 2 }, pick: 1 }])).message).toMatch(/rejoin has no field "speed"/);
  });

  it('a fault step needs a pick and a name; an end names an open fault, once', () => {
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: partition }])).message).toMatch(/step 1 pick/);
    expect(errorOf(scenario([{ do: 'fault', fault: partition, pick: 1 }])).message).toMatch(/step 1 as: a fault step needs a name/);
    expect(errorOf(scenario([{ do: 'end', fault: 'f' }])).message).toMatch(/step 1 fault: the name of an earlier fault step/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: partition, pick: 1 }, { do: 'end', fault: 'f' }, { do: 'end', fault: 'f' }])).message).toMatch(/step 3 fault/);
  });

  it('a process or disk fault may go to one named node, a power cut fix its mode, a slow disk its delay, and strike on a line', () => {
    const s = validateScenario(scenario([
      { do: 'stop', node: 'follower', as: 'V' },
      { do: 'fault', as: 'D', node: '@V', pick: 1, fault: { package: 'disk', kind: 'slow', targets: 'one', fsyncDelayMs: 2000 } },
      { do: 'fault', as: 'P', node: '@V', pick: 2, fault: { package: 'power', targets: 'all', mode: 'lose' }, on: { log: 'Creating new log file', timeoutMs: 1000 } },
      { do: 'end', fault: 'D' },
      { do: 'end', fault: 'P' },
    ]), 't.json');
    expect(s.steps[2]).toMatchObject({ node: '@V', fault: { mode: 'lose' }, on: { log: 'Creating new log file' } });
  });

  it("a fault's node, mode and fsync delay are checked", () => {
    const partition = { package: 'partition', shape: 'leader', mode: 'silent' };
    expect(errorOf(scenario([{ do: 'fault', as: 'f', node: 'n1', fault: partition, pick: 1 }])).message).toMatch(/step 1 node: only a kill, pause, power, disk fault goes to one node, not partition/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', node: '@X', fault: { package: 'kill', targets: 'one' }, pick: 1 }])).message).toMatch(/step 1 node: no earlier step is named X/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'power', targets: 'all', mode: 'melt' }, pick: 1 }])).message).toMatch(/power.mode: one of lose, torn, reorder/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'disk', kind: 'stall', targets: 'one', fsyncDelayMs: 5 }, pick: 1 }])).message).toMatch(/only a "slow" disk has an fsync delay/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'disk', kind: 'slow', targets: 'one', fsyncDelayMs: 60_001 }, pick: 1 }])).message).toMatch(/fsyncDelayMs: from 1 to 60000/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'kill', targets: 'one', mode: 'lose' }, pick: 1 }])).message).toMatch(/kill has no field "mode" \(its fields: targets\)/);
    expect(errorOf(scenario([{ do: 'fault', as: 'f', fault: { package: 'kill', targets: 'one' }, pick: 1, on: { log: 'x', timeoutMs: 10 } }])).message).toMatch(/on.node: whose log to watch/);
  });

  it('at and workload are checked', () => {
    expect(errorOf(scenario([{ do: 'sleep', ms: 1, at: -1 }])).message).toMatch(/step 1 at: an integer from 0/);
    expect(errorOf(scenario([{ do: 'sleep', ms: 1 }], { workload: { rate: 0, concurrency: 1 } })).message).toMatch(/workload.rate/);
    expect(errorOf(scenario([{ do: 'sleep', ms: 1 }], { workload: { rate: 5, concurrency: 1, burst: 3 } })).message).toMatch(/workload: unknown field "burst"/);
  });
});
