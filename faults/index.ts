/** The nemesis and its fault packages: what a test runner needs. */
export { parsePackages, faultPackages, processPackages, networkPackages, packageOps, type FaultPackage } from './packages.js';
export { generateSchedule, drawFault, type ScheduledFault, type ScheduleOptions, type FaultSpec, type StartValue, type StopValue } from './schedule.js';
export { createNemesis, ZabNemesis, type NemesisOptions, type HealableNet } from './nemesis.js';
export * from './grudge.js';
