/**
 * Every link-fault parameter the seeded schedule can draw is one the real Toxiproxy 2.12.0
 * survives (cluster/toxic-limits.ts; the real server is driven through the whole space in
 * test/integration/cluster/toxic-space.test.ts). Issue 10: `--nemesis all --seed 7` drew a
 * slicer with average_size 1 and size_variation 4, which panics Toxiproxy (Shopify/toxiproxy#541).
 */
import { describe, expect, it } from 'vitest';
import { toxicProblem } from '../../../cluster/toxic-limits.js';
import { faultPackages } from '../../../jepsen-style/vocabulary.js';
import { generateSchedule, linkFaultSpace, type LinkFaultParameters, type StartValue } from '../../../faults/schedule.js';

const key = (fault: LinkFaultParameters): string => JSON.stringify(fault);

/** The parameters of a drawn start op, without scope/id/pick, in linkFaultSpace's shape. */
function parametersOf(value: StartValue): LinkFaultParameters | undefined {
  switch (value.package) {
    case 'latency': return { package: 'latency', latencyMs: value.latencyMs, jitterMs: value.jitterMs };
    case 'bandwidth': return { package: 'bandwidth', rateKBps: value.rateKBps };
    case 'reset': return { package: 'reset', timeoutMs: value.timeoutMs };
    case 'slice': return { package: 'slice', averageSize: value.averageSize, sizeVariation: value.sizeVariation, delayUs: value.delayUs };
    default: return undefined;
  }
}

function drawnLinkFaults(seeds: number): LinkFaultParameters[] {
  const drawn: LinkFaultParameters[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    for (const { op } of generateSchedule([...faultPackages], seed, 2, 120)) {
      const value = op.value as StartValue;
      if (value.pick === undefined) continue;
      const parameters = parametersOf(value);
      if (parameters) drawn.push(parameters);
    }
  }
  return drawn;
}

describe('link fault parameters', () => {
  it('the slicer of the incident (average_size 1, size_variation 4) is no longer drawn, for seed 7 or any other', () => {
    const seven = generateSchedule([...faultPackages], 7, 5, 60).map(({ op }) => op.value as StartValue).filter((v) => v.pick !== undefined && v.package === 'slice');
    // Seed 7 still slices to 1-byte pieces (the incident's fault, same time and target), with no variation now.
    expect(seven.some((slice) => slice.package === 'slice' && slice.averageSize === 1 && slice.sizeVariation === 0)).toBe(true);
    for (const slice of seven) if (slice.package === 'slice') expect(slice.sizeVariation).toBeLessThan(slice.averageSize);
    const slices = drawnLinkFaults(300).filter((f) => f.package === 'slice');
    expect(slices.length).toBeGreaterThan(100);
    expect(slices.some((f) => f.package === 'slice' && f.averageSize === 1)).toBe(true); // average_size 1 is still drawn...
    for (const f of slices) if (f.package === 'slice') expect(f.sizeVariation).toBeLessThan(f.averageSize); // ...never with variation >= 1
  });

  it('linkFaultSpace() is exactly what the schedule draws, and every combination is one Toxiproxy survives', () => {
    const space = linkFaultSpace();
    const spaceKeys = new Set(space.map(key));
    expect(spaceKeys.size).toBe(space.length);
    const drawn = new Set(drawnLinkFaults(300).map(key));
    for (const k of drawn) expect(spaceKeys.has(k), `drawn but not in linkFaultSpace(): ${k}`).toBe(true);
    for (const k of spaceKeys) expect(drawn.has(k), `in linkFaultSpace() but never drawn in 300 seeds: ${k}`).toBe(true);
    for (const fault of space) {
      const toxic: { type: 'latency' | 'bandwidth' | 'reset_peer' | 'slicer'; attributes: Record<string, number> } = fault.package === 'latency' ? { type: 'latency' as const, attributes: { latency: fault.latencyMs, jitter: fault.jitterMs } }
        : fault.package === 'bandwidth' ? { type: 'bandwidth' as const, attributes: { rate: fault.rateKBps } }
        : fault.package === 'reset' ? { type: 'reset_peer' as const, attributes: { timeout: fault.timeoutMs } }
        : { type: 'slicer' as const, attributes: { average_size: fault.averageSize, size_variation: fault.sizeVariation, delay: fault.delayUs } };
      expect(toxicProblem(toxic), key(fault)).toBeUndefined();
    }
  });

  it('the guard refuses the slicer combinations that crash Toxiproxy 2.12.0, and accepts the rest', () => {
    const slicer = (average: number, variation: number): string | undefined =>
      toxicProblem({ type: 'slicer', attributes: { average_size: average, size_variation: variation, delay: 0 } });
    expect(slicer(1, 4)).toMatch(/#541/);
    expect(slicer(8, 8)).toMatch(/#541/);
    expect(slicer(0, 0)).toMatch(/#770/);
    expect(slicer(1, 0)).toBeUndefined();
    expect(slicer(8, 4)).toBeUndefined();
    expect(slicer(64, 63)).toBeUndefined();
    expect(toxicProblem({ type: 'latency', attributes: { latency: 10, jitter: -1 } })).toMatch(/jitter/);
    expect(toxicProblem({ type: 'timeout', attributes: { timeout: 0 } })).toBeUndefined();
  });
});
