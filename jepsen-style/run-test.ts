/**
 * `zabkit test` end to end: print the seed, make the run folder, start the system behind Toxiproxy,
 * run (runner.ts), tear down (also on SIGINT/SIGTERM), check, write results.json and the report.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestOptions } from './runner.js';
import { runTest } from './runner.js';
import type { Op, Validity } from './types.js';
import { HistoryWriter, readHistory } from './history.js';
import { checkHistory } from './checker.js';
import { createRunDir } from './store.js';
import { writeReport } from './report/index.js';
import { createEnvironment } from './systems.js';
import { parsePackages } from '../faults/packages.js';

export interface TestCliOptions extends TestOptions {
  readonly proxyListenHost: string;
  readonly proxyHost: string;
  readonly nodeHost: string;
  readonly bindHost: string;
}

/** Parses --nemesis: a comma-separated list of packages, 'none' or 'all' (UsageError otherwise). */
export function parseNemesisList(text: string): string[] {
  return parsePackages(text);
}

export async function executeTest(options: TestCliOptions, argv: readonly string[]): Promise<Validity> {
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  log(`zabkit test: seed=${options.seed} (replay with --seed ${options.seed})`);
  const runDir = createRunDir(options.store, options.name);
  log(`zabkit test: run folder ${runDir}`);
  const replay = replayCommand(options, argv);
  writeFileSync(
    path.join(runDir, 'test.json'),
    JSON.stringify({ ...options, commit: gitCommit(), command: replay, argv, startedAt: new Date().toISOString(), node: process.version }, null, 2) + '\n',
  );

  const writer = new HistoryWriter(path.join(runDir, 'history.jsonl'));
  const env = await createEnvironment(options, runDir, log);
  let tornDown = false;
  const teardown = async (): Promise<void> => {
    if (tornDown) return;
    tornDown = true;
    await env.db.teardown().catch((error: unknown) => log(`teardown: ${String(error)}`));
    await env.close().catch((error: unknown) => log(`teardown: ${String(error)}`));
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    log(`zabkit test: ${signal}: tearing down`);
    void teardown().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const outcome = await runTest(options, env, {
      history: {
        append: (event) => writer.append(event as never).index,
        events: [],
        close: () => writer.close(),
      },
      runDir,
      check: () => checkHistory(readHistory(path.join(runDir, 'history.jsonl')).ops as Op[]),
      log,
    });
    writer.close();
    await teardown();
    writeFileSync(path.join(runDir, 'results.json'), JSON.stringify(outcome.result, null, 2) + '\n');
    try {
      await writeReport(runDir);
    } catch (error) {
      log(`report failed: ${String(error)}`);
    }
    printVerdict(outcome.valid, outcome.result, runDir, replay, outcome.guards, log);
    return outcome.valid;
  } finally {
    writer.close();
    await teardown();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function printVerdict(
  valid: Validity,
  result: { anomalies: Record<string, { count: number }>; stats: Record<string, unknown>; error?: string },
  runDir: string,
  replay: string,
  guards: readonly string[],
  log: (line: string) => void,
): void {
  const found = Object.entries(result.anomalies).filter(([, report]) => report.count > 0);
  for (const [name, report] of found) log(`  anomaly ${name}: ${report.count}`);
  for (const guard of guards) log(`  guard: ${guard}`);
  if (result.error) log(`  checker: ${result.error}`);
  const acknowledged = result.stats['acknowledged'];
  if (typeof acknowledged === 'number') log(`  acknowledged broadcasts: ${acknowledged}`);
  const verdict = valid === true ? 'VALID: every guarantee held' : valid === false ? 'INVALID: a guarantee broke' : 'UNKNOWN: the run could not decide';
  log(`zabkit test: ${verdict}`);
  log(`  report: ${path.join(runDir, 'index.html')}`);
  log(`  replay: ${replay}`);
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
