/**
 * Valid histories that look suspicious: none may raise an anomaly. Plus the three-valued verdict:
 * a run that proved nothing is "unknown", and a checker exception is "unknown", never a pass.
 */
import { describe, expect, it } from 'vitest';
import { checkHistory } from '../../../jepsen-style/checker.js';
import type { Op } from '../../../jepsen-style/types.js';
import { H, z } from './builder.js';

function expectValid(ops: Op[]): void {
  const result = checkHistory(ops);
  expect(result.anomalies).toEqual({});
  expect(result.error).toBeUndefined();
  expect(result.valid).toBe(true);
}

describe('checker: suspicious but valid histories', () => {
  it('an info broadcast delivered, another info broadcast never delivered', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'maybe');
    h.info(2, 'maybe');
    h.invoke(3, 'never');
    h.info(3, 'never');
    h.bcast(4, 'b', z(1, 3));
    h.reads([['a', z(1, 1)], ['maybe', z(1, 2)], ['b', z(1, 3)]]);
    const result = checkHistory(h.ops);
    expect(result.valid).toBe(true);
    expect(result.stats).toMatchObject({ acknowledged: 2, indeterminate: 2, indeterminateDelivered: 1 });
  });

  it('a broadcast pending at the end of the history (no completion) that was delivered', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'open');
    h.reads([['a', z(1, 1)], ['open', z(1, 2)]]);
    expectValid(h.ops);
  });

  it('concurrent broadcasts completing out of commit order', () => {
    const h = new H();
    h.invoke(1, 'a');
    h.invoke(2, 'b');
    h.invoke(3, 'c');
    h.ok(3, 'c', z(1, 3));
    h.ok(1, 'a', z(1, 1));
    h.ok(2, 'b', z(1, 2));
    h.reads([['a', z(1, 1)], ['b', z(1, 2)], ['c', z(1, 3)]]);
    expectValid(h.ops);
  });

  it('pipelined broadcasts from one process, acknowledged in order, one of them failed', () => {
    const h = new H();
    h.invoke(1, 'a');
    h.invoke(1, 'b');
    h.invoke(1, 'c');
    h.ok(1, 'a', z(1, 1));
    h.fail(1, 'b');
    h.ok(1, 'c', z(1, 2));
    h.bcast(1, 'd', z(1, 3));
    h.reads([['a', z(1, 1)], ['c', z(1, 2)], ['d', z(1, 3)]]);
    expectValid(h.ops);
  });

  it('a lagging node that caught up: an early short read, then a full one', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.bcast(1, 'c', z(2, 1));
    h.read(101, 'n3', [['a', z(1, 1)]]);
    h.reads([['a', z(1, 1)], ['b', z(1, 2)], ['c', z(2, 1)]]);
    expectValid(h.ops);
  });

  it('a node restarted mid-run re-delivers from the start of its log to the same subscriber', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.deliver(9, 'n2', 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.deliver(9, 'n2', 'b', z(1, 2));
    h.nemesis('kill', { nodes: ['n2'] });
    h.nemesis('start', { nodes: ['n2'] });
    h.deliver(9, 'n2', 'a', z(1, 1));
    h.deliver(9, 'n2', 'b', z(1, 2));
    h.bcast(1, 'c', z(2, 1));
    h.deliver(9, 'n2', 'c', z(2, 1));
    h.reads([['a', z(1, 1)], ['b', z(1, 2)], ['c', z(2, 1)]]);
    expectValid(h.ops);
  });

  it('a subscription resumed after its last message (suffix resume), and a new tagged subscription', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.bcast(1, 'b', z(1, 2));
    h.bcast(1, 'c', z(1, 3));
    h.deliver(9, 'n1', 'a', z(1, 1));
    h.nemesis('partition', { isolated: ['n1'] });
    h.nemesis('heal', null);
    h.deliver(9, 'n1', 'c', z(1, 3)); // resumed after a gap: fine
    h.deliver(9, 'n1', 'a', z(1, 1), 's2'); // a new subscription from the start
    h.deliver(9, 'n1', 'b', z(1, 2), 's2');
    h.reads([['a', z(1, 1)], ['b', z(1, 2)], ['c', z(1, 3)]]);
    expectValid(h.ops);
  });

  it('a new leader epoch after a kill: messages of the old epoch then of the new, across nodes', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.deliver(2, 'n2', 'a', z(1, 1));
    h.nemesis('kill', { nodes: ['n1'] });
    h.invoke(1, 'lost-in-flight');
    h.info(1, 'lost-in-flight');
    h.bcast(2, 'b', z(2, 1), 'n2');
    h.bcast(3, 'c', z(2, 2), 'n3');
    h.nemesis('start', { nodes: ['n1'] });
    h.read(101, 'n1', [['a', z(1, 1)], ['b', z(2, 1)], ['c', z(2, 2)]]);
    h.read(102, 'n2', [['a', z(1, 1)], ['b', z(2, 1)], ['c', z(2, 2)]]);
    h.read(103, 'n3', [['a', z(1, 1)], ['b', z(2, 1)], ['c', z(2, 2)]]);
    expectValid(h.ops);
  });
});

describe('checker: three-valued verdict', () => {
  it('unknown without a final read', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const result = checkHistory(h.ops);
    expect(result.valid).toBe('unknown');
    expect(result.stats.unknownBecause).toEqual(['no final read returned ok']);
  });

  it('unknown when no broadcast was acknowledged', () => {
    const h = new H();
    h.invoke(1, 'a');
    h.info(1, 'a');
    h.reads([]);
    expect(checkHistory(h.ops).valid).toBe('unknown');
  });

  it('an empty history is unknown', () => {
    expect(checkHistory([]).valid).toBe('unknown');
  });

  it('a checker exception is unknown with the error, never a pass', () => {
    const poisoned = new Proxy([] as Op[], {
      get(target, key, receiver) {
        if (key === Symbol.iterator) throw new Error('boom');
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const result = checkHistory(poisoned);
    expect(result.valid).toBe('unknown');
    expect(result.error).toMatch(/boom/);
  });

  it('an anomaly without a final read is still invalid', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'x');
    h.fail(2, 'x');
    h.deliver(3, 'n1', 'x', z(1, 2));
    const result = checkHistory(h.ops);
    expect(result.valid).toBe(false);
    expect(result.anomalies['failed-delivered']?.count).toBe(1);
  });

  it('counts stats by f and type', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'b');
    h.fail(2, 'b');
    h.nemesis('pause', { nodes: ['n1'] });
    h.deliver(3, 'n1', 'a', z(1, 1));
    h.reads([['a', z(1, 1)]], 2);
    const stats = checkHistory(h.ops).stats;
    expect(stats).toMatchObject({
      byF: { broadcast: { invoke: 2, ok: 1, fail: 1 }, read: { invoke: 2, ok: 2 }, deliver: { ok: 1 }, 'nemesis:pause': { info: 1 } },
      acknowledged: 1,
      failed: 1,
      finalReads: 2,
      nodesRead: ['n1', 'n2'],
      deliverObservations: 1,
      nemesisEvents: 1,
    });
  });
});
