/**
 * `writeReport(runDir)`: one self-contained index.html for a stored run (no network: CSS, JS and
 * SVG inline). Reads history.jsonl, results.json, test.json, roles.jsonl (optional), lists
 * nodes/<name>/ and toxiproxy.log. Verdict and summary first, then each anomaly with its smallest
 * witness (the cited ops and their neighbours), a timeline (a lane per process, roles per node, fault
 * windows), latency scatter, latency quantiles and throughput over time.
 *
 * Size is bounded whatever the history length: the timeline and the scatter draw at most
 * `maxDrawnOperations` operations (every fail/info and every op cited by an anomaly first, then an
 * even sample of the rest) and say so on the page; quantiles and throughput are computed from every
 * operation in `buckets` time buckets; witnesses show at most `maxExamplesShown` per anomaly.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { checkHistory } from '../checker.js';
import type { CheckResult, Op } from '../types.js';
import { loadHistory, readJson } from './loading.js';
import { faultColors, faultWindows, markers, pairOperations, parseRoles, roleSegments, type Interval } from './model.js';
import { scenarioStepF } from '../vocabulary.js';
import { bucketize, latencyPlot, quantilePlot, ratePlot } from './plots.js';
import { nodeLastErrors } from './node-logs.js';
import { esc, formatMs, formatSeconds } from './svg.js';
import { legend, outcomeColor, roleColor, seconds, timeline } from './timeline.js';

/** Limits (bounded HTML): drawn operations per plot, examples per anomaly. */
export const maxDrawnOperations = 4000;
export const maxExamplesShown = 5;
const neighbours = 2;

const anomalyMeaning: Record<string, string> = {
  lost: 'a broadcast that returned ok is missing from a node\u2019s final read',
  'failed-delivered': 'a broadcast that returned fail was delivered somewhere',
  phantom: 'a delivered id that no broadcast ever invoked',
  duplicate: 'an id, or a zxid, delivered twice by one node',
  'zxid-conflict': 'one zxid bound to two ids, or one id to two zxids',
  divergence: 'two nodes\u2019 delivered sequences where neither is a prefix of the other',
  'zxid-order': 'a node\u2019s zxids are not strictly increasing in delivery order',
  fifo: 'one process\u2019s broadcasts delivered in an order other than the order it sent them',
  causal: 'B was invoked by a process that had already seen A, yet B is ordered before A',
  'real-time': 'A\u2019s ok came before B\u2019s invoke, both delivered, yet B is ordered before A',
  'deliver-order': 'a subscription\u2019s deliver observations disagree with the agreed order',
  'not-converged': 'after healing, live nodes\u2019 final reads differ in length',
  unavailable: 'after the testbed healed every fault, a live node acknowledged no broadcast within the final phase\u2019s bound',
};

export interface ReportResult {
  readonly path: string;
  readonly bytes: number;
  readonly operations: number;
  readonly drawnOperations: number;
  readonly sampled: boolean;
}

function shortJson(value: unknown, max = 140): string {
  const text = JSON.stringify(value) ?? 'null';
  return text.length > max ? `${text.slice(0, max - 1)}\u2026` : text;
}

// ---------------------------------------------------------------------------------------------
// Witnesses

function citedIndices(example: unknown): number[] {
  const e = example as Record<string, unknown> | undefined;
  return Array.isArray(e?.indices) ? (e.indices as unknown[]).filter((i): i is number => typeof i === 'number') : [];
}

function renderOpValue(op: Op, example: Record<string, unknown>): string {
  const value = op.value as Record<string, unknown> | null;
  if (op.f === 'read' && value !== null && Array.isArray(value?.deliveries)) {
    const deliveries = value.deliveries as { id: string; zxid: string }[];
    const positions = [example.position, ...(Array.isArray(example.positions) ? example.positions : [])].filter((p): p is number => typeof p === 'number');
    let around = positions.length > 0 ? Math.min(...positions) : -1;
    const id = typeof example.id === 'string' ? example.id : undefined;
    let absent = '';
    if (around < 0 && id !== undefined) {
      around = deliveries.findIndex((d) => d.id === id);
      if (around < 0) absent = ` \u2014 <b>${esc(id)} absent</b>`;
    }
    if (around < 0) around = deliveries.length;
    const from = Math.max(0, around - 2);
    const to = Math.min(deliveries.length, Math.max(around, ...positions) + 3);
    const shown = deliveries.slice(from, to).map((d, k) => {
      const p = from + k;
      const hot = positions.includes(p) || (id !== undefined && d.id === id);
      return `${hot ? '<b>' : ''}[${p}] ${esc(d.id)}@${esc(d.zxid)}${hot ? '</b>' : ''}`;
    });
    return `${deliveries.length} deliveries: ${from > 0 ? '\u2026 ' : ''}${shown.join(', ')}${to < deliveries.length ? ' \u2026' : ''}${absent}`;
  }
  return esc(shortJson(op.value));
}

function witnessTable(example: Record<string, unknown>, ops: readonly Op[], positionOf: ReadonlyMap<number, number>): string {
  const cited = citedIndices(example);
  const rows = new Set<number>();
  for (const index of cited) {
    const at = positionOf.get(index);
    if (at === undefined) continue;
    for (let k = Math.max(0, at - neighbours); k <= Math.min(ops.length - 1, at + neighbours); k += 1) rows.add(k);
  }
  const sorted = [...rows].sort((a, b) => a - b);
  const out: string[] = [];
  let previous = -1;
  for (const k of sorted) {
    if (previous >= 0 && k > previous + 1) out.push('<tr class="gap"><td colspan="8">\u22ee</td></tr>');
    previous = k;
    const op = ops[k] as Op;
    const hot = cited.includes(op.index);
    out.push(
      `<tr class="${hot ? 'hot' : ''}"><td>${op.index}</td><td>${esc(formatSeconds(seconds(op.time)))}</td><td>${esc(op.process)}</td><td><span class="pill ${esc(op.type)}">${esc(op.type)}</span></td><td>${esc(op.f)}</td><td>${esc(op.node ?? '')}</td><td class="val">${renderOpValue(op, example)}</td><td>${esc(op.error ?? '')}</td></tr>`,
    );
  }
  return `<table class="ops"><thead><tr><th>index</th><th>time</th><th>process</th><th>type</th><th>f</th><th>node</th><th>value</th><th>error</th></tr></thead><tbody>${out.join('')}</tbody></table>`;
}

function exampleHeadline(example: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(example)) {
    if (key === 'indices') continue;
    parts.push(`<span class="kv"><span class="k">${esc(key)}</span> ${esc(shortJson(value, 90))}</span>`);
  }
  parts.push(`<span class="kv"><span class="k">cites</span> ${esc(citedIndices(example).join(', '))}</span>`);
  return parts.join(' ');
}

/** Why a node never served, in its own words: the last error lines of its logs (or that there are none). */
function lastWords(runDir: string, node: string): string {
  const found = nodeLastErrors(runDir, node);
  if (found.length === 0) return `<p class="muted">No error line at the end of ${esc(node)}\u2019s logs.</p>`;
  return found.map(({ file, lines }) => `<p class="muted">The last error lines of ${fileLink(file, runDir)}:</p><pre class="node-errors">${esc(lines.join('\n'))}</pre>`).join('');
}

// ---------------------------------------------------------------------------------------------
// Files

function listFiles(runDir: string, dir: string, depth: number, out: string[], limit: number): void {
  if (depth < 0 || out.length >= limit || !existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    if (out.length >= limit) return;
    const path = join(dir, name);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat === undefined) continue;
    if (stat.isDirectory()) listFiles(runDir, path, depth - 1, out, limit);
    else out.push(relative(runDir, path));
  }
}

function fileLink(rel: string, runDir: string): string {
  const size = statSync(join(runDir, rel), { throwIfNoEntry: false })?.size ?? 0;
  const href = rel.split(/[\\/]/).map(encodeURIComponent).join('/');
  const human = size >= 1 << 20 ? `${(size / (1 << 20)).toFixed(1)} MiB` : size >= 1024 ? `${(size / 1024).toFixed(1)} KiB` : `${size} B`;
  return `<a href="${esc(href)}">${esc(rel)}</a> <span class="muted">${human}</span>`;
}

// ---------------------------------------------------------------------------------------------

const css = `
:root{--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--bg:#f6f8fa;--ok:#1a7f37;--bad:#cf222e;--unk:#9a6700}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:#fff}
header{background:#24292f;color:#fff;padding:12px 28px;display:flex;align-items:baseline;gap:16px}header .brand{font-weight:700;letter-spacing:.5px}header .path{color:#adbac7;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
main{max-width:1200px;margin:0 auto;padding:18px 28px 60px}
.verdict{border-radius:6px;padding:14px 18px;color:#fff;display:flex;align-items:center;gap:18px;margin:8px 0 16px}.verdict .word{font-size:26px;font-weight:800;letter-spacing:1px}.verdict .why{font-size:14px;opacity:.95}
.verdict.valid{background:var(--ok)}.verdict.invalid{background:var(--bad)}.verdict.unknown{background:var(--unk)}.verdict.crashed{background:#4a2b6b}
h2{font-size:17px;margin:28px 0 8px;padding-bottom:4px;border-bottom:1px solid var(--line)}h3{font-size:15px;margin:18px 0 6px}
.grid4{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:8px}.stat{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 10px}.stat .v{font-size:18px;font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}.stat .l{color:var(--muted);font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}th{background:var(--bg);font-weight:600}
table.ops td{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}table.ops tr.hot td{background:#fff8c5;font-weight:600}table.ops tr.gap td{color:var(--muted);text-align:center;padding:0}td.val{max-width:640px;word-break:break-all}
.pill{display:inline-block;border-radius:10px;padding:0 7px;font-size:11px;font-weight:600}.pill.ok{background:#6DB6FE}.pill.info{background:#FFAA26}.pill.fail{background:#FEB5DA}.pill.invoke{background:#e6e6e6}
.muted{color:var(--muted)}.note{background:#ddf4ff;border:1px solid #54aeff66;border-radius:6px;padding:6px 10px;margin:6px 0;font-size:13px}.warn{background:#fff8c5;border:1px solid #d4a72c66;border-radius:6px;padding:6px 10px;margin:6px 0}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}pre{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px;overflow:auto;max-height:320px}
.example{border:1px solid var(--line);border-radius:6px;margin:8px 0;padding:8px}.example .head{margin-bottom:6px}.kv{display:inline-block;margin-right:12px}.kv .k{color:var(--muted)}
svg.plot{display:block;border:1px solid var(--line);border-radius:6px;background:#fff;margin:4px 0}
svg .grid{stroke:#eaeef2;stroke-width:1}svg .axis{stroke:#8c959f}svg .tick{font-size:10px;fill:#57606a}svg .lane{font-size:10px;fill:#57606a}svg .fault-label{font-size:10px;fill:#6e5a00}svg .role-label{font-size:9px;fill:#fff}svg .marker-label{font-size:10px;fill:#0969da}
svg rect.cited{stroke:#cf222e;stroke-width:1.5}svg rect[data-i]{cursor:pointer}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:var(--muted);margin:2px 0}.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
#op-detail{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;min-height:1.4em;color:var(--fg)}
nav.toc{font-size:13px;margin:4px 0 0}nav.toc a{margin-right:14px}
`;

const script = `
(function(){
  var detail=document.getElementById('op-detail');
  var svg=document.getElementById('timeline-svg');
  if(svg&&detail){svg.addEventListener('click',function(e){var t=e.target;if(!t||!t.getAttribute)return;var i=t.getAttribute('data-i');if(i===null)return;var title=t.querySelector('title');detail.textContent=title?title.textContent:('history '+i);});}
})();
`;

/** Build `runDir/index.html`. Never needs the network; reads only the run directory. */
export function writeReport(runDir: string): ReportResult {
  const { ops, problems } = loadHistory(join(runDir, 'history.jsonl'));
  const test = readJson(join(runDir, 'test.json'));
  let results = readJson(join(runDir, 'results.json')) as CheckResult | undefined;
  if (results === undefined) {
    results = checkHistory(ops);
    problems.push('results.json is missing: the history was checked now, for this report');
  }
  const rolesPath = join(runDir, 'roles.jsonl');
  const roleSamples = existsSync(rolesPath) ? parseRoles(readFileSync(rolesPath, 'utf8')) : [];

  const endNs = ops.length === 0 ? 0 : (ops[ops.length - 1] as Op).time;
  const endSeconds = seconds(endNs);
  const intervals = pairOperations(ops);
  const windows = faultWindows(ops);
  const roles = roleSegments(roleSamples, endNs);
  const positionOf = new Map<number, number>();
  ops.forEach((op, k) => positionOf.set(op.index, k));

  const anomalies = (results.anomalies ?? {}) as CheckResult['anomalies'];
  const cited = new Set<number>();
  for (const report of Object.values(anomalies)) for (const example of report.examples.slice(0, maxExamplesShown)) for (const i of citedIndices(example)) cited.add(i);

  // Sample: cited and non-ok operations first, then an even stride over the rest.
  let drawn: Interval[] = intervals;
  let sampled = false;
  if (intervals.length > maxDrawnOperations) {
    sampled = true;
    const priority = intervals.filter((i) => cited.has(i.invokeIndex) || cited.has(i.doneIndex) || i.outcome !== 'ok').slice(0, Math.floor(maxDrawnOperations / 2));
    const chosen = new Set(priority);
    const rest = intervals.filter((i) => !chosen.has(i));
    const room = maxDrawnOperations - priority.length;
    const stride = rest.length / room;
    for (let k = 0; k < room; k += 1) chosen.add(rest[Math.floor(k * stride)] as Interval);
    drawn = intervals.filter((i) => chosen.has(i));
  }
  const { quantiles, rates, width } = bucketize(intervals, endNs);

  const valid = results.valid;
  const crashedField = (results as { crashed?: unknown }).crashed;
  const crashed = typeof crashedField === 'string' ? crashedField : undefined;
  const verdictClass = crashed !== undefined ? 'crashed' : valid === true ? 'valid' : valid === false ? 'invalid' : 'unknown';
  const verdictWord = crashed !== undefined ? 'CRASHED' : valid === true ? 'VALID' : valid === false ? 'INVALID' : 'UNKNOWN';
  const names = Object.keys(anomalies);
  const stats = (results.stats ?? {}) as Record<string, unknown>;
  const why =
    crashed !== undefined
      ? `the testbed failed, so the run could not be completed: ${crashed}`
      : valid === false
      ? `${names.length} kind${names.length === 1 ? '' : 's'} of anomaly: ${names.map((k) => `${k} \u00d7${anomalies[k]?.count ?? 0}`).join(', ')}`
      : valid === true
        ? `no anomaly in ${ops.length.toLocaleString('en-US')} operations; ${String(stats.acknowledged ?? '?')} acknowledged broadcasts, all present and in order on every node`
        : `could not decide: ${results.error ?? (Array.isArray(stats.unknownBecause) ? (stats.unknownBecause as string[]).join('; ') : Array.isArray(stats.guards) && stats.guards.length > 0 ? (stats.guards as string[]).join('; ') : 'see results.json')}`;

  const testName = typeof test?.name === 'string' ? test.name : (runDir.split(/[\\/]/).slice(-2, -1)[0] ?? 'run');
  const field = (name: string): unknown => test?.[name] ?? (test?.options as Record<string, unknown> | undefined)?.[name];
  const summaryStats: [string, unknown][] = [
    ['operations', ops.length.toLocaleString('en-US')],
    ['duration', formatSeconds(endSeconds)],
    ['acknowledged', stats.acknowledged],
    ['failed', stats.failed],
    ['indeterminate (delivered)', `${String(stats.indeterminate ?? '?')} (${String(stats.indeterminateDelivered ?? '?')})`],
    ['agreed sequence length', stats.agreedLength],
    ['nodes read', Array.isArray(stats.nodesRead) ? (stats.nodesRead as string[]).join(' ') : '?'],
    ['deliver observations', stats.deliverObservations],
    ['fault windows', windows.length],
    ['latency p50 / p99', (() => {
      const l = stats.latencyMsAcknowledged as Record<string, number | null> | undefined;
      return l?.p50 == null ? '\u2013' : `${formatMs(l.p50)} / ${formatMs(l.p99 ?? 0)}`;
    })()],
  ];
  const meta: [string, unknown][] = [
    ['system', field('system')],
    ['nodes', field('nodes')],
    ['nemesis', (() => { const n = field('nemesis'); return Array.isArray(n) ? (n.length > 0 ? n.join(', ') : 'none') : n; })()],
    ['seed', field('seed')],
    ['bug', field('bug')],
    ['power cuts', field('faultFilesystem') === true ? 'real: the fault filesystem loses unsynced writes' : field('faultFilesystem') === false ? `kill -9 only (${String(field('faultFilesystemWhy') ?? 'no fault filesystem')})` : undefined],
    ['git commit', field('commit') ?? field('gitCommit')],
    ['started', field('startedAt') ?? field('date')],
  ];
  const command = field('command') ?? field('commandLine') ?? field('replay');

  const html: string[] = [];
  html.push(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${esc(verdictWord)} \u2014 ${esc(testName)} \u2014 zabkit</title><style>${css}</style></head><body>`);
  html.push(`<header><span class="brand">zabkit</span><span>${esc(testName)}</span><span class="path">${esc(runDir)}</span></header><main>`);
  html.push(`<div class="verdict ${verdictClass}" id="verdict"><span class="word">${verdictWord}</span><span class="why">${esc(why)}${shrunkFrom(test, runDir)}</span></div>`);
  html.push('<nav class="toc"><a href="#summary">summary</a><a href="#anomalies">anomalies</a><a href="#timeline">timeline</a><a href="#latency">latency</a><a href="#throughput">throughput</a><a href="#files">files &amp; logs</a></nav>');
  for (const p of problems) html.push(`<div class="warn">${esc(p)}</div>`);

  html.push('<h2 id="summary">Summary</h2><div class="grid4">');
  for (const [label, value] of [...meta.filter(([, v]) => v !== undefined && v !== null), ...summaryStats]) {
    const shownValue = typeof value === 'number' ? value.toLocaleString('en-US') : typeof value === 'object' && value !== null ? shortJson(value, 60) : String(value ?? '\u2013');
    html.push(`<div class="stat" title="${esc(shownValue)}"><div class="v">${esc(shownValue)}</div><div class="l">${esc(label)}</div></div>`);
  }
  html.push('</div>');
  if (command !== undefined) html.push(`<h3>Replay</h3><pre>${esc(Array.isArray(command) ? command.join(' ') : String(command))}</pre>`);

  html.push('<h2 id="anomalies">Anomalies</h2>');
  if (names.length === 0) {
    html.push(`<p class="muted">${valid === true ? 'None found. The checker looked for: ' : 'None found, but the verdict is not a pass. Checked: '}${esc(Object.keys(anomalyMeaning).join(', '))}.</p>`);
    if (results.error !== undefined) html.push(`<pre>${esc(results.error.slice(0, 4000))}</pre>`);
  } else {
    html.push('<table><thead><tr><th>anomaly</th><th>count</th><th>meaning</th></tr></thead><tbody>');
    for (const name of names) html.push(`<tr><td><a href="#a-${esc(name)}">${esc(name)}</a></td><td>${esc(anomalies[name]?.count)}</td><td>${esc(anomalyMeaning[name] ?? '')}</td></tr>`);
    html.push('</tbody></table>');
    for (const name of names) {
      const report = anomalies[name];
      if (report === undefined) continue;
      const shown = report.examples.slice(0, maxExamplesShown);
      html.push(`<h3 id="a-${esc(name)}">${esc(name)} \u00d7${esc(report.count)}</h3><p class="muted">${esc(anomalyMeaning[name] ?? '')}. Smallest witness: the cited operations (highlighted) and their neighbours in the history.${report.count > shown.length ? ` Showing ${shown.length} of ${report.count}; results.json keeps ${report.examples.length}.` : ''}</p>`);
      for (const example of shown) {
        const e = (typeof example === 'object' && example !== null ? example : { value: example }) as Record<string, unknown>;
        const why = name === 'unavailable' && typeof e['node'] === 'string' ? lastWords(runDir, e['node']) : '';
        html.push(`<div class="example"><div class="head">${exampleHeadline(e)}</div>${witnessTable(e, ops, positionOf)}${why}</div>`);
      }
    }
  }

  const sampleNote = sampled
    ? `<div class="note">${ops.length.toLocaleString('en-US')} history events, ${intervals.length.toLocaleString('en-US')} operations: the timeline and the scatter draw ${drawn.length.toLocaleString('en-US')} of them (every fail/info and every cited operation first, then an even sample of the rest). Quantiles and throughput use every operation.</div>`
    : '';
  html.push('<h2 id="timeline">Timeline</h2>');
  html.push(sampleNote);
  html.push(legend([[outcomeColor.ok as string, 'ok'], [outcomeColor.info as string, 'info / no reply'], [outcomeColor.fail as string, 'fail'], ...(roles.length > 0 ? ([[roleColor.leading, 'leading'], [roleColor.following, 'following'], [roleColor.looking, 'looking']] as [string, string][]) : []), ...[...new Set(windows.map((w) => w.group))].map((g) => [faultColors[g], `fault: ${g}`] as [string, string])]));
  const marks = markers(ops);
  if (marks.length > 0) {
    html.push(legend([
      ['#0969da', 'final phase (dashed)'],
      ...(marks.some((m) => m.kind === 'step') ? ([['#8250df', 'scenario step (red: precondition not met)']] as [string, string][]) : []),
      ...(marks.some((m) => m.kind === 'testbed') ? ([['#6e7781', 'testbed event (red: with an error)']] as [string, string][]) : []),
    ]));
  }
  html.push(timeline(intervals, drawn, windows, roles, endSeconds, cited, marks));
  html.push('<div id="op-detail" class="muted">Click an operation for its details; hover for a tooltip. Red outlines: operations cited by an anomaly.</div>');

  html.push('<h2 id="latency">Latency</h2>');
  html.push(legend([[outcomeColor.ok as string, 'ok'], [outcomeColor.info as string, 'info'], [outcomeColor.fail as string, 'fail'], ['#888', '\u25cf broadcast  \u25a0 read']]));
  html.push(latencyPlot(drawn, intervals, windows, endSeconds));
  html.push(`<h3>Latency quantiles of acknowledged broadcasts (${esc(formatSeconds(width / 1e9))} buckets)</h3>`);
  html.push(legend([['#2563EB', 'p50'], ['#059669', 'p95'], ['#D97706', 'p99'], ['#DC2626', 'max']]));
  html.push(quantilePlot(quantiles, windows, endSeconds));
  html.push(`<h2 id="throughput">Throughput (broadcast completions per second, ${esc(formatSeconds(width / 1e9))} buckets)</h2>`);
  html.push(legend([[outcomeColor.ok as string, 'ok'], [outcomeColor.info as string, 'info'], ['#E879B9', 'fail']]));
  html.push(ratePlot(rates, windows, endSeconds));

  html.push(scenarioSteps(ops, test));

  if (windows.length > 0) {
    html.push(`<details${windows.length <= 20 ? ' open' : ''}><summary><b>Fault windows</b> (${windows.length})</summary>`);
    html.push('<table><thead><tr><th>fault</th><th>from</th><th>to</th><th>history</th></tr></thead><tbody>');
    for (const w of windows.slice(0, 200)) {
      html.push(`<tr><td><i style="display:inline-block;width:10px;height:10px;background:${faultColors[w.group]}"></i> ${esc(w.label)}</td><td>${esc(formatSeconds(seconds(w.start)))}</td><td>${w.endIndex === undefined ? 'never healed' : esc(formatSeconds(seconds(w.end)))}</td><td>${w.startIndex}${w.endIndex === undefined ? '' : `\u2013${w.endIndex}`}</td></tr>`);
    }
    html.push(`</tbody></table>${windows.length > 200 ? `<p class="muted">first 200 of ${windows.length}</p>` : ''}</details>`);
  }

  html.push('<h2 id="files">Files &amp; logs</h2><ul>');
  for (const name of ['history.jsonl', 'results.json', 'test.json', 'roles.jsonl', 'toxiproxy.log']) {
    if (existsSync(join(runDir, name))) html.push(`<li>${fileLink(name, runDir)}</li>`);
  }
  html.push('</ul>');
  const nodesDir = join(runDir, 'nodes');
  if (existsSync(nodesDir)) {
    html.push('<table><thead><tr><th>node</th><th>files</th></tr></thead><tbody>');
    for (const node of readdirSync(nodesDir).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }))) {
      const files: string[] = [];
      listFiles(runDir, join(nodesDir, node), 2, files, 40);
      const logs = files.filter((f) => /\.(log|jsonl|txt|out|err)$/.test(f));
      const others = files.filter((f) => !logs.includes(f));
      html.push(`<tr><td>${esc(node)}</td><td>${logs.map((f) => fileLink(f, runDir)).join('<br>')}${others.length > 0 ? `<details><summary class="muted">${others.length} other file${others.length === 1 ? '' : 's'}</summary>${others.map((f) => fileLink(f, runDir)).join('<br>')}</details>` : ''}</td></tr>`);
    }
    html.push('</tbody></table>');
  }
  if (test !== undefined) html.push(`<details><summary>test.json</summary><pre>${esc(JSON.stringify(test, null, 2).slice(0, 20_000))}</pre></details>`);
  html.push(`<p class="muted">Generated by zabkit report from ${esc(runDir)}. Self-contained: no network needed.</p>`);
  html.push(`</main><script>${script}</script></body></html>`);

  const text = html.join('\n');
  const path = join(runDir, 'index.html');
  writeFileSync(path, text);
  return { path, bytes: Buffer.byteLength(text), operations: intervals.length, drawnOperations: drawn.length, sampled };
}

/**
 * A run of a scenario `zabkit shrink` wrote (its reference names the run it was shrunk from): a link
 * to that run's report, inside the verdict, so the reproducer's verdict leads to the failure it reproduces.
 */
function shrunkFrom(test: Record<string, unknown> | undefined, runDir: string): string {
  const reference = (test?.['scenario'] as { scenario?: { reference?: Record<string, unknown> } } | undefined)?.scenario?.reference;
  const original = reference?.['shrunkFrom'];
  if (typeof original !== 'string') return '';
  const href = relative(runDir, join(original, 'index.html')).split(sep).join('/');
  return ` <span class="from" id="shrunk-from">(a scenario shrunk from <a href="${esc(href)}" style="color:inherit">${esc(original)}</a>, seed ${esc(String(reference?.['seed'] ?? '?'))}${typeof reference?.['bug'] === 'string' ? `, --bug ${esc(reference['bug'])}` : ''})</span>`;
}

/** A scenario run's steps, as the `scenario-step` markers recorded them: what each did and found. */
function scenarioSteps(ops: readonly Op[], test: Record<string, unknown> | undefined): string {
  const steps = ops.filter((op) => op.process === 'nemesis' && op.f === scenarioStepF);
  if (steps.length === 0) return '';
  const scenario = (test?.['scenario'] as { scenario?: { name?: string; description?: string; steps?: unknown[] } } | undefined)?.scenario;
  const rows = steps.map((op) => {
    const v = (typeof op.value === 'object' && op.value !== null ? op.value : {}) as Record<string, unknown>;
    const found = Object.entries(v)
      .filter(([key]) => !['step', 'do', 'as', 'note', 'nodes', 'tookMs', 'unmet'].includes(key))
      .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join('; ');
    const problem = op.error ?? (typeof v['unmet'] === 'string' ? v['unmet'] : undefined);
    return `<tr${problem === undefined ? '' : ' class="hot"'}><td>${esc(String(v['step'] ?? ''))}</td><td>${esc(formatSeconds(seconds(op.time)))}</td><td>${esc(String(v['do'] ?? ''))}${v['as'] === undefined ? '' : ` as ${esc(String(v['as']))}`}</td><td>${esc(Array.isArray(v['nodes']) ? (v['nodes'] as unknown[]).join(', ') : '')}</td><td>${esc(String(v['tookMs'] ?? ''))} ms</td><td>${esc(String(v['note'] ?? ''))}</td><td class="val">${esc(found.slice(0, 400))}</td><td>${esc(problem ?? '')}</td></tr>`;
  });
  const total = scenario?.steps?.length;
  return [
    `<h2 id="scenario">Scenario ${esc(scenario?.name ?? '')}</h2>`,
    scenario?.description ? `<p class="muted">${esc(scenario.description)}</p>` : '',
    `<p class="muted">${steps.length}${total === undefined ? '' : ` of ${total}`} steps ran${steps.some((op) => op.error !== undefined || (op.value as { unmet?: unknown } | null)?.unmet !== undefined) ? '; the last one did not get through (red: a precondition not met, or the testbed failed), so the rest were skipped and the run cannot be valid' : ''}. The verdict comes from the history alone, as for any run.</p>`,
    '<table><thead><tr><th>step</th><th>at</th><th>do</th><th>nodes</th><th>took</th><th>note</th><th>found</th><th>not met / failed</th></tr></thead><tbody>',
    ...rows,
    '</tbody></table>',
  ].join('\n');
}
