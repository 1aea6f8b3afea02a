/** history.jsonl: the writer leaves whole lines; the reader names the line and the problem. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HistoryFormatError, HistoryWriter, parseHistory, readHistory, streamHistory } from '../../../jepsen-style/history.js';
import { checkHistory, checkHistoryFile } from '../../../jepsen-style/checker.js';
import { ModelBuilder } from '../../../jepsen-style/checker/model.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function line(o: Record<string, unknown>): string {
  return JSON.stringify(o);
}
const inv = (index: number, process: number, id: string) => line({ index, time: index, process, type: 'invoke', f: 'broadcast', node: 'n1', value: { id } });
const ok = (index: number, process: number, id: string, zxid = '0x100000001') => line({ index, time: index, process, type: 'ok', f: 'broadcast', node: 'n1', value: { id, zxid } });

/** The error of reading `text`; the file reader (its fast path for written lines) gives the same one. */
function problem(text: string): { line: number; problem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'zabkit-history-'));
  dirs.push(dir);
  const path = join(dir, 'h.jsonl');
  writeFileSync(path, text);
  let streamed: HistoryFormatError | undefined;
  try {
    streamHistory(path, () => undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(HistoryFormatError);
    streamed = error as HistoryFormatError;
  }
  try {
    parseHistory(text, 'h.jsonl');
  } catch (error) {
    expect(error).toBeInstanceOf(HistoryFormatError);
    const e = error as HistoryFormatError;
    expect(e.message).toBe(`h.jsonl line ${e.line}: ${e.problem}`);
    expect({ line: streamed?.line, problem: streamed?.problem }).toEqual({ line: e.line, problem: e.problem });
    return { line: e.line, problem: e.problem };
  }
  throw new Error('expected a HistoryFormatError');
}

describe('HistoryWriter', () => {
  it('appends one line per event with ascending index and monotonic time, readable back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.jsonl');
    const writer = new HistoryWriter(path);
    try {
      writer.invoke(0, 'broadcast', { id: 'm1' }, 'n1');
      writer.complete('ok', 0, 'broadcast', { id: 'm1', zxid: '0x100000001' }, 'n1');
      writer.nemesis('kill', { nodes: ['n2'] });
      writer.append({ process: 1, type: 'ok', f: 'deliver', node: 'n1', value: { id: 'm1', zxid: '0x100000001' } });
      writer.invoke(2, 'read', null, 'n1');
      writer.complete('ok', 2, 'read', { deliveries: [{ id: 'm1', zxid: '0x100000001' }] }, 'n1');
      // Written as it happens: the file already holds every line before close.
      expect(readFileSync(path, 'utf8').split('\n').length).toBe(7);
    } finally {
      writer.close();
    }
    const { ops, warnings } = readHistory(path);
    expect(warnings).toEqual([]);
    expect(ops.map((o) => o.index)).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < ops.length; i += 1) expect(ops[i]!.time).toBeGreaterThanOrEqual(ops[i - 1]!.time);
    expect(checkHistory(ops).valid).toBe(true);
  });

  it('a crashed writer\'s half line at the end is dropped with a warning', () => {
    const text = `${inv(0, 1, 'a')}\n${ok(1, 1, 'a')}\n{"index":2,"ti`;
    const { ops, warnings } = parseHistory(text, 'h.jsonl');
    expect(ops.length).toBe(2);
    expect(warnings[0]).toMatch(/line 3: truncated/);
  });
});

describe('history reader: malformed input names the line and the problem', () => {
  it('not JSON', () => {
    expect(problem(`${inv(0, 1, 'a')}\n{oops\n`)).toMatchObject({ line: 2, problem: expect.stringMatching(/not valid JSON/) });
  });
  it('unknown type', () => {
    expect(problem(`${line({ index: 0, time: 0, process: 1, type: 'done', f: 'broadcast', value: { id: 'a' } })}\n`)).toMatchObject({ line: 1, problem: expect.stringMatching(/unknown type "done"/) });
  });
  it('ok without its invoke', () => {
    expect(problem(`${inv(0, 1, 'a')}\n${ok(1, 2, 'a')}\n`)).toMatchObject({ line: 2, problem: 'ok without its invoke (process 2, f "broadcast")' });
  });
  it('missing field', () => {
    expect(problem(`${line({ index: 0, time: 0, process: 1, type: 'invoke', value: null })}\n`)).toMatchObject({ line: 1, problem: 'missing field "f"' });
  });
  it('index not ascending and time going backwards', () => {
    expect(problem(`${inv(0, 1, 'a')}\n${inv(0, 2, 'b')}\n`).problem).toMatch(/"index" 0 is not above/);
    expect(problem(`${line({ index: 0, time: 5, process: 1, type: 'invoke', f: 'broadcast', value: { id: 'a' } })}\n${line({ index: 1, time: 4, process: 2, type: 'invoke', f: 'broadcast', value: { id: 'b' } })}\n`).problem).toMatch(/monotonic/);
  });
  it('bad zxid, bad read value, invoke by a retired process', () => {
    expect(problem(`${inv(0, 1, 'a')}\n${ok(1, 1, 'a', '42')}\n`)).toMatchObject({ line: 2, problem: expect.stringMatching(/zxid/) });
    const readInv = line({ index: 0, time: 0, process: 5, type: 'invoke', f: 'read', node: 'n1', value: null });
    const readOk = line({ index: 1, time: 0, process: 5, type: 'ok', f: 'read', node: 'n1', value: { deliveries: [{ id: 'a' }] } });
    expect(problem(`${readInv}\n${readOk}\n`).problem).toMatch(/deliveries\[0\] has a bad "zxid"/);
    const info = line({ index: 1, time: 1, process: 1, type: 'info', f: 'broadcast', value: { id: 'a' }, error: 'timeout' });
    expect(problem(`${inv(0, 1, 'a')}\n${info}\n${inv(2, 1, 'b')}\n`)).toMatchObject({ line: 3, problem: expect.stringMatching(/retired/) });
  });
  it('a broadcast completion (ok, fail, info) without the message id: never matched to a pending broadcast', () => {
    const bare = (type: string) => line({ index: 1, time: 1, process: 1, type, f: 'broadcast', node: 'n1', value: type === 'ok' ? { zxid: '0x100000001' } : null, ...(type === 'ok' ? {} : { error: 'timeout' }) });
    for (const type of ['ok', 'fail', 'info']) {
      expect(problem(`${inv(0, 1, 'a')}\n${bare(type)}\n`)).toEqual({ line: 2, problem: `broadcast ${type} is missing value.id` });
    }
  });
  it('a final-phase marker without its bound or its nodes', () => {
    const marker = (value: unknown) => line({ index: 0, time: 0, process: 'nemesis', type: 'info', f: 'final-phase', value });
    expect(problem(`${marker({ nodes: ['n1'] })}\n`)).toMatchObject({ line: 1, problem: expect.stringMatching(/final-phase marker: "boundMs"/) });
    expect(problem(`${marker({ boundMs: 1000, nodes: 'n1' })}\n`)).toMatchObject({ line: 1, problem: expect.stringMatching(/final-phase marker: "nodes"/) });
    expect(parseHistory(`${marker({ boundMs: 1000, nodes: ['n1', 'n2'] })}\n`).ops.length).toBe(1);
  });
  it('a broadcast id invoked twice', () => {
    expect(problem(`${inv(0, 1, 'a')}\n${inv(1, 2, 'a')}\n`)).toMatchObject({ line: 2, problem: expect.stringMatching(/already invoked on line 1/) });
  });
  it('a final read by a process whose broadcast never completed is fine; two reads at once are not', () => {
    const read = (index: number) => line({ index, time: index, process: 1, type: 'invoke', f: 'read', node: 'n1', value: null });
    expect(parseHistory(`${inv(0, 1, 'a')}\n${read(1)}\n`).ops.length).toBe(2);
    expect(problem(`${read(0)}\n${read(1)}\n`).problem).toMatch(/still pending/);
  });
  it('a nemesis event that is not info, a deliver that is not ok', () => {
    expect(problem(`${line({ index: 0, time: 0, process: 'nemesis', type: 'invoke', f: 'kill', value: null })}\n`).problem).toMatch(/nemesis event/);
    expect(problem(`${line({ index: 0, time: 0, process: 3, type: 'invoke', f: 'deliver', value: { id: 'a', zxid: '0x1' } })}\n`).problem).toMatch(/deliver observation/);
  });
  it('final reads with the same deliveries parse to the same values (the deliveries array is shared)', () => {
    const deliveries = Array.from({ length: 3000 }, (_, i) => ({ id: `m${i}`, zxid: `0x1${String(i).padStart(8, '0')}` }));
    const lines = [
      line({ index: 0, time: 0, process: 7, type: 'invoke', f: 'read', node: 'n1', value: null }),
      line({ index: 1, time: 1, process: 7, type: 'ok', f: 'read', node: 'n1', value: { deliveries } }),
      line({ index: 2, time: 2, process: 8, type: 'invoke', f: 'read', node: 'n2', value: null }),
      line({ index: 3, time: 3, process: 8, type: 'ok', f: 'read', node: 'n2', value: { deliveries } }),
      line({ index: 4, time: 4, process: 9, type: 'invoke', f: 'read', node: 'n3', value: null }),
      line({ index: 5, time: 5, process: 9, type: 'ok', f: 'read', node: 'n3', value: { deliveries: deliveries.slice(1) } }),
    ];
    const { ops } = parseHistory(`${lines.join('\n')}\n`, 'h.jsonl');
    expect(ops.map((o) => [o.index, o.node, o.process])).toEqual([[0, 'n1', 7], [1, 'n1', 7], [2, 'n2', 8], [3, 'n2', 8], [4, 'n3', 9], [5, 'n3', 9]]);
    expect((ops[3]?.value as { deliveries: unknown[] }).deliveries).toEqual(deliveries);
    expect((ops[5]?.value as { deliveries: unknown[] }).deliveries).toEqual(deliveries.slice(1));
    // Written by another writer: spaces, and ids holding brackets, braces and escaped quotes. The
    // array's end is found by its brackets, so sharing still gives exactly what JSON.parse gives.
    const odd = deliveries.map((d, i) => ({ id: i % 2 === 0 ? `x]}"[${d.id}` : d.id, zxid: d.zxid }));
    const spaced = (index: number, process: number, node: string): string => `{"index": ${index}, "time": ${index}, "process": ${process}, "type": "ok", "f": "read", "node": "${node}", "value": {"deliveries": ${JSON.stringify(odd, null, 1)}, "extra": [1]}}`.replace(/\n/g, ' ');
    const oddLines = [lines[0], spaced(1, 7, 'n1'), lines[2], spaced(3, 8, 'n2')];
    const parsed = parseHistory(`${oddLines.join('\n')}\n`, 'h.jsonl').ops;
    expect((parsed[1]?.value as { deliveries: unknown[] }).deliveries).toEqual(odd);
    expect(parsed[3]?.value).toEqual({ deliveries: odd, extra: [1] });
    // A malformed delivery in a shared array is still named.
    const bad = deliveries.map((d, i) => (i === 2999 ? { id: d.id, zxid: 'zz' } : d));
    const badLines = [lines[0], line({ index: 1, time: 1, process: 7, type: 'ok', f: 'read', node: 'n1', value: { deliveries: bad } })];
    expect(problem(`${badLines.join('\n')}\n`)).toMatchObject({ line: 2, problem: expect.stringMatching(/deliveries\[2999\] has a bad "zxid"/) });
  });
});

describe('streamHistory and checkHistoryFile: the file one line at a time', () => {
  function file(text: string): string {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.jsonl');
    writeFileSync(path, text);
    return path;
  }
  const readInv = (index: number, process: number, node: string) => line({ index, time: index, process, type: 'invoke', f: 'read', node, value: null });
  const readOk = (index: number, process: number, node: string, ids: string[]) => line({ index, time: index, process, type: 'ok', f: 'read', node, value: { deliveries: ids.map((id, i) => ({ id, zxid: `0x1000000${(i + 1).toString(16).padStart(2, '0')}` })) } });
  // A history with a long final read (over the small chunks below), a CRLF line and blank lines.
  const ids = Array.from({ length: 400 }, (_, i) => `message-${i}`);
  const lines: string[] = [];
  ids.forEach((id, i) => {
    lines.push(inv(2 * i, 1, id), ok(2 * i + 1, 1, id, `0x1000000${(i + 1).toString(16).padStart(2, '0')}`));
  });
  lines.push(readInv(800, 2, 'n1'), readOk(801, 2, 'n1', ids), '', readInv(802, 3, 'n2'), `${readOk(803, 3, 'n2', ids)}\r`);
  const text = `${lines.join('\n')}\n`;

  it('gives the ops readHistory gives, whatever the read size (lines cut across reads, a line longer than a read)', () => {
    const path = file(text);
    const whole = readHistory(path).ops;
    for (const chunkBytes of [7, 64, 1000, 1 << 20]) {
      const streamed: unknown[] = [];
      expect(streamHistory(path, (op) => streamed.push(op), { chunkBytes }).warnings).toEqual([]);
      expect(streamed).toEqual(whole);
    }
    const { result, warnings } = checkHistoryFile(path);
    expect(warnings).toEqual([]);
    expect(result).toEqual(checkHistory(whole));
    expect(result.valid).toBe(true);
  });

  it('names the line of a malformed op, drops a crashed writer\'s half line, refuses a line over the limit', () => {
    const path = file(`${inv(0, 1, 'a')}\n${ok(1, 2, 'a')}\n`);
    expect(() => streamHistory(path, () => undefined, { chunkBytes: 5 })).toThrow(`${path} line 2: ok without its invoke (process 2, f "broadcast")`);
    expect(() => checkHistoryFile(path)).toThrow(HistoryFormatError);
    const half = file(`${inv(0, 1, 'a')}\n${ok(1, 1, 'a')}\n{"index":2,"ti`);
    const seen: number[] = [];
    expect(streamHistory(half, (op) => seen.push(op.index), { chunkBytes: 16 }).warnings).toEqual([`${half} line 3: truncated last line ignored (a crashed writer's tail)`]);
    expect(seen).toEqual([0, 1]);
    // The last line without its newline is kept when it parses.
    const unterminated = file(`${inv(0, 1, 'a')}\n${ok(1, 1, 'a')}`);
    expect(streamHistory(unterminated, (op) => seen.push(op.index)).warnings).toEqual([]);
    expect(seen).toEqual([0, 1, 0, 1]);
    const long = file(`${inv(0, 1, 'a')}\n${readInv(1, 2, 'n1')}\n${readOk(2, 2, 'n1', ids)}\n`);
    expect(() => streamHistory(long, () => undefined, { chunkBytes: 64, maxLineBytes: 1000 })).toThrow(`${long} line 3: line longer than 1000 bytes`);
  });

  it('a model builder takes no op after finish(), and finishes once', () => {
    const builder = new ModelBuilder();
    for (const op of parseHistory(`${inv(0, 1, 'a')}\n${ok(1, 1, 'a', '0x100000001')}\n`).ops) builder.add(op);
    builder.finish();
    expect(() => builder.finish()).toThrow('called twice');
    expect(() => builder.add(parseHistory(`${inv(2, 1, 'b')}\n`).ops[0]!)).toThrow('after finish()');
  });
});
