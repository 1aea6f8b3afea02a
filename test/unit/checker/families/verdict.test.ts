/**
 * The verdict (jepsen-style/checker/verdict.ts), alone: Jepsen's merge of validities, then the
 * testbed-failure rule and the unknown rules over the families' results.
 */
import { describe, expect, it } from 'vitest';
import { Anomalies, familyResult } from '../../../../jepsen-style/checker/anomaly.js';
import { buildModel } from '../../../../jepsen-style/checker/model.js';
import { mergeValid, verdict, type FamilyResults } from '../../../../jepsen-style/checker/verdict.js';
import { H, z } from '../builder.js';

function families(overrides: Partial<FamilyResults>, testbedFailed = false): FamilyResults {
  const clean = familyResult(new Anomalies(), testbedFailed, {}, {});
  return {
    durability: familyResult(new Anomalies(), testbedFailed, {}, { heldOnlyByEarlierReads: 0 }),
    integrity: clean,
    order: clean,
    observation: familyResult(new Anomalies(), testbedFailed, {}, { subscriptionStreams: 0 }),
    liveness: clean,
    ...overrides,
  };
}

function withAnomaly(name: 'unavailable' | 'phantom', testbedFailed: boolean) {
  const anomalies = new Anomalies();
  anomalies.add(name, () => ({ indices: [0] }));
  return familyResult(anomalies, testbedFailed, name === 'unavailable' ? { unavailable: 1 } : {}, {});
}

describe('the verdict', () => {
  it('merges validities as Jepsen does: false over unknown over true', () => {
    expect(mergeValid([])).toBe(true);
    expect(mergeValid([true, 'unknown', true])).toBe('unknown');
    expect(mergeValid(['unknown', false, true])).toBe(false);
  });

  it('a run that proved nothing is unknown: no read, no acknowledged broadcast', () => {
    const h = new H();
    h.invoke(1, 'a');
    const v = verdict(buildModel(h.ops), families({}));
    expect(v.valid).toBe('unknown');
    expect(v.unknownBecause).toEqual(['no final read returned ok', 'no broadcast was acknowledged']);
  });

  it('a testbed failure excuses the liveness anomalies (unknown, with them named) but not a safety one', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const failed = h.nemesisFailed('heal', null, 'refused');
    h.reads([['a', z(1, 1)]]);
    const model = buildModel(h.ops);
    const excused = verdict(model, families({ liveness: withAnomaly('unavailable', true) }, true));
    expect(excused.valid).toBe('unknown');
    expect(excused.liveness).toEqual({ unavailable: 1 });
    expect(excused.unknownBecause).toEqual([`the testbed failed (1 failed nemesis op, first at history index ${failed}: heal: refused); the liveness anomalies (unavailable 1) cannot be blamed on the system`]);
    expect(verdict(model, families({ liveness: withAnomaly('unavailable', true), integrity: withAnomaly('phantom', true) }, true)).valid).toBe(false);
  });

  it('without a testbed failure, any anomaly is invalid and a clean run with reads and acknowledgements is valid', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.reads([['a', z(1, 1)]]);
    const model = buildModel(h.ops);
    expect(verdict(model, families({})).valid).toBe(true);
    expect(verdict(model, families({ liveness: withAnomaly('unavailable', false) })).valid).toBe(false);
  });
});
