/**
 * Scenarios: exact fault choreographies written as data (JSON), replayed step by step instead of
 * the random schedule (`zabkit test --scenario NAME|FILE`). This file is the format: its types and
 * the one validator, pure (no I/O). faults/scenario.ts runs a scenario on a real cluster.
 *
 * A scenario file:
 *   { "name": "zk-4925", "description": "...", "nodes": 5, "systems": ["zookeeper", "zabkit"],
 *     "reference": { "issue": "ZOOKEEPER-4925", "affects": "3.9.3", "fixedIn": "3.9.4", "url": "..." },
 *     "zookeeper": { "properties": { "KEY": "VALUE" }, "jvmFlags": ["-D..."] },
 *     "steps": [ STEP, ... ] }
 *
 * Steps (`do`), each optionally named for later reference with `"as": "A"`:
 *   kill | stop | start | pause | resume   NODE ("stop" is SIGTERM then SIGKILL; "start" may add "jvmFlags")
 *   isolate NODE          cut every link to and from it (silently);  cut FROM TO  one direction
 *   heal                  remove every cut
 *   write                 "count" broadcasts to "node" (default the leader), all acknowledged within "timeoutMs"
 *   quiesce               every live node answers, one leads, all report the same last zxid, for 1 s
 *   await-leader          a leader is elected; "expect": NODE makes it a precondition on who
 *   await-log             a line matching "log" in NODE's log, after the last line a step matched there and
 *                         no earlier than where the previous step began (or since step "since" began);
 *                         "failOn": a line that means the scenario took another path
 *   require-log           precondition on lines already written since step "since": present, or "absent": true
 *   sleep                 "ms"
 *   fault                 a fault of the random nemesis, exactly as its schedule draws one: "fault": {"package":
 *                         "partition", "shape": "leader", "mode": "silent"} (the fields of the package's draw,
 *                         faults/schedule.ts FaultSpec), "pick": the seed of every choice made when it lands (which
 *                         node is "one", which halves); named with "as" so that a later step can end it
 *                         "node": NODE deals a kill, pause, power or disk fault to exactly that node instead of
 *                         the draw's target; a power cut may fix "mode" (lose, torn, reorder) and a slow disk
 *                         "fsyncDelayMs" (else both are drawn from the pick). A power or disk fault the cluster
 *                         cannot deal as written (no fault filesystem under the nodes) is a failed precondition
 *   end                   "fault": the name of an earlier fault step: its matching heal (restart, resume, heal)
 * Any step may carry "at": it begins no earlier than that many ms after the first step began (the
 * random schedule's clock: `zabkit shrink` writes its candidates this way).
 * A scenario with "workload": {"rate": R, "concurrency": C} runs the random runs' background
 * workload (after the warm-up) while its steps run; --rate and --concurrency override the numbers.
 * Any process, link or fault step can be a **strike**: `"on": {"log": PATTERN, "node": NODE, "timeoutMs": N,
 * "withinMs": M}` waits for the line, then acts at once; the reaction time (line timestamp to the
 * fault) is recorded, and above `withinMs` the strike missed its window (a failed precondition).
 * With `"file": {"path": PATTERN, "minBytes": B}` it also waits (within `timeoutMs`) until a file in
 * the node's data directory, its path relative to it matching PATTERN, has been written since the
 * line and holds at least B bytes: a kill then lands after a write the scenario must not pre-empt
 * (ZooKeeper's 16-byte log header, whose loss is a different bug, ZOOKEEPER-2332).
 *
 * NODE is a string: `leader`, `follower` (seeded pick), `follower:highest`, `follower:lowest` (by id),
 * `down` (the lowest-id node that is down), `n3`, `@A` (the node a step named "A" acted on), `step:2`.
 * A log PATTERN is a regex string, or one per system: `{"zookeeper": "...", "zabkit": "..."}`.
 *
 * A precondition checks that the run reached the moment the scenario tests (the sync mode, who leads,
 * a strike inside its window); when one does not hold, the remaining steps are skipped and the run
 * ends `unknown` with the reason, never valid. It never checks the buggy outcome: the checker
 * decides that, from the history alone.
 */
import type { SystemName } from './types.js';
import { maxNodes } from './types.js';
import { isFaultPackage, type FaultPackage } from './vocabulary.js';

export const processStepKinds = ['kill', 'stop', 'start', 'pause', 'resume'] as const;
export const stepKinds = [...processStepKinds, 'isolate', 'cut', 'heal', 'write', 'quiesce', 'await-leader', 'await-log', 'require-log', 'sleep', 'fault', 'end'] as const;
export type StepKind = (typeof stepKinds)[number];
export type ProcessStepKind = (typeof processStepKinds)[number];

/** A log regex, the same for every system or one per system. */
export type LogPattern = string | Partial<Record<SystemName, string>>;

export interface Strike {
  readonly log: LogPattern;
  /** Whose log; default the step's own node. */
  readonly node?: string;
  readonly timeoutMs: number;
  /** The line's timestamp to the fault: above this the strike missed its window. */
  readonly withinMs?: number;
  /** Also wait for a file in the node's data directory (path relative to it), written since the line, of at least minBytes. */
  readonly file?: { readonly path: LogPattern; readonly minBytes: number };
}

export interface ScenarioStep {
  readonly do: StepKind;
  readonly as?: string;
  readonly node?: string;
  readonly from?: string;
  readonly to?: string;
  readonly count?: number;
  readonly timeoutMs?: number;
  readonly expect?: string;
  readonly log?: LogPattern;
  readonly failOn?: LogPattern;
  readonly since?: number;
  readonly absent?: boolean;
  readonly ms?: number;
  readonly jvmFlags?: readonly string[];
  readonly on?: Strike;
  /** `fault`: the fault as the schedule draws it (`package` and its fields); `end`: the name of the fault step it ends. */
  readonly fault?: FaultDraw | string;
  /** `fault`: the seed of the choices made when it lands. */
  readonly pick?: number;
  /** Begin no earlier than this many ms after the first step began. */
  readonly at?: number;
  /** Free text shown in the report. */
  readonly note?: string;
}

/**
 * A fault as faults/schedule.ts draws one (its FaultSpec): `package` and that package's fields.
 * This layer checks the fields' names and kinds (faultDrawFields); the nemesis gives them meaning.
 */
export interface FaultDraw {
  readonly package: FaultPackage;
  readonly [field: string]: string | number;
}

/** The fields each package's draw has, and what each may be (a list of words, or a whole number). */
export const faultDrawFields: Record<FaultPackage, Readonly<Record<string, readonly string[] | 'integer'>>> = {
  kill: { targets: ['one', 'leader', 'follower', 'followers', 'minority'] },
  pause: { targets: ['one', 'leader', 'follower', 'followers', 'minority'] },
  power: { targets: ['majority', 'all'] },
  partition: { shape: ['halves', 'leader', 'minority-with-leader', 'ring', 'bridge', 'handover'], mode: ['silent', 'refuse'] },
  'one-way': { direction: ['from-leader', 'to-leader', 'random'] },
  latency: { scope: ['all', 'leader', 'one'], latencyMs: 'integer', jitterMs: 'integer' },
  bandwidth: { scope: ['all', 'leader', 'one'], rateKBps: 'integer' },
  reset: { scope: ['all', 'leader', 'one'], timeoutMs: 'integer' },
  slice: { scope: ['all', 'leader', 'one'], averageSize: 'integer', sizeVariation: 'integer', delayUs: 'integer' },
  rejoin: {},
  disk: { kind: ['slow', 'stall', 'eio-write', 'eio-fsync', 'full'], targets: ['one', 'leader', 'follower'] },
};

/**
 * Fields a scenario's fault step may add to a draw (the random schedule never draws them; the
 * nemesis draws their value from the pick when absent, so a pick makes the same other choices).
 */
export const faultDrawOptionalFields: Partial<Record<FaultPackage, Readonly<Record<string, readonly string[] | 'integer'>>>> = {
  power: { mode: ['lose', 'torn', 'reorder'] },
  disk: { fsyncDelayMs: 'integer' },
};

/** The packages a fault step's `node` can aim at one node: the process and disk faults. */
export const nodeAimedPackages: readonly FaultPackage[] = ['kill', 'pause', 'power', 'disk'];

/** A scenario's background workload (the random runs' clients), while its steps run. */
export interface ScenarioWorkload {
  readonly rate: number;
  readonly concurrency: number;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly nodes: number;
  readonly systems: readonly SystemName[];
  readonly reference?: Readonly<Record<string, string>>;
  readonly zookeeper?: { readonly properties?: Readonly<Record<string, string>>; readonly jvmFlags?: readonly string[] };
  readonly workload?: ScenarioWorkload;
  readonly steps: readonly ScenarioStep[];
}

/** Limits of the format (docs/LIMITS.md). */
export const scenarioLimits = {
  maxSteps: 200,
  /** Broadcasts per write step. */
  maxWriteCount: 100_000,
  /** Any one wait of a step. */
  maxTimeoutMs: 600_000,
  /** A step's `at`: a scenario's clock runs a day at most. */
  maxAtMs: 86_400_000,
  /** A workload's rate (broadcasts per second) and clients, as for zabkit test. */
  maxRate: 100_000,
  maxConcurrency: 1_000,
  maxFileBytes: 1 << 20,
  /** A slow disk's `fsyncDelayMs`: the fault filesystem's own bound (cluster/faultfs.ts faultFsLimits). */
  maxFsyncDelayMs: 60_000,
} as const;

/** Defaults of a step's bounds. */
export const stepDefaults = {
  writeTimeoutMs: 60_000,
  waitTimeoutMs: 60_000,
} as const;

/** A scenario that cannot be run as written; the message names the step and the field. */
export class ScenarioError extends Error {
  override name = 'ScenarioError';
}

const selectorPattern = /^(leader|follower|follower:highest|follower:lowest|down|n[1-9]|@[A-Za-z][\w-]{0,30}|step:\d{1,3})$/;

/** Parse and check a scenario (the text of a file); every problem is a ScenarioError naming where. */
export function parseScenario(text: string, source: string): Scenario {
  if (Buffer.byteLength(text) > scenarioLimits.maxFileBytes) throw new ScenarioError(`${source}: a scenario file is at most ${scenarioLimits.maxFileBytes} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(`${source}: not JSON: ${(error as Error).message}`);
  }
  return validateScenario(raw, source);
}

export function validateScenario(raw: unknown, source: string): Scenario {
  const fail = (where: string, what: string): never => {
    throw new ScenarioError(`${source}: ${where}: ${what}`);
  };
  if (!isObject(raw)) return fail('top level', 'must be an object');
  known(raw, ['name', 'description', 'nodes', 'systems', 'reference', 'zookeeper', 'workload', 'steps'], 'top level', fail);
  const name = raw['name'];
  if (typeof name !== 'string' || !/^[\w.-]{1,60}$/.test(name)) fail('name', 'letters, digits, . - _ (1-60)');
  const nodes = raw['nodes'];
  if (!Number.isInteger(nodes) || (nodes as number) < 1 || (nodes as number) > maxNodes) fail('nodes', `an integer from 1 to ${maxNodes}`);
  const systems = raw['systems'] ?? ['zabkit', 'zookeeper'];
  if (!Array.isArray(systems) || systems.length === 0 || !systems.every((s) => s === 'zabkit' || s === 'zookeeper')) fail('systems', 'a list of zabkit, zookeeper');
  const zookeeper = raw['zookeeper'];
  if (zookeeper !== undefined) {
    if (!isObject(zookeeper)) fail('zookeeper', 'must be an object');
    const z = zookeeper as Record<string, unknown>;
    known(z, ['properties', 'jvmFlags'], 'zookeeper', fail);
    if (z['properties'] !== undefined && (!isObject(z['properties']) || !Object.values(z['properties']).every((v) => typeof v === 'string'))) fail('zookeeper.properties', 'an object of string values');
    if (z['jvmFlags'] !== undefined && !isStringList(z['jvmFlags'])) fail('zookeeper.jvmFlags', 'a list of strings');
  }
  const workload = raw['workload'];
  if (workload !== undefined) {
    if (!isObject(workload)) fail('workload', 'must be an object');
    const w = workload as Record<string, unknown>;
    known(w, ['rate', 'concurrency'], 'workload', fail);
    if (!Number.isInteger(w['rate']) || (w['rate'] as number) < 1 || (w['rate'] as number) > scenarioLimits.maxRate) fail('workload.rate', `an integer from 1 to ${scenarioLimits.maxRate}`);
    if (!Number.isInteger(w['concurrency']) || (w['concurrency'] as number) < 1 || (w['concurrency'] as number) > scenarioLimits.maxConcurrency) fail('workload.concurrency', `an integer from 1 to ${scenarioLimits.maxConcurrency}`);
  }
  const reference = raw['reference'];
  if (reference !== undefined && (!isObject(reference) || !Object.values(reference).every((v) => typeof v === 'string'))) fail('reference', 'an object of strings');
  const steps = raw['steps'];
  if (!Array.isArray(steps) || steps.length === 0 || steps.length > scenarioLimits.maxSteps) fail('steps', `a list of 1 to ${scenarioLimits.maxSteps} steps`);
  const names = new Set<string>();
  const faults = new Set<string>();
  (steps as unknown[]).forEach((step, k) => validateStep(step, k + 1, { names, faults }, nodes as number, (where, what) => fail(`step ${k + 1}${where === '' ? '' : ` ${where}`}`, what)));
  return {
    name: name as string,
    description: typeof raw['description'] === 'string' ? raw['description'] : '',
    nodes: nodes as number,
    systems: systems as SystemName[],
    ...(reference === undefined ? {} : { reference: reference as Record<string, string> }),
    ...(zookeeper === undefined ? {} : { zookeeper: zookeeper as Scenario['zookeeper'] & object }),
    ...(workload === undefined ? {} : { workload: workload as ScenarioWorkload }),
    steps: steps as ScenarioStep[],
  };
}

/** Names given so far: by any step (`as`), and by fault steps (what an `end` may name). */
interface StepNames {
  readonly names: Set<string>;
  readonly faults: Set<string>;
}

function validateStep(raw: unknown, index: number, { names, faults }: StepNames, nodes: number, fail: (where: string, what: string) => never): void {
  if (!isObject(raw)) fail('', 'must be an object');
  const step = raw as Record<string, unknown>;
  const kind = step['do'];
  if (typeof kind !== 'string' || !(stepKinds as readonly string[]).includes(kind)) fail('do', `one of ${stepKinds.join(', ')}`);
  const fields: Record<StepKind, readonly string[]> = {
    kill: ['node', 'on'], stop: ['node', 'on'], start: ['node', 'on', 'jvmFlags'], pause: ['node', 'on'], resume: ['node', 'on'],
    isolate: ['node', 'on'], cut: ['from', 'to', 'on'], heal: ['on'],
    write: ['count', 'node', 'timeoutMs'], quiesce: ['timeoutMs'], 'await-leader': ['timeoutMs', 'expect'],
    'await-log': ['node', 'log', 'failOn', 'timeoutMs', 'since'], 'require-log': ['node', 'log', 'since', 'absent'], sleep: ['ms'],
    fault: ['fault', 'pick', 'node', 'on'], end: ['fault'],
  };
  known(step, ['do', 'as', 'note', 'at', ...fields[kind as StepKind]], `(${kind as string})`, fail);
  const selector = (field: string, required: boolean, value: unknown = step[field]): void => {
    if (value === undefined) {
      if (required) fail(field, 'a node is required');
      return;
    }
    if (typeof value !== 'string' || !selectorPattern.test(value)) fail(field, 'leader, follower, follower:highest, follower:lowest, down, n1..n9, @NAME or step:K');
    const text = value as string;
    if (/^n\d$/.test(text) && Number(text.slice(1)) > nodes) fail(field, `${text} is not one of the ${nodes} nodes`);
    if (text.startsWith('@') && !names.has(text.slice(1))) fail(field, `no earlier step is named ${text.slice(1)}`);
    if (text.startsWith('step:') && !(Number(text.slice(5)) >= 1 && Number(text.slice(5)) < index)) fail(field, `step:K must name an earlier step`);
  };
  const bound = (field: string, max: number): void => {
    const value = step[field];
    if (value !== undefined && (!Number.isInteger(value) || (value as number) < 0 || (value as number) > max)) fail(field, `an integer from 0 to ${max}`);
  };
  const pattern = (field: string, value: unknown, required: boolean): void => {
    if (value === undefined) {
      if (required) fail(field, 'a log pattern is required');
      return;
    }
    const texts = typeof value === 'string' ? [value] : isObject(value) ? Object.entries(value).map(([system, text]) => {
      if (system !== 'zabkit' && system !== 'zookeeper') fail(field, `unknown system ${system}`);
      return text;
    }) : undefined;
    if (texts === undefined || texts.length === 0) return fail(field, 'a regex, or {"zookeeper": regex, "zabkit": regex}');
    for (const text of texts) {
      if (typeof text !== 'string') fail(field, 'regex strings');
      try {
        new RegExp(text as string);
      } catch (error) {
        fail(field, `not a regex: ${(error as Error).message}`);
      }
    }
  };
  const k = kind as StepKind;
  if ((processStepKinds as readonly string[]).includes(k) || k === 'isolate') selector('node', true);
  if (k === 'cut') {
    selector('from', true);
    selector('to', true);
  }
  if (k === 'write') {
    selector('node', false);
    if (!Number.isInteger(step['count']) || (step['count'] as number) < 1 || (step['count'] as number) > 100_000) fail('count', 'an integer from 1 to 100000');
  }
  if (k === 'await-log' || k === 'require-log') {
    selector('node', true);
    pattern('log', step['log'], true);
    pattern('failOn', step['failOn'], false);
  }
  if (k === 'await-leader') selector('expect', false);
  if (step['since'] !== undefined && !(Number.isInteger(step['since']) && (step['since'] as number) >= 1 && (step['since'] as number) <= index)) fail('since', 'the number of this or an earlier step');
  if (step['absent'] !== undefined && typeof step['absent'] !== 'boolean') fail('absent', 'true or false');
  if (step['jvmFlags'] !== undefined && !isStringList(step['jvmFlags'])) fail('jvmFlags', 'a list of strings');
  if (k === 'sleep' && step['ms'] === undefined) fail('ms', 'required');
  if (k === 'fault') {
    validateFaultDraw(step['fault'], (what) => fail('fault', what));
    const pkg = (step['fault'] as Record<string, unknown>)['package'] as FaultPackage;
    if (step['node'] !== undefined && !nodeAimedPackages.includes(pkg)) fail('node', `only a ${nodeAimedPackages.join(', ')} fault goes to one node, not ${pkg}`);
    selector('node', false);
    if (!Number.isInteger(step['pick']) || (step['pick'] as number) < 0 || (step['pick'] as number) > 0x7fff_ffff) fail('pick', `an integer from 0 to ${0x7fff_ffff}`);
    if (step['as'] === undefined) fail('as', 'a fault step needs a name, for the step that ends it');
  }
  if (k === 'end') {
    if (typeof step['fault'] !== 'string' || !faults.has(step['fault'])) fail('fault', 'the name of an earlier fault step that is not ended yet');
    faults.delete(step['fault'] as string);
  }
  bound('at', scenarioLimits.maxAtMs);
  bound('ms', scenarioLimits.maxTimeoutMs);
  bound('timeoutMs', scenarioLimits.maxTimeoutMs);
  const strike = step['on'];
  if (strike !== undefined) {
    if (!isObject(strike)) fail('on', 'must be an object');
    const s = strike as Record<string, unknown>;
    known(s, ['log', 'node', 'timeoutMs', 'withinMs', 'file'], 'on', fail);
    pattern('on.log', s['log'], true);
    if (s['file'] !== undefined) {
      if (!isObject(s['file'])) fail('on.file', 'must be an object: {"path": PATTERN, "minBytes": N}');
      const f = s['file'] as Record<string, unknown>;
      known(f, ['path', 'minBytes'], 'on.file', fail);
      pattern('on.file.path', f['path'], true);
      if (!Number.isInteger(f['minBytes']) || (f['minBytes'] as number) < 1) fail('on.file.minBytes', 'a positive integer');
    }
    selector('on.node', false, s['node']);
    if (s['node'] === undefined && step['node'] === undefined) fail('on.node', 'whose log to watch');
    if (!Number.isInteger(s['timeoutMs']) || (s['timeoutMs'] as number) < 1 || (s['timeoutMs'] as number) > scenarioLimits.maxTimeoutMs) fail('on.timeoutMs', `an integer from 1 to ${scenarioLimits.maxTimeoutMs}`);
    if (s['withinMs'] !== undefined && (!Number.isInteger(s['withinMs']) || (s['withinMs'] as number) < 0)) fail('on.withinMs', 'a non-negative integer');
  }
  const as = step['as'];
  if (as !== undefined) {
    if (typeof as !== 'string' || !/^[A-Za-z][\w-]{0,30}$/.test(as)) fail('as', 'a name: a letter, then letters, digits, - _');
    if (names.has(as as string)) fail('as', `${as as string} names an earlier step already`);
    names.add(as as string);
    if (k === 'fault') faults.add(as as string);
  }
}

function validateFaultDraw(raw: unknown, fail: (what: string) => never): void {
  if (!isObject(raw)) fail('an object: {"package": NAME, and that package\'s fields}');
  const draw = raw as Record<string, unknown>;
  const pkg = draw['package'];
  if (typeof pkg !== 'string' || !isFaultPackage(pkg)) return fail(`package: one of ${Object.keys(faultDrawFields).join(', ')}`);
  const fields = faultDrawFields[pkg];
  const optional = faultDrawOptionalFields[pkg] ?? {};
  for (const [field, value] of Object.entries(draw)) {
    if (field === 'package') continue;
    const allowed = fields[field] ?? optional[field];
    if (allowed === undefined) fail(`${pkg} has no field "${field}" (its fields: ${[...Object.keys(fields), ...Object.keys(optional)].join(', ') || 'none'})`);
    if (allowed === 'integer' ? !(Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 10_000_000) : !(allowed as readonly string[]).includes(value as string)) {
      fail(`${pkg}.${field}: ${allowed === 'integer' ? 'a whole number from 0 to 10000000' : `one of ${(allowed as readonly string[]).join(', ')}`}`);
    }
  }
  for (const field of Object.keys(fields)) if (draw[field] === undefined) fail(`${pkg} needs "${field}"`);
  if (draw['fsyncDelayMs'] !== undefined) {
    if (draw['kind'] !== 'slow') fail('disk.fsyncDelayMs: only a "slow" disk has an fsync delay');
    if ((draw['fsyncDelayMs'] as number) < 1 || (draw['fsyncDelayMs'] as number) > scenarioLimits.maxFsyncDelayMs) fail(`disk.fsyncDelayMs: from 1 to ${scenarioLimits.maxFsyncDelayMs}`);
  }
}

/** The regex of a pattern for one system, or undefined when the scenario gives none for it. */
export function patternFor(pattern: LogPattern | undefined, system: SystemName): RegExp | undefined {
  if (pattern === undefined) return undefined;
  const text = typeof pattern === 'string' ? pattern : pattern[system];
  return text === undefined ? undefined : new RegExp(text);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function known(object: Record<string, unknown>, allowed: readonly string[], where: string, fail: (where: string, what: string) => never): void {
  for (const key of Object.keys(object)) if (!allowed.includes(key)) fail(where, `unknown field "${key}" (allowed: ${allowed.join(', ')})`);
}

/** Can this scenario run on `system`? It must list it, and give every log pattern for it. */
export function checkScenarioFor(scenario: Scenario, system: SystemName): void {
  if (!scenario.systems.includes(system)) throw new ScenarioError(`scenario ${scenario.name} is written for ${scenario.systems.join(', ')}, not ${system}`);
  scenario.steps.forEach((step, k) => {
    for (const [field, pattern] of [['log', step.log], ['failOn', step.failOn], ['on.log', step.on?.log]] as const) {
      if (pattern !== undefined && patternFor(pattern, system) === undefined) {
        throw new ScenarioError(`scenario ${scenario.name} step ${k + 1} ${field}: no log pattern for ${system}`);
      }
    }
  });
}
