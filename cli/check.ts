/**
 * `zabkit check HISTORY.jsonl [--out results.json]`: check a recorded history; needs nothing else.
 *
 * Prints a verdict summary and exits 0 valid, 1 invalid, 2 unknown. A missing file is a bad
 * argument (254). A malformed history exits 255 with the line and the problem, e.g.
 * `zabkit check: history.jsonl line 12: ok without its invoke (process 3, f "broadcast")`.
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkHistoryFile, type BroadcastCheckResult } from '../jepsen-style/checker.js';
import { HistoryFormatError } from '../jepsen-style/history.js';
import type { CheckResult } from '../jepsen-style/types.js';
import { exitCodeForValidity, exitCodes, UsageError } from './exit.js';

/** A short human summary of a result (the verdict first). */
export function formatSummary(result: CheckResult): string {
  const lines: string[] = [];
  const word = result.valid === true ? 'VALID' : result.valid === false ? 'INVALID' : 'UNKNOWN';
  const stats = result.stats;
  lines.push(`${word}: ${String(stats.ops ?? 0)} events, ${String(stats.acknowledged ?? 0)} acknowledged broadcasts, ${String(stats.failed ?? 0)} failed, ${String(stats.indeterminate ?? 0)} indeterminate; ${String(stats.finalReads ?? 0)} final reads (agreed length ${String(stats.agreedLength ?? 0)}), ${String(stats.deliverObservations ?? 0)} deliver observations`);
  for (const [name, report] of Object.entries(result.anomalies)) {
    const first = report.examples[0] as { indices?: number[] } | undefined;
    lines.push(`  ${name}: ${report.count}${first?.indices === undefined ? '' : ` (first at history ${first.indices.join(', ')}): ${JSON.stringify(first).slice(0, 200)}`}`);
  }
  if (result.valid === 'unknown') {
    const because = Array.isArray(stats.unknownBecause) ? (stats.unknownBecause as string[]).join('; ') : undefined;
    if (because !== undefined) lines.push(`  could not decide: ${because}`);
  }
  if (result.error !== undefined) lines.push(`  checker error: ${result.error.split('\n')[0] ?? ''}`);
  return `${lines.join('\n')}\n`;
}

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description('check a recorded history.jsonl; exit 0 valid, 1 invalid, 2 unknown, 255 malformed history')
    .argument('<history>', 'history.jsonl')
    .option('--out <file>', 'write the checker result (results.json) here')
    .action((historyPath: string, options: { out?: string }) => {
      if (!existsSync(historyPath)) throw new UsageError(`no such history file: ${historyPath}`);
      let result: BroadcastCheckResult;
      try {
        const checked = checkHistoryFile(historyPath);
        for (const warning of checked.warnings) process.stderr.write(`zabkit check: warning: ${warning}\n`);
        result = checked.result;
      } catch (error) {
        if (error instanceof HistoryFormatError) {
          process.stderr.write(`zabkit check: ${error.message}\n`);
          process.exitCode = exitCodes.toolFailed;
          return;
        }
        throw error;
      }
      if (options.out !== undefined) writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
      process.stdout.write(formatSummary(result));
      process.exitCode = exitCodeForValidity(result.valid);
    });
}
