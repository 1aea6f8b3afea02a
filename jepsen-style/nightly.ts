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
}

export interface NightlyCell {
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

export async function runNightly(options: NightlyOptions, log: (line: string) => void): Promise<{ cells: NightlyCell[]; exitCode: number }> {
  mkdirSync(options.out, { recursive: true });
  const store = path.join(options.out, 'runs');
  const cells: NightlyCell[] = [];
  const rows = [...options.packages.map((pkg) => ({ row: pkg, args: ['--nemesis', pkg] })), ...(options.scenarios ?? []).map((scenario) => ({ row: `scenario:${scenario}`, args: ['--scenario', scenario] }))];
  const versions: readonly (string | undefined)[] = options.versions !== undefined && options.versions.length > 0 ? options.versions : [undefined];
  log(`nightly: ${rows.length} rows x ${options.seeds.length} seeds${versions[0] === undefined ? '' : ` x ${versions.length} versions (${versions.join(', ')})`}; seeds: ${options.seeds.join(', ')}`);
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
        const replay = ['zabkit', ...args].map(shellQuote).join(' ');
        log(`nightly: ${name}: ${replay}`);
        const started = Date.now();
        const result = await execa('node', [options.cli, ...args], {
          reject: false,
          all: true,
          timeout: (options.timeLimitSeconds + nightlyLimits.cellMarginSeconds) * 1000,
          killSignal: 'SIGTERM',
        });
        const seconds = Math.round((Date.now() - started) / 100) / 10;
        const runDir = path.join(store, name, 'latest');
        const cell = readCell(row, seed, name, result.exitCode ?? 255, runDir, seconds, replay, result.all ?? '');
        cells.push(version === undefined ? cell : { ...cell, version });
        log(`nightly: ${name}: ${String(cell.valid)} (exit ${cell.exitCode}, ${seconds}s)`);
      }
    }
  }
  const exitCode = worstExitCode(cells);
  writeFileSync(path.join(options.out, 'summary.json'), JSON.stringify({ exitCode, seeds: options.seeds, packages: options.packages, scenarios: options.scenarios ?? [], versions: options.versions ?? [], cells }, null, 2));
  writeFileSync(path.join(options.out, 'junit.xml'), junitXml(cells));
  writeFileSync(path.join(options.out, 'summary.html'), summaryHtml(cells, options));
  log(`nightly: summary in ${path.join(options.out, 'summary.html')}, exit ${exitCode}`);
  return { cells, exitCode };
}

function readCell(pkg: string, seed: number, name: string, exitCode: number, runDir: string, seconds: number, replay: string, output: string): NightlyCell {
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
  const error = valid === 'crashed' ? crashCause(crashedCause, output) : undefined;
  return { package: pkg, seed, name, exitCode, valid, runDir: dir, anomalies, acknowledged, seconds, replay, error, ...(valid === 'unknown' && reason !== undefined ? { reason } : {}) };
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

export function summaryHtml(cells: readonly NightlyCell[], options: NightlyOptions): string {
  const colour = (valid: NightlyCell['valid']): string => (valid === true ? '#2e7d32' : valid === false ? '#c62828' : valid === 'crashed' ? '#4a2b6b' : '#ef6c00');
  const rows = cells
    .map((cell) => {
      const link = cell.runDir ? `<a href="${xml(path.relative(options.out, path.join(cell.runDir, 'index.html')))}">report</a>` : '-';
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
<p>System <b>${xml(options.system)}</b>, ${options.nodes} nodes, ${options.timeLimitSeconds}s per run, ${cells.length} runs; exit code <b>${worst}</b>.
Seeds: ${options.seeds.join(', ')}.</p>
<table><thead><tr><th>row</th><th>seed</th><th>verdict</th><th>anomalies</th><th>acknowledged</th><th>time</th><th>report</th><th>replay</th></tr></thead>
<tbody>${rows}</tbody></table></body></html>`;
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function shellQuote(arg: string): string {
  return /^[\w./:=,@-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
