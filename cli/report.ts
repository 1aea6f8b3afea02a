/** `zabkit report RUN_DIR`: (re)build a run's index.html from its files. */
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { writeReport } from '../jepsen-style/report/index.js';
import { UsageError } from './exit.js';

export function registerReportCommand(program: Command): void {
  program
    .command('report')
    .description("(re)build a run's HTML report (index.html) from history.jsonl, results.json, test.json and logs")
    .argument('<run-dir>', 'a run directory, e.g. store/<test>/<timestamp> or store/<test>/latest')
    .action((runDir: string) => {
      if (!existsSync(runDir) || !statSync(runDir).isDirectory()) throw new UsageError(`no such run directory: ${runDir}`);
      const report = writeReport(runDir);
      process.stdout.write(`${report.path} (${Math.round(report.bytes / 1024)} KiB, ${report.operations} operations${report.sampled ? `, ${report.drawnOperations} drawn` : ''})\n`);
    });
}
