/**
 * What the report draws, computed from a run's files: operations paired into intervals, fault
 * windows paired from nemesis start/end events, role segments from roles.jsonl.
 */
import type { Op } from '../types.js';
import { describeNodeStatus, finalPhaseMarkerF, nodeStatusF, scenarioStepF, healAllValue, healF, isFaultPackage, isMarkerOp, packageGroup, packageOfStart, packagesOfStop, type FaultPackage } from '../vocabulary.js';

export type Outcome = 'ok' | 'fail' | 'info' | 'pending';

export interface Interval {
  readonly process: number;
  readonly f: string;
  readonly node: string | undefined;
  readonly invokeIndex: number;
  readonly start: number;
  doneIndex: number;
  end: number;
  outcome: Outcome;
  readonly id: string | undefined;
}

export interface FaultWindow {
  readonly kind: string;
  readonly group: 'kill' | 'pause' | 'partition' | 'network' | 'other';
  label: string;
  readonly start: number;
  end: number;
  readonly startIndex: number;
  endIndex: number | undefined;
  /** The fault's `value.id` when the nemesis gives one (start and end share it). */
  readonly id?: number;
}

export interface RoleSample {
  readonly time: number;
  readonly node: string;
  readonly role: string;
  readonly epoch: number | undefined;
}

export interface RoleSegment {
  readonly node: string;
  readonly role: string;
  readonly epoch: number | undefined;
  readonly start: number;
  end: number;
}

/** A moment the report marks with a line instead of a window: the final phase, a testbed event. */
export interface Marker {
  readonly kind: 'final-phase' | 'testbed' | 'step';
  readonly label: string;
  readonly time: number;
  readonly index: number;
  readonly error: string | undefined;
}

/**
 * Markers: nemesis-process events that are not faults, the runner's `final-phase` marker and the
 * testbed supervisor's own events (vocabulary.ts `isMarkerOp`). They never open a window.
 */
export function markers(ops: readonly Op[]): Marker[] {
  const out: Marker[] = [];
  for (const op of ops) {
    if (op.process !== 'nemesis' || !isMarkerOp(op.f)) continue;
    const value = typeof op.value === 'object' && op.value !== null ? (op.value as Record<string, unknown>) : undefined;
    const label = op.f === finalPhaseMarkerF
      ? `final phase: ${Array.isArray(value?.nodes) ? (value.nodes as unknown[]).join(',') : '?'} must acknowledge within ${typeof value?.boundMs === 'number' ? value.boundMs / 1000 : '?'}s`
      : op.f === scenarioStepF
        ? stepLabel(value)
        : op.f === nodeStatusF && Array.isArray(value?.['nodes'])
          ? (value['nodes'] as unknown[]).map((n) => describeNodeStatus(typeof n === 'object' && n !== null ? n : {})).join('; ')
          : op.f;
    // A scenario step whose precondition did not hold is drawn like one with an error (red).
    const unmet = op.f === scenarioStepF && typeof value?.['unmet'] === 'string' ? `precondition not met: ${value['unmet']}` : undefined;
    out.push({ kind: op.f === finalPhaseMarkerF || op.f === nodeStatusF ? 'final-phase' : op.f === scenarioStepF ? 'step' : 'testbed', label, time: op.time, index: op.index, error: op.error ?? unmet });
  }
  return out;
}

/** "step 3 kill n5 (strike: 2 ms after its line)" from a scenario-step marker's value. */
function stepLabel(value: Record<string, unknown> | undefined): string {
  const nodes = Array.isArray(value?.['nodes']) ? ` ${(value['nodes'] as unknown[]).join(',')}` : '';
  const reaction = typeof value?.['reactionMs'] === 'number' ? ` (strike: ${value['reactionMs']} ms after its line)` : '';
  const note = typeof value?.['note'] === 'string' ? `: ${value['note']}` : '';
  return `step ${String(value?.['step'] ?? '?')} ${String(value?.['do'] ?? '?')}${nodes}${reaction}${note}`;
}

export const faultColors: Record<FaultWindow['group'], string> = {
  kill: '#E9A4A0',
  pause: '#A0B1E9',
  partition: '#E9DCA0',
  network: '#D1E8A0',
  other: '#D8D8D8',
};

/** Pair client invokes with their completions (by process, and by message id for broadcasts). */
export function pairOperations(ops: readonly Op[]): Interval[] {
  const intervals: Interval[] = [];
  const open = new Map<string, Interval>();
  const lastTime = ops.length === 0 ? 0 : (ops[ops.length - 1] as Op).time;
  for (const op of ops) {
    if (op.process === 'nemesis' || op.f === 'deliver') continue;
    const value = typeof op.value === 'object' && op.value !== null ? (op.value as Record<string, unknown>) : undefined;
    const id = op.f === 'broadcast' && typeof value?.id === 'string' ? value.id : undefined;
    const key = `${op.process}|${op.f}|${id ?? ''}`;
    if (op.type === 'invoke') {
      const interval: Interval = { process: op.process, f: op.f, node: op.node, invokeIndex: op.index, start: op.time, doneIndex: -1, end: lastTime, outcome: 'pending', id };
      intervals.push(interval);
      open.set(key, interval);
    } else {
      const interval = open.get(key);
      if (interval === undefined) continue;
      open.delete(key);
      interval.doneIndex = op.index;
      interval.end = op.time;
      interval.outcome = op.type;
    }
  }
  return intervals;
}

/** A window's colour lane: its package's group (vocabulary.ts); an f of no package is "other". */
function group(pkg: FaultPackage | undefined): FaultWindow['group'] {
  return pkg === undefined ? 'other' : packageGroup[pkg];
}

function targets(value: unknown): string {
  const names = new Set<string>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 4 || names.size > 8) return;
    if (typeof v === 'string' && /^n\d+$/.test(v)) names.add(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, depth + 1));
    else if (typeof v === 'object' && v !== null) Object.values(v).forEach((x) => walk(x, depth + 1));
  };
  walk(value, 0);
  return [...names].sort().join(',');
}

/**
 * Pair nemesis events into fault windows, by the vocabulary (jepsen-style/vocabulary.ts). Windows
 * still open at the end run to the end of the history. When events carry a numeric `value.id`
 * (zabkit's nemesis does), pairing is by id: the first event with an id opens the window, a later
 * one with the same `f` is the start's completion (its resolved targets relabel the window), one
 * with another `f` closes it. Without an id, a package's start f opens a window and its stop f
 * closes the open windows of that group (`start` ends kill and power-off, `resume` pause, `heal`
 * the link faults). `heal` with value `all` (the runner's final heal) closes everything. An f the
 * vocabulary does not know opens an "other" window that a heal closes.
 */
export function faultWindows(ops: readonly Op[]): FaultWindow[] {
  const windows: FaultWindow[] = [];
  const open: FaultWindow[] = [];
  const closedIds = new Set<number>();
  const lastTime = ops.length === 0 ? 0 : (ops[ops.length - 1] as Op).time;
  const close = (op: Op, match: (w: FaultWindow) => boolean): void => {
    for (let i = open.length - 1; i >= 0; i -= 1) {
      const w = open[i] as FaultWindow;
      if (match(w)) {
        w.end = op.time;
        w.endIndex = op.index;
        open.splice(i, 1);
      }
    }
  };
  const openWindow = (op: Op, f: string, pkg: FaultPackage | undefined, id: number | undefined): void => {
    const nodes = targets(op.value);
    const w: FaultWindow = { kind: f, group: group(pkg), label: nodes === '' ? f : `${f} ${nodes}`, start: op.time, end: lastTime, startIndex: op.index, endIndex: undefined, ...(id === undefined ? {} : { id }) };
    windows.push(w);
    open.push(w);
  };
  for (const op of ops) {
    if (op.process !== 'nemesis' || isMarkerOp(op.f)) continue;
    const f = op.f;
    const value = typeof op.value === 'object' && op.value !== null ? (op.value as Record<string, unknown>) : undefined;
    const id = typeof value?.id === 'number' ? value.id : undefined;
    if (id !== undefined) {
      const existing = open.find((w) => w.id === id);
      if (closedIds.has(id)) continue; // the end's own completion record
      if (existing === undefined) {
        const named = typeof value?.package === 'string' && isFaultPackage(value.package) ? value.package : undefined;
        openWindow(op, f, named ?? packageOfStart(f), id);
      } else if (existing.kind === f) {
        const nodes = targets(op.value);
        if (nodes !== '') existing.label = `${f} ${nodes}`;
      } else {
        close(op, (w) => w.id === id);
        closedIds.add(id);
      }
      continue;
    }
    if (f === healF && op.value === healAllValue) {
      close(op, () => true);
      continue;
    }
    const stops = packagesOfStop(f);
    if (stops.length > 0) {
      const groups = new Set<FaultWindow['group']>(stops.map((pkg) => group(pkg)));
      if (f === healF) groups.add('other');
      close(op, (w) => groups.has(w.group));
      continue;
    }
    openWindow(op, f, packageOfStart(f), undefined);
  }
  return windows;
}

/** Role samples -> contiguous segments per node (a segment ends at the node's next sample). */
export function roleSegments(samples: readonly RoleSample[], endTime: number): RoleSegment[] {
  const byNode = new Map<string, RoleSample[]>();
  for (const s of samples) {
    const list = byNode.get(s.node) ?? [];
    list.push(s);
    byNode.set(s.node, list);
  }
  const segments: RoleSegment[] = [];
  for (const [node, list] of byNode) {
    list.sort((a, b) => a.time - b.time);
    let current: RoleSegment | undefined;
    for (const s of list) {
      if (current !== undefined && current.role === s.role && current.epoch === s.epoch) {
        current.end = s.time;
        continue;
      }
      if (current !== undefined) current.end = s.time;
      current = { node, role: s.role, epoch: s.epoch, start: s.time, end: s.time };
      segments.push(current);
    }
    if (current !== undefined) current.end = Math.max(current.end, endTime);
  }
  return segments;
}

export function parseRoles(text: string): RoleSample[] {
  const samples: RoleSample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.time === 'number' && typeof o.node === 'string') {
        samples.push({ time: o.time, node: o.node, role: typeof o.role === 'string' ? o.role : 'unknown', epoch: typeof o.epoch === 'number' ? o.epoch : undefined });
      }
    } catch {
      // a torn line of a crashed sampler: skip
    }
  }
  return samples;
}
