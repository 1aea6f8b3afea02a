/**
 * Seeded simulation of 3 and 5 cores (sim.ts). Each seed is one schedule of delays, drops,
 * partitions, crashes (also inside the Ready/advance cycle), power losses and restarts, with the
 * invariants checked after every step and convergence checked after healing.
 *
 * Replay one seed: SEED=<n> npx vitest run test/unit/core/sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { plantedBugs } from '../../../src/core/types.js';
import { InvariantViolation, runSim, type FaultRates } from './sim.js';

const only = process.env['SEED'] === undefined ? undefined : Number(process.env['SEED']);

/** Five times the faults: drops, partitions, crashes, power losses, crashes inside Ready. */
const harsh: FaultRates = {
  dropConnection: 0.01, partition: 0.004, heal: 0.004, crash: 0.004, restart: 0.01, power: 0.0008,
  crashInReady: 0.02, request: 0.1, backgroundFlush: 0.02,
};

/** 3-server seeds 1..120, 5-server seeds 1001..1100: 220 schedules (plus 40 harsh ones below). */
const seeds: { seed: number; servers: number }[] = [
  ...Array.from({ length: 120 }, (_, i) => ({ seed: i + 1, servers: 3 })),
  ...Array.from({ length: 100 }, (_, i) => ({ seed: 1001 + i, servers: 5 })),
].filter((s) => only === undefined || s.seed === only);

function run(seed: number, servers: number, bugs: readonly (typeof plantedBugs)[number][] = [], faults?: FaultRates) {
  return runSim({ seed, servers, faultUnits: 4000, stabiliseUnits: 6000, bugs, ...(faults ? { faults } : {}) });
}

const harshSeeds = Array.from({ length: 40 }, (_, i) => ({ seed: 2001 + i, servers: i % 2 === 0 ? 3 : 5 }))
  .filter((s) => only === undefined || s.seed === only);

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

describe('simulation under harsh faults', () => {
  it.each(harshSeeds)('SEED=$seed ($servers servers)', ({ seed, servers }) => {
    try {
      run(seed, servers, [], harsh);
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
