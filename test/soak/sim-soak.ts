/**
 * Simulation soak: the seeded simulation of test/unit/core/sim.ts over many seeds, every profile
 * and cluster size, on worker threads (one per core). Prints per profile and size the seeds run,
 * the safety, promise, FIFO and stuck failures, and the first failing seed of each kind with the
 * command that replays it.
 *
 *   npx tsc test/soak/sim-soak.ts --outDir /tmp/zab-soak --module nodenext --moduleResolution nodenext --target es2022 \
 *     --skipLibCheck --types node && node /tmp/zab-soak/test/soak/sim-soak.js \
 *     [--seeds 10000] [--first 100000] [--profiles default,resets,...] [--servers 3,5,7] [--workers 2]
 *
 * --seeds is the total over every profile and size (split evenly); each pair runs seeds first,
 * first+1, ... so a failure replays with its seed, profile and size alone.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { InvariantViolation, profileNames, profiles, replayCommand, runSim, type ProfileName } from '../unit/core/sim.js';

const units = { faultTicks: 400, stabiliseTicks: 600 };

interface Job { readonly profile: ProfileName; readonly servers: number; readonly seed: number }
type Kind = 'ok' | 'safety' | 'promise' | 'fifo' | 'stuck' | 'error';
interface Result extends Job { readonly kind: Kind; readonly label: string; readonly line: string }

function runJob(job: Job): Result {
  try {
    runSim({ seed: job.seed, servers: job.servers, ...units, faults: profiles[job.profile] });
    return { ...job, kind: 'ok', label: 'ok', line: '' };
  } catch (error) {
    const message = (error as Error).message ?? String(error);
    const kind: Kind = error instanceof InvariantViolation ? error.kind : 'error';
    let line = message.split('\n')[0] ?? '';
    if (kind === 'stuck') {
      // the first line says why; the next lines are every server's state
      const states = message.split('\n--- last events ---')[0]!.split('\n').slice(1).map((s) => s.trim());
      line = `${line} | ${states.join(' | ')}`;
    }
    const label = kind === 'stuck' ? `stuck:${/stuck \(([^)]+)\)/.exec(line)?.[1] ?? '?'}` : kind;
    return { ...job, kind, label, line };
  }
}

function argument(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

async function main(): Promise<void> {
  const chosen = argument('profiles', profileNames.join(',')).split(',') as ProfileName[];
  for (const p of chosen) if (!(p in profiles)) throw new Error(`unknown profile ${p} (known: ${profileNames.join(', ')})`);
  const sizes = argument('servers', '3,5,7').split(',').map(Number);
  const total = Number(argument('seeds', '10000'));
  const first = Number(argument('first', '100000'));
  const workers = Math.max(1, Math.min(Number(argument('workers', String(Math.min(2, availableParallelism())))), 2));
  const perPair = Math.max(1, Math.ceil(total / (chosen.length * sizes.length)));
  const jobs: Job[] = [];
  for (let i = 0; i < perPair; i++) for (const profile of chosen) for (const servers of sizes) jobs.push({ profile, servers, seed: first + i });
  console.log(`sim-soak: ${jobs.length} runs (${perPair} seeds x ${chosen.length} profiles x ${sizes.length} sizes), ${workers} workers, seeds ${first}..${first + perPair - 1}`);
  const started = Date.now();
  const results: Result[] = [];
  await Promise.all(Array.from({ length: workers }, (_, w) => new Promise<void>((resolve, reject) => {
    const mine = jobs.filter((_, i) => i % workers === w);
    const worker = new Worker(fileURLToPath(import.meta.url), { workerData: mine });
    worker.on('message', (result: Result) => {
      results.push(result);
      if (results.length % 500 === 0) console.log(`  ${results.length}/${jobs.length} runs, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`worker exited with ${code}`))));
  })));
  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${results.length} runs in ${seconds.toFixed(0)} s\n`);
  const kinds: Kind[] = ['safety', 'promise', 'fifo', 'stuck', 'error'];
  console.log(`| profile | servers | seeds | ${kinds.join(' | ')} |`);
  console.log(`|---|---:|---:|${kinds.map(() => '---:').join('|')}|`);
  const firsts: string[] = [];
  for (const profile of chosen) for (const servers of sizes) {
    const mine = results.filter((r) => r.profile === profile && r.servers === servers).sort((a, b) => a.seed - b.seed);
    console.log(`| ${profile} | ${servers} | ${mine.length} | ${kinds.map((k) => mine.filter((r) => r.kind === k).length).join(' | ')} |`);
    const labels = [...new Set(mine.filter((r) => r.kind !== 'ok').map((r) => r.label))].sort();
    for (const label of labels) {
      const failed = mine.filter((r) => r.label === label);
      firsts.push(`${profile}/${servers} ${label}: ${failed.length} of ${mine.length} seeds; first SEED=${failed[0]!.seed}: ${failed[0]!.line}\n    replay: ${replayCommand(failed[0]!.seed, profile, servers)}`);
    }
  }
  if (firsts.length > 0) console.log(`\n${firsts.join('\n')}`);
  const failures = results.filter((r) => r.kind !== 'ok').length;
  console.log(`\n${failures} failing runs of ${results.length}`);
  process.exitCode = failures > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  });
} else {
  for (const job of workerData as Job[]) parentPort!.postMessage(runJob(job));
}
