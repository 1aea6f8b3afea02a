/** Order (jepsen-style/checker/order.ts), alone: divergence, zxid-order, fifo (order and gap), causal, real-time. */
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { checkOrder } from '../../../../jepsen-style/checker/order.js';
import { H, z, type D } from '../builder.js';

const a1: D = ['a', z(1, 1)];

describe('the order checker', () => {
  it('finds a divergent read and a zxid going backwards', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 2));
    h.bcast(2, 'b', z(1, 1));
    const n1 = h.read(101, 'n1', [['a', z(1, 2)], ['b', z(1, 1)]]);
    const n2 = h.read(102, 'n2', [['b', z(1, 1)]]);
    const r = checkOrder(buildModel(h.ops));
    expect(r.anomalies.divergence).toEqual({ count: 1, examples: [{ nodes: ['n1', 'n2'], position: 0, ids: ['a', 'b'], lengths: [2, 1], indices: [n1, n2] }] });
    expect(r.anomalies['zxid-order']).toEqual({ count: 1, examples: [{ node: 'n1', position: 1, zxids: [z(1, 2), z(1, 1)], ids: ['a', 'b'], indices: [n1] }] });
  });

  it('counts each broadcast once, under the most specific of fifo, causal and real-time', () => {
    const h = new H();
    const ai = h.invoke(1, 'a');
    const bi = h.invoke(1, 'b'); // fifo: a before b, both by process 1
    h.ok(1, 'a', z(1, 3));
    h.ok(1, 'b', z(1, 2));
    const co = h.bcast(2, 'c', z(1, 5))[1];
    const d = h.deliver(3, 'n1', 'c', z(1, 5));
    const ei = h.invoke(3, 'e'); // causal: process 3 saw c
    h.ok(3, 'e', z(1, 4));
    const fi = h.invoke(4, 'f'); // real-time: c acknowledged before f's invoke
    h.ok(4, 'f', z(1, 1));
    h.reads([['f', z(1, 1)], ['b', z(1, 2)], ['a', z(1, 3)], ['e', z(1, 4)], ['c', z(1, 5)]]);
    const r = checkOrder(buildModel(h.ops));
    expect(r.anomalies.fifo).toEqual({ count: 1, examples: [{ kind: 'order', process: 1, ids: ['a', 'b'], invoked: 'first before second', positions: [2, 1], indices: [ai, bi] }] });
    expect(r.anomalies.causal).toEqual({ count: 1, examples: [{ process: 3, ids: ['c', 'e'], seenAt: d, positions: [4, 3], indices: [d, ei] }] });
    expect(r.anomalies['real-time']).toEqual({ count: 1, examples: [{ ids: ['c', 'f'], acknowledgedAt: co, positions: [4, 0], indices: [co, fi] }] });
  });

  it('finds a gap: a later broadcast delivered, an earlier info one of the same process in no final state', () => {
    const h = new H();
    const ai = h.invoke(1, 'a');
    const ax = h.info(1, 'a');
    const [bi] = h.bcast(1, 'b', z(1, 1));
    const reads = h.reads([['b', z(1, 1)]], 1);
    const r = checkOrder(buildModel(h.ops));
    expect(r.anomalies.fifo).toEqual({ count: 1, examples: [{ kind: 'gap', process: 1, ids: ['a', 'b'], missing: 'a', outcome: 'info', indices: [ai, ax, bi, reads[0]] }] });
  });

  it('judges nothing else: lost and phantom are not its business', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.reads([a1, ['ghost', z(1, 3)]]);
    expect(checkOrder(buildModel(h.ops))).toEqual({ valid: true, anomalies: {}, liveness: {}, stats: {} });
  });
});
