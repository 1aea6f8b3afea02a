/** Small helpers for the report's inline SVG: escaping, scales, axes. No dependencies. */

export function esc(text: unknown): string {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** A number with at most 3 significant decimals, for attributes (keeps the HTML small). */
export function n(x: number): string {
  return Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '0';
}

export interface LinearScale {
  (x: number): number;
  readonly domain: [number, number];
  readonly range: [number, number];
}

export function linear(domain: [number, number], range: [number, number]): LinearScale {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0 || 1;
  const scale = ((x: number) => r0 + ((x - d0) / span) * (r1 - r0)) as LinearScale;
  Object.assign(scale, { domain, range });
  return scale;
}

export function log10Scale(domain: [number, number], range: [number, number]): LinearScale {
  const lo = Math.log10(Math.max(domain[0], 1e-6));
  const hi = Math.log10(Math.max(domain[1], domain[0] * 10, 1e-5));
  const inner = linear([lo, hi], range);
  const scale = ((x: number) => inner(Math.log10(Math.max(x, 1e-6)))) as LinearScale;
  Object.assign(scale, { domain: [10 ** lo, 10 ** hi], range });
  return scale;
}

/** "Nice" ticks for a linear domain. */
export function niceTicks(lo: number, hi: number, count = 8): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.round(t / step) * step);
  return ticks;
}

export function formatSeconds(s: number): string {
  if (s === 0) return '0';
  if (Math.abs(s) >= 60) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.round(s * 100) / 100}s`;
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`;
  if (ms >= 1) return `${Math.round(ms)}ms`;
  return `${Math.round(ms * 1000)}µs`;
}

/** Quantile of a sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}
