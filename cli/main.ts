#!/usr/bin/env node
/**
 * `zabkit`: the one binary. This file is the composition root: it wires the server (src/) and the
 * testbed (cluster/, faults/, jepsen-style/) into commander commands. Each command lives in its own
 * file under cli/ and registers itself here.
 *
 * Exit codes (Jepsen's): 0 valid, 1 invalid, 2 unknown, 254 bad arguments, 255 the tool failed.
 */
import { Command, CommanderError } from 'commander';
import { exitCodes, UsageError } from './exit.js';
import { registerClusterCommand } from './cluster.js';
import { registerClientCommand } from './client.js';
import { registerNodeCommand } from './node.js';
import { registerBenchCommand } from './bench.js';
import { registerCheckCommand } from './check.js';
import { registerReportCommand } from './report.js';
import { registerServeCommand } from './serve.js';
import { registerTest } from './test.js';
import { registerShrinkCommand } from './shrink.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('zabkit')
    .description('A Zab atomic broadcast server and a chaos testbed that judges it (and Apache ZooKeeper).')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  // Commands register here (one file each).
  registerClusterCommand(program);
  registerNodeCommand(program);
  registerClientCommand(program);
  registerBenchCommand(program);
  registerCheckCommand(program);
  registerReportCommand(program);
  registerServeCommand(program);
  registerTest(program);
  registerShrinkCommand(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return exitCodes.badArguments;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`zabkit: ${error.message}\n`);
      return exitCodes.badArguments;
    }
    process.stderr.write(`zabkit: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return exitCodes.toolFailed;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`zabkit: ${String(error)}\n`);
    process.exitCode = exitCodes.toolFailed;
  },
);
