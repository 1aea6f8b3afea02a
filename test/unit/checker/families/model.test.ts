/**
 * The shared model (jepsen-style/checker/model.ts), alone: the final states, the agreed order and
 * each read compared to it, the live nodes, the probes, and a malformed history refused.
 */
import { describe, expect, it } from 'vitest';
import { MalformedHistoryError } from '../../../../jepsen-style/checker/anomaly.js';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { H, z, type D } from '../builder.js';

const a1: D = ['a', z(1, 1)];
const b2: D = ['b', z(1, 2)];
const c2: D = ['c', z(1, 2)];

describe('the history model', () => {
  it('indexes broadcasts, final states and the agreed order', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(1, 'b');
    h.info(1, 'b');
    h.invoke(2, 'c');
    const early = h.read(101, 'n2', [a1, c2]);
    const n1 = h.read(102, 'n1', [a1, b2]);
    const n2 = h.read(103, 'n2', [a1]);
    const m = buildModel(h.ops);
    expect([...m.broadcasts.values()].map((b) => [b.id, b.outcome, b.pos])).toEqual([['a', 'ok', 0], ['b', 'info', 1], ['c', 'pending', -1]]);
    expect(m.acked.map((b) => b.id)).toEqual(['a']);
    expect(m.reference?.index).toBe(n1);
    expect([...m.lastRead.entries()].map(([node, r]) => [node, r.index])).toEqual([['n2', n2], ['n1', n1]]);
    expect(m.reads.map((r) => [r.index, r.divergesAt, r.exactPrefix])).toEqual([[early, 1, false], [n1, -1, true], [n2, -1, true]]);
    expect(m.finalStateHolding('b')?.index).toBe(n1);
    expect(m.finalStateHolding('c')).toBeUndefined();
    expect(m.holds(m.lastRead.get('n2')!, 'b')).toBe(false);
    expect(m.liveNodes).toBeUndefined();
    expect(m.liveReads.length).toBe(2);
  });

  it('takes the live nodes from the last final-phase marker and the probes after the first', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.marker(100, ['n1', 'n2', 'n3']);
    const m2 = h.marker(100, ['n1']);
    h.bcast(10, 'p', z(1, 2), 'n1');
    h.reads([a1, ['p', z(1, 2)]], 2);
    const m = buildModel(h.ops);
    expect(m.markers.map((marker) => marker.index)).toEqual([m2 - 1, m2]);
    expect([...(m.liveNodes ?? [])]).toEqual(['n1']);
    expect(m.liveReads.map((r) => r.node)).toEqual(['n1']);
    expect(m.afterMarker.map((b) => b.id)).toEqual(['p']);
  });

  it('refuses a broadcast completion without its id', () => {
    const h = new H();
    h.invoke(1, 'a');
    const bad = h.raw(1, 'ok', 'broadcast', { zxid: z(1, 1) }, 'n1');
    expect(() => buildModel(h.ops)).toThrow(MalformedHistoryError);
    expect(() => buildModel(h.ops)).toThrow(`history index ${bad}`);
  });
});
