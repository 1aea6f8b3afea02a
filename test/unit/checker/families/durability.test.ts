/** Durability (jepsen-style/checker/durability.ts), alone: lost and not-converged, and what a testbed failure excuses. */
import { describe, expect, it } from 'vitest';
import { checkDurability } from '../../../../jepsen-style/checker/durability.js';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { H, z, type D } from '../builder.js';

const a1: D = ['a', z(1, 1)];
const b2: D = ['b', z(1, 2)];

describe('the durability checker', () => {
  it('finds an acknowledged message a node left behind lacks: lost and not-converged, both excusable', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b', z(1, 2));
    const n1 = h.read(101, 'n1', [a1, b2]);
    const n2 = h.read(102, 'n2', [a1]);
    const r = checkDurability(buildModel(h.ops));
    expect(r.valid).toBe(false);
    expect(r.anomalies.lost).toEqual({ count: 1, examples: [{ id: 'b', zxid: z(1, 2), missingFrom: ['n2'], everywhere: false, indices: [bi, bo, n2] }] });
    expect(r.anomalies['not-converged']).toEqual({ count: 1, examples: [{ node: 'n2', length: 1, longest: { node: 'n1', length: 2 }, indices: [n1, n2] }] });
    expect(r.liveness).toEqual({ 'not-converged': 1, lost: 1 });
  });

  it('excuses them after a testbed failure ("unknown"), but never a message no final state holds', () => {
    const behind = new H();
    behind.bcast(1, 'a', z(1, 1));
    behind.bcast(1, 'b', z(1, 2));
    behind.nemesisFailed('heal', null, 'toxiproxy: connection refused');
    behind.read(101, 'n1', [a1, b2]);
    behind.read(102, 'n2', [a1]);
    expect(checkDurability(buildModel(behind.ops)).valid).toBe('unknown');

    const gone = new H();
    gone.bcast(1, 'a', z(1, 1));
    gone.bcast(1, 'b', z(1, 2));
    gone.nemesisFailed('heal', null, 'toxiproxy: connection refused');
    gone.read(101, 'n1', [a1, b2]);
    gone.reads([a1], 2, 200);
    const r = checkDurability(buildModel(gone.ops));
    expect(r.valid).toBe(false);
    expect(r.anomalies.lost?.examples[0]).toMatchObject({ id: 'b', everywhere: true });
    expect(r.liveness).toEqual({});
    expect(r.stats.heldOnlyByEarlierReads).toBe(1);
  });

  it('judges nothing else: a phantom and a duplicate are not its business', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.reads([a1, a1, ['ghost', z(1, 2)]]);
    expect(checkDurability(buildModel(h.ops))).toEqual({ valid: true, anomalies: {}, liveness: {}, stats: { heldOnlyByEarlierReads: 0 } });
  });
});
