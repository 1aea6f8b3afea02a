/**
 * Seeded simulation of 3 and 5 cores (sim.ts). Each seed is one schedule of delays, drops,
 * partitions, crashes (also inside the Ready/advance cycle), power losses and restarts, with the
 * invariants checked after every step and convergence checked after healing.
 *
 * Replay one seed: SEED=<n> npx vitest run test/unit/core/sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { plantedBugs } from '../../../src/core/types.js';
import { InvariantViolation, runSim } from './sim.js';

const only = process.env['SEED'] === undefined ? undefined : Number(process.env['SEED']);

/** 3-server seeds 1..120, 5-server seeds 1001..1100: 220 schedules. */
const seeds: { seed: number; servers: number }[] = [
  ...Array.from({ length: 120 }, (_, i) => ({ seed: i + 1, servers: 3 })),
  ...Array.from({ length: 100 }, (_, i) => ({ seed: 1001 + i, servers: 5 })),
].filter((s) => only === undefined || s.seed === only);

function run(seed: number, servers: number, bugs: readonly (typeof plantedBugs)[number][] = []) {
  return runSim({ seed, servers, faultUnits: 4000, stabiliseUnits: 4000, bugs });
}

describe('simulation: safety after every step, convergence after healing', () => {
  it.each(seeds)('SEED=$seed ($servers servers)', ({ seed, servers }) => {
    try {
      const stats = run(seed, servers);
      // A schedule that proved nothing must not pass silently.
      expect(stats.elections).toBeGreaterThan(0);
    } catch (error) {
      console.error(`SEED=${seed} failed; replay: SEED=${seed} npx vitest run test/unit/core/sim.test.ts`);
      throw error;
    }
  });
});

describe('simulation catches every planted bug', () => {
  it.each(plantedBugs.map((bug) => ({ bug })))('$bug is detected by the invariants', ({ bug }) => {
    let detectedBy: string | undefined;
    for (let seed = 1; seed <= 80 && detectedBy === undefined; seed++) {
      try {
        run(seed, seed % 2 === 0 ? 5 : 3, [bug]);
      } catch (error) {
        if (!(error instanceof InvariantViolation)) throw error;
        detectedBy = error.message.split('\n')[0];
      }
    }
    expect(detectedBy).toMatch(/^SEED=\d+/);
  });
});
