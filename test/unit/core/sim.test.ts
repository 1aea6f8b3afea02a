/**
 * Seeded simulation (sim.ts) of 3, 5 and 7 cores in a model of the shell: asynchronous fsyncs,
 * connections that break one direction at a time with each end told at its own moment, black
 * holes of many syncLimits, crashes at every micro-step of a Ready, kill -9 versus power loss.
 * Safety is checked after every step; liveness (one leader, a new request committed everywhere)
 * after the full heal. test/soak/sim-soak.ts runs the same profiles over 10,000+ seeds.
 *
 * Replay one seed: SEED=<n> PROFILE=<name> SERVERS=<n> npx vitest run test/unit/core/sim.test.ts
 */
import { describe, expect, it } from 'vitest';
import { plantedBugs } from '../../../src/core/types.js';
import { InvariantViolation, profiles, replayCommand, runSim, type ProfileName } from './sim.js';

const onlySeed = process.env['SEED'] === undefined ? undefined : Number(process.env['SEED']);
const onlyProfile = process.env['PROFILE'] as ProfileName | undefined;
const onlyServers = process.env['SERVERS'] === undefined ? undefined : Number(process.env['SERVERS']);

export const suiteUnits = { faultTicks: 400, stabiliseTicks: 600 };

/** Seeds per profile and cluster size in the suite (the soak runs thousands). */
const plan: { profile: ProfileName; servers: number; first: number; count: number }[] = [
  { profile: 'default', servers: 3, first: 1, count: 60 },
  { profile: 'default', servers: 5, first: 1001, count: 40 },
  { profile: 'default', servers: 7, first: 1501, count: 10 },
  { profile: 'harsh', servers: 3, first: 2001, count: 20 },
  { profile: 'harsh', servers: 5, first: 2101, count: 20 },
  { profile: 'resets', servers: 3, first: 3001, count: 30 },
  { profile: 'resets', servers: 5, first: 3101, count: 20 },
  { profile: 'blackholes', servers: 3, first: 4001, count: 30 },
  { profile: 'blackholes', servers: 5, first: 4101, count: 20 },
  { profile: 'ready-crashes', servers: 3, first: 5001, count: 30 },
  { profile: 'ready-crashes', servers: 5, first: 5101, count: 20 },
  { profile: 'chaos', servers: 3, first: 6001, count: 20 },
  { profile: 'chaos', servers: 7, first: 6101, count: 10 },
];

/** SEED + PROFILE + SERVERS replays any seed (e.g. one test/soak/sim-soak.ts found); otherwise they filter the plan. */
const cases = onlySeed !== undefined && onlyProfile !== undefined && onlyServers !== undefined
  ? [{ profile: onlyProfile, servers: onlyServers, seed: onlySeed }]
  : plan.flatMap(({ profile, servers, first, count }) => Array.from({ length: count }, (_, i) => ({ profile, servers, seed: first + i })))
    .filter((c) => (onlySeed === undefined || c.seed === onlySeed) && (onlyProfile === undefined || c.profile === onlyProfile) &&
      (onlyServers === undefined || c.servers === onlyServers));

describe('simulation: safety after every step, liveness after healing', () => {
  it.each(cases)('$profile SEED=$seed ($servers servers)', ({ profile, servers, seed }) => {
    try {
      const stats = runSim({ seed, servers, ...suiteUnits, faults: profiles[profile] });
      // A schedule that proved nothing must not pass silently.
      expect(stats.elections).toBeGreaterThan(0);
      expect(stats.acked).toBeGreaterThan(0);
      drains.push(stats.drains);
      earlySent.push(stats.earlySent);
      for (const mode of ['DIFF', 'TRUNC', 'SNAP'] as const) syncs[mode] += stats.syncs[mode];
    } catch (error) {
      console.error(`failed; replay: ${replayCommand(seed, profile, servers)}`);
      throw error;
    }
  });
});

const drains: number[] = [];
const syncs = { DIFF: 0, TRUNC: 0, SNAP: 0 };
const earlySent: number[] = [];
describe('simulation: syncs stream in chunks', () => {
  it('nearly every seed syncs a learner in more than one chunk, each waiting for the network', () => {
    if (drains.length < 20) return; // one seed replayed alone
    expect(drains.filter((d) => d > 0).length).toBeGreaterThan(drains.length * 0.9);
  });

  it('nearly every seed sends messages during a persist (the shell\'s early send)', () => {
    if (earlySent.length < 20) return;
    expect(earlySent.filter((n) => n > 0).length).toBeGreaterThan(earlySent.length * 0.9);
  });

  it('syncs of every mode ran (TRUNC where the logs part, SNAP for a learner that lists no epoch ends)', () => {
    if (drains.length < 20) return;
    expect(syncs.TRUNC).toBeGreaterThan(50);
    expect(syncs.SNAP).toBeGreaterThan(50);
  });
});

describe('simulation catches every planted bug', () => {
  it.each(plantedBugs.map((bug) => ({ bug })))('$bug is detected by the invariants', ({ bug }) => {
    let detectedBy: string | undefined;
    for (let seed = 1; seed <= 80 && detectedBy === undefined; seed++) {
      try {
        runSim({ seed, servers: seed % 2 === 0 ? 5 : 3, ...suiteUnits, bugs: [bug] });
      } catch (error) {
        if (!(error instanceof InvariantViolation)) throw error;
        // A stuck cluster is not what a planted safety bug is about: keep looking.
        if (error.kind !== 'stuck') detectedBy = error.message.split('\n')[0];
      }
    }
    expect(detectedBy).toMatch(/^SEED=\d+/);
  });
});

describe('the disk model catches a shell that trusts the page cache', () => {
  it('recovery without an fsync of what it read is caught (a promise made from bytes a power cut takes back)', () => {
    let detectedBy: string | undefined;
    for (let seed = 1; seed <= 60 && detectedBy === undefined; seed++) {
      try {
        runSim({ seed, servers: 3, ...suiteUnits, faults: profiles['ready-crashes'], fsyncOnOpen: false });
      } catch (error) {
        if (!(error instanceof InvariantViolation)) throw error;
        if (error.kind !== 'stuck') detectedBy = error.message.split('\n')[0];
      }
    }
    expect(detectedBy).toMatch(/^SEED=\d+ .*\[(promise|safety)\]/);
  });
});
