/**
 * Runs a scenario (faults/scenario-format.ts) on a real cluster, step by step, through the same Db
 * and Net as the random nemesis. Every step is recorded in the history: the faults as the nemesis
 * vocabulary's ops (kill/start, stop/start, pause/resume, partition/heal, each start and its end
 * sharing `value.id`), so the checker and the report read them as always, and one `scenario-step`
 * marker per step with what it did and found (the node it chose, a strike's reaction time, the
 * line it matched, or in `value.unmet` why a precondition did not hold; an `error` only when the
 * testbed itself could not do a step, which the checker reads as a testbed failure).
 *
 * Node selectors are resolved when their step begins, from the nodes' own status; a role selector
 * (leader, follower...) first waits (bounded) for a cluster with exactly one leader.
 */
import type { Db, HealableNet, NodeStatus, SystemName } from '../jepsen-style/types.js';
import type { Script, ScriptContext, ScriptOutcome } from '../jepsen-style/runner.js';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '../jepsen-style/async.js';
import { packageOps, scenarioStepF } from '../jepsen-style/vocabulary.js';
import { createPrng, type Prng } from '../src/core/prng.js';
import { logOffset, watchLog, type LogMatch } from './log-watch.js';
import { patternFor, stepDefaults, type FaultDraw, type LogPattern, type Scenario, type ScenarioStep } from '../jepsen-style/scenario-format.js';

/** Timing of the executor (docs/LIMITS.md). */
export const scenarioTiming = {
  /** Poll of a log while a strike is armed: the fault lands within a few ms of the line. */
  strikePollMs: 1,
  /** Poll of a log for await-log / require-log. */
  awaitPollMs: 20,
  /** Poll of node status while waiting for a leader or a quiet cluster. */
  statusPollMs: 100,
  /** A quiet cluster must hold its agreed last zxid this long. */
  quietStableMs: 1_000,
  /** Bound on finding a leader before resolving a role selector. */
  roleWaitMs: 30_000,
  /**
   * A strike's file counts when written no earlier than this before its line: file times come from
   * the kernel's coarse clock (up to a tick, 4-10 ms, behind), the line's from the node's, in whole ms.
   */
  fileTimeSlackMs: 20,
} as const;

export interface ScenarioScriptOptions {
  readonly scenario: Scenario;
  readonly system: SystemName;
  readonly db: Db;
  readonly net?: HealableNet;
  readonly seed: number;
}

/** A step result as the marker records it. */
interface StepRecord {
  nodes?: string[];
  [key: string]: unknown;
}

class Unmet extends Error {
  override name = 'Unmet';
}

export function createScenarioScript(options: ScenarioScriptOptions): Script {
  return {
    name: options.scenario.name,
    steps: options.scenario.steps.length,
    ...(options.scenario.workload === undefined ? {} : { workload: true }),
    run: (context) => new ScenarioRun(options, context, createPrng(options.seed ^ 0x5ce7a410)).run(),
  };
}

class ScenarioRun {
  /** Nodes each step acted on (1-based step index). */
  private readonly acted = new Map<number, string[]>();
  private readonly named = new Map<string, string[]>();
  /** Log sizes when each step began, per node. */
  private readonly offsets = new Map<number, Map<string, number>>();
  /** Open fault windows: node -> id of its down (kill/stop) or pause event. */
  private readonly openDown = new Map<string, number>();
  private readonly openPause = new Map<string, number>();
  private nextId = 1;
  private readonly cuts: [string, string][] = [];
  /** Per node: the byte offset just after the last line a step matched in its log. */
  private readonly cursor = new Map<string, number>();
  /** Fault steps not ended yet: their name -> the id and package their start op carried. */
  private readonly openFaults = new Map<string, { id: number; package: FaultDraw['package'] }>();

  constructor(
    private readonly options: ScenarioScriptOptions,
    private readonly context: ScriptContext,
    private readonly prng: Prng,
  ) {}

  async run(): Promise<ScriptOutcome> {
    const { scenario } = this.options;
    const { log, signal } = this.context;
    log(`scenario ${scenario.name}: ${scenario.steps.length} steps`);
    const began = Date.now();
    for (let k = 1; k <= scenario.steps.length; k++) {
      if (signal.aborted) return { unmet: `the run was cut short before step ${k}` };
      const step = scenario.steps[k - 1]!;
      if (step.at !== undefined) await sleep(began + step.at - Date.now(), signal);
      if (signal.aborted) return { unmet: `the run was cut short before step ${k}` };
      this.offsets.set(k, new Map(this.options.db.nodes().map((node) => [node.name, logOffset(node.logFile)])));
      const startedAt = Date.now();
      try {
        const record = await this.step(k, step);
        if (record.nodes !== undefined) {
          this.acted.set(k, record.nodes);
          if (step.as !== undefined) this.named.set(step.as, record.nodes);
        }
        this.marker(k, step, { ...record, tookMs: Date.now() - startedAt });
        log(`scenario step ${k} ${step.do}${record.nodes ? ` ${record.nodes.join(',')}` : ''}: done in ${Date.now() - startedAt} ms${typeof record['reactionMs'] === 'number' ? ` (strike reaction ${record['reactionMs']} ms)` : ''}`);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const where = `step ${k} (${step.do}${step.note ? `: ${step.note}` : ''}): ${reason}`;
        if (error instanceof Unmet) {
          // The system took another path: a fact about the run, not a failure of the testbed
          // (so it is no `error`: the checker would take it for one and excuse what it finds).
          this.marker(k, step, { tookMs: Date.now() - startedAt, unmet: reason.slice(0, 300) });
          log(`scenario: precondition not met at ${where}; skipping the remaining steps`);
          return { unmet: where };
        }
        // The testbed could not do what the step says (a kill, a toxic): recorded as its failure.
        this.marker(k, step, { tookMs: Date.now() - startedAt }, reason);
        log(`scenario: ${where}; skipping the remaining steps`);
        return { failed: where };
      }
    }
    return {};
  }

  private marker(k: number, step: ScenarioStep, record: StepRecord, error?: string): void {
    this.context.history.append({
      process: 'nemesis',
      type: 'info',
      f: scenarioStepF,
      value: { step: k, do: step.do, ...(step.as ? { as: step.as } : {}), ...(step.note ? { note: step.note } : {}), ...record },
      ...(error === undefined ? {} : { error: error.slice(0, 300) }),
    });
  }

  private async step(k: number, step: ScenarioStep): Promise<StepRecord> {
    switch (step.do) {
      case 'kill':
      case 'stop':
      case 'start':
      case 'pause':
      case 'resume':
      case 'isolate': {
        const node = await this.resolve(step.node!, k);
        return { nodes: [node], ...(await this.deal(k, step, node, () => this.act(k, step, node))) };
      }
      case 'cut': {
        const from = await this.resolve(step.from!, k);
        const to = await this.resolve(step.to!, k);
        return { nodes: [from, to], ...(await this.deal(k, step, from, () => this.cut([[from, to]], k))) };
      }
      case 'heal':
        return this.deal(k, step, undefined, () => this.heal(k));
      case 'write': {
        const node = await this.resolve(step.node ?? 'leader', k);
        const count = step.count!;
        const result = await this.context.write(node, count, step.timeoutMs ?? stepDefaults.writeTimeoutMs, `s${k}`);
        if (result.ok < count) throw new Unmet(`${result.ok} of ${count} broadcasts acknowledged by ${node} (${result.fail} failed, ${result.info} unknown)`);
        return { nodes: [node], ...result };
      }
      case 'quiesce':
        return this.quiesce(step.timeoutMs ?? stepDefaults.waitTimeoutMs);
      case 'await-leader': {
        const leader = await this.awaitLeader(step.timeoutMs ?? stepDefaults.waitTimeoutMs);
        if (leader === undefined) throw new Unmet(`no single leader within ${step.timeoutMs ?? stepDefaults.waitTimeoutMs} ms`);
        if (step.expect !== undefined) {
          const wanted = this.resolveKnown(step.expect, k);
          if (wanted !== undefined && wanted !== leader) throw new Unmet(`${leader} leads; the scenario needs ${wanted} (${step.expect}) to lead`);
        }
        return { nodes: [leader] };
      }
      case 'await-log': {
        const node = await this.resolve(step.node!, k);
        const timeoutMs = step.timeoutMs ?? stepDefaults.waitTimeoutMs;
        const match = await this.watch(node, step.log!, this.since(k, step.since, node), timeoutMs, scenarioTiming.awaitPollMs, step.failOn);
        if (match === undefined) throw new Unmet(`no line matching ${this.describePattern(step.log!)} in ${node}'s log within ${timeoutMs} ms`);
        if (match.failed) throw new Unmet(`${node} took another path: ${match.line.slice(0, 200)}`);
        return { nodes: [node], line: match.line.slice(0, 300) };
      }
      case 'require-log': {
        const node = await this.resolve(step.node!, k);
        const match = await this.watch(node, step.log!, this.since(k, step.since, node), 0, 0, undefined);
        if (step.absent === true && match !== undefined) throw new Unmet(`${node} logged ${match.line.slice(0, 200)}`);
        if (step.absent !== true && match === undefined) throw new Unmet(`${node} never logged ${this.describePattern(step.log!)}`);
        return { nodes: [node], ...(match ? { line: match.line.slice(0, 300) } : {}) };
      }
      case 'sleep':
        await sleep(step.ms!, this.context.signal);
        return {};
      case 'fault': {
        const node = step.node === undefined ? undefined : await this.resolve(step.node, k);
        return this.deal(k, step, node, () => this.fault(k, step, node));
      }
      case 'end':
        return this.endFault(k, step);
    }
  }

  /**
   * A fault of the random nemesis, dealt (and recorded) as the random runs deal it; to `node`
   * alone when the step names one. A power cut or disk fault that could not be dealt as written
   * (no fault filesystem: a kill -9 in place of the cut, or no disk fault at all) is unmet.
   */
  private async fault(k: number, step: ScenarioStep, node: string | undefined): Promise<StepRecord> {
    const draw = step.fault as FaultDraw;
    const id = this.nextId++;
    const outcome = await this.context.invoke({ f: packageOps[draw.package].start, value: { ...draw, ...(node === undefined ? {} : { node }), id, pick: step.pick!, step: k } });
    if (outcome.error !== undefined) throw new Error(`the nemesis could not deal ${draw.package}: ${outcome.error}`);
    this.openFaults.set(step.as!, { id, package: draw.package });
    const done = (outcome.done.value ?? {}) as Record<string, unknown>;
    if ((draw.package === 'power' && done['faultFilesystem'] === false) || (draw.package === 'disk' && done['dealt'] === false)) {
      throw new Unmet(`${draw.package} needs the fault filesystem under the nodes (${draw.package === 'power' ? 'a kill -9 was dealt instead' : String(done['why'] ?? 'not dealt')})`);
    }
    return { ...nodesOf(done), fault: step.as!, id };
  }

  private async endFault(k: number, step: ScenarioStep): Promise<StepRecord> {
    const name = step.fault as string;
    const open = this.openFaults.get(name);
    if (open === undefined) throw new Error(`fault ${name} is not open`);
    this.openFaults.delete(name);
    const outcome = await this.context.invoke({ f: packageOps[open.package].stop, value: { id: open.id, package: open.package, step: k } });
    if (outcome.error !== undefined) throw new Error(`the nemesis could not end ${name} (${open.package}): ${outcome.error}`);
    return { ...nodesOf(outcome.done.value), fault: name, id: open.id };
  }

  /**
   * Deal a fault step's fault, at once or, with a strike (`on`), the moment its line appears. The
   * signal or toxic request leaves inside `act`'s synchronous part, so the time right after the call
   * is when the fault was dealt; the window is judged once it is done (a missed one throws Unmet,
   * and the fault stays dealt).
   */
  private async deal(k: number, step: ScenarioStep, stepNode: string | undefined, act: () => Promise<StepRecord | void>): Promise<StepRecord> {
    const strike = step.on === undefined ? undefined : await this.arm(k, step, stepNode);
    const done = act();
    const dealtAt = Date.now();
    const record = (await done) ?? {};
    return strike === undefined ? record : { ...record, ...this.strikeRecord(strike, dealtAt, step.on!.withinMs) };
  }

  /** Wait for a strike's line (the step's `on`); throws Unmet if it does not come in time. */
  private async arm(k: number, step: ScenarioStep, stepNode: string | undefined): Promise<LogMatch> {
    const strike = step.on!;
    const armedAt = Date.now();
    const node = strike.node === undefined ? stepNode! : await this.resolve(strike.node, k);
    const match = await this.watch(node, strike.log, this.since(k, undefined, node), strike.timeoutMs, scenarioTiming.strikePollMs, undefined);
    if (match === undefined) throw new Unmet(`the strike's line ${this.describePattern(strike.log)} did not appear in ${node}'s log within ${strike.timeoutMs} ms`);
    const filePattern = patternFor(strike.file?.path, this.options.system);
    const dataDir = this.options.db.nodes().find((n) => n.name === node)?.dataDir;
    if (filePattern !== undefined && dataDir !== undefined) {
      // A file whose path matches, written since the line, holding at least minBytes: the write the
      // strike must not pre-empt.
      const since = (match.writtenAtMs ?? armedAt) - scenarioTiming.fileTimeSlackMs;
      const ready = (): boolean => [...filesUnder(dataDir)].some(([file, stat]) => filePattern.test(file) && stat.mtimeMs >= since && stat.size >= strike.file!.minBytes);
      while (!ready()) {
        if (Date.now() - armedAt > strike.timeoutMs || this.context.signal.aborted) {
          throw new Unmet(`after the strike's line, no file matching /${filePattern.source}/ in ${node}'s data directory was written to ${strike.file!.minBytes} bytes within ${strike.timeoutMs} ms`);
        }
        await sleep(scenarioTiming.strikePollMs);
      }
    }
    return match;
  }

  private strikeRecord(match: LogMatch, dealtAt: number, withinMs: number | undefined): StepRecord {
    const reactionMs = match.writtenAtMs === undefined ? undefined : dealtAt - match.writtenAtMs;
    const record = { strikeLine: match.line.slice(0, 300), detectMs: match.writtenAtMs === undefined ? null : match.seenAtMs - match.writtenAtMs, reactionMs: reactionMs ?? null };
    if (withinMs !== undefined && (reactionMs === undefined || reactionMs > withinMs)) {
      throw new Unmet(`the strike missed its window: dealt ${reactionMs ?? '?'} ms after the line, the scenario allows ${withinMs} ms`);
    }
    return record;
  }

  private async act(k: number, step: ScenarioStep, node: string): Promise<void> {
    const { db } = this.options;
    const history = this.context.history;
    const record = (f: string, id: number, pkg: string, extra: Record<string, unknown> = {}): void => {
      history.append({ process: 'nemesis', type: 'info', f, value: { nodes: [node], id, package: pkg, step: k, ...extra } });
    };
    switch (step.do) {
      case 'kill':
      case 'stop': {
        const id = this.nextId++;
        record(step.do, id, 'kill');
        this.openDown.set(node, id);
        // The signal leaves synchronously, inside this call; the promise waits for the exit.
        await (step.do === 'stop' && db.stop ? db.stop(node) : db.kill(node));
        return;
      }
      case 'start': {
        const id = this.openDown.get(node) ?? this.nextId++;
        this.openDown.delete(node);
        await db.start(node, step.jvmFlags ? { jvmFlags: step.jvmFlags } : undefined);
        record('start', id, 'kill', step.jvmFlags ? { jvmFlags: step.jvmFlags } : {});
        return;
      }
      case 'pause': {
        const id = this.nextId++;
        this.openPause.set(node, id);
        record('pause', id, 'pause');
        await db.pause(node);
        return;
      }
      case 'resume': {
        const id = this.openPause.get(node) ?? this.nextId++;
        this.openPause.delete(node);
        await db.resume(node);
        record('resume', id, 'pause');
        return;
      }
      case 'isolate': {
        const others = db.nodes().map((n) => n.name).filter((name) => name !== node);
        await this.cut(others.flatMap((other): [string, string][] => [[node, other], [other, node]]), k);
        return;
      }
      default:
        throw new Error(`not a process step: ${step.do}`);
    }
  }

  private async cut(links: [string, string][], k: number): Promise<void> {
    const net = this.options.net;
    if (net === undefined) throw new Unmet('this cluster has no proxied links to cut');
    const id = this.nextId++;
    this.context.history.append({ process: 'nemesis', type: 'info', f: 'partition', value: { links, id, package: 'partition', mode: 'silent', step: k } });
    await Promise.all(links.map(([from, to]) => net.cut(from, to, 'silent')));
    this.cuts.push(...links);
  }

  private async heal(k: number): Promise<void> {
    const net = this.options.net;
    const links = this.cuts.splice(0);
    if (net !== undefined) await Promise.all(links.map(([from, to]) => net.heal(from, to, 'cut')));
    this.context.history.append({ process: 'nemesis', type: 'info', f: 'heal', value: { links, step: k } });
  }

  /**
   * Where a watch of `node`'s log starts. `since: K`: where step K began. Default: where the
   * previous step began (a line written while it ran is not missed), or just after the last line
   * a step matched in that log if that is later (a line already used is not used twice).
   */
  private since(k: number, since: number | undefined, node: string): number {
    const from = this.offsets.get(since ?? Math.max(1, k - 1))?.get(node) ?? 0;
    return since === undefined ? Math.max(from, this.cursor.get(node) ?? 0) : from;
  }

  private watch(node: string, pattern: LogPattern, from: number, timeoutMs: number, pollMs: number, failOn: LogPattern | undefined): Promise<LogMatch | undefined> {
    const file = this.options.db.nodes().find((n) => n.name === node)?.logFile;
    const regex = patternFor(pattern, this.options.system);
    if (file === undefined || regex === undefined) throw new Unmet(`no log pattern for ${this.options.system} or no log for ${node}`);
    const fail = patternFor(failOn, this.options.system);
    return watchLog({ file, pattern: regex, ...(fail ? { failOn: fail } : {}), from, timeoutMs, pollMs, signal: this.context.signal }).then((match) => {
      if (match !== undefined) this.cursor.set(node, Math.max(this.cursor.get(node) ?? 0, match.offset));
      return match;
    });
  }

  private describePattern(pattern: LogPattern): string {
    return `/${patternFor(pattern, this.options.system)?.source ?? '?'}/`;
  }

  /** A selector that needs no status (n3, @A, step:2), or undefined. */
  private resolveKnown(selector: string, k: number): string | undefined {
    if (/^n\d$/.test(selector)) return selector;
    if (selector.startsWith('@')) return this.only(this.named.get(selector.slice(1)), selector, k);
    if (selector.startsWith('step:')) return this.only(this.acted.get(Number(selector.slice(5))), selector, k);
    return undefined;
  }

  private only(nodes: readonly string[] | undefined, selector: string, k: number): string {
    if (nodes === undefined || nodes.length === 0) throw new Unmet(`step ${k}: ${selector} names no node (that step did not act on one)`);
    return nodes[0]!;
  }

  private async resolve(selector: string, k: number): Promise<string> {
    const known = this.resolveKnown(selector, k);
    if (known !== undefined) return known;
    const statuses = await this.options.db.status();
    if (selector === 'down') {
      const down = statuses.filter((s) => !s.alive).sort(byId(this.options.db))[0];
      if (down === undefined) throw new Unmet('no node is down');
      return down.name;
    }
    const leader = await this.awaitLeader(scenarioTiming.roleWaitMs);
    if (leader === undefined) throw new Unmet(`no single leader within ${scenarioTiming.roleWaitMs} ms to choose "${selector}" from`);
    if (selector === 'leader') return leader;
    const followers = (await this.options.db.status()).filter((s) => s.alive && !s.paused && s.role === 'following').sort(byId(this.options.db));
    if (followers.length === 0) throw new Unmet(`no follower to choose "${selector}" from`);
    if (selector === 'follower:lowest') return followers[0]!.name;
    if (selector === 'follower:highest') return followers[followers.length - 1]!.name;
    return followers[this.prng.int(followers.length)]!.name;
  }

  /** The one leader every live, answering node agrees exists (bounded), or undefined. */
  private async awaitLeader(timeoutMs: number): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const statuses = await this.options.db.status().catch((): NodeStatus[] => []);
      const live = statuses.filter((s) => s.alive && !s.paused);
      const leaders = live.filter((s) => s.answers && s.role === 'leading');
      if (leaders.length === 1 && live.every((s) => s.answers && (s.role === 'leading' || s.role === 'following'))) return leaders[0]!.name;
      if (Date.now() >= deadline || this.context.signal.aborted) return undefined;
      await sleep(scenarioTiming.statusPollMs, this.context.signal);
    }
  }

  private async quiesce(timeoutMs: number): Promise<StepRecord> {
    const deadline = Date.now() + timeoutMs;
    let stableSince: number | undefined;
    let last = '';
    for (;;) {
      const statuses = await this.options.db.status().catch((): NodeStatus[] => []);
      const live = statuses.filter((s) => s.alive && !s.paused);
      const zxids = new Set(live.map((s) => s.lastZxid ?? '?'));
      const leaders = live.filter((s) => s.role === 'leading');
      const ok = live.length > 0 && live.every((s) => s.answers && (s.role === 'leading' || s.role === 'following')) && leaders.length === 1 && zxids.size === 1 && !zxids.has('?');
      const key = [...zxids].join(',');
      if (ok && key === last) {
        stableSince ??= Date.now();
        if (Date.now() - stableSince >= scenarioTiming.quietStableMs) return { nodes: live.map((s) => s.name), lastZxid: key, leader: leaders[0]!.name };
      } else {
        stableSince = undefined;
      }
      last = ok ? key : '';
      if (Date.now() >= deadline || this.context.signal.aborted) {
        throw new Unmet(`the live nodes did not agree on a last zxid within ${timeoutMs} ms (${live.map((s) => `${s.name}:${s.role}@${s.lastZxid ?? '?'}`).join(' ')})`);
      }
      await sleep(scenarioTiming.statusPollMs, this.context.signal);
    }
  }
}

/** The nodes a nemesis op's completion names (its `nodes`, or the nodes of its grudge or links), for the step marker. */
function nodesOf(value: unknown): StepRecord {
  if (typeof value !== 'object' || value === null) return {};
  const v = value as Record<string, unknown>;
  if (Array.isArray(v['nodes']) && v['nodes'].every((n) => typeof n === 'string')) return { nodes: v['nodes'] as string[] };
  return {};
}

function byId(db: Db): (a: NodeStatus, b: NodeStatus) => number {
  const ids = new Map(db.nodes().map((node) => [node.name, node.id]));
  return (a, b) => (ids.get(a.name) ?? 0) - (ids.get(b.name) ?? 0);
}

/** Every file under `dir` (a node's data directory), by path relative to it, with its size and mtime; a file that vanishes while listed is left out. */
function filesUnder(dir: string): Map<string, { size: number; mtimeMs: number }> {
  const files = new Map<string, { size: number; mtimeMs: number }>();
  const visit = (relative: string, depth: number): void => {
    let entries;
    try {
      entries = readdirSync(path.join(dir, relative), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        if (depth < 4) visit(child, depth + 1);
      } else if (entry.isFile()) {
        try {
          const { size, mtimeMs } = statSync(path.join(dir, child));
          files.set(child, { size, mtimeMs });
        } catch {
          // removed between the listing and the stat
        }
      }
    }
  };
  visit('', 0);
  return files;
}
