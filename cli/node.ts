/** `zabkit node --config FILE` (or the same fields as flags): run one broadcast server in the foreground. */
import { randomInt } from 'node:crypto';
import type { Command } from 'commander';
import { ConfigError, nodeConfigFromFile, nodeConfigFromFlags, type NodeFlags } from '../src/server/parse-config.js';
import { InconsistentStateError } from '../src/server/durable.js';
import { memoryLogEntries } from '../src/core/limits.js';
import { defaultSegmentBytes, minSegmentBytes } from '../src/server/limits.js';
import { runNode } from '../src/server/replica.js';
import { StorageError, WalCorruptionError } from '../src/server/wal.js';
import { exitCodes, UsageError } from './exit.js';

/** Operating errors that stop the server: one clear line, no stack. */
function isOperatingError(error: unknown): error is Error {
  return error instanceof WalCorruptionError || error instanceof InconsistentStateError || error instanceof StorageError;
}

interface NodeOptions extends NodeFlags {
  readonly config?: string;
}

export function registerNodeCommand(program: Command): void {
  program
    .command('node')
    .description('run one broadcast server in the foreground')
    .option('--config <file>', 'JSON NodeConfig (as written by zabkit cluster up)')
    .option('--cluster-id <id>', 'cluster id presented in peer handshakes', 'zabkit')
    .option('--id <n>', 'server id')
    .option('--host <host>', 'address to listen on (peer and client ports)', '127.0.0.1')
    .option('--peer-port <port>', 'peer port')
    .option('--client-port <port>', 'client port')
    .option('--peers <list>', 'the other servers: "2@127.0.0.1:7002,3@127.0.0.1:7003"')
    .option('--data-dir <dir>', 'transaction log and epoch files')
    .option('--log-file <file>', 'pino NDJSON log (stdout when absent)')
    .option('--log-level <level>', 'pino log level')
    .option('--tick-ms <ms>', 'tick length in milliseconds')
    .option('--memory-log-entries <n>', `durable, delivered log entries kept in memory (default ${memoryLogEntries}); older ones are read back from the log`)
    .option('--segment-bytes <n>', `the transaction log rolls to a new segment file at this size (default ${defaultSegmentBytes}, at least ${minSegmentBytes})`)
    .option('--bug <name>', 'run with a planted bug (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--seed <n>', 'seed of the core PRNG (printed at start)')
    .action(async (options: NodeOptions) => {
      const randomSeed = (): number => randomInt(0, 2 ** 31);
      let config;
      try {
        config = options.config !== undefined ? nodeConfigFromFile(options.config, randomSeed) : nodeConfigFromFlags(options, randomSeed);
      } catch (error) {
        if (error instanceof ConfigError) throw new UsageError(error.message);
        throw error;
      }
      process.stdout.write(`zabkit node ${config.id}: seed ${config.seed}\n`);
      let code: number = 0;
      try {
        const node = await runNode(config);
        const onSignal = (): void => void node.stop();
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
        await node.done;
      } catch (error) {
        // An operating error in one clear line; anything else (a core assertion) with its stack.
        const text = isOperatingError(error) ? `${error.name}: ${error.message}` : error instanceof Error ? (error.stack ?? error.message) : String(error);
        process.stderr.write(`zabkit node ${config.id}: ${text}\n`);
        code = exitCodes.toolFailed;
      }
      // The server has stopped (its log is written synchronously): exit now. Waiting for the event
      // loop to drain could keep a failed server's process up for as long as a call into a stalled
      // disk or a closing socket takes, and a process that is up but not serving looks alive to
      // whoever supervises it (the testbed's heal restarts only nodes that are down).
      process.exit(code);
    });
}
