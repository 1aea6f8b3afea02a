/**
 * `zabkit test` end to end: print the seed, make the run folder, start the system behind Toxiproxy,
 * run (runner.ts), tear down (also on SIGINT/SIGTERM), check, write results.json and the report.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunEnvironment, TestOptions } from './runner.js';
import { runTest } from './runner.js';
import type { Validity } from './types.js';
import { HistoryWriter } from './history.js';
import { checkHistoryFile } from './checker.js';
import { createRunDir } from './store.js';
import { writeReport } from './report/index.js';
import { parsePackages } from './vocabulary.js';
import type { Scenario } from './scenario-format.js';

/** `--system zookeeper` only: which release, and the user's zoo.cfg entries and JVM flags. */
export interface ZookeeperRunOptions {
  readonly version: string;
  readonly properties: Readonly<Record<string, string>>;
  readonly jvmFlags: readonly string[];
}

export interface TestCliOptions extends TestOptions {
  readonly zookeeper: ZookeeperRunOptions;
  /** `--scenario`: the file it came from and its steps (recorded whole in test.json, for the replay). */
  readonly scenario?: { readonly source: string; readonly scenario: Scenario };
  /** `--fault-filesystem`: auto (mount it where the machine can), on (fail without it), off (power is a kill -9). */
  readonly faultFilesystem?: 'auto' | 'on' | 'off';
  readonly proxyListenHost: string;
  readonly proxyHost: string;
  readonly nodeHost: string;
  readonly bindHost: string;
}

/** Parses --nemesis: a comma-separated list of packages, 'none' or 'all' (UsageError otherwise). */
export function parseNemesisList(text: string): string[] {
  return parsePackages(text);
}

/** How a test run ended: its verdict, and the cause when the testbed itself failed (exit 255). */
export interface TestVerdict {
  readonly valid: Validity;
  readonly crashed?: string;
}

/** For tests of the testbed itself (not a CLI option). */
export interface TestHooks {
  /** Called once the final heal is recorded, before the final phase (runner.ts RunDeps.afterHeal). */
  readonly afterHeal?: () => Promise<void> | void;
}

/**
 * Builds the run's environment (the system under test plugged in: cli/systems.ts), in `runDir`.
 * The engine knows no system; the composition root passes this in.
 */
export type CreateEnvironment = (options: TestCliOptions, runDir: string, log: (line: string) => void) => Promise<RunEnvironment>;

export async function executeTest(options: TestCliOptions, argv: readonly string[], createEnvironment: CreateEnvironment, hooks: TestHooks = {}): Promise<TestVerdict> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  log(`zabkit test: seed=${options.seed} (replay with --seed ${options.seed})`);
  const runDir = createRunDir(options.store, options.name);
  log(`zabkit test: run folder ${runDir}`);
  const replay = replayCommand(options, argv);
  const testRecord: Record<string, unknown> = { ...options, commit: gitCommit(), command: replay, argv, startedAt: new Date().toISOString(), node: process.version };
  const writeTestRecord = (): void => writeFileSync(path.join(runDir, 'test.json'), JSON.stringify(testRecord, null, 2) + '\n');
  writeTestRecord();

  const writer = new HistoryWriter(path.join(runDir, 'history.jsonl'));
  const crashedRun = (cause: string): void => {
    const line = oneLine(cause);
    writeFileSync(path.join(runDir, 'results.json'), JSON.stringify({ valid: 'unknown', anomalies: {}, stats: {}, crashed: line }, null, 2) + '\n');
    try {
      writeReport(runDir);
    } catch (error) {
      log(`report failed: ${String(error)}`);
    }
    log(`zabkit test: CRASHED: ${line}`);
  };
  let env: RunEnvironment;
  try {
    env = await createEnvironment(options, runDir, log);
  } catch (error) {
    writer.close();
    crashedRun(`the cluster could not be set up: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
  // What the environment could give: is a power cut a real one (interfaces: test.json faultFilesystem)?
  testRecord['faultFilesystem'] = env.faultFilesystem?.used ?? false;
  if (env.faultFilesystem?.why !== undefined) testRecord['faultFilesystemWhy'] = env.faultFilesystem.why;
  writeTestRecord();
  if (env.faultFilesystem !== undefined) log(env.faultFilesystem.used ? 'zabkit test: every node\'s data is on the fault filesystem: power cuts lose what was not fsynced' : `zabkit test: no fault filesystem (${env.faultFilesystem.why ?? 'off'}): a power cut is a kill -9, which loses nothing the kernel already had`);
  let tornDown = false;
  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    // First stop watching Toxiproxy, so that stopping it is not taken for a crash.
    env.supervisor?.stop();
    await env.db.teardown().catch((error: unknown) => log(`teardown: ${String(error)}`));
    await env.close().catch((error: unknown) => log(`teardown: ${String(error)}`));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`zabkit test: ${signal}: tearing down`);
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // An error nobody caught (a client library throwing from a socket handler, say) is the tool
  // failing, never a verdict on the system: tear down, record the run as crashed, exit 255.
  let crashing = false;
  const onUncaught = (error: unknown): void => {
    log(`zabkit test: uncaught error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (crashing) return;
    crashing = true;
    void teardown().finally(() => {
      writer.close();
      crashedRun(`the runner failed: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(255);
    });
  };
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);

  try {
    const outcome = await runTest(options, env, {
      history: {
        append: (event) => writer.append(event).index,
        close: () => writer.close(),
        now: () => writer.now(),
      },
      runDir,
      check: () => checkHistoryFile(path.join(runDir, 'history.jsonl')).result,
      log,
      ...(hooks.afterHeal === undefined ? {} : { afterHeal: hooks.afterHeal }),
    });
    writer.close();
    await teardown();
    // A crashed run keeps `valid` three-valued ("unknown") and says why in `crashed`.
    const results = outcome.crashed === undefined ? outcome.result : { ...outcome.result, crashed: outcome.crashed };
    writeFileSync(path.join(runDir, 'results.json'), JSON.stringify(results, null, 2) + '\n');
    try {
      writeReport(runDir);
    } catch (error) {
      log(`report failed: ${String(error)}`);
    }
    printVerdict(outcome.valid, outcome.result, runDir, replay, outcome.guards, log, outcome.crashed);
    return outcome.crashed === undefined ? { valid: outcome.valid } : { valid: outcome.valid, crashed: outcome.crashed };
  } finally {
    writer.close();
    await teardown();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('uncaughtException', onUncaught);
    process.removeListener('unhandledRejection', onUncaught);
  }
}

function printVerdict(
  valid: Validity,
  result: { anomalies: Record<string, { count: number }>; stats: Record<string, unknown>; error?: string },
  runDir: string,
  replay: string,
  guards: readonly string[],
  log: (line: string) => void,
  crashed: string | undefined,
): void {
  const found = Object.entries(result.anomalies).filter(([, report]) => report.count > 0);
  for (const [name, report] of found) log(`  anomaly ${name}: ${report.count}`);
  for (const guard of guards) log(`  guard: ${guard}`);
  if (result.error) log(`  checker: ${result.error}`);
  const acknowledged = result.stats['acknowledged'];
  if (typeof acknowledged === 'number') log(`  acknowledged broadcasts: ${acknowledged}`);
  const verdict = valid === true ? 'VALID: every guarantee held' : valid === false ? 'INVALID: a guarantee broke' : 'UNKNOWN: the run could not decide';
  if (crashed === undefined) log(`zabkit test: ${verdict}`);
  log(`  report: ${path.join(runDir, 'index.html')}`);
  log(`  replay: ${replay}`);
  // Last, in one line: the cause of a crashed run (nightly shows this line).
  if (crashed !== undefined) log(`zabkit test: CRASHED: ${crashed}`);
}

function oneLine(text: string): string {
  return (text.split('\n').find((line) => line.trim() !== '') ?? 'unknown cause').trim().slice(0, 500);
}

function replayCommand(options: TestCliOptions, argv: readonly string[]): string {
  const args = [...argv];
  if (!args.includes('--seed')) args.push('--seed', String(options.seed));
  return ['zabkit', ...args].map((arg) => (/^[\w./:=,@+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function gitCommit(): string | null {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    return dirty ? `${commit} (plus uncommitted changes)` : commit;
  } catch {
    return null;
  }
}
