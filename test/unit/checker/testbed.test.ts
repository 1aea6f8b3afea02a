/**
 * When the testbed itself failed (a nemesis op with an `error`: a heal that did not take, a Toxiproxy
 * that could not be restored), liveness anomalies cannot be blamed on the system: the run is
 * "unknown" with the reason and the failures' indices; safety anomalies still make it invalid.
 * And the other verdict rules: a malformed history is never judged, a run that proved nothing is
 * never valid.
 */
import { describe, expect, it } from 'vitest';
import { parseHistory } from '../../../jepsen-style/history.js';
import { checkHistory } from '../../../jepsen-style/checker.js';
import { expectCited, H, z, type D } from './builder.js';

const a1: D = ['a', z(1, 1)];
const b2: D = ['b', z(1, 2)];

function check(h: H) {
  // The history is well formed for the reader too (so `zabkit check` judges it the same way).
  expect(parseHistory(h.jsonl()).ops).toEqual(h.ops);
  const result = checkHistory(h.ops);
  expect(result.error).toBeUndefined();
  expectCited(result, h.ops);
  return result;
}

describe('testbed failures', () => {
  it('a heal that failed, then a node behind: not-converged is listed, the run is unknown with the reason', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'x');
    h.info(2, 'x');
    h.nemesis('partition', { isolated: ['n3'] });
    const failed = h.nemesisFailed('heal', null, 'toxiproxy: connection refused');
    h.read(101, 'n1', [a1, ['x', z(1, 2)]]);
    h.read(102, 'n2', [a1, ['x', z(1, 2)]]);
    h.read(103, 'n3', [a1]);
    const r = check(h);
    expect(r.valid).toBe('unknown');
    expect(r.anomalies['not-converged']?.count).toBe(1);
    expect(r.reason).toMatch(new RegExp(`testbed failed .*history index ${failed}: heal: toxiproxy: connection refused.*not-converged 1`));
    expect(r.testbedFailures).toEqual([failed]);
    expect(r.stats.unknownBecause).toEqual([r.reason]);
    expect(r.stats.testbedFailures).toEqual([{ index: failed, f: 'heal', error: 'toxiproxy: connection refused' }]);
  });

  it('Toxiproxy that could not be restored, then a node that never acknowledges a probe: unavailable, unknown', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const down = h.nemesisFailed('toxiproxy-down', { pid: 4242 }, 'restart failed: port 8474 in use');
    const m = h.marker(100, ['n1', 'n2']);
    h.bcast(10, 'p1', z(1, 2), 'n1');
    h.invoke(11, 'q1', 'n2');
    h.info(11, 'q1', 'n2');
    h.reads([a1, ['p1', z(1, 2)]], 2);
    const r = check(h);
    expect(r.valid).toBe('unknown');
    expect(r.anomalies.unavailable).toMatchObject({ count: 1, examples: [{ node: 'n2', heal: m }] });
    expect(r.testbedFailures).toEqual([down]);
  });

  it('a lost message that some node holds (a node that could not rejoin) is excused; one that no node holds is not', () => {
    const explained = new H();
    explained.bcast(1, 'a', z(1, 1));
    explained.bcast(1, 'b', z(1, 2));
    explained.nemesisFailed('start', { nodes: ['n3'] }, 'spawn failed');
    explained.read(101, 'n1', [a1, b2]);
    explained.read(102, 'n2', [a1, b2]);
    explained.read(103, 'n3', [a1]);
    const r1 = check(explained);
    expect(r1.valid).toBe('unknown');
    expect(r1.anomalies.lost).toMatchObject({ count: 1, examples: [{ id: 'b', missingFrom: ['n3'], everywhere: false }] });
    expect(r1.stats.livenessAnomalies).toEqual({ 'not-converged': 1, lost: 1 });

    const everywhere = new H();
    everywhere.bcast(1, 'a', z(1, 1));
    everywhere.bcast(1, 'b', z(1, 2));
    everywhere.nemesisFailed('start', { nodes: ['n3'] }, 'spawn failed');
    everywhere.reads([a1]);
    const r2 = check(everywhere);
    expect(r2.valid).toBe(false);
    expect(r2.anomalies.lost).toMatchObject({ count: 1, examples: [{ id: 'b', everywhere: true }] });
    expect(r2.reason).toBeUndefined();
  });

  it('a safety anomaly with a testbed failure is still invalid', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'b');
    h.info(2, 'b');
    h.invoke(3, 'c');
    h.info(3, 'c');
    const failed = h.nemesisFailed('heal', null, 'timeout');
    h.read(101, 'n1', [a1, ['b', z(1, 2)]]);
    h.read(102, 'n2', [a1, ['c', z(2, 1)]]);
    h.read(103, 'n3', [a1]);
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(Object.keys(r.anomalies).sort()).toEqual(['divergence', 'not-converged']);
    expect(r.testbedFailures).toEqual([failed]);
  });

  it('Toxiproxy that went down and was restored is no failure (a restart, in stats): a node behind is invalid', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.invoke(2, 'x');
    h.info(2, 'x');
    h.nemesis('toxiproxy-down', { pid: 4242 });
    h.nemesis('toxiproxy-restored', { pid: 4243 });
    h.read(101, 'n1', [a1, ['x', z(1, 2)]]);
    h.read(102, 'n2', [a1]);
    const r = check(h);
    expect(r.valid).toBe(false);
    expect(Object.keys(r.anomalies)).toEqual(['not-converged']);
    expect(r.testbedFailures).toBeUndefined();
    expect(r.stats).toMatchObject({ toxiproxyRestarts: 1, toxiproxyDown: 1 });
  });

  it('a failed nemesis op in a run with no anomaly is unknown, never valid: the run did not test what its schedule says', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const failed = h.nemesisFailed('pause', { nodes: ['n2'] }, 'no such process');
    h.reads([a1]);
    const r = check(h);
    expect(r.valid).toBe('unknown');
    expect(r.testbedFailures).toEqual([failed]);
    expect(r.reason).toMatch(/the testbed failed .*pause: no such process.*did not test what its schedule says/);
  });
});

describe('verdict rules', () => {
  it('unknown when there is no read at all, with the reason', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const r = check(h);
    expect(r.valid).toBe('unknown');
    expect(r.reason).toBe('no final read returned ok');
  });

  it('unknown when only reads that failed or timed out exist', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.raw(101, 'invoke', 'read', null, 'n1');
    h.raw(101, 'info', 'read', null, 'n1');
    expect(check(h).valid).toBe('unknown');
  });

  it('unknown when no broadcast was acknowledged, even with the final phase and reads', () => {
    const h = new H();
    h.marker(0, []);
    h.invoke(1, 'a');
    h.fail(1, 'a');
    h.reads([]);
    const r = check(h);
    expect(r.valid).toBe('unknown');
    expect(r.reason).toBe('no broadcast was acknowledged');
  });
});

describe('malformed histories are never judged', () => {
  for (const type of ['ok', 'fail', 'info'] as const) {
    it(`a broadcast ${type} without the message id`, () => {
      const h = new H();
      h.bcast(1, 'a', z(1, 1));
      h.invoke(2, 'b');
      const bad = h.raw(2, type, 'broadcast', type === 'ok' ? { zxid: z(1, 2) } : null, 'n1');
      h.reads([a1, b2]);
      const r = checkHistory(h.ops);
      expect(r.valid).toBe('unknown');
      expect(r.anomalies).toEqual({});
      expect(r.error).toBe(`malformed history: history index ${bad}: broadcast ${type} without value.id`);
    });
  }

  it('a completion of a broadcast never invoked, a read without deliveries, a bad final-phase marker', () => {
    const orphan = new H();
    const o = orphan.raw(1, 'ok', 'broadcast', { id: 'a', zxid: z(1, 1) }, 'n1');
    expect(checkHistory(orphan.ops).error).toBe(`malformed history: history index ${o}: broadcast ok of "a" without its invoke`);
    const read = new H();
    read.raw(1, 'invoke', 'read', null, 'n1');
    const r = read.raw(1, 'ok', 'read', { sequence: [] }, 'n1');
    expect(checkHistory(read.ops).error).toBe(`malformed history: history index ${r}: read ok without value.deliveries (an array)`);
    const marker = new H();
    const m = marker.nemesis('final-phase', { nodes: ['n1'] });
    expect(checkHistory(marker.ops).error).toMatch(new RegExp(`^malformed history: history index ${m}: final-phase marker: "boundMs"`));
  });
});
