/**
 * The run store (interfaces.md "Store layout"): `store/<test-name>/<timestamp>/` with a `latest`
 * symlink per test name, as Jepsen's. Each run directory holds test.json, history.jsonl,
 * results.json, index.html, nodes/<name>/, toxiproxy.log (and roles.jsonl when sampled).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Test names become directory names: letters, digits, '-', '_', '.'; nothing else. */
const testNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Basic ISO date-time, safe in a path: 20261124T223433.123Z. */
export function runTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '');
}

/**
 * Create `storeDir/testName/<timestamp>/` (unique: a suffix is added on collision) and point
 * `storeDir/testName/latest` at it. Returns the absolute run directory.
 */
export function createRunDir(storeDir: string, testName: string, date: Date = new Date()): string {
  if (!testNamePattern.test(testName)) throw new Error(`bad test name ${JSON.stringify(testName)}: use letters, digits, '.', '_' and '-'`);
  const testDir = resolve(storeDir, testName);
  mkdirSync(testDir, { recursive: true });
  const base = runTimestamp(date);
  let name = base;
  for (let n = 2; existsSync(join(testDir, name)); n += 1) name = `${base}-${n}`;
  const runDir = join(testDir, name);
  mkdirSync(runDir);
  mkdirSync(join(runDir, 'nodes'));
  updateLatest(testDir, name);
  return runDir;
}

/** Atomically repoint `testDir/latest` at `runName` (a relative symlink). */
export function updateLatest(testDir: string, runName: string): void {
  const link = join(testDir, 'latest');
  const temporary = join(testDir, `.latest-${process.pid}`);
  try {
    unlinkSync(temporary);
  } catch {
    // not there
  }
  symlinkSync(runName, temporary, 'dir');
  renameSync(temporary, link);
}

export interface RunSummary {
  readonly testName: string;
  readonly timestamp: string;
  /** Relative to the store directory: "<test-name>/<timestamp>". */
  readonly path: string;
  /** ISO date of the run, from test.json's start time or the timestamp. */
  readonly date: string;
  readonly valid: true | false | 'unknown' | 'incomplete';
  readonly seed: unknown;
  readonly nemesis: unknown;
  readonly system: unknown;
  readonly operations: number | undefined;
  readonly hasReport: boolean;
  readonly anomalies: string[];
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function field(test: Record<string, unknown> | undefined, name: string): unknown {
  if (test === undefined) return undefined;
  if (test[name] !== undefined) return test[name];
  const options = test.options;
  if (typeof options === 'object' && options !== null) return (options as Record<string, unknown>)[name];
  return undefined;
}

function timestampToIso(timestamp: string): string {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\.\d+)?Z/.exec(timestamp);
  return m === null ? timestamp : `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''}Z`;
}

/** Summarize one run directory (reads test.json and results.json; never throws). */
export function summarizeRun(storeDir: string, testName: string, timestamp: string): RunSummary {
  const dir = join(storeDir, testName, timestamp);
  const test = readJson(join(dir, 'test.json'));
  const results = readJson(join(dir, 'results.json'));
  const stats = results?.stats as Record<string, unknown> | undefined;
  const valid = results?.valid;
  const startedAt = field(test, 'startedAt') ?? field(test, 'start') ?? field(test, 'date');
  return {
    testName,
    timestamp,
    path: `${testName}/${timestamp}`,
    date: typeof startedAt === 'string' ? startedAt : timestampToIso(timestamp),
    valid: valid === true || valid === false || valid === 'unknown' ? valid : 'incomplete',
    seed: field(test, 'seed'),
    nemesis: field(test, 'nemesis'),
    system: field(test, 'system'),
    operations: typeof stats?.ops === 'number' ? stats.ops : undefined,
    hasReport: existsSync(join(dir, 'index.html')),
    anomalies: typeof results?.anomalies === 'object' && results.anomalies !== null ? Object.keys(results.anomalies) : [],
  };
}

/** Every run in the store, newest first. */
export function listRuns(storeDir: string): RunSummary[] {
  const runs: RunSummary[] = [];
  if (!existsSync(storeDir)) return runs;
  for (const testName of readdirSync(storeDir).sort()) {
    if (!testNamePattern.test(testName)) continue;
    const testDir = join(storeDir, testName);
    if (!lstatSync(testDir).isDirectory()) continue;
    for (const timestamp of readdirSync(testDir)) {
      if (timestamp === 'latest' || timestamp.startsWith('.')) continue;
      const stat = lstatSync(join(testDir, timestamp));
      if (!stat.isDirectory()) continue;
      runs.push(summarizeRun(storeDir, testName, timestamp));
    }
  }
  runs.sort((a, b) => (a.timestamp < b.timestamp ? 1 : a.timestamp > b.timestamp ? -1 : a.testName.localeCompare(b.testName)));
  return runs;
}
