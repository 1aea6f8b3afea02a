/**
 * `writeReport(runDir)`: one self-contained index.html for a stored run. The report in four parts:
 * loading.ts (the run's files), timeline.ts (lanes, roles, fault windows), plots.ts (latency,
 * quantiles, throughput), page.ts (verdict, witnesses, files, the page); model.ts computes what
 * they draw (by the nemesis vocabulary), svg.ts has the scales.
 */
export { maxDrawnOperations, maxExamplesShown, writeReport, type ReportResult } from './page.js';
export { buckets } from './plots.js';
