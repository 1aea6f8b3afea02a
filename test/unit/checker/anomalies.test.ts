/**
 * One hand-written history per anomaly of interfaces.md: the checker must name it, count it, and
 * cite the ops that show it (history indices).
 */
import { describe, expect, it } from 'vitest';
import { checkHistory } from '../../../jepsen-style/checker.js';
import type { CheckResult } from '../../../jepsen-style/types.js';
import { H, z } from './builder.js';

function only(result: CheckResult, name: string): { count: number; examples: Record<string, unknown>[] } {
  expect(result.valid).toBe(false);
  for (const [anomaly, report] of Object.entries(result.anomalies)) {
    for (const example of report.examples) expect((example as { indices?: number[] }).indices?.length ?? 0, anomaly).toBeGreaterThan(0);
  }
  expect(Object.keys(result.anomalies)).toEqual([name]);
  return result.anomalies[name] as { count: number; examples: Record<string, unknown>[] };
}

describe('checker: one history per anomaly', () => {
  it('lost: an acknowledged broadcast missing from every final read', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b', z(1, 2));
    h.bcast(1, 'c', z(2, 1));
    const reads = h.reads([['a', z(1, 1)], ['c', z(2, 1)]]);
    const lost = only(checkHistory(h.ops), 'lost');
    expect(lost.count).toBe(1);
    expect(lost.examples[0]).toMatchObject({ id: 'b', zxid: z(1, 2), missingFrom: ['n1', 'n2', 'n3'] });
    expect(lost.examples[0]?.indices).toEqual([bi, bo, ...reads]);
  });

  it('lost: a hole on one node, whose read holds later zxids', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b', z(1, 2));
    h.bcast(1, 'c', z(1, 3));
    const full: [string, string][] = [['a', z(1, 1)], ['b', z(1, 2)], ['c', z(1, 3)]];
    h.read(101, 'n1', full);
    h.read(102, 'n2', full);
    const holed = h.read(103, 'n3', [['a', z(1, 1)], ['c', z(1, 3)]]);
    const result = checkHistory(h.ops);
    // The holed read is also not a prefix of the others (divergence) and is shorter (not-converged).
    expect(result.valid).toBe(false);
    expect(result.anomalies.lost?.count).toBe(1);
    expect(result.anomalies.lost?.examples[0]).toMatchObject({ id: 'b', missingFrom: ['n3'], indices: [bi, bo, holed] });
    expect(result.anomalies.divergence?.count).toBe(1);
  });

  it('failed-delivered: a broadcast that returned fail shows up in a read', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const fi = h.invoke(2, 'x');
    const ff = h.fail(2, 'x');
    const reads = h.reads([['a', z(1, 1)], ['x', z(1, 2)]]);
    const a = only(checkHistory(h.ops), 'failed-delivered');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ id: 'x', node: 'n1', position: 1, indices: [fi, ff, reads[0]] });
  });

  it('phantom: a delivered id nobody broadcast (in a read and in an observation, counted once)', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const obs = h.deliver(5, 'n2', 'ghost', z(1, 2));
    h.reads([['a', z(1, 1)], ['ghost', z(1, 2)]]);
    const a = only(checkHistory(h.ops), 'phantom');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ id: 'ghost' });
    expect((a.examples[0]?.indices as number[]).length).toBe(1);
    expect(obs).toBeGreaterThan(0);
  });

  it('duplicate: one node delivers an id twice, another delivers a zxid twice', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    const r1 = h.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 2)], ['b', z(1, 2)]]);
    const result = checkHistory(h.ops);
    expect(result.valid).toBe(false);
    const dup = result.anomalies.duplicate;
    expect(dup?.count).toBe(1);
    expect(dup?.examples[0]).toMatchObject({ kind: 'id', node: 'n1', id: 'b', positions: [1, 2], indices: [r1] });
    // A node that repeats a zxid in place (b delivered at a's zxid) — duplicate zxid and a conflict.
    const h2 = new H();
    h2.bcast(1, 'a', z(1, 1));
    h2.bcast(1, 'b', z(1, 2));
    const r2 = h2.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 1)]]);
    const result2 = checkHistory(h2.ops);
    expect(result2.anomalies.duplicate?.examples[0]).toMatchObject({ kind: 'zxid', zxid: z(1, 1), positions: [0, 1], indices: [r2] });
    expect(result2.anomalies['zxid-conflict']?.count).toBe(2);
  });

  it('zxid-conflict: one zxid bound to two ids on two nodes (ZOOKEEPER-335)', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [, bo] = h.bcast(1, 'b', z(1, 2));
    const [, co] = h.bcast(2, 'c', z(1, 3));
    const r1 = h.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 2)], ['c', z(1, 3)]]);
    const r2 = h.read(102, 'n2', [['a', z(1, 1)], ['b', z(1, 3)], ['c', z(1, 3)]]);
    const result = checkHistory(h.ops);
    // b has two zxids, and zxid 1:3 has two ids: two clashing pairs, both shown by the two reads.
    expect(result.anomalies['zxid-conflict']?.count).toBe(2);
    expect(result.anomalies['zxid-conflict']?.examples).toEqual([
      { kind: 'id-bound-to-two-zxids', id: 'b', zxids: [z(1, 2), z(1, 3)], indices: [r1, r2] },
      { kind: 'zxid-bound-to-two-ids', zxid: z(1, 3), ids: ['c', 'b'], indices: [r1, r2] },
    ]);
    expect(bo).toBeLessThan(co);
    // The same zxid twice on n2 is also a duplicate there.
    expect(result.anomalies.duplicate?.count).toBe(1);
  });

  it('zxid-conflict: one id bound to two zxids by its ack and a read', () => {
    const h = new H();
    const [, ao] = h.bcast(1, 'a', z(1, 1));
    const reads = h.reads([['a', z(1, 7)]]);
    const a = only(checkHistory(h.ops), 'zxid-conflict');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ kind: 'id-bound-to-two-zxids', id: 'a', zxids: [z(1, 7), z(1, 1)], indices: [ao, reads[0]] });
  });

  it('divergence: two nodes where neither is a prefix of the other', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'b');
    h.info(2, 'b');
    h.invoke(3, 'c');
    h.info(3, 'c');
    const r1 = h.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 2)]]);
    const r2 = h.read(102, 'n2', [['a', z(1, 1)], ['c', z(2, 1)]]);
    const a = only(checkHistory(h.ops), 'divergence');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ nodes: ['n1', 'n2'], position: 1, ids: ['b', 'c'], indices: [r1, r2] });
  });

  it('zxid-order: a node whose zxids go backwards', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.bcast(2, 'c', z(1, 3));
    // The ack order and the read order both put b after c: zxids 1, 3, 2.
    const h2 = new H();
    h2.bcast(1, 'a', z(1, 1));
    h2.bcast(2, 'c', z(1, 3));
    h2.bcast(1, 'b', z(1, 2));
    const reads = h2.reads([['a', z(1, 1)], ['c', z(1, 3)], ['b', z(1, 2)]], 1);
    const a = only(checkHistory(h2.ops), 'zxid-order');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ node: 'n1', position: 2, zxids: [z(1, 3), z(1, 2)], ids: ['c', 'b'], indices: [reads[0]] });
    expect(h.ops.length).toBe(6);
  });

  it('fifo: a pipelined process sees its second broadcast ordered before its first', () => {
    const h = new H();
    const ai = h.invoke(1, 'a');
    const bi = h.invoke(1, 'b');
    h.ok(1, 'b', z(1, 1));
    h.ok(1, 'a', z(1, 2));
    h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
    const a = only(checkHistory(h.ops), 'fifo');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ process: 1, ids: ['a', 'b'], positions: [1, 0], indices: [ai, bi] });
  });

  it('causal: a process that saw A delivered broadcasts B, yet B is ordered before A', () => {
    const h = new H();
    const ci = h.invoke(2, 'c'); // c is concurrent with everything below
    h.invoke(1, 'a');
    const seen = h.deliver(3, 'n2', 'a', z(1, 2));
    const bi = h.invoke(3, 'b');
    h.ok(3, 'b', z(1, 1));
    h.ok(1, 'a', z(1, 2));
    h.ok(2, 'c', z(1, 3));
    h.reads([['b', z(1, 1)], ['a', z(1, 2)], ['c', z(1, 3)]]);
    const result = checkHistory(h.ops);
    // The observation of a before b's zxid-ordered delivery is also a reorder of nothing: one stream, one item.
    const a = only(result, 'causal');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ process: 3, ids: ['a', 'b'], indices: [seen, bi] });
    expect(ci).toBe(0);
  });

  it('real-time: A acknowledged before B was invoked, yet B is ordered before A', () => {
    const h = new H();
    h.invoke(1, 'a');
    const ao = h.ok(1, 'a', z(1, 2));
    const bi = h.invoke(2, 'b');
    h.ok(2, 'b', z(1, 1));
    h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
    const a = only(checkHistory(h.ops), 'real-time');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ ids: ['a', 'b'], indices: [ao, bi] });
  });

  it('deliver-order: a subscription that reorders and one that repeats', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.bcast(1, 'c', z(1, 3));
    const o1 = h.deliver(7, 'n1', 'c', z(1, 3));
    const o2 = h.deliver(7, 'n1', 'b', z(1, 2));
    const o3 = h.deliver(7, 'n1', 'a', z(1, 1));
    const p1 = h.deliver(8, 'n2', 'a', z(1, 1));
    h.deliver(8, 'n2', 'b', z(1, 2));
    const p3 = h.deliver(8, 'n2', 'a', z(1, 1));
    h.reads([['a', z(1, 1)], ['b', z(1, 2)], ['c', z(1, 3)]]);
    const a = only(checkHistory(h.ops), 'deliver-order');
    expect(a.count).toBe(3);
    expect(a.examples[0]).toMatchObject({ kind: 'reordered', process: 7, node: 'n1', ids: ['c', 'b'], indices: [o1, o2] });
    // The witness is the latest-ordered observation (c), not merely the previous one (b).
    expect(a.examples[1]).toMatchObject({ kind: 'reordered', process: 7, node: 'n1', ids: ['c', 'a'], indices: [o1, o3] });
    expect(a.examples[2]).toMatchObject({ kind: 'repeated', process: 8, node: 'n2', id: 'a', indices: [p1, p3] });
  });

  it('deliver-order: an observed message that no final read holds', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'x');
    h.info(2, 'x');
    const o = h.deliver(7, 'n1', 'x', z(1, 2));
    h.reads([['a', z(1, 1)]]);
    const a = only(checkHistory(h.ops), 'deliver-order');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ kind: 'not-in-order', id: 'x', indices: [o] });
  });

  it('not-converged: after healing, one node is behind (on an indeterminate message: not lost)', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'b');
    h.info(2, 'b');
    const r1 = h.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 2)]]);
    h.read(102, 'n2', [['a', z(1, 1)], ['b', z(1, 2)]]);
    const r3 = h.read(103, 'n3', [['a', z(1, 1)]]);
    const a = only(checkHistory(h.ops), 'not-converged');
    expect(a.count).toBe(1);
    expect(a.examples[0]).toMatchObject({ node: 'n3', length: 1, longest: { node: 'n1', length: 2 }, indices: [r1, r3] });
  });

  it('not-converged and lost: a node behind on an acknowledged message', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b', z(1, 2));
    h.read(101, 'n1', [['a', z(1, 1)], ['b', z(1, 2)]]);
    h.read(102, 'n2', [['a', z(1, 1)], ['b', z(1, 2)]]);
    const r3 = h.read(103, 'n3', [['a', z(1, 1)]]);
    const result = checkHistory(h.ops);
    expect(result.valid).toBe(false);
    expect(Object.keys(result.anomalies)).toEqual(['lost', 'not-converged']);
    expect(result.anomalies.lost?.examples[0]).toMatchObject({ id: 'b', missingFrom: ['n3'], everywhere: false, indices: [bi, bo, r3] });
  });
});
