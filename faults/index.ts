/** The nemesis, its schedule and grudges: what a test runner needs (the fault packages' names are in jepsen-style/vocabulary.ts). */
export { generateSchedule, drawFault, type ScheduledFault, type ScheduleOptions, type FaultSpec, type StartValue, type StopValue } from './schedule.js';
export { createNemesis, ZabNemesis, type NemesisOptions } from './nemesis.js';
export * from './grudge.js';
