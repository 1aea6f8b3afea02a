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

// One parse at a time (the reader is synchronous): the cursor lives in module state.
let bytes: Buffer = Buffer.alloc(0);
let at = 0;
let end = 0;
let failed = false;
let depth = 0;
const interned: (string | undefined)[] = new Array<string | undefined>(internSlots).fill(undefined);
// Keys and values of the objects being read, a stack shared by the nested ones (what it holds past
// its top is the last lines' and is overwritten).
const stackKeys: string[] = [];
const stackValues: unknown[] = [];
let stackTop = 0;

function fail(): undefined {
  failed = true;
  return undefined;
}

/** The string whose opening quote is at `at`; `intern` for short strings that repeat. */
function readString(intern: boolean): string | undefined {
  const start = at + 1;
  let i = start;
  for (; i < end; i += 1) {
    const c = bytes[i] as number;
    if (c === 0x22) break;
    if (c < 0x20 || c === 0x5c || c > 0x7f) return fail();
  }
  if (i >= end) return fail();
  at = i + 1;
  const length = i - start;
  if (length === 0) return '';
  if (!intern || length > maxInternedLength) return bytes.toString('latin1', start, i);
  const slot = ((length * 31 + (bytes[start] as number)) * 31 + (bytes[i - 1] as number) * 7 + (bytes[start + (length >> 1)] as number)) & (internSlots - 1);
  const known = interned[slot];
  if (known !== undefined && known.length === length) {
    let k = 0;
    while (k < length && known.charCodeAt(k) === bytes[start + k]) k += 1;
    if (k === length) return known;
  }
  const text: string = bytes.toString('latin1', start, i);
  interned[slot] = text;
  return text;
}

function readInteger(): number | undefined {
  const start = at;
  let value = 0;
  let i = start;
  for (; i < end; i += 1) {
    const c = bytes[i] as number;
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  const digits = i - start;
  if (digits === 0 || digits > 15 || (digits > 1 && bytes[start] === 0x30)) return fail();
  const next = bytes[i];
  if (next === 0x2e || next === 0x65 || next === 0x45) return fail();
  at = i;
  return value;
}

function readLiteral(text: string, value: boolean | null): boolean | null | undefined {
  if (at + text.length > end) return fail();
  for (let k = 0; k < text.length; k += 1) if (bytes[at + k] !== text.charCodeAt(k)) return fail();
  at += text.length;
  return value;
}

function readObject(): Record<string, unknown> | undefined {
  if (++depth > maxNesting) return fail();
  at += 1;
  if (bytes[at] === 0x7d) {
    at += 1;
    depth -= 1;
    return {};
  }
  const base = stackTop;
  for (;;) {
    if (bytes[at] !== 0x22) return fail();
    const key = readString(true);
    if (key === undefined || key === '__proto__' || bytes[at] !== 0x3a) return fail();
    at += 1;
    const value = readValue();
    if (failed) return undefined;
    stackKeys[stackTop] = key;
    stackValues[stackTop] = value;
    stackTop += 1;
    const c = bytes[at];
    at += 1;
    if (c === 0x7d) break;
    if (c !== 0x2c) return fail();
  }
  depth -= 1;
  const count = stackTop - base;
  stackTop = base;
  // The shapes every history repeats, built as literals (one hidden class each); others by assignment.
  if (stackKeys[base] === 'id') {
    if (count === 1) return { id: stackValues[base] };
    if (count === 2 && stackKeys[base + 1] === 'zxid') return { id: stackValues[base], zxid: stackValues[base + 1] };
  }
  const object: Record<string, unknown> = {};
  for (let k = base; k < base + count; k += 1) object[stackKeys[k] as string] = stackValues[k];
  return object;
}

function readArray(): unknown[] | undefined {
  if (++depth > maxNesting) return fail();
  at += 1;
  const array: unknown[] = [];
  if (bytes[at] === 0x5d) {
    at += 1;
    depth -= 1;
    return array;
  }
  for (;;) {
    const value = readValue();
    if (failed) return undefined;
    array.push(value);
    const c = bytes[at];
    at += 1;
    if (c === 0x5d) break;
    if (c !== 0x2c) return fail();
  }
  depth -= 1;
  return array;
}

function readValue(): unknown {
  if (at >= end) return fail();
  const c = bytes[at] as number;
  if (c === 0x22) return readString(false);
  if (c === 0x7b) return readObject();
  if (c === 0x5b) return readArray();
  if (c >= 0x30 && c <= 0x39) return readInteger();
  if (c === 0x74) return readLiteral('true', true);
  if (c === 0x66) return readLiteral('false', false);
  if (c === 0x6e) return readLiteral('null', null);
  return fail();
}

const keyBytes = (text: string): Uint8Array => Uint8Array.from(text, (ch) => ch.charCodeAt(0));
const indexKey = keyBytes('{"index":');
const timeKey = keyBytes(',"time":');
const processKey = keyBytes(',"process":');
const typeKey = keyBytes(',"type":"');
const fKey = keyBytes(',"f":"');
const nodeKey = keyBytes(',"node":"');
const valueKey = keyBytes(',"value":');
const errorKey = keyBytes(',"error":"');

/** Step over `key` when the bytes at the cursor are exactly it. */
function skip(key: Uint8Array): boolean {
  const n = key.length;
  if (at + n > end) return false;
  for (let k = 0; k < n; k += 1) if (bytes[at + k] !== key[k]) return false;
  at += n;
  return true;
}

/** A string field whose opening quote `skip` has just passed. */
function fieldString(intern: boolean): string | undefined {
  at -= 1;
  return readString(intern);
}

function readOp(): Record<string, unknown> | undefined {
  if (!skip(indexKey)) return undefined;
  const index = readInteger();
  if (failed || !skip(timeKey)) return undefined;
  const time = readInteger();
  if (failed || !skip(processKey)) return undefined;
  const process = bytes[at] === 0x22 ? readString(true) : readInteger();
  if (failed || !skip(typeKey)) return undefined;
  const type = fieldString(true);
  if (failed || !skip(fKey)) return undefined;
  const f = fieldString(true);
  if (failed) return undefined;
  const hasNode = skip(nodeKey);
  const node = hasNode ? fieldString(true) : undefined;
  if (failed || !skip(valueKey)) return undefined;
  const value = readValue();
  if (failed) return undefined;
  const hasError = skip(errorKey);
  const error = hasError ? fieldString(false) : undefined;
  if (failed || at + 1 !== end || bytes[at] !== 0x7d) return undefined;
  if (hasNode) return hasError ? { index, time, process, type, f, node, value, error } : { index, time, process, type, f, node, value };
  return hasError ? { index, time, process, type, f, value, error } : { index, time, process, type, f, value };
}

/**
 * `JSON.parse` of `source[start, stop)` when that is an op in HistoryWriter's layout within the
 * subset above; otherwise undefined (decode the line and use JSON.parse).
 */
export function parseWrittenOp(source: Buffer, start: number, stop: number): Record<string, unknown> | undefined {
  bytes = source;
  at = start;
  end = stop;
  failed = false;
  depth = 0;
  stackTop = 0;
  const op = readOp();
  bytes = emptyBytes;
  return op;
}

const emptyBytes = Buffer.alloc(0);
