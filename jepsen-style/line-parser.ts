/**
 * The fast path of reading history.jsonl (history.ts `streamHistory`): one line, straight from the
 * file's bytes, in the exact layout HistoryWriter writes (`JSON.stringify` of an op: no whitespace,
 * keys index, time, process, type, f, [node], value, [error] in that order). `parseWrittenOp`
 * returns what `JSON.parse` of the same bytes returns, or `undefined` whenever the line leaves that
 * layout or the subset of JSON below; the caller then decodes the line and uses JSON.parse, which
 * decides what the line is. So the fast path never accepts a line JSON.parse refuses and never reads
 * one differently; it only skips the line's decoding into a string and a generic parser's work.
 *
 * The subset: objects, arrays, strings of ASCII without escapes or control characters, integers of
 * at most 15 digits without sign, fraction or exponent, true, false, null; nesting at most
 * `maxNesting` deep; no key `__proto__` (JSON.parse makes it an own property; assignment would not).
 * Short strings in the op's own fields (process, type, f, node) and every key are interned in a
 * small table, so a million ops share a handful of strings.
 */


/** Limit: nesting depth the fast path reads (deeper lines go to JSON.parse). */
const maxNesting = 32;
/** Limit: interned strings are at most this long (op fields and keys are short). */
const maxInternedLength = 24;
const internSlots = 4096;

// One parse at a time (the reader is synchronous). The scanners keep their cursor in locals and
// return the position after what they read (-1: step aside); what they read is left in `value` or
// `integer` (a module-level cursor would be reloaded on every byte, and costs twice the time).
let value: unknown;
let integer = 0;
let depth = 0;
const interned: (string | undefined)[] = new Array<string | undefined>(internSlots).fill(undefined);
// Keys and values of the objects being read, a stack shared by the nested ones (what it holds past
// its top is the last lines' and is overwritten).
const stackKeys: string[] = [];
const stackValues: unknown[] = [];
let stackTop = 0;

/** The closing quote of the string whose first character is at `i`, or -1 (escape, control, non-ASCII, unterminated). */
function stringEnd(b: Buffer, i: number, end: number): number {
  for (; i < end; i += 1) {
    const c = b[i] as number;
    if (c === 0x22) return i;
    if (c < 0x20 || c === 0x5c || c > 0x7f) return -1;
  }
  return -1;
}

/** The string `b[start, stop)` (ASCII); `intern` for short strings that repeat. */
function text(b: Buffer, start: number, stop: number, intern: boolean): string {
  const length = stop - start;
  if (length === 0) return '';
  if (!intern || length > maxInternedLength) return b.toString('latin1', start, stop);
  const slot = ((length * 31 + (b[start] as number)) * 31 + (b[stop - 1] as number) * 7 + (b[start + (length >> 1)] as number)) & (internSlots - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === length) {
    let k = 0;
    while (k < length && known.charCodeAt(k) === b[start + k]) k += 1;
    if (k === length) return known;
  }
  const made = b.toString('latin1', start, stop);
  interned[slot] = made;
  return made;
}

/** A string value whose opening quote is at `i`: its end, the string in `value`. */
function stringValueEnd(b: Buffer, i: number, end: number, intern: boolean): number {
  const close = stringEnd(b, i + 1, end);
  if (close === -1) return -1;
  value = text(b, i + 1, close, intern);
  return close + 1;
}

/** The integer at `i` (at most 15 digits, no sign, fraction, exponent or leading zero): its end, the number in `integer`. */
function integerEnd(b: Buffer, i: number, end: number): number {
  const start = i;
  let n = 0;
  for (; i < end; i += 1) {
    const c = b[i] as number;
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + (c - 0x30);
  }
  const digits = i - start;
  if (digits === 0 || digits > 15 || (digits > 1 && b[start] === 0x30)) return -1;
  const next = b[i];
  if (next === 0x2e || next === 0x65 || next === 0x45) return -1;
  integer = n;
  return i;
}

function literalEnd(b: Buffer, i: number, end: number, word: string, meaning: boolean | null): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k += 1) if (b[i + k] !== word.charCodeAt(k)) return -1;
  value = meaning;
  return i + word.length;
}

function objectEnd(b: Buffer, i: number, end: number): number {
  if (++depth > maxNesting) return -1;
  i += 1;
  if (b[i] === 0x7d) {
    depth -= 1;
    value = {};
    return i + 1;
  }
  const base = stackTop;
  for (;;) {
    if (b[i] !== 0x22) return -1;
    const close = stringEnd(b, i + 1, end);
    if (close === -1 || b[close + 1] !== 0x3a) return -1;
    const key = text(b, i + 1, close, true);
    if (key === '__proto__') return -1;
    i = valueEnd(b, close + 2, end);
    if (i === -1) return -1;
    stackKeys[stackTop] = key;
    stackValues[stackTop] = value;
    stackTop += 1;
    const c = b[i];
    i += 1;
    if (c === 0x7d) break;
    if (c !== 0x2c) return -1;
  }
  depth -= 1;
  const count = stackTop - base;
  stackTop = base;
  // The shapes every history repeats, built as literals (one hidden class each); others by assignment.
  if (stackKeys[base] === 'id') {
    if (count === 1) {
      value = { id: stackValues[base] };
      return i;
    }
    if (count === 2 && stackKeys[base + 1] === 'zxid') {
      value = { id: stackValues[base], zxid: stackValues[base + 1] };
      return i;
    }
  }
  const object: Record<string, unknown> = {};
  for (let k = base; k < base + count; k += 1) object[stackKeys[k] as string] = stackValues[k];
  value = object;
  return i;
}

/**
 * What one reader remembers between lines (history.ts's validator owns one per file): large
 * arrays, shared by the lines that repeat them byte for byte (converged nodes' final reads carry
 * the same deliveries). The same bytes are the same JSON value, so a repeat costs one compare
 * instead of a parse. Arrays handed out this way are shared between ops: read-only. (Interning
 * short string values here as well was measured: 7% slower.)
 */
export class ParseMemo {
  /** Limit: arrays shorter than this (bytes of text) are not kept. */
  static readonly minArrayBytes = 64 * 1024;
  /** Limit: how many arrays are kept (the most recent; each costs its text's bytes and its parsed value). */
  static readonly maxArrays = 4;
  readonly arrays: { readonly text: Buffer; readonly array: unknown[] }[] = [];
}

let memo: ParseMemo | undefined;

function arrayEnd(b: Buffer, i: number, end: number): number {
  if (memo !== undefined && end - i >= ParseMemo.minArrayBytes) {
    for (const k of memo.arrays) {
      const n = k.text.length;
      if (n <= end - i && b.compare(k.text, 0, n, i, i + n) === 0) {
        value = k.array;
        return i + n;
      }
    }
  }
  const start = i;
  if (++depth > maxNesting) return -1;
  i += 1;
  const array: unknown[] = [];
  if (b[i] === 0x5d) {
    depth -= 1;
    value = array;
    return i + 1;
  }
  for (;;) {
    i = valueEnd(b, i, end);
    if (i === -1) return -1;
    array.push(value);
    const c = b[i];
    i += 1;
    if (c === 0x5d) break;
    if (c !== 0x2c) return -1;
  }
  depth -= 1;
  if (memo !== undefined && i - start >= ParseMemo.minArrayBytes) {
    if (memo.arrays.length === ParseMemo.maxArrays) memo.arrays.shift();
    memo.arrays.push({ text: Buffer.from(b.subarray(start, i)), array });
  }
  value = array;
  return i;
}

/** Any value of the subset at `i`: its end, the value in `value`. */
function valueEnd(b: Buffer, i: number, end: number): number {
  if (i >= end) return -1;
  const c = b[i] as number;
  if (c === 0x22) return stringValueEnd(b, i, end, false);
  if (c === 0x7b) return objectEnd(b, i, end);
  if (c === 0x5b) return arrayEnd(b, i, end);
  if (c >= 0x30 && c <= 0x39) {
    const after = integerEnd(b, i, end);
    value = integer;
    return after;
  }
  if (c === 0x74) return literalEnd(b, i, end, 'true', true);
  if (c === 0x66) return literalEnd(b, i, end, 'false', false);
  if (c === 0x6e) return literalEnd(b, i, end, 'null', null);
  return -1;
}

/** A key of the op's layout, with its first eight bytes as two little-endian words (compared four at a time). */
interface Key {
  readonly bytes: Uint8Array;
  readonly word0: number;
  readonly word1: number;
}

function key(text: string): Key {
  const bytes = Uint8Array.from(text, (ch) => ch.charCodeAt(0));
  const words = new DataView(bytes.buffer);
  return { bytes, word0: words.getUint32(0, true), word1: bytes.length >= 8 ? words.getUint32(4, true) : 0 };
}

const indexKey = key('{"index":');
const timeKey = key(',"time":');
const processKey = key(',"process":');
const typeKey = key(',"type":"');
const fKey = key(',"f":"');
const nodeKey = key(',"node":"');
const valueKey = key(',"value":');
const errorKey = key(',"error":"');

// A view of the buffer being read, for the word compares (made once per buffer, not per line).
let viewOf: Buffer | undefined;
let view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(8));

/** The position after `k` when the bytes at `i` are exactly it, else -1. */
function keyEnd(b: Buffer, i: number, end: number, k: Key): number {
  const { bytes } = k;
  const n = bytes.length;
  if (i + n > end) return -1;
  if (view.getUint32(i, true) !== k.word0) return -1;
  let at = 4;
  if (n >= 8) {
    if (view.getUint32(i + 4, true) !== k.word1) return -1;
    at = 8;
  }
  for (; at < n; at += 1) if (b[i + at] !== bytes[at]) return -1;
  return i + n;
}

function readOp(b: Buffer, i: number, end: number): Record<string, unknown> | undefined {
  if ((i = keyEnd(b, i, end, indexKey)) === -1 || (i = integerEnd(b, i, end)) === -1) return undefined;
  const index = integer;
  if ((i = keyEnd(b, i, end, timeKey)) === -1 || (i = integerEnd(b, i, end)) === -1) return undefined;
  const time = integer;
  if ((i = keyEnd(b, i, end, processKey)) === -1) return undefined;
  let process: unknown;
  if (b[i] === 0x22) {
    if ((i = stringValueEnd(b, i, end, true)) === -1) return undefined;
    process = value;
  } else {
    if ((i = integerEnd(b, i, end)) === -1) return undefined;
    process = integer;
  }
  // typeKey, fKey, nodeKey and errorKey end with their value's opening quote.
  if ((i = keyEnd(b, i, end, typeKey)) === -1 || (i = stringValueEnd(b, i - 1, end, true)) === -1) return undefined;
  const type = value;
  if ((i = keyEnd(b, i, end, fKey)) === -1 || (i = stringValueEnd(b, i - 1, end, true)) === -1) return undefined;
  const f = value;
  const nodeAt = keyEnd(b, i, end, nodeKey);
  let node: unknown;
  if (nodeAt !== -1) {
    if ((i = stringValueEnd(b, nodeAt - 1, end, true)) === -1) return undefined;
    node = value;
  }
  if ((i = keyEnd(b, i, end, valueKey)) === -1 || (i = valueEnd(b, i, end)) === -1) return undefined;
  const opValue = value;
  const errorAt = keyEnd(b, i, end, errorKey);
  let error: unknown;
  if (errorAt !== -1) {
    if ((i = stringValueEnd(b, errorAt - 1, end, false)) === -1) return undefined;
    error = value;
  }
  if (i + 1 !== end || b[i] !== 0x7d) return undefined;
  if (nodeAt !== -1) return errorAt !== -1 ? { index, time, process, type, f, node, value: opValue, error } : { index, time, process, type, f, node, value: opValue };
  return errorAt !== -1 ? { index, time, process, type, f, value: opValue, error } : { index, time, process, type, f, value: opValue };
}

/**
 * `JSON.parse` of `source[start, stop)` when that is an op in HistoryWriter's layout within the
 * subset above; otherwise undefined (decode the line and use JSON.parse). With `remembered`, a large
 * array equal byte for byte to one read before is that same array (ParseMemo).
 */
export function parseWrittenOp(source: Buffer, start: number, stop: number, remembered?: ParseMemo): Record<string, unknown> | undefined {
  depth = 0;
  stackTop = 0;
  memo = remembered;
  if (viewOf !== source) {
    viewOf = source;
    view = new DataView(source.buffer, source.byteOffset, source.byteLength);
  }
  const op = readOp(source, start, stop);
  value = undefined;
  memo = undefined;
  return op;
}
