/**
 * The fast path of the history reader (jepsen-style/line-parser.ts): for every line it either gives
 * exactly what JSON.parse gives (same values, same key order) or steps aside. It must take the lines
 * HistoryWriter writes, or it would be dead code that no test notices.
 */
import { describe, expect, it } from 'vitest';
import { ParseMemo, parseWrittenOp } from '../../../jepsen-style/line-parser.js';
import { createPrng } from '../../../src/core/prng.js';

/** parseWrittenOp of `text` on its own bytes, inside a larger buffer (offsets matter). */
function fast(text: string): unknown {
  const bytes = Buffer.from(`xx\n${text}\nyy`, 'utf8');
  return parseWrittenOp(bytes, 3, bytes.length - 3);
}

function slow(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The fast path's contract on one line; returns whether it took the line. */
function agrees(text: string): boolean {
  const got = fast(text);
  if (got === undefined) return false;
  const want = slow(text);
  expect(want, `the fast path took a line JSON.parse refuses: ${text}`).not.toBeUndefined();
  expect(got, text).toStrictEqual(want);
  expect(JSON.stringify(got), `key order of ${text}`).toBe(JSON.stringify(want));
  return true;
}

const written = [
  { index: 0, time: 543943, process: 5, type: 'invoke', f: 'broadcast', node: 'n1', value: { id: 'm0' } },
  { index: 1, time: 731548, process: 5, type: 'ok', f: 'broadcast', node: 'n1', value: { id: 'm0', zxid: '0x200000001' } },
  { index: 2, time: 898059, process: 'nemesis', type: 'info', f: 'kill', value: { nodes: ['n1'] } },
  { index: 3, time: 962678, process: 22, type: 'ok', f: 'deliver', node: 'n3', value: { id: 'm0', zxid: '0x200000001', subscription: 2 } },
  { index: 4, time: 1532845, process: 7, type: 'info', f: 'broadcast', node: 'n2', value: { id: 'm1' }, error: 'timeout after 5000 ms' },
  { index: 5, time: 2322978, process: 8, type: 'invoke', f: 'read', node: 'n2', value: null },
  { index: 6, time: 3007273, process: 8, type: 'ok', f: 'read', node: 'n2', value: { deliveries: [{ id: 'm0', zxid: '0x200000001' }, { id: '', zxid: '0x0' }] } },
  { index: 7, time: 3138388, process: 'nemesis', type: 'info', f: 'final-phase', value: { boundMs: 30000, nodes: ['n1', 'n2', 'n3'], flags: [true, false, null], nested: { a: { b: [[], {}] } } } },
  { index: 8, time: 900719925474099, process: 0, type: 'fail', f: 'broadcast', node: 'n1', value: { id: 'a b/c', zxid: '0x1' }, error: '' },
];

describe('parseWrittenOp', () => {
  it('takes every op as HistoryWriter writes it and reads it as JSON.parse does', () => {
    for (const op of written) expect(agrees(JSON.stringify(op)), JSON.stringify(op)).toBe(true);
  });

  it('steps aside for what leaves the writer\'s layout or its subset of JSON (JSON.parse then decides)', () => {
    const stepsAside = [
      '', ' ', '{}', '[]', 'null',
      ' {"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null} ',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}\r',
      '{"index": 0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"time":0,"index":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast"}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null,"extra":1}',
      '{"index":-1,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":1.5,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":1e3,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":01,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":1234567890123456,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"id":"m\\u0030"}}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"id":"mé"}}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"__proto__":{"id":"x"}}}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","node":null,"value":null}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":null,"error":7}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":tru}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"id":"m0",}}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":[1,]}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"id":"m0"}}}',
      '{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":{"id":"m0"',
      `{"index":0,"time":0,"process":1,"type":"invoke","f":"broadcast","value":${'['.repeat(40)}${']'.repeat(40)}}`,
    ];
    for (const text of stepsAside) expect(fast(text), text).toBeUndefined();
  });

  it('takes what it can of odd but valid values, as JSON.parse reads them', () => {
    const base = '{"index":0,"time":0,"process":"nemesis","type":"info","f":"x","value":';
    for (const value of ['{"id":"a","id":"b"}', '{"zxid":"0x1","id":"a"}', '{"":""}', '{"0":1,"a":2,"1":3}', '[0,10,true,false,null,"",{},[]]', '{"id":1}', '999999999999999', '0']) {
      expect(agrees(`${base}${value}}`), value).toBe(true);
    }
  });

  it('never disagrees with JSON.parse on mutated lines (20,000 seeded byte edits of written ops)', () => {
    const prng = createPrng(2026);
    const alphabet = '{}[]":,0123456789-.eE\\ tfnul"abcxyz\u00e9';
    let taken = 0;
    for (let n = 0; n < 20_000; n += 1) {
      let text = JSON.stringify(written[prng.int(written.length)]);
      for (let edits = 1 + prng.int(3); edits > 0; edits -= 1) {
        const at = prng.int(text.length + 1);
        const ch = alphabet[prng.int(alphabet.length)] as string;
        const kind = prng.int(3);
        text = kind === 0 ? text.slice(0, at) + ch + text.slice(at) : kind === 1 ? text.slice(0, at) + text.slice(at + 1) : text.slice(0, at) + ch + text.slice(at + 1);
      }
      if (agrees(text)) taken += 1;
    }
    // Many edits keep the line valid (a digit for a digit, a letter in an id): those it must take.
    expect(taken).toBeGreaterThan(1000);
  });

  it('reads a large array again as the same array when its bytes repeat, and afresh when one byte differs', () => {
    const deliveries = Array.from({ length: 3000 }, (_, i) => ({ id: `m${i}`, zxid: `0x1${i.toString(16).padStart(8, '0')}` }));
    const line = (index: number, node: string, list: unknown[]): string => JSON.stringify({ index, time: index, process: 9, type: 'ok', f: 'read', node, value: { deliveries: list } });
    const changed = deliveries.map((d, i) => (i === 2999 ? { ...d, id: 'm3000' } : d));
    const lines = [line(0, 'n1', deliveries), line(1, 'n2', deliveries), line(2, 'n3', changed), line(3, 'n4', deliveries)];
    expect((lines[0] as string).length).toBeGreaterThan(ParseMemo.minArrayBytes);
    const memo = new ParseMemo();
    const got = lines.map((text) => {
      const bytes = Buffer.from(`${text}\n`, 'utf8');
      const op = parseWrittenOp(bytes, 0, bytes.length - 1, memo) as { value: { deliveries: unknown[] } } | undefined;
      expect(op, text.slice(0, 80)).toStrictEqual(JSON.parse(text));
      return (op as { value: { deliveries: unknown[] } }).value.deliveries;
    });
    expect(got[1]).toBe(got[0]);
    expect(got[2]).not.toBe(got[0]);
    expect(got[3]).toBe(got[0]);
    // Without a memo nothing is shared.
    const again = parseWrittenOp(Buffer.from(lines[1] as string), 0, (lines[1] as string).length) as { value: { deliveries: unknown[] } };
    expect(again.value.deliveries).not.toBe(got[0]);
  });
});
