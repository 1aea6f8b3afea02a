/** Integrity (jepsen-style/checker/integrity.ts), alone: phantom, failed-delivered, duplicate, zxid-conflict. */
import { describe, expect, it } from 'vitest';
import { checkIntegrity } from '../../../../jepsen-style/checker/integrity.js';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { H, z, type D } from '../builder.js';

const a1: D = ['a', z(1, 1)];

describe('the integrity checker', () => {
  it('finds a phantom, a failed broadcast delivered, a duplicate and a clashing zxid', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const xi = h.invoke(2, 'x');
    const xf = h.fail(2, 'x');
    const reads = h.reads([a1, ['x', z(1, 2)], ['ghost', z(1, 3)], a1]);
    const o = h.deliver(7, 'n1', 'a', z(1, 9));
    const r = checkIntegrity(buildModel(h.ops));
    expect(r.valid).toBe(false);
    expect(Object.keys(r.anomalies).sort()).toEqual(['duplicate', 'failed-delivered', 'phantom', 'zxid-conflict']);
    expect(r.anomalies.phantom).toEqual({ count: 1, examples: [{ id: 'ghost', node: 'n1', position: 2, indices: [reads[0]] }] });
    expect(r.anomalies['failed-delivered']).toEqual({ count: 1, examples: [{ id: 'x', node: 'n1', position: 1, indices: [xi, xf, reads[0]] }] });
    // One duplicate per read (the exact prefixes of the agreed order share its findings).
    expect(r.anomalies.duplicate?.count).toBe(3);
    expect(r.anomalies.duplicate?.examples[1]).toEqual({ kind: 'id', node: 'n2', id: 'a', positions: [0, 3], indices: [reads[1]] });
    expect(r.anomalies['zxid-conflict']).toEqual({ count: 1, examples: [{ kind: 'id-bound-to-two-zxids', id: 'a', zxids: [z(1, 1), z(1, 9)], indices: [reads[0], o] }] });
    expect(r.liveness).toEqual({});
  });

  it('judges nothing else: lost, divergence and deliver-order are not its business', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.deliver(7, 'n1', 'a', z(1, 1));
    h.deliver(7, 'n1', 'a', z(1, 1));
    h.read(101, 'n1', [a1]);
    h.read(102, 'n2', [['b', z(1, 2)]]);
    expect(checkIntegrity(buildModel(h.ops))).toEqual({ valid: true, anomalies: {}, liveness: {}, stats: {} });
  });
});
