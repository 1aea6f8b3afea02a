/**
 * `zabkit test`: one chaos run to a report, and `zabkit nightly`: a matrix of them.
 */
import { Command } from 'commander';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { exitCodeForValidity, exitCodes, intOption, UsageError } from './exit.js';
import { plantedBugs } from '../src/core/types.js';
import { runNightly } from '../jepsen-style/nightly.js';
import { executeTest, parseNemesisList, type TestCliOptions } from '../jepsen-style/run-test.js';
import { createEnvironment } from './systems.js';
import { maxNodes } from '../jepsen-style/types.js';

const systems = ['zabkit', 'zookeeper'] as const;

/** The options of `zabkit test`, with their defaults. */
function withTestOptions(command: Command): Command {
  return command
    .option('--system <name>', `system under test: ${systems.join(' | ')}`, 'zabkit')
    .option('--nodes <n>', `number of servers (1-${maxNodes})`, '5')
    .option('--time-limit <seconds>', 'how long faults are injected', '60')
    .option('--rate <ops>', 'broadcasts per second, all workers together', '200')
    .option('--concurrency <n>', 'client workers (each a Jepsen process)', '10')
    .option('--nemesis <list>', "comma-separated fault packages, 'none' or 'all'", 'all')
    .option('--nemesis-interval <seconds>', 'mean time between faults', '5')
    .option('--seed <n>', 'seed of the schedule and workload (printed; replays the run)')
    .option('--store <dir>', 'where runs are stored', 'store')
    .option('--name <name>', 'test name (the store folder)')
    .option('--bug <name>', `run the servers with a planted bug: ${plantedBugs.join(', ')}`)
    .option('--toxiproxy-url <url>', 'use a running Toxiproxy instead of starting one (env TOXIPROXY_URL)')
    .option('--proxy-listen-host <host>', 'interface the proxies listen on (Docker: 0.0.0.0)', '127.0.0.1')
    .option('--proxy-host <host>', 'host the servers dial the proxies at (Docker: toxiproxy)', '127.0.0.1')
    .option('--node-host <host>', 'host Toxiproxy reaches the servers at (Docker: runner)', '127.0.0.1')
    .option('--bind-host <host>', 'interface the servers listen on (Docker: 0.0.0.0)', '127.0.0.1')
    .option('--warmup <seconds>', 'fault-free traffic before the first fault', '3')
    .option('--recovery <seconds>', 'longest wait for the nodes to converge after healing', '30')
    .option('--reads-during-run', "during the faults, now and then read a random node's whole delivered sequence (f read)");
}

/** Parse `zabkit test` arguments (without the word `test`) as the CLI does, defaults included (for tests). */
export function parseTestArgs(args: readonly string[]): TestCliOptions {
  const command = withTestOptions(new Command('test')).exitOverride().allowExcessArguments(false);
  command.parse([...args], { from: 'user' });
  return parseTestOptions(command.opts());
}

export function registerTest(program: Command): void {
  withTestOptions(
    program
      .command('test')
      .description('one chaos run: cluster up behind Toxiproxy, workload + nemesis, heal, final reads, check, report, teardown'),
  )
    .action(async (raw: Record<string, string | undefined>) => {
      const options = parseTestOptions(raw);
      const verdict = await executeTest(options, process.argv.slice(2), createEnvironment);
      process.exitCode = verdict.crashed !== undefined ? exitCodes.toolFailed : exitCodeForValidity(verdict.valid);
    });

  program
    .command('nightly')
    .description('a matrix of fault packages x seeds; summary.html, summary.json and junit.xml')
    .option('--system <name>', `system under test: ${systems.join(' | ')}`, 'zabkit')
    .option('--packages <list>', 'comma-separated fault packages (each one a row of the matrix)', 'kill,pause,power,partition,one-way,latency,reset,all')
    .option('--seeds <n>', 'fresh random seeds per package', '2')
    .option('--seed-list <list>', 'exact seeds to use instead of fresh ones (replays a night)')
    .option('--nodes <n>', 'servers per run', '5')
    .option('--time-limit <seconds>', 'fault time per run', '60')
    .option('--rate <ops>', 'broadcasts per second per run', '200')
    .option('--bug <name>', 'planted bug for every run')
    .option('--toxiproxy-url <url>', 'use a running Toxiproxy')
    .option('--out <dir>', 'where the summary and the runs go', 'nightly')
    .option('--reads-during-run', "each run also reads a random node's whole delivered sequence during the faults")
    .action(async (raw: Record<string, string | undefined>) => {
      const packages = parseNemesisList(raw['packages'] ?? '');
      const count = intOption('--seeds', raw['seeds'], 1, 1000);
      const seeds = raw['seedList']
        ? raw['seedList'].split(',').map((text) => intOption('--seed-list', text.trim(), 0, 2 ** 48))
        : Array.from({ length: count }, () => randomInt(1, 2 ** 31));
      const { exitCode } = await runNightly(
        {
          ...parseRunBasics(raw),
          packages,
          seeds,
          out: raw['out'] ?? 'nightly',
          cli: fileURLToPath(new URL('./main.js', import.meta.url)),
          extraArgs: flag(raw, 'readsDuringRun') ? ['--reads-during-run'] : [],
        },
        (line) => process.stderr.write(line + '\n'),
      );
      process.exitCode = exitCode;
    });
}

/** The options `test` and `nightly` share: the system, its size, the run's length and rate, the bug, Toxiproxy. */
function parseRunBasics(raw: Record<string, string | undefined>) {
  const system = oneOf('--system', raw['system'], systems);
  const bug = raw['bug'] === undefined ? undefined : oneOf('--bug', raw['bug'], plantedBugs);
  if (bug !== undefined && system !== 'zabkit') throw new UsageError('--bug applies to --system zabkit only');
  return {
    system,
    nodes: intOption('--nodes', raw['nodes'], 1, maxNodes),
    timeLimitSeconds: intOption('--time-limit', raw['timeLimit'], 1, 86_400),
    rate: intOption('--rate', raw['rate'], 1, 100_000),
    bug,
    toxiproxyUrl: raw['toxiproxyUrl'] ?? process.env['TOXIPROXY_URL'],
  };
}

export function parseTestOptions(raw: Record<string, string | undefined>): TestCliOptions {
  const basics = parseRunBasics(raw);
  const { system, bug } = basics;
  const nemesis = parseNemesisList(raw['nemesis'] ?? 'all');
  const seed = raw['seed'] === undefined ? randomInt(1, 2 ** 31) : intOption('--seed', raw['seed'], 0, 2 ** 48);
  const nemesisLabel = (raw['nemesis'] ?? 'all').trim().toLowerCase().split(/\s*,\s*/).filter(Boolean).join('_').replace(/[^\w.-]/g, '') || 'none';
  const name = raw['name'] ?? `${system}-${nemesisLabel}${bug ? `-${bug}` : ''}`;
  if (!/^[\w.-]{1,100}$/.test(name)) throw new UsageError(`--name must be letters, digits, . - _ (got ${JSON.stringify(name)})`);
  return {
    ...basics,
    name,
    concurrency: intOption('--concurrency', raw['concurrency'], 1, 1000),
    nemesis,
    nemesisIntervalSeconds: positiveNumber('--nemesis-interval', raw['nemesisInterval']),
    seed,
    store: raw['store'] ?? 'store',
    warmupSeconds: intOption('--warmup', raw['warmup'], 1, 3600),
    recoverySeconds: intOption('--recovery', raw['recovery'], 1, 3600),
    readsDuringRun: flag(raw, 'readsDuringRun'),
    proxyListenHost: raw['proxyListenHost'] ?? '127.0.0.1',
    proxyHost: raw['proxyHost'] ?? '127.0.0.1',
    nodeHost: raw['nodeHost'] ?? '127.0.0.1',
    bindHost: raw['bindHost'] ?? '127.0.0.1',
  };
}

/** A commander flag (no value): true when given. */
function flag(raw: Record<string, unknown>, name: string): boolean {
  return raw[name] === true;
}

function oneOf<T extends string>(name: string, raw: string | undefined, allowed: readonly T[]): T {
  if (raw !== undefined && (allowed as readonly string[]).includes(raw)) return raw as T;
  throw new UsageError(`${name} must be one of ${allowed.join(', ')} (got ${JSON.stringify(raw)})`);
}

function positiveNumber(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (raw === undefined || !Number.isFinite(value) || value <= 0 || value > 3600) {
    throw new UsageError(`${name} must be a number of seconds above 0 and at most 3600 (got ${JSON.stringify(raw)})`);
  }
  return value;
}

export { exitCodes };
