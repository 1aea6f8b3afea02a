/**
 * `zabkit shrink RUN_DIR`: the smallest fault scenario that still fails like a stored invalid run
 * (faults/shrinker.ts). Exit 1 when the smallest scenario failed again in its verification replays
 * (a reproducer: invalid), 2 when the failure did not come back (unknown), 254 for a run that cannot
 * be shrunk or bad options, 255 when the tool failed.
 */
import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { intOption, UsageError } from './exit.js';
import { runShrink, ShrinkError } from '../faults/shrinker.js';

export function registerShrinkCommand(program: Command): void {
  program
    .command('shrink')
    .description('shrink a stored invalid run to the smallest fault scenario that still fails with the same anomaly; resumable (run it again with the same --out)')
    .argument('<run-dir>', 'the run folder (store/NAME/latest or store/NAME/TIMESTAMP)')
    .option('--budget <minutes>', 'stop searching when this much time is spent (the verification of the smallest plan is reserved inside it)', '30')
    .option('--replays <n>', 'runs per candidate: each must fail for the candidate to be kept (the first that does not rejects it)', '2')
    .option('--verify <n>', 'runs of the smallest scenario at the end, counted', '5')
    .option('--anomaly <name>', "the anomaly to reproduce (default: the run's safety anomalies, any of them)")
    .option('--out <dir>', 'where the state, the candidates, their runs and the report go (default RUN_DIR/shrink)')
    .option('--toxiproxy-url <url>', 'use a running Toxiproxy for every replay (env TOXIPROXY_URL)')
    .action(async (runDir: string, raw: Record<string, string | undefined>) => {
      try {
        const { exitCode } = await runShrink({
          runDir,
          ...(raw['out'] === undefined ? {} : { out: raw['out'] }),
          budgetMinutes: intOption('--budget', raw['budget'], 1, 10_080),
          replays: intOption('--replays', raw['replays'], 1, 20),
          verify: intOption('--verify', raw['verify'], 1, 100),
          ...(raw['anomaly'] === undefined ? {} : { anomaly: raw['anomaly'] }),
          cli: fileURLToPath(new URL('./main.js', import.meta.url)),
          ...((raw['toxiproxyUrl'] ?? process.env['TOXIPROXY_URL']) === undefined ? {} : { toxiproxyUrl: (raw['toxiproxyUrl'] ?? process.env['TOXIPROXY_URL']) as string }),
        }, (line) => process.stderr.write(line + '\n'));
        process.exitCode = exitCode;
      } catch (error) {
        if (error instanceof ShrinkError) throw new UsageError(error.message);
        throw error;
      }
    });
}
