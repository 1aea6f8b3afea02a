/**
 * The timeline: a lane per process (operations as bars), roles per node, fault windows and
 * markers; and the axes, shading and legend the plots share.
 */
import { faultColors, type FaultWindow, type Interval, type Marker, type RoleSegment } from './model.js';
import { esc, formatMs, formatSeconds, linear, n, niceTicks, type LinearScale } from './svg.js';

export const outcomeColor: Record<string, string> = { ok: '#6DB6FE', info: '#FFAA26', fail: '#FEB5DA', pending: '#FFAA26' };
export const roleColor: Record<string, string> = { leading: '#5B3F8C', following: '#B9C7D8', looking: '#F1C27D' };

export function seconds(ns: number): number {
  return ns / 1e9;
}

export const W = 1120;
export const marginLeft = 78;
export const marginRight = 16;

export function timeAxis(x: LinearScale, top: number, bottom: number): string {
  const [lo, hi] = x.domain;
  const parts: string[] = [];
  for (const t of niceTicks(lo, hi, 10)) {
    const px = n(x(t));
    parts.push(`<line x1="${px}" x2="${px}" y1="${n(top)}" y2="${n(bottom)}" class="grid"/>`);
    parts.push(`<text x="${px}" y="${n(bottom + 14)}" class="tick" text-anchor="middle">${esc(formatSeconds(t))}</text>`);
  }
  return parts.join('');
}

export function faultShading(windows: readonly FaultWindow[], x: LinearScale, top: number, bottom: number, labels: boolean): string {
  return windows
    .map((w) => {
      const x0 = x(seconds(w.start));
      const x1 = Math.max(x0 + 2, x(seconds(w.end)));
      const title = `${w.label}: ${formatSeconds(seconds(w.start))} \u2013 ${w.endIndex === undefined ? 'end (never healed)' : formatSeconds(seconds(w.end))} (history ${w.startIndex}${w.endIndex === undefined ? '' : `\u2013${w.endIndex}`})`;
      const label = labels && x1 - x0 > 6 * w.label.length ? `<text x="${n(x0 + 2)}" y="${n(top + 9)}" class="fault-label">${esc(w.label)}</text>` : '';
      return `<g class="fault" data-kind="${esc(w.kind)}" data-label="${esc(w.label)}" data-start-index="${w.startIndex}"><rect x="${n(x0)}" y="${n(top)}" width="${n(x1 - x0)}" height="${n(bottom - top)}" fill="${faultColors[w.group]}" fill-opacity="0.38"><title>${esc(title)}</title></rect>${label}</g>`;
    })
    .join('');
}

export function legend(items: [string, string][]): string {
  return `<div class="legend">${items.map(([color, label]) => `<span><i style="background:${color}"></i>${esc(label)}</span>`).join('')}</div>`;
}

export function markerLines(list: readonly Marker[], x: LinearScale, top: number, bottom: number): string {
  return list
    .map((m) => {
      const px = n(x(seconds(m.time)));
      const color = m.error !== undefined ? '#cf222e' : m.kind === 'final-phase' ? '#0969da' : m.kind === 'step' ? '#8250df' : '#6e7781';
      const title = `${m.label}${m.error === undefined ? '' : ` (error: ${m.error})`} at ${formatSeconds(seconds(m.time))} (history ${m.index})`;
      const caption = m.kind === 'final-phase' ? 'final phase' : m.kind === 'step' ? m.label.split(' ').slice(0, 2).join(' ') : undefined;
      const text = caption === undefined ? '' : `<text x="${n(x(seconds(m.time)) + 3)}" y="${n(top + 9)}" class="marker-label">${esc(caption)}</text>`;
      return `<g class="marker" data-kind="${esc(m.kind)}"><line x1="${px}" x2="${px}" y1="${n(top)}" y2="${n(bottom)}" stroke="${color}" stroke-width="1.5" stroke-dasharray="5 3"><title>${esc(title)}</title></line>${text}</g>`;
    })
    .join('');
}

export function timeline(intervals: readonly Interval[], drawn: readonly Interval[], windows: readonly FaultWindow[], roles: readonly RoleSegment[], endSeconds: number, cited: ReadonlySet<number>, marks: readonly Marker[]): string {
  // Lanes: one per process; with many processes (each info retires one), processes whose
  // operations do not overlap in time share a lane (greedy, by first invoke), as a worker would.
  const span = new Map<number, [number, number]>();
  for (const i of intervals) {
    const s = span.get(i.process);
    if (s === undefined) span.set(i.process, [i.start, i.end]);
    else span.set(i.process, [Math.min(s[0], i.start), Math.max(s[1], i.end)]);
  }
  const byStart = [...span.entries()].sort((a, b) => a[1][0] - b[1][0] || a[0] - b[0]);
  const lane = new Map<number, number>();
  const laneNames: number[][] = [];
  if (byStart.length <= 60) {
    [...span.keys()].sort((a, b) => a - b).forEach((p, k) => {
      lane.set(p, k);
      laneNames.push([p]);
    });
  } else {
    const laneEnd: number[] = [];
    for (const [p, [start, end]] of byStart) {
      let k = laneEnd.findIndex((e) => e < start);
      if (k === -1) {
        k = laneEnd.length;
        laneNames.push([]);
      }
      laneEnd[k] = end;
      lane.set(p, k);
      laneNames[k]?.push(p);
    }
  }
  const processes = laneNames;
  const nodes = [...new Set(roles.map((r) => r.node))].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  const laneHeight = Math.max(3, Math.min(14, Math.floor(640 / Math.max(1, processes.length))));
  const roleHeight = 12;
  const top = 18;
  const rolesTop = top;
  const processesTop = rolesTop + (nodes.length > 0 ? nodes.length * (roleHeight + 2) + 10 : 0);
  const bottom = processesTop + processes.length * laneHeight;
  const height = bottom + 22;
  const x = linear([0, Math.max(endSeconds, 1e-3)], [marginLeft, W - marginRight]);
  const parts: string[] = [];
  parts.push(faultShading(windows, x, top - 12, bottom, true));
  parts.push(timeAxis(x, top, bottom));
  parts.push(markerLines(marks, x, top - 12, bottom));
  nodes.forEach((node, i) => {
    const y = rolesTop + i * (roleHeight + 2);
    parts.push(`<text x="${marginLeft - 6}" y="${n(y + roleHeight - 2)}" class="lane" text-anchor="end">${esc(node)}</text>`);
  });
  for (const r of roles) {
    const i = nodes.indexOf(r.node);
    const y = rolesTop + i * (roleHeight + 2);
    const x0 = x(seconds(r.start));
    const x1 = Math.max(x0 + 1, x(seconds(r.end)));
    const label = r.role === 'leading' && x1 - x0 > 34 ? `<text x="${n(x0 + 3)}" y="${n(y + roleHeight - 3)}" class="role-label">leader e${esc(r.epoch ?? '?')}</text>` : '';
    parts.push(`<rect class="role" data-node="${esc(r.node)}" data-role="${esc(r.role)}" x="${n(x0)}" y="${n(y)}" width="${n(x1 - x0)}" height="${roleHeight}" fill="${roleColor[r.role] ?? '#E6E6E6'}"><title>${esc(`${r.node} ${r.role} epoch ${r.epoch ?? '?'} from ${formatSeconds(seconds(r.start))}`)}</title></rect>${label}`);
  }
  if (laneHeight >= 9) {
    processes.forEach((ps, i) => parts.push(`<text x="${marginLeft - 6}" y="${n(processesTop + i * laneHeight + laneHeight - 2)}" class="lane" text-anchor="end">p${ps[0]}${ps.length > 1 ? '\u2026' : ''}<title>${esc(`processes ${ps.join(', ')}`)}</title></text>`));
  } else {
    parts.push(`<text x="${marginLeft - 6}" y="${n(processesTop + 10)}" class="lane" text-anchor="end">${span.size} processes</text>`);
  }
  for (const op of drawn) {
    const i = lane.get(op.process) ?? 0;
    const x0 = x(seconds(op.start));
    const x1 = Math.max(x0 + 1.5, x(seconds(op.end)));
    const y = processesTop + i * laneHeight + 0.5;
    const latency = (op.end - op.start) / 1e6;
    const title = `p${op.process} ${op.f}${op.id === undefined ? '' : ` ${op.id}`} on ${op.node ?? '?'}: ${op.outcome} after ${formatMs(latency)} (history ${op.invokeIndex}\u2192${op.doneIndex < 0 ? 'none' : op.doneIndex})`;
    const mark = cited.has(op.invokeIndex) || cited.has(op.doneIndex) ? ' class="cited"' : '';
    parts.push(`<rect${mark} x="${n(x0)}" y="${n(y)}" width="${n(x1 - x0)}" height="${Math.max(1, laneHeight - 1)}" fill="${outcomeColor[op.outcome]}" data-i="${op.invokeIndex}"><title>${esc(title)}</title></rect>`);
  }
  return `<svg class="plot" id="timeline-svg" viewBox="0 0 ${W} ${height}" width="100%" role="img" aria-label="timeline">${parts.join('')}</svg>`;
}
