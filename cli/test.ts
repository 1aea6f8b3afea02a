/**
 * `zabkit test`: one chaos run to a report, and `zabkit nightly`: a matrix of them.
 */
import { Command } from 'commander';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { collect, exitCodeForValidity, exitCodes, intOption, UsageError } from './exit.js';
import { plantedBugs } from '../src/core/types.js';
import { mergeNightly, MergeError, runNightly } from '../jepsen-style/nightly.js';
import { parseNightlyRows } from '../jepsen-style/vocabulary.js';
import { executeTest, parseNemesisList, type TestCliOptions } from '../jepsen-style/run-test.js';
import { createEnvironment } from './systems.js';
import { maxNodes } from '../jepsen-style/types.js';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { checkScenarioFor, parseScenario, type Scenario } from '../jepsen-style/scenario-format.js';
import { assertZookeeperVersion, debianZookeeperVersion } from '../cluster/zookeeper/versions.js';
import { assertJvmFlag, assertJvmFlagEntries, parseJvmFlagEntry, parseZkProperty } from '../cluster/zookeeper/config.js';
import type { ZookeeperRunOptions } from '../jepsen-style/run-test.js';
import { repoRoot } from '../cluster/zabkit/db.js';

const systems = ['zabkit', 'zookeeper'] as const;
const defaultRate = 200;
const defaultConcurrency = 10;
const defaultNightlyPackages = 'kill,pause,power,partition,one-way,latency,reset,all';

/** The options of `zabkit test`, with their defaults. */
function withTestOptions(command: Command): Command {
  return command
    .option('--system <name>', `system under test: ${systems.join(' | ')}`, 'zabkit')
    .option('--nodes <n>', `number of servers (1-${maxNodes}; default 5, or the scenario's)`)
    .option('--time-limit <seconds>', 'how long faults are injected', '60')
    .option('--rate <ops>', "broadcasts per second, all workers together (default 200, or a scenario's workload rate)")
    .option('--concurrency <n>', "client workers, each a Jepsen process (default 10, or a scenario's workload concurrency)")
    .option('--nemesis <list>', "comma-separated fault packages, 'none' or 'all' (default all: every package interleaved in one run; zabkit nightly --nemesis each makes one row per package)")
    .option('--scenario <name|file>', `an exact fault choreography instead of the random schedule: ${shippedScenarios().join(', ')}, or a scenario JSON file`)
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
    .option('--reads-during-run', "during the faults, now and then read a random node's whole delivered sequence (f read)")
    .option('--fault-filesystem <mode>', 'auto: every node\'s data on the fault filesystem where the machine can mount it (FUSE, root), so power cuts lose what was not fsynced and the disk package works; on: fail without it; off: a power cut is a kill -9', 'auto')
    .option('--zookeeper-version <version>', `with --system zookeeper: the release (${debianZookeeperVersion} is Debian's package; any other is resolved once with Maven into .tools/zookeeper/)`, debianZookeeperVersion)
    .option('--zk-property <key=value>', 'with --system zookeeper: a zoo.cfg entry over the testbed\'s (repeatable)', collect, [])
    .option('--zk-jvm-flag <flag>', 'with --system zookeeper: a JVM option for every server, like -Dzookeeper.maxBatchSize=1, or nK:FLAG for server nK only (repeatable)', collect, []);
}

/** Parse `zabkit test` arguments (without the word `test`) as the CLI does, defaults included (for tests). */
export function parseTestArgs(args: readonly string[]): TestCliOptions {
  const command = withTestOptions(new Command('test')).exitOverride().allowExcessArguments(false);
  command.parse([...args], { from: 'user' });
  return parseTestOptions(command.opts());
}

type RawOptions = Record<string, string | string[] | undefined>;

export function registerTest(program: Command): void {
  withTestOptions(
    program
      .command('test')
      .description('one chaos run: cluster up behind Toxiproxy, workload + nemesis, heal, final reads, check, report, teardown'),
  )
    .action(async (raw: RawOptions) => {
      const options = parseTestOptions(raw);
      const verdict = await executeTest(options, process.argv.slice(2), createEnvironment);
      process.exitCode = verdict.crashed !== undefined ? exitCodes.toolFailed : exitCodeForValidity(verdict.valid);
    });

  const nightly = program
    .command('nightly')
    .description('a matrix of rows (fault packages, scenarios) x seeds (x ZooKeeper releases); summary.html, summary.json and junit.xml')
    .option('--system <name>', `system under test: ${systems.join(' | ')}`, 'zabkit')
    .option('--nemesis <list>', `the rows, comma-separated; each one runs as zabkit test --nemesis ROW: a package, all (one row, every package interleaved, as in zabkit test), none, or each (one row per package); default ${defaultNightlyPackages}`)
    .option('--packages <list>', 'the same as --nemesis')
    .option('--scenarios <list>', 'comma-separated scenarios, each one a row of the matrix (like a package)')
    .option('--zookeeper-versions <list>', 'with --system zookeeper: comma-separated releases; every row runs on each')
    .option('--seeds <n>', 'fresh random seeds per row', '2')
    .option('--seed-list <list>', 'exact seeds to use instead of fresh ones (replays a night)')
    .option('--nodes <n>', 'servers per run', '5')
    .option('--time-limit <seconds>', 'fault time per run', '60')
    .option('--rate <ops>', 'broadcasts per second per run', '200')
    .option('--bug <name>', 'planted bug for every run')
    .option('--toxiproxy-url <url>', 'use a running Toxiproxy')
    .option('--out <dir>', 'where the summary and the runs go', 'nightly')
    .option('--reads-during-run', "each run also reads a random node's whole delivered sequence during the faults")
    .option('--shard <k/n>', 'run only shard K of N of the matrix (the same cells on any machine; needs --seed-list); join them with nightly merge')
    .action(async (raw: RawOptions) => {
      const scenarios = commaList(text(raw, 'scenarios')) ?? [];
      const system = oneOf('--system', text(raw, 'system'), systems);
      for (const scenario of scenarios) loadScenarioOption(scenario, system);
      if (raw['nemesis'] !== undefined && raw['packages'] !== undefined) throw new UsageError('--nemesis and --packages are the same option: give one');
      const rowList = text(raw, 'nemesis') ?? text(raw, 'packages');
      // With --scenarios alone, the rows are the scenarios; --nemesis adds package rows.
      const packages = scenarios.length > 0 && rowList === undefined ? [] : parseNightlyRows(rowList ?? defaultNightlyPackages);
      const shard = text(raw, 'shard') === undefined ? undefined : parseShard(text(raw, 'shard') as string);
      if (shard !== undefined && text(raw, 'seedList') === undefined) {
        throw new UsageError('--shard needs --seed-list: every shard must run the same matrix, and fresh seeds differ from machine to machine');
      }
      const versions = commaList(text(raw, 'zookeeperVersions'));
      if (versions !== undefined) {
        if (system !== 'zookeeper') throw new UsageError('--zookeeper-versions applies to --system zookeeper only');
        for (const version of versions) {
          try {
            assertZookeeperVersion(version);
          } catch (error) {
            throw new UsageError(`--zookeeper-versions: ${(error as Error).message}`);
          }
        }
      }
      const count = intOption('--seeds', text(raw, 'seeds'), 1, 1000);
      const seedList = text(raw, 'seedList');
      const seeds = seedList
        ? seedList.split(',').map((text) => intOption('--seed-list', text.trim(), 0, 2 ** 48))
        : Array.from({ length: count }, () => randomInt(1, 2 ** 31));
      const { exitCode } = await runNightly(
        {
          ...parseRunBasics(raw),
          packages,
          scenarios,
          ...(versions === undefined ? {} : { versions }),
          seeds,
          ...(shard === undefined ? {} : { shard }),
          out: text(raw, 'out') ?? 'nightly',
          cli: fileURLToPath(new URL('./main.js', import.meta.url)),
          extraArgs: flag(raw, 'readsDuringRun') ? ['--reads-during-run'] : [],
        },
        (line) => process.stderr.write(line + '\n'),
      );
      process.exitCode = exitCode;
    });

  // Options after `merge` are merge's own (its --out), not the matrix's: commander needs
  // positional options on every command above merge for that (the program has no options of its own).
  program.enablePositionalOptions();
  nightly.enablePositionalOptions();
  nightly
    .command('merge')
    .description('join the shards of one nightly (their folders) into one summary.html, summary.json and junit.xml; exit code the worst verdict')
    .argument('<dirs...>', 'the shards\' --out folders')
    .option('--out <dir>', 'where the merged summary goes', 'nightly')
    .action((dirs: string[], raw: RawOptions) => {
      try {
        const { exitCode } = mergeNightly(dirs, text(raw, 'out') ?? 'nightly', (line) => process.stderr.write(line + '\n'));
        process.exitCode = exitCode;
      } catch (error) {
        if (error instanceof MergeError) throw new UsageError(error.message);
        throw error;
      }
    });
}

/** --shard K/N: 1 <= K <= N <= 1000. */
function parseShard(value: string): { index: number; count: number } {
  const match = /^(\d{1,4})\/(\d{1,4})$/.exec(value.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || index < 1 || count < 1 || index > count || count > 1000) throw new UsageError(`--shard must be K/N with 1 <= K <= N <= 1000 (got ${JSON.stringify(value)})`);
  return { index, count };
}

/** The options `test` and `nightly` share: the system, its size, the run's length and rate, the bug, Toxiproxy. */
function parseRunBasics(raw: RawOptions) {
  const system = oneOf('--system', text(raw, 'system'), systems);
  const bug = raw['bug'] === undefined ? undefined : oneOf('--bug', text(raw, 'bug'), plantedBugs);
  if (bug !== undefined && system !== 'zabkit') throw new UsageError('--bug applies to --system zabkit only');
  return {
    system,
    nodes: intOption('--nodes', text(raw, 'nodes') ?? '5', 1, maxNodes),
    timeLimitSeconds: intOption('--time-limit', text(raw, 'timeLimit'), 1, 86_400),
    rate: intOption('--rate', text(raw, 'rate') ?? String(defaultRate), 1, 100_000),
    bug,
    toxiproxyUrl: text(raw, 'toxiproxyUrl') ?? process.env['TOXIPROXY_URL'],
    zookeeper: parseZookeeperOptions(raw, system),
  };
}

/** --zookeeper-version, --zk-property, --zk-jvm-flag: checked here, before anything starts. */
function parseZookeeperOptions(raw: RawOptions, system: string): ZookeeperRunOptions {
  const version = text(raw, 'zookeeperVersion') ?? debianZookeeperVersion;
  const properties = list(raw, 'zkProperty');
  const jvmFlags = list(raw, 'zkJvmFlag');
  if (system !== 'zookeeper' && (version !== debianZookeeperVersion || properties.length > 0 || jvmFlags.length > 0)) {
    throw new UsageError('--zookeeper-version, --zk-property and --zk-jvm-flag apply to --system zookeeper only');
  }
  try {
    assertZookeeperVersion(version);
    for (const entry of jvmFlags) parseJvmFlagEntry(entry);
    return { version, properties: Object.fromEntries(properties.map((entry) => parseZkProperty(entry))), jvmFlags };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A single-valued option (commander gives a string, or undefined). */
function text(raw: RawOptions, name: string): string | undefined {
  const value = raw[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

/** A comma-separated option's entries, trimmed, empty ones dropped; undefined when not given. */
function commaList(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((entry) => entry.trim()).filter(Boolean);
}

function list(raw: RawOptions, name: string): string[] {
  const value = raw[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

export function parseTestOptions(raw: RawOptions): TestCliOptions {
  const basics = parseRunBasics(raw);
  const { system, bug } = basics;
  const scenario = text(raw, 'scenario') === undefined ? undefined : loadScenarioOption(text(raw, 'scenario') as string, system);
  if (scenario !== undefined && raw['nemesis'] !== undefined) throw new UsageError('--scenario replaces the random schedule: leave out --nemesis');
  if (scenario !== undefined && raw['nodes'] !== undefined && Number(text(raw, 'nodes')) !== scenario.scenario.nodes) {
    throw new UsageError(`scenario ${scenario.scenario.name} runs on ${scenario.scenario.nodes} nodes (got --nodes ${String(text(raw, 'nodes'))})`);
  }
  const nodes = scenario?.scenario.nodes ?? basics.nodes;
  try {
    assertJvmFlagEntries(basics.zookeeper.jvmFlags, nodes);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const nemesis = parseNemesisList(text(raw, 'nemesis') ?? 'all');
  const seed = raw['seed'] === undefined ? randomInt(1, 2 ** 31) : intOption('--seed', text(raw, 'seed'), 0, 2 ** 48);
  const nemesisLabel = (text(raw, 'nemesis') ?? 'all').trim().toLowerCase().split(/\s*,\s*/).filter(Boolean).join('_').replace(/[^\w.-]/g, '') || 'none';
  const version = system === 'zookeeper' && basics.zookeeper.version !== debianZookeeperVersion ? `-${basics.zookeeper.version}` : '';
  const name = text(raw, 'name') ?? `${system}${version}-${scenario ? `scenario-${scenario.scenario.name}` : nemesisLabel}${bug ? `-${bug}` : ''}`;
  if (!/^[\w.-]{1,100}$/.test(name)) throw new UsageError(`--name must be letters, digits, . - _ (got ${JSON.stringify(name)})`);
  // A scenario's workload sets the load; --rate and --concurrency given on the command line win.
  const workload = scenario?.scenario.workload;
  return {
    ...basics,
    ...(scenario === undefined ? {} : { nodes: scenario.scenario.nodes, scenario }),
    ...(workload !== undefined && raw['rate'] === undefined ? { rate: workload.rate } : {}),
    name,
    concurrency: raw['concurrency'] === undefined && workload !== undefined ? workload.concurrency : intOption('--concurrency', text(raw, 'concurrency') ?? String(defaultConcurrency), 1, 1000),
    nemesis,
    nemesisIntervalSeconds: positiveNumber('--nemesis-interval', text(raw, 'nemesisInterval')),
    seed,
    store: text(raw, 'store') ?? 'store',
    warmupSeconds: intOption('--warmup', text(raw, 'warmup'), 1, 3600),
    recoverySeconds: intOption('--recovery', text(raw, 'recovery'), 1, 3600),
    readsDuringRun: flag(raw, 'readsDuringRun'),
    faultFilesystem: oneOf('--fault-filesystem', text(raw, 'faultFilesystem') ?? 'auto', ['auto', 'on', 'off'] as const),
    proxyListenHost: text(raw, 'proxyListenHost') ?? '127.0.0.1',
    proxyHost: text(raw, 'proxyHost') ?? '127.0.0.1',
    nodeHost: text(raw, 'nodeHost') ?? '127.0.0.1',
    bindHost: text(raw, 'bindHost') ?? '127.0.0.1',
  };
}

/** The folder of the shipped scenarios (scenarios/ at the top of the repository). */
function scenariosDir(): string {
  return path.join(repoRoot(), 'scenarios');
}

function shippedScenarios(): string[] {
  try {
    return readdirSync(scenariosDir()).filter((name) => name.endsWith('.json')).map((name) => name.slice(0, -5)).sort();
  } catch {
    return [];
  }
}

/** --scenario NAME (shipped) or FILE: read, checked, and fit for the system, or a UsageError saying why. */
function loadScenarioOption(value: string, system: 'zabkit' | 'zookeeper'): { source: string; scenario: Scenario } {
  const shipped = /^[\w.-]+$/.test(value) && shippedScenarios().includes(value);
  const source = shipped ? path.join(scenariosDir(), `${value}.json`) : path.resolve(value);
  let textOfFile: string;
  try {
    textOfFile = readFileSync(source, 'utf8');
  } catch (error) {
    throw new UsageError(`--scenario ${value}: neither a shipped scenario (${shippedScenarios().join(', ')}) nor a readable file: ${(error as Error).message}`);
  }
  try {
    const scenario = parseScenario(textOfFile, source);
    checkScenarioFor(scenario, system);
    // The ZooKeeper settings it carries get the checks of --zk-property and --zk-jvm-flag, now.
    for (const [key, value] of Object.entries(scenario.zookeeper?.properties ?? {})) parseZkProperty(`${key}=${value}`);
    for (const flag of [...(scenario.zookeeper?.jvmFlags ?? []), ...scenario.steps.flatMap((step) => step.jvmFlags ?? [])]) assertJvmFlag(flag);
    return { source, scenario };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
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
