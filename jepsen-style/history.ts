/**
 * history.jsonl (interfaces.md "History format"): one JSON object per line, one line per event,
 * appended as the events happen.
 *
 * - `HistoryWriter` opens the file, assigns `index` (0, 1, 2, ...) and `time` (monotonic
 *   nanoseconds since the writer started, never decreasing) and appends each event with one
 *   synchronous write of one whole line, so a crash of the runner leaves a readable prefix.
 * - `parseHistory` / `readHistory` parse and validate a file and name the line and the problem of
 *   the first malformed line (`HistoryFormatError`). A last line without its newline that does not
 *   parse is the tail of a crashed writer: it is dropped and reported in `warnings`, not an error.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { finalPhaseF, finalPhaseProblem } from './checker/final-phase.js';
import { parseWrittenOp, ParseMemo } from './line-parser.js';
import type { HistoryEvent, Op, OpType } from './types.js';

/** Limit: a history line longer than this is refused (a final read of 1e6 deliveries is ~50 MB). */
export const maxHistoryLineBytes = 256 * 1024 * 1024;

export class HistoryWriter {
  private fd: number | undefined;
  private nextIndex = 0;
  private lastTimeNs = 0;
  private readonly startNs: bigint;

  /**
   * @param path the history.jsonl to create (truncated if it exists)
   * @param startNs the test's start on `process.hrtime.bigint()`'s clock (default: now)
   */
  constructor(readonly path: string, startNs?: bigint) {
    this.fd = openSync(path, 'w');
    this.startNs = startNs ?? process.hrtime.bigint();
  }

  /** How many events have been written. */
  get count(): number {
    return this.nextIndex;
  }

  /** Nanoseconds since the test started (monotonic). */
  now(): number {
    return Number(process.hrtime.bigint() - this.startNs);
  }

  /** Append one event now; returns it with its index and time. */
  append(event: HistoryEvent): Op {
    if (this.fd === undefined) throw new Error(`HistoryWriter(${this.path}) is closed`);
    const time = Math.max(this.lastTimeNs, this.now());
    this.lastTimeNs = time;
    const op: Op = {
      index: this.nextIndex,
      time,
      process: event.process,
      type: event.type,
      f: event.f,
      ...(event.node === undefined ? {} : { node: event.node }),
      value: event.value ?? null,
      ...(event.error === undefined ? {} : { error: event.error }),
    };
    writeSync(this.fd, `${JSON.stringify(op)}\n`);
    this.nextIndex += 1;
    return op;
  }

  invoke(process: number, f: string, value: unknown, node?: string): Op {
    return this.append({ process, type: 'invoke', f, value, ...(node === undefined ? {} : { node }) });
  }

  complete(type: 'ok' | 'fail' | 'info', process: number, f: string, value: unknown, node?: string, error?: string): Op {
    return this.append({
      process,
      type,
      f,
      value,
      ...(node === undefined ? {} : { node }),
      ...(error === undefined ? {} : { error }),
    });
  }

  /** A nemesis event (type info, process "nemesis"). */
  nemesis(f: string, value: unknown): Op {
    return this.append({ process: 'nemesis', type: 'info', f, value });
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading and validation

export class HistoryFormatError extends Error {
  override name = 'HistoryFormatError';
  constructor(
    readonly source: string,
    /** 1-based line number in the file. */
    readonly line: number,
    readonly problem: string,
  ) {
    super(`${source} line ${line}: ${problem}`);
  }
}

export interface ParsedHistory {
  readonly ops: Op[];
  readonly warnings: string[];
}

const opTypes = new Set(['invoke', 'ok', 'fail', 'info']);
const zxidPattern = /^0x[0-9a-fA-F]+$/;

function describe(value: unknown): string {
  const text = JSON.stringify(value);
  return text === undefined ? String(value) : text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

interface Pending {
  readonly f: string;
  readonly id: string | undefined;
  readonly line: number;
}

/** Lines at least this long (final reads) are checked for a deliveries array already parsed. */
const sharedReadMinBytes = 64 * 1024;
const deliveriesKey = '"deliveries":';

interface SharedRead {
  /** The line's text from `"deliveries":` to its end. */
  readonly rest: string;
  /** Length of the deliveries array's text. */
  readonly arrayLength: number;
  readonly deliveries: unknown[];
}

/**
 * Parse a long line. Converged nodes' final reads carry the same deliveries: when the text from
 * `"deliveries":` to the end of the line equals one already parsed, only the short remainder is
 * parsed and the (read-only) deliveries array is shared. Same result as JSON.parse, less work.
 */
function parseLongLine(line: string, shared: SharedRead[]): unknown {
  const at = line.indexOf(deliveriesKey);
  if (at === -1) return JSON.parse(line);
  const rest = line.slice(at);
  for (const s of shared) {
    if (s.rest === rest) {
      const o = JSON.parse(`${line.slice(0, at)}${deliveriesKey}[]${rest.slice(deliveriesKey.length + s.arrayLength)}`) as { value?: { deliveries?: unknown } };
      if (o.value !== undefined && Array.isArray(o.value.deliveries) && o.value.deliveries.length === 0) {
        o.value.deliveries = s.deliveries;
        return o;
      }
      return JSON.parse(line);
    }
  }
  const o = JSON.parse(line) as { value?: { deliveries?: unknown } };
  const deliveries = o?.value?.deliveries;
  if (Array.isArray(deliveries) && shared.length < 16) {
    const arrayLength = jsonArrayLength(rest, deliveriesKey.length);
    if (arrayLength !== undefined) shared.push({ rest, arrayLength, deliveries });
  }
  return o;
}

/**
 * The length of the JSON array whose `[` is at `from` in `text` (a line JSON.parse accepted), up to
 * its matching `]`; undefined when no array starts there.
 */
function jsonArrayLength(text: string, from: number): number | undefined {
  if (text.charCodeAt(from) !== 0x5b) return undefined;
  let depth = 0;
  for (let i = from; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // A string: skip to its closing quote (a backslash escapes the next character).
      for (i += 1; i < text.length; i += 1) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i += 1;
        else if (d === 0x22) break;
      }
    } else if (c === 0x5b || c === 0x7b) depth += 1;
    else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
      if (depth === 0) return i + 1 - from;
    }
  }
  return undefined;
}

/**
 * The validator of history.jsonl, one line at a time (it keeps per-process and per-message state,
 * never the ops). Checks each line is a JSON object with the required fields
 * of the right types, `index` strictly ascending, `time` never decreasing, `type` known, every
 * `ok`/`fail`/`info` of a client operation completing an `invoke` of the same process and `f`
 * (a `deliver` observation is an `ok` with no invoke), no invoke by a process retired by an `info`,
 * no second non-broadcast op while one is pending on the process (broadcasts may pipeline), each
 * broadcast id invoked once, the value shapes of broadcast (every one of its ops names the id), read,
 * deliver and the final-phase marker (checker/final-phase.ts). Invokes left
 * without a completion at the end are allowed (indeterminate). Throws `HistoryFormatError`.
 */
export class HistoryValidator {
  readonly warnings: string[] = [];
  private readonly pending = new Map<number, Pending[]>();
  private readonly sharedReads: SharedRead[] = [];
  private readonly memo = new ParseMemo();
  private readonly broadcastIds = new Map<string, number>();
  private readonly validatedDeliveries = new WeakSet<unknown[]>();
  private readonly retired = new Map<number, number>();
  private lastIndex = -1;
  private lastTime = 0;

  constructor(readonly source = 'history') {}

  /**
   * One line (without its newline; `hasNewline` false for the file's last bytes when they end
   * without one). Returns the op, or undefined for a blank line or a dropped half line.
   */
  accept(text: string, lineNumber: number, hasNewline: boolean): Op | undefined {
    const line = text.trim();
    if (line === '') return undefined;
    if (line.length > maxHistoryLineBytes) throw new HistoryFormatError(this.source, lineNumber, `line longer than ${maxHistoryLineBytes} bytes`);
    let raw: unknown;
    try {
      raw = line.length >= sharedReadMinBytes ? parseLongLine(line, this.sharedReads) : JSON.parse(line);
    } catch (error) {
      if (!hasNewline) {
        this.warnings.push(`${this.source} line ${lineNumber}: truncated last line ignored (a crashed writer's tail)`);
        return undefined;
      }
      throw new HistoryFormatError(this.source, lineNumber, `not valid JSON (${(error as Error).message})`);
    }
    return this.check(raw, lineNumber);
  }

  /**
   * `accept` of the UTF-8 line `bytes[start, end)`: a line as HistoryWriter writes it is read
   * straight from the bytes (line-parser.ts, the same value JSON.parse gives); any other goes
   * through `accept`.
   */
  acceptBytes(bytes: Buffer, start: number, end: number, lineNumber: number, hasNewline: boolean): Op | undefined {
    if (end - start > maxHistoryLineBytes) throw new HistoryFormatError(this.source, lineNumber, `line longer than ${maxHistoryLineBytes} bytes`);
    const parsed = parseWrittenOp(bytes, start, end, this.memo);
    return parsed === undefined ? this.accept(bytes.toString('utf8', start, end), lineNumber, hasNewline) : this.check(parsed, lineNumber);
  }

  private refuse(lineNumber: number, problem: string): never {
    throw new HistoryFormatError(this.source, lineNumber, problem);
  }

  private checkDelivery(d: unknown, where: number, lineNumber: number): void {
    const dd = d as Record<string, unknown> | null;
    if (typeof d === 'object' && dd !== null && typeof dd.id === 'string' && typeof dd.zxid === 'string' && zxidPattern.test(dd.zxid)) return;
    const name = where < 0 ? 'deliver value' : `read deliveries[${where}]`;
    if (typeof d !== 'object' || dd === null) this.refuse(lineNumber, `${name} must be an object {id, zxid}, got ${describe(d)}`);
    if (typeof dd?.id !== 'string') this.refuse(lineNumber, `${name} is missing its string "id"`);
    this.refuse(lineNumber, `${name} has a bad "zxid" ${describe(dd?.zxid)} (expected "0x" + hex)`);
  }

  /** The rules above, on one parsed line. */
  private check(raw: unknown, lineNumber: number): Op {
    const { pending, broadcastIds, retired } = this;
    const fail = (problem: string): never => this.refuse(lineNumber, problem);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('not a JSON object');
    const o = raw as Record<string, unknown>;
    for (const field of requiredFields) {
      if (!(field in o)) fail(`missing field "${field}"`);
    }
    if (!Number.isSafeInteger(o.index) || (o.index as number) < 0) fail(`"index" must be a non-negative integer, got ${describe(o.index)}`);
    const index = o.index as number;
    if (index <= this.lastIndex) fail(`"index" ${index} is not above the previous ${this.lastIndex}`);
    if (!Number.isSafeInteger(o.time) || (o.time as number) < 0) fail(`"time" must be non-negative integer nanoseconds, got ${describe(o.time)}`);
    const time = o.time as number;
    if (time < this.lastTime) fail(`"time" ${time} is below the previous ${this.lastTime} (the clock must be monotonic)`);
    if (o.process !== 'nemesis' && !Number.isSafeInteger(o.process)) fail(`"process" must be an integer or "nemesis", got ${describe(o.process)}`);
    if (typeof o.type !== 'string' || !opTypes.has(o.type)) fail(`unknown type ${describe(o.type)} (expected invoke, ok, fail or info)`);
    if (typeof o.f !== 'string' || o.f === '') fail(`"f" must be a non-empty string, got ${describe(o.f)}`);
    if (o.node !== undefined && typeof o.node !== 'string') fail(`"node" must be a string, got ${describe(o.node)}`);
    if (o.error !== undefined && typeof o.error !== 'string') fail(`"error" must be a string, got ${describe(o.error)}`);
    const type = o.type as OpType;
    const f = o.f as string;
    const value = o.value === undefined ? null : o.value;
    if (o.process === 'nemesis') {
      if (type !== 'info') fail(`a nemesis event must have type "info", got "${type}"`);
      if (f === finalPhaseF) {
        const markerProblem = finalPhaseProblem(value);
        if (markerProblem !== undefined) fail(markerProblem);
      }
    } else {
      const processId = o.process as number;
      const valueObject = typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
      if (f === 'deliver') {
        if (type !== 'ok') fail(`a deliver observation must have type "ok", got "${type}"`);
        this.checkDelivery(value, -1, lineNumber);
      } else if (type === 'invoke') {
        const retiredAt = retired.get(processId);
        if (retiredAt !== undefined) fail(`process ${processId} invokes after it was retired by an info on line ${retiredAt}`);
        let id: string | undefined;
        if (f === 'broadcast') {
          if (valueObject === undefined || typeof valueObject.id !== 'string') fail('broadcast invoke is missing value.id');
          id = valueObject?.id as string;
          const earlier = broadcastIds.get(id);
          if (earlier !== undefined) fail(`broadcast id ${describe(id)} was already invoked on line ${earlier} (ids are unique in a run)`);
          broadcastIds.set(id, lineNumber);
        }
        let list = pending.get(processId);
        if (list === undefined) {
          list = [];
          pending.set(processId, list);
        }
        if (f !== 'broadcast') {
          for (const p of list) if (p.f !== 'broadcast') fail(`process ${processId} invokes ${f} while its ${p.f} from line ${p.line} is still pending (only broadcasts pipeline)`);
        }
        list.push({ f, id, line: lineNumber });
      } else {
        // A broadcast completion names its message: one without the id is malformed, never matched
        // to some pending broadcast of the process.
        if (f === 'broadcast' && (valueObject === undefined || typeof valueObject.id !== 'string')) fail(`broadcast ${type} is missing value.id`);
        const list = pending.get(processId);
        let at = -1;
        if (list !== undefined) {
          const id = f === 'broadcast' ? (valueObject?.id as string) : undefined;
          for (let i = 0; i < list.length; i += 1) {
            const p = list[i] as Pending;
            if (p.f === f && (id === undefined || p.id === id)) {
              at = i;
              break;
            }
          }
        }
        if (at === -1) fail(`${type} without its invoke (process ${processId}, f "${f}")`);
        list?.splice(at, 1);
        if (type === 'info') retired.set(processId, lineNumber);
        if (f === 'broadcast' && type === 'ok') {
          if (valueObject === undefined || typeof valueObject.zxid !== 'string' || !zxidPattern.test(valueObject.zxid)) fail('broadcast ok is missing value.zxid ("0x" + hex)');
        }
        if (f === 'read' && type === 'ok') {
          if (valueObject === undefined || !Array.isArray(valueObject.deliveries)) fail('read ok is missing value.deliveries (an array)');
          const deliveries = valueObject?.deliveries as unknown[];
          if (!this.validatedDeliveries.has(deliveries)) {
            for (let i = 0; i < deliveries.length; i += 1) this.checkDelivery(deliveries[i], i, lineNumber);
            this.validatedDeliveries.add(deliveries);
          }
        }
      }
    }
    this.lastIndex = index;
    this.lastTime = time;
    // The parsed object is the op (extra fields are kept, as Jepsen allows).
    if (o.value === undefined) o.value = null;
    return o as unknown as Op;
  }
}

const requiredFields = ['index', 'time', 'process', 'type', 'f'];

/** Parse and validate history.jsonl text (`HistoryValidator`'s rules). Throws `HistoryFormatError`. */
export function parseHistory(text: string, source = 'history'): ParsedHistory {
  const ops: Op[] = [];
  const validator = new HistoryValidator(source);
  let start = 0;
  let lineNumber = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    const hasNewline = end !== -1;
    if (!hasNewline) end = text.length;
    lineNumber += 1;
    const op = validator.accept(text.slice(start, end), lineNumber, hasNewline);
    start = end + 1;
    if (op !== undefined) ops.push(op);
  }
  return { ops, warnings: validator.warnings };
}

/** Read and validate a history.jsonl file. Throws `HistoryFormatError` naming the line. */
export function readHistory(path: string): ParsedHistory {
  return parseHistory(readFileSync(path, 'utf8'), path);
}

/** Limit: the bytes `streamHistory` reads at a time (a longer line grows its buffer, up to the line limit). */
export const historyReadChunkBytes = 4 * 1024 * 1024;

/**
 * Validate a history.jsonl file one line at a time and hand each op to `onOp` as it is read: the
 * file is never held whole, so memory is what `onOp` keeps (`zabkit check`). Same rules, errors and
 * warnings as `readHistory`. `limits` lower the read size and the line limit (for tests).
 */
export function streamHistory(path: string, onOp: (op: Op) => void, limits: { chunkBytes?: number; maxLineBytes?: number } = {}): { warnings: string[] } {
  const maxLineBytes = limits.maxLineBytes ?? maxHistoryLineBytes;
  const validator = new HistoryValidator(path);
  const fd = openSync(path, 'r');
  try {
    let buffer = Buffer.allocUnsafe(Math.min(limits.chunkBytes ?? historyReadChunkBytes, maxLineBytes + 1));
    // buffer[0, filled) holds bytes read and not yet consumed; they start at a line's beginning.
    let filled = 0;
    let lineNumber = 0;
    for (;;) {
      if (filled === buffer.length) {
        // One line fills the whole buffer: grow it, unless the line is already over the limit.
        if (buffer.length > maxLineBytes) throw new HistoryFormatError(path, lineNumber + 1, `line longer than ${maxLineBytes} bytes`);
        const grown = Buffer.allocUnsafe(Math.min(buffer.length * 2, maxLineBytes + 1));
        buffer.copy(grown, 0, 0, filled);
        buffer = grown;
      }
      const got = readSync(fd, buffer, filled, buffer.length - filled, null);
      const eof = got === 0;
      const scanFrom = filled;
      filled += got;
      const view = buffer.subarray(0, filled);
      let start = 0;
      let newline = view.indexOf(10, scanFrom);
      while (newline !== -1) {
        lineNumber += 1;
        const op = validator.acceptBytes(view, start, newline, lineNumber, true);
        if (op !== undefined) onOp(op);
        start = newline + 1;
        newline = view.indexOf(10, start);
      }
      if (eof) {
        if (start < filled) {
          lineNumber += 1;
          const op = validator.acceptBytes(buffer, start, filled, lineNumber, false);
          if (op !== undefined) onOp(op);
        }
        return { warnings: validator.warnings };
      }
      // Keep the unfinished line at the buffer's start.
      buffer.copy(buffer, 0, start, filled);
      filled -= start;
    }
  } finally {
    closeSync(fd);
  }
}
