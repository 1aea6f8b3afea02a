/**
 * `zabkit nightly`: a matrix of rows (fault packages and scenarios) x seeds (x ZooKeeper releases), each cell one `zabkit test` in its own
 * process (so one crashed run cannot take the others down), then summary.html, summary.json and
 * junit.xml. The exit code is the worst verdict: 1 if any run was invalid, else 255 if any run
 * crashed, else 2 if any was unknown, else 0. Every failed cell is listed with its replay command.
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';

export interface NightlyOptions {
  readonly packages: readonly string[];
  /** Scenarios (`--scenarios`): each one a row of the matrix next to the packages, run with `--scenario`. */
  readonly scenarios?: readonly string[];
  /** ZooKeeper releases (`--zookeeper-versions`): every row runs on each; absent, on the default one. */
  readonly versions?: readonly string[];
  readonly seeds: readonly number[];
  readonly system: string;
  readonly nodes: number;
  readonly timeLimitSeconds: number;
  readonly rate: number;
  readonly bug: string | undefined;
  readonly out: string;
  readonly toxiproxyUrl: string | undefined;
  readonly cli: string;
  readonly extraArgs: readonly string[];
  /** `--shard K/N`: run only shard K (1-based) of N of the matrix. */
  readonly shard?: { readonly index: number; readonly count: number };
}

export interface NightlyCell {
  /** Position in the whole matrix (planNightly), the same in every shard. */
  readonly index?: number;
  /** The row: a fault package, or `scenario:NAME`. */
  readonly package: string;
  /** The ZooKeeper release of the cell (with --zookeeper-versions). */
  readonly version?: string;
  readonly seed: number;
  readonly name: string;
  readonly exitCode: number;
  readonly valid: true | false | 'unknown' | 'crashed';
  readonly runDir: string | undefined;
  readonly anomalies: Record<string, number>;
  readonly acknowledged: number | undefined;
  readonly seconds: number;
  readonly replay: string;
  readonly error: string | undefined;
  /** Why an unknown cell could not decide (results.json `reason`, else its guards). */
  readonly reason?: string;
}

export const nightlyLimits = {
  /** A cell that runs longer than its time limit plus this margin is killed and counted as crashed. */
  cellMarginSeconds: 240,
} as const;

/** One cell of the matrix, before it runs: its place in the canonical order and its command line. */
export interface PlannedCell {
  /** Position in the whole matrix (versions, then rows, then seeds): what a shard is chosen by. */
  readonly index: number;
  readonly row: string;
  readonly seed: number;
  readonly version?: string;
  readonly name: string;
  /** The `zabkit test` arguments. */
  readonly args: readonly string[];
}

/** What summary.json records of the matrix, so that shards can be checked and merged. */
export interface NightlyMeta {
  readonly system: string;
  readonly nodes: number;
  readonly timeLimitSeconds: number;
  readonly seeds: readonly number[];
  readonly packages: readonly string[];
  readonly scenarios: readonly string[];
  readonly versions: readonly string[];
  /** The whole matrix's size, and which shard this is (absent: the whole matrix). */
  readonly cellsInMatrix: number;
  readonly shard?: { readonly index: number; readonly count: number };
}

export interface NightlySummary {
  readonly exitCode: number;
  readonly meta: NightlyMeta;
  /** Where the nightly wrote (absolute): cells' run folders lie under it. */
  readonly out: string;
  readonly cells: readonly NightlyCell[];
}

/**
 * Every cell of the matrix in the canonical order: versions, then rows (packages, then scenarios),
 * then seeds. The same options give the same list on any machine (seeds must be given, not drawn,
 * for that: `--shard` requires `--seed-list`).
 */
export function planNightly(options: NightlyOptions, store: string): PlannedCell[] {
  const rows = [...options.packages.map((pkg) => ({ row: pkg, args: ['--nemesis', pkg] })), ...(options.scenarios ?? []).map((scenario) => ({ row: `scenario:${scenario}`, args: ['--scenario', scenario] }))];
  const versions: readonly (string | undefined)[] = options.versions !== undefined && options.versions.length > 0 ? options.versions : [undefined];
  const plan: PlannedCell[] = [];
  for (const version of versions) {
    for (const { row, args: rowArgs } of rows) {
      for (const seed of options.seeds) {
        const name = `nightly-${version === undefined ? '' : `${version}-`}${row.replace(':', '-')}-seed${seed}`;
        const scenario = row.startsWith('scenario:');
        const args = [
          'test',
          '--name', name,
          '--system', options.system,
          ...(version === undefined ? [] : ['--zookeeper-version', version]),
          // A scenario fixes its own node count.
          ...(scenario ? [] : ['--nodes', String(options.nodes)]),
          '--time-limit', String(options.timeLimitSeconds),
          '--rate', String(options.rate),
          ...rowArgs,
          '--seed', String(seed),
          '--store', store,
          ...(options.bug ? ['--bug', options.bug] : []),
          ...(options.toxiproxyUrl ? ['--toxiproxy-url', options.toxiproxyUrl] : []),
          ...options.extraArgs,
        ];
        plan.push({ index: plan.length, row, seed, ...(version === undefined ? {} : { version }), name, args });
      }
    }
  }
  return plan;
}

/** Shard K of N (1-based) takes the cells whose index is K-1 modulo N: balanced, and stable for a given matrix. */
export function inShard(cell: Pick<PlannedCell, 'index'>, shard: { readonly index: number; readonly count: number }): boolean {
  return cell.index % shard.count === shard.index - 1;
}

export async function runNightly(options: NightlyOptions, log: (line: string) => void): Promise<{ cells: NightlyCell[]; exitCode: number }> {
  const out = path.resolve(options.out);
  mkdirSync(out, { recursive: true });
  const store = path.join(out, 'runs');
  const plan = planNightly(options, store);
  const mine = options.shard === undefined ? plan : plan.filter((cell) => inShard(cell, options.shard!));
  const cells: NightlyCell[] = [];
  const versions = options.versions ?? [];
  const rows = options.packages.length + (options.scenarios?.length ?? 0);
  log(`nightly: ${rows} rows x ${options.seeds.length} seeds${versions.length === 0 ? '' : ` x ${versions.length} versions (${versions.join(', ')})`}; seeds: ${options.seeds.join(', ')}${options.shard ? `; shard ${options.shard.index}/${options.shard.count}: ${mine.length} of ${plan.length} cells` : ''}`);
  for (const planned of mine) {
    const replay = ['zabkit', ...planned.args].map(shellQuote).join(' ');
    log(`nightly: ${planned.name}: ${replay}`);
    const started = Date.now();
    const result = await execa('node', [options.cli, ...planned.args], {
      reject: false,
      all: true,
      timeout: (options.timeLimitSeconds + nightlyLimits.cellMarginSeconds) * 1000,
      killSignal: 'SIGTERM',
    });
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const runDir = path.join(store, planned.name, 'latest');
    const cell = readCell(planned.row, planned.seed, planned.name, result.exitCode ?? 255, runDir, seconds, replay, result.all ?? '');
    cells.push({ ...cell, index: planned.index, ...(planned.version === undefined ? {} : { version: planned.version }) });
    log(`nightly: ${planned.name}: ${String(cell.valid)} (exit ${cell.exitCode}, ${seconds}s)`);
  }
  const meta: NightlyMeta = {
    system: options.system,
    nodes: options.nodes,
    timeLimitSeconds: options.timeLimitSeconds,
    seeds: options.seeds,
    packages: options.packages,
    scenarios: options.scenarios ?? [],
    versions,
    cellsInMatrix: plan.length,
    ...(options.shard ? { shard: options.shard } : {}),
  };
  const exitCode = writeSummary(out, { exitCode: worstExitCode(cells), meta, out, cells });
  log(`nightly: summary in ${path.join(out, 'summary.html')}, exit ${exitCode}`);
  return { cells, exitCode };
}

/** summary.json, junit.xml and summary.html of a nightly (or of merged shards); returns the exit code. */
function writeSummary(dir: string, summary: NightlySummary, notes: readonly string[] = []): number {
  // seeds, packages, scenarios and versions also at the top, where summary.json always had them.
  const { meta } = summary;
  const json = { exitCode: summary.exitCode, seeds: meta.seeds, packages: meta.packages, scenarios: meta.scenarios, versions: meta.versions, meta, out: summary.out, cells: summary.cells };
  writeFileSync(path.join(dir, 'summary.json'), JSON.stringify(json, null, 2));
  writeFileSync(path.join(dir, 'junit.xml'), junitXml(summary.cells));
  writeFileSync(path.join(dir, 'summary.html'), summaryHtml(summary.cells, summary.meta, dir, notes));
  return summary.exitCode;
}

/** A shard's summary.json that cannot be merged (unreadable, or from another matrix). */
export class MergeError extends Error {
  override name = 'MergeError';
}

/**
 * `zabkit nightly merge DIR...`: the shards' cells in the matrix's order, one summary.html,
 * summary.json and junit.xml in `out`, the exit code the worst verdict. Shards must come from the
 * same matrix and not overlap; a missing shard (a CI job that never finished) counts as crashed.
 * A cell's run folder is found under the shard folder it came in (CI artifacts move).
 */
export function mergeNightly(dirs: readonly string[], out: string, log: (line: string) => void): { cells: NightlyCell[]; exitCode: number } {
  if (dirs.length === 0) throw new MergeError('nightly merge needs at least one shard folder');
  const summaries = dirs.map((dir) => {
    const file = path.join(dir, 'summary.json');
    try {
      const summary = JSON.parse(readFileSync(file, 'utf8')) as NightlySummary;
      if (typeof summary.meta?.cellsInMatrix !== 'number' || !Array.isArray(summary.cells)) throw new Error('not a nightly summary (no meta.cellsInMatrix or cells)');
      return { dir: path.resolve(dir), summary };
    } catch (error) {
      throw new MergeError(`${file}: ${(error as Error).message}`);
    }
  });
  const first = summaries[0]!.summary.meta;
  const key = (meta: NightlyMeta): string => JSON.stringify({ ...meta, shard: meta.shard?.count ?? null });
  for (const { dir, summary } of summaries) {
    if (key(summary.meta) !== key(first)) throw new MergeError(`${dir} is a shard of another matrix (its system, rows, seeds, versions or shard count differ from ${summaries[0]!.dir})`);
  }
  const seen = new Map<number, string>();
  const cells: NightlyCell[] = [];
  for (const { dir, summary } of summaries) {
    for (const cell of summary.cells) {
      const index = cell.index ?? -1;
      if (seen.has(index)) throw new MergeError(`cell ${cell.name} is in both ${seen.get(index)} and ${dir}: overlapping shards`);
      seen.set(index, dir);
      const runDir = cell.runDir === undefined ? undefined : rebase(cell.runDir, summary.out, dir);
      cells.push(runDir === undefined ? cell : { ...cell, runDir });
    }
  }
  cells.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  const notes: string[] = [];
  const count = first.shard?.count;
  if (count !== undefined) {
    const shards = new Set(summaries.map(({ summary }) => summary.meta.shard?.index));
    const missing = Array.from({ length: count }, (_, k) => k + 1).filter((k) => !shards.has(k));
    if (missing.length > 0) notes.push(`missing shard${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${count}: ${first.cellsInMatrix - cells.length} cells never ran`);
  }
  const missingCells = cells.length < first.cellsInMatrix;
  const worst = worstExitCode(cells);
  const exitCode = worst === 1 ? 1 : missingCells ? 255 : worst;
  const { shard: _shard, ...whole } = first;
  mkdirSync(out, { recursive: true });
  writeSummary(path.resolve(out), { exitCode, meta: whole, out: path.resolve(out), cells }, notes);
  for (const note of notes) log(`nightly merge: ${note}`);
  log(`nightly merge: ${cells.length} of ${first.cellsInMatrix} cells from ${dirs.length} shard${dirs.length === 1 ? '' : 's'}; summary in ${path.join(out, 'summary.html')}, exit ${exitCode}`);
  return { cells, exitCode };
}

/** A run folder recorded under `from` (where a shard ran), found under `to` (where its artifact is now). */
function rebase(runDir: string, from: string | undefined, to: string): string {
  if (from === undefined) return runDir;
  const relative = path.relative(from, runDir);
  return relative.startsWith('..') || path.isAbsolute(relative) ? runDir : path.join(to, relative);
}

function readCell(pkg: string, seed: number, name: string, exitCode: number, runDir: string, seconds: number, replay: string, output: string): NightlyCell {
  const { valid, dir, anomalies, acknowledged, crashedCause, reason } = readRunOutcome(runDir, exitCode);
  const error = valid === 'crashed' ? crashCause(crashedCause, output) : undefined;
  return { package: pkg, seed, name, exitCode, valid, runDir: dir, anomalies, acknowledged, seconds, replay, error, ...(valid === 'unknown' && reason !== undefined ? { reason } : {}) };
}

/** What a finished `zabkit test` left: its verdict (from the exit code, then results.json), anomaly counts, and why it could not decide. */
export interface StoredRun {
  readonly valid: NightlyCell['valid'];
  /** The run folder, when it holds results.json. */
  readonly dir: string | undefined;
  readonly anomalies: Record<string, number>;
  readonly acknowledged: number | undefined;
  readonly crashedCause: string | undefined;
  readonly reason: string | undefined;
}

export function readRunOutcome(runDir: string, exitCode: number): StoredRun {
  let valid: NightlyCell['valid'] = exitCode === 0 ? true : exitCode === 1 ? false : exitCode === 2 ? 'unknown' : 'crashed';
  const anomalies: Record<string, number> = {};
  let acknowledged: number | undefined;
  const resultsFile = path.join(runDir, 'results.json');
  let dir: string | undefined;
  let crashedCause: string | undefined;
  let reason: string | undefined;
  if (existsSync(resultsFile)) {
    dir = runDir;
    try {
      const results = JSON.parse(readFileSync(resultsFile, 'utf8')) as { valid: unknown; crashed?: unknown; reason?: unknown; anomalies?: Record<string, { count: number }>; stats?: Record<string, unknown> };
      if (typeof results.crashed === 'string') crashedCause = results.crashed;
      const guards = Array.isArray(results.stats?.['guards']) ? (results.stats['guards'] as unknown[]).map(String) : [];
      const why = [...(typeof results.reason === 'string' ? [results.reason] : []), ...guards];
      if (why.length > 0) reason = why.join('; ').slice(0, 500);
      for (const [anomaly, report] of Object.entries(results.anomalies ?? {})) if (report.count > 0) anomalies[anomaly] = report.count;
      const stats = results.stats ?? {};
      const ack = stats['acknowledged'] ?? stats['broadcastsOk'] ?? stats['okBroadcasts'];
      if (typeof ack === 'number') acknowledged = ack;
      if (exitCode === 0 || exitCode === 1 || exitCode === 2) {
        valid = results.valid === true ? true : results.valid === false ? false : 'unknown';
      }
    } catch {
      // A crashed run may leave a partial file; the exit code already says what happened.
    }
  }
  return { valid, dir, anomalies, acknowledged, crashedCause, reason };
}

/**
 * The one-line cause of a crashed cell: results.json's `crashed` (a testbed failure), else the
 * `zabkit test: CRASHED: ...` line the run printed, else the last lines of its output.
 */
export function crashCause(fromResults: string | undefined, output: string): string {
  if (fromResults !== undefined) return fromResults;
  const lines = output.split('\n').filter(Boolean);
  const line = [...lines].reverse().find((l) => l.includes('CRASHED: '));
  if (line !== undefined) return line.slice(line.indexOf('CRASHED: ') + 'CRASHED: '.length);
  return lines.slice(-5).join('\n') || 'the run ended without output';
}

export function worstExitCode(cells: readonly NightlyCell[]): number {
  if (cells.some((cell) => cell.valid === false)) return 1;
  if (cells.some((cell) => cell.valid === 'crashed')) return 255;
  if (cells.some((cell) => cell.valid === 'unknown')) return 2;
  return 0;
}

export function junitXml(cells: readonly NightlyCell[]): string {
  const failures = cells.filter((cell) => cell.valid === false).length;
  const errors = cells.filter((cell) => cell.valid === 'crashed' || cell.valid === 'unknown').length;
  const total = cells.reduce((sum, cell) => sum + cell.seconds, 0);
  const cases = cells.map((cell) => {
    const open = `    <testcase classname="zabkit.nightly.${cell.version === undefined ? '' : `${xml(cell.version)}.`}${xml(cell.package)}" name="${xml(cell.name)}" time="${cell.seconds}">`;
    let body = '';
    if (cell.valid === false) {
      const list = Object.entries(cell.anomalies).map(([name, count]) => `${name}: ${count}`).join(', ');
      body = `\n      <failure message="${xml(`invalid: ${list}`)}">${xml(`replay: ${cell.replay}\nrun: ${cell.runDir ?? '-'}`)}</failure>`;
    } else if (cell.valid === 'unknown' || cell.valid === 'crashed') {
      const why = cell.valid === 'crashed' ? cell.error : cell.reason;
      const cause = why !== undefined ? `: ${why.split('\n')[0] ?? ''}` : '';
      body = `\n      <error message="${xml(`${cell.valid}${cause}`)}">${xml(`replay: ${cell.replay}\n${cell.error ?? ''}`)}</error>`;
    }
    body += `\n      <system-out>${xml(`seed=${cell.seed} exit=${cell.exitCode} run=${cell.runDir ?? '-'}`)}</system-out>`;
    return `${open}${body}\n    </testcase>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="zabkit nightly" tests="${cells.length}" failures="${failures}" errors="${errors}" time="${total.toFixed(1)}">`,
    `  <testsuite name="zabkit.nightly" tests="${cells.length}" failures="${failures}" errors="${errors}" time="${total.toFixed(1)}">`,
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function summaryHtml(cells: readonly NightlyCell[], meta: Pick<NightlyMeta, 'system' | 'nodes' | 'timeLimitSeconds' | 'seeds'>, out: string, notes: readonly string[] = []): string {
  const colour = (valid: NightlyCell['valid']): string => (valid === true ? '#2e7d32' : valid === false ? '#c62828' : valid === 'crashed' ? '#4a2b6b' : '#ef6c00');
  const rows = cells
    .map((cell) => {
      const link = cell.runDir ? `<a href="${xml(path.relative(out, path.join(cell.runDir, 'index.html')))}">report</a>` : '-';
      const anomalies = Object.entries(cell.anomalies).map(([name, count]) => `${name} (${count})`).join(', ') || '-';
      const why = cell.error ?? cell.reason;
      const cause = why === undefined ? '' : `<div class="cause">${xml(why)}</div>`;
      return `<tr><td>${cell.version === undefined ? '' : `${xml(cell.version)} `}${xml(cell.package)}</td><td>${cell.seed}</td><td><span style="color:${colour(cell.valid)};font-weight:600">${xml(String(cell.valid))}</span>${cause}</td><td>${xml(anomalies)}</td><td>${cell.acknowledged ?? '-'}</td><td>${cell.seconds}s</td><td>${link}</td><td><code>${xml(cell.replay)}</code></td></tr>`;
    })
    .join('\n');
  const worst = worstExitCode(cells);
  return `<!doctype html><html><head><meta charset="utf-8"><title>zabkit nightly</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:6px 10px;text-align:left;vertical-align:top}code{font-size:12px}.cause{font-size:12px;color:#555;white-space:pre-wrap;max-width:420px}</style></head>
<body><h1>zabkit nightly</h1>
<p>System <b>${xml(meta.system)}</b>, ${meta.nodes} nodes, ${meta.timeLimitSeconds}s per run, ${cells.length} runs; exit code <b>${worst}</b>.
Seeds: ${meta.seeds.join(', ')}.</p>${notes.map((note) => `<p style="color:#c62828;font-weight:600">${xml(note)}</p>`).join('')}
<table><thead><tr><th>row</th><th>seed</th><th>verdict</th><th>anomalies</th><th>acknowledged</th><th>time</th><th>report</th><th>replay</th></tr></thead>
<tbody>${rows}</tbody></table></body></html>`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function shellQuote(arg: string): string {
  return /^[\w./:=,@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
