/** `zabkit serve [--store DIR] [--port P] [--host H]`: browse stored runs over HTTP (127.0.0.1 by default). */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { serve } from '../jepsen-style/serve.js';
import { intOption, UsageError } from './exit.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('browse stored runs over HTTP: a list of runs (verdict, seed, nemesis, operations) and their reports and logs')
    .option('--store <dir>', 'the run store', 'store')
    .option('--port <port>', 'TCP port (0: any free port)', '8080')
    .option('--host <host>', 'address to bind (only loopback by default)', '127.0.0.1')
    .action(async (options: { store: string; port: string; host: string }) => {
      if (!existsSync(options.store)) throw new UsageError(`no such store directory: ${options.store}`);
      const port = intOption('--port', options.port, 0, 65535);
      const running = await serve({ storeDir: options.store, port, host: options.host });
      process.stdout.write(`serving ${options.store} at ${running.url} (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void running.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
