import { describe, expect, it } from 'vitest';
import { faultPackages, membershipPackages, networkPackages, packageOps, processPackages, storagePackages, type FaultPackage } from '../../../jepsen-style/vocabulary.js';
import { generateSchedule, type StartValue, type StopValue } from '../../../faults/schedule.js';

const all = [...faultPackages];
const laneOf = (pkg: FaultPackage): number => (processPackages.includes(pkg) ? 0 : networkPackages.includes(pkg) ? 1 : membershipPackages.includes(pkg) ? 2 : 3);

describe('fault schedule', () => {
  it('is the same for the same seed, and differs for another seed', () => {
    const a = generateSchedule(all, 42, 5, 120);
    const b = generateSchedule({ packages: all, seed: 42, intervalSeconds: 5, timeLimitSeconds: 120 });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.length).toBeGreaterThan(10);
    expect(JSON.stringify(generateSchedule(all, 43, 5, 120))).not.toBe(JSON.stringify(a));
  });

  it('gives every start its own end, later, inside the time limit; a lane never overlaps itself', () => {
    for (const seed of [1, 2, 3, 99, 12345]) {
      const schedule = generateSchedule(all, seed, 3, 60);
      const open = new Map<number, { pkg: string; at: number }>();
      const activeByLane = [0, 0, 0, 0];
      let last = 0;
      for (const { atMs, op } of schedule) {
        expect(atMs).toBeGreaterThanOrEqual(last);
        expect(atMs).toBeLessThan(60_000);
        last = atMs;
        const value = op.value as StartValue | StopValue;
        if ('pick' in value) {
          expect(open.has(value.id)).toBe(false);
          expect(op.f).toBe(packageOps[value.package].start);
          const lane = laneOf(value.package);
          expect(activeByLane[lane]).toBe(0);
          activeByLane[lane]!++;
          open.set(value.id, { pkg: value.package, at: atMs });
        } else {
          const started = open.get(value.id)!;
          expect(started).toBeDefined();
          expect(op.f).toBe(packageOps[started.pkg as keyof typeof packageOps].stop);
          expect(atMs).toBeGreaterThan(started.at);
          activeByLane[laneOf(started.pkg as FaultPackage)]!--;
          open.delete(value.id);
        }
      }
      expect(open.size).toBe(0);
    }
  });

  it('uses only the chosen packages; none gives an empty schedule', () => {
    const schedule = generateSchedule(['partition'], 7, 2, 60);
    expect(schedule.length).toBeGreaterThan(0);
    expect(new Set(schedule.map((s) => s.op.f))).toEqual(new Set(['partition', 'heal']));
    expect(generateSchedule([], 7, 2, 60)).toEqual([]);
    expect(generateSchedule(all, 7, 10, 0)).toEqual([]);
  });

  it('the process and network lanes do not change when the membership and storage lanes are added (old seeds keep their faults)', () => {
    const later = [...membershipPackages, ...storagePackages];
    const before = generateSchedule([...processPackages, ...networkPackages], 11, 5, 60);
    const after = generateSchedule([...faultPackages], 11, 5, 60);
    const strip = (list: typeof before): string[] => list
      .filter((s) => !later.some((pkg) => s.op.f === packageOps[pkg].start || s.op.f === packageOps[pkg].stop))
      .map((s) => `${s.atMs}:${s.op.f}:${JSON.stringify({ ...(s.op.value as object), id: 0 })}`);
    expect(strip(after)).toEqual(strip(before));
    expect(after.some((s) => s.op.f === 'rejoin')).toBe(true);
    expect(after.some((s) => s.op.f === 'disk-fault')).toBe(true);
    // And the membership lane keeps its rejoins when the storage lane is added.
    const rejoins = (list: typeof before): string[] => list.filter((s) => s.op.f === 'rejoin').map((s) => `${s.atMs}:${(s.op.value as { pick: number }).pick}`);
    expect(rejoins(after)).toEqual(rejoins(generateSchedule(faultPackages.filter((p) => p !== 'disk'), 11, 5, 60)));
  });

  it('the process lane does not change when network packages are added', () => {
    const processOnly = generateSchedule([...processPackages], 5, 4, 100);
    const mixed = generateSchedule([...processPackages, ...networkPackages], 5, 4, 100);
    const strip = (list: typeof processOnly): string[] => list
      .filter((s) => ['kill', 'start', 'pause', 'resume', 'power-off', 'power-on'].includes(s.op.f))
      .map((s) => `${s.atMs}:${s.op.f}:${JSON.stringify({ ...(s.op.value as object), id: 0 })}`);
    expect(strip(mixed)).toEqual(strip(processOnly));
  });
});
