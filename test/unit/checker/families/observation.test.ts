/** Observation (jepsen-style/checker/observation.ts), alone: deliver-order, and the streams a node restart starts over. */
import { describe, expect, it } from 'vitest';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { checkObservation } from '../../../../jepsen-style/checker/observation.js';
import { H, z, type D } from '../builder.js';

const a1: D = ['a', z(1, 1)];
const b2: D = ['b', z(1, 2)];

describe('the observation checker', () => {
  it('finds a repeated, a reordered and a not-in-order observation', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    const oa = h.deliver(7, 'n1', 'a', z(1, 1));
    const oa2 = h.deliver(7, 'n1', 'a', z(1, 1));
    const ob = h.deliver(8, 'n2', 'b', z(1, 2));
    const oa3 = h.deliver(8, 'n2', 'a', z(1, 1));
    h.invoke(2, 'x');
    h.info(2, 'x');
    const ox = h.deliver(9, 'n3', 'x', z(1, 3));
    h.reads([a1, b2]);
    const r = checkObservation(buildModel(h.ops));
    expect(r.valid).toBe(false);
    expect(r.anomalies['deliver-order']).toEqual({
      count: 3,
      examples: [
        { kind: 'repeated', process: 7, node: 'n1', id: 'a', indices: [oa, oa2] },
        { kind: 'reordered', process: 8, node: 'n2', ids: ['b', 'a'], positions: [1, 0], indices: [ob, oa3] },
        { kind: 'not-in-order', process: 9, node: 'n3', id: 'x', indices: [ox] },
      ],
    });
    expect(r.stats.subscriptionStreams).toBe(3);
  });

  it('lets a stream start over after its node restarted (kill and start, power-off and power-on), not after a pause', () => {
    const restarted = new H();
    restarted.bcast(1, 'a', z(1, 1));
    restarted.deliver(7, 'n1', 'a', z(1, 1));
    restarted.nemesis('kill', { nodes: ['n1'] });
    restarted.nemesis('start', { nodes: ['n1'] });
    restarted.deliver(7, 'n1', 'a', z(1, 1));
    restarted.reads([a1]);
    expect(checkObservation(buildModel(restarted.ops)).valid).toBe(true);

    const outage = new H(); // a power outage naming no node restarts every stream
    outage.bcast(1, 'a', z(1, 1));
    outage.deliver(7, 'n2', 'a', z(1, 1));
    outage.nemesis('power-off', null);
    outage.nemesis('power-on', null);
    outage.deliver(7, 'n2', 'a', z(1, 1));
    outage.reads([a1]);
    expect(checkObservation(buildModel(outage.ops)).valid).toBe(true);

    const paused = new H();
    paused.bcast(1, 'a', z(1, 1));
    paused.deliver(7, 'n1', 'a', z(1, 1));
    paused.nemesis('pause', { nodes: ['n1'] });
    paused.nemesis('resume', { nodes: ['n1'] });
    paused.deliver(7, 'n1', 'a', z(1, 1));
    paused.reads([a1]);
    expect(checkObservation(buildModel(paused.ops)).anomalies['deliver-order']?.examples[0]).toMatchObject({ kind: 'repeated' });
  });

  it('judges nothing else: a phantom observation is integrity\'s (not-in-order needs a read)', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.deliver(7, 'n1', 'ghost', z(1, 2));
    expect(checkObservation(buildModel(h.ops))).toEqual({ valid: true, anomalies: {}, liveness: {}, stats: { subscriptionStreams: 1 } });
  });
});
