/** Latency scatter, latency quantiles and throughput over time, in `buckets` time buckets. */
import type { FaultWindow, Interval } from './model.js';
import { esc, formatMs, linear, log10Scale, n, niceTicks, quantile, type LinearScale } from './svg.js';
import { faultShading, marginLeft, marginRight, outcomeColor, seconds, timeAxis, W } from './timeline.js';

/** Limit (bounded HTML): time buckets of the quantile and throughput plots. */
export const buckets = 80;

export function latencyPlot(drawn: readonly Interval[], all: readonly Interval[], windows: readonly FaultWindow[], endSeconds: number): string {
  const height = 300;
  const top = 10;
  const bottom = height - 26;
  const latencies = all.filter((i) => i.doneIndex >= 0).map((i) => (i.end - i.start) / 1e6);
  const max = latencies.reduce((m, v) => Math.max(m, v), 0.01);
  const min = latencies.reduce((m, v) => Math.min(m, v), max);
  const x = linear([0, Math.max(endSeconds, 1e-3)], [marginLeft, W - marginRight]);
  const y = log10Scale([Math.max(min, 0.001), max], [bottom, top]);
  const parts: string[] = [faultShading(windows, x, top, bottom, false), timeAxis(x, top, bottom), logAxis(y, x)];
  for (const op of drawn) {
    if (op.doneIndex < 0) continue;
    const px = n(x(seconds(op.start)));
    const py = n(y((op.end - op.start) / 1e6));
    const color = outcomeColor[op.outcome];
    parts.push(op.f === 'broadcast' ? `<circle cx="${px}" cy="${py}" r="1.8" fill="${color}"/>` : `<rect x="${px}" y="${py}" width="4" height="4" fill="${color}" stroke="#333" stroke-width="0.4"/>`);
  }
  return `<svg class="plot" id="latency-svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="latency scatter">${parts.join('')}</svg>`;
}

function logAxis(y: LinearScale, x: LinearScale): string {
  const [lo, hi] = y.domain;
  const parts: string[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e += 1) {
    const v = 10 ** e;
    if (v < lo * 0.999 || v > hi * 1.001) continue;
    const py = n(y(v));
    parts.push(`<line x1="${marginLeft}" x2="${W - marginRight}" y1="${py}" y2="${py}" class="grid"/><text x="${marginLeft - 6}" y="${n(y(v) + 4)}" class="tick" text-anchor="end">${esc(formatMs(v))}</text>`);
  }
  parts.push(`<line x1="${marginLeft}" x2="${marginLeft}" y1="${n(y.range[1])}" y2="${n(y.range[0])}" class="axis"/>`);
  void x;
  return parts.join('');
}

export function bucketize(all: readonly Interval[], endNs: number): { width: number; quantiles: { t: number; p50: number; p95: number; p99: number; max: number }[]; rates: { t: number; ok: number; info: number; fail: number }[] } {
  const width = Math.max(endNs / buckets, 1);
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  const rates = Array.from({ length: buckets }, (_, i) => ({ t: seconds((i + 0.5) * width), ok: 0, info: 0, fail: 0 }));
  for (const op of all) {
    if (op.f !== 'broadcast' || op.doneIndex < 0) continue;
    const b = Math.min(buckets - 1, Math.floor(op.end / width));
    const rate = rates[b] as (typeof rates)[number];
    if (op.outcome === 'ok') {
      rate.ok += 1;
      latencies[b]?.push((op.end - op.start) / 1e6);
    } else if (op.outcome === 'info') rate.info += 1;
    else if (op.outcome === 'fail') rate.fail += 1;
  }
  const perSecond = 1e9 / width;
  for (const r of rates) {
    r.ok *= perSecond;
    r.info *= perSecond;
    r.fail *= perSecond;
  }
  const quantiles = latencies.flatMap((list, i) => {
    if (list.length === 0) return [];
    list.sort((a, b) => a - b);
    return [{ t: seconds((i + 0.5) * width), p50: quantile(list, 0.5), p95: quantile(list, 0.95), p99: quantile(list, 0.99), max: list[list.length - 1] as number }];
  });
  return { width, quantiles, rates };
}

function polyline(points: [number, number][], color: string, dashed = false): string {
  if (points.length === 0) return '';
  return `<polyline fill="none" stroke="${color}" stroke-width="1.6"${dashed ? ' stroke-dasharray="4 3"' : ''} points="${points.map(([a, b]) => `${n(a)},${n(b)}`).join(' ')}"/>`;
}

export function quantilePlot(q: ReturnType<typeof bucketize>['quantiles'], windows: readonly FaultWindow[], endSeconds: number): string {
  const height = 260;
  const top = 10;
  const bottom = height - 26;
  const x = linear([0, Math.max(endSeconds, 1e-3)], [marginLeft, W - marginRight]);
  const max = q.reduce((m, b) => Math.max(m, b.max), 0.01);
  const min = q.reduce((m, b) => Math.min(m, b.p50), max);
  const y = log10Scale([Math.max(min, 0.001), max], [bottom, top]);
  const series: [keyof (typeof q)[number], string][] = [['p50', '#2563EB'], ['p95', '#059669'], ['p99', '#D97706'], ['max', '#DC2626']];
  const lines = series.map(([key, color]) => polyline(q.map((b) => [x(b.t), y(b[key])]), color)).join('');
  return `<svg class="plot" id="quantiles-svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="latency quantiles">${faultShading(windows, x, top, bottom, false)}${timeAxis(x, top, bottom)}${logAxis(y, x)}${lines}</svg>`;
}

export function ratePlot(rates: ReturnType<typeof bucketize>['rates'], windows: readonly FaultWindow[], endSeconds: number): string {
  const height = 240;
  const top = 10;
  const bottom = height - 26;
  const x = linear([0, Math.max(endSeconds, 1e-3)], [marginLeft, W - marginRight]);
  const max = rates.reduce((m, r) => Math.max(m, r.ok, r.info, r.fail), 1);
  const y = linear([0, max * 1.08], [bottom, top]);
  const ticks = niceTicks(0, max * 1.08, 5)
    .map((t) => `<line x1="${marginLeft}" x2="${W - marginRight}" y1="${n(y(t))}" y2="${n(y(t))}" class="grid"/><text x="${marginLeft - 6}" y="${n(y(t) + 4)}" class="tick" text-anchor="end">${esc(Math.round(t))}/s</text>`)
    .join('');
  const lines = (['ok', 'info', 'fail'] as const).map((key) => polyline(rates.map((r) => [x(r.t), y(r[key])]), key === 'fail' ? '#E879B9' : outcomeColor[key] as string, key !== 'ok')).join('');
  return `<svg class="plot" id="rate-svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="throughput">${faultShading(windows, x, top, bottom, false)}${timeAxis(x, top, bottom)}${ticks}${lines}</svg>`;
}
