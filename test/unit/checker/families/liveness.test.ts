/** Liveness (jepsen-style/checker/liveness.ts), alone: unavailable after the final-phase marker, excused by a testbed failure. */
import { describe, expect, it } from 'vitest';
import { checkLiveness } from '../../../../jepsen-style/checker/liveness.js';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { H, z } from '../builder.js';

describe('the liveness checker', () => {
  it('finds a listed node that acknowledged no probe within the bound', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const m = h.marker(100, ['n1', 'n2']);
    h.bcast(10, 'p1', z(1, 2), 'n1');
    const q = h.invoke(11, 'q1', 'n2');
    h.sleep(200);
    h.ok(11, 'q1', z(1, 3), 'n2'); // too late
    const r = checkLiveness(buildModel(h.ops));
    expect(r.valid).toBe(false);
    expect(r.anomalies.unavailable).toEqual({ count: 1, examples: [{ node: 'n2', heal: m, boundMs: 100, attempts: [q], attemptCount: 1, indices: [m, q] }] });
    expect(r.liveness).toEqual({ unavailable: 1 });
  });

  it('is "unknown" when the testbed failed, and has nothing to say without a marker', () => {
    const failed = new H();
    failed.nemesisFailed('toxiproxy-down', { pid: 1 }, 'restart failed');
    failed.marker(100, ['n1']);
    expect(checkLiveness(buildModel(failed.ops)).valid).toBe('unknown');
    const none = new H();
    none.invoke(1, 'a');
    expect(checkLiveness(buildModel(none.ops))).toEqual({ valid: true, anomalies: {}, liveness: {}, stats: {} });
  });

  it('a scenario step whose precondition was not met is no testbed failure: a node that never serves stays unavailable', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.nemesis('scenario-step', { step: 13, do: 'await-leader', unmet: 'no single leader within 60000 ms' });
    h.marker(100, ['n1']);
    h.sleep(200);
    expect(checkLiveness(buildModel(h.ops)).valid).toBe(false);
    const failed = new H();
    failed.bcast(1, 'a', z(1, 1));
    failed.nemesisFailed('scenario-step', { step: 2, do: 'isolate' }, 'toxiproxy refused the toxic');
    failed.marker(100, ['n1']);
    failed.sleep(200);
    expect(checkLiveness(buildModel(failed.ops)).valid).toBe('unknown');
  });
});
