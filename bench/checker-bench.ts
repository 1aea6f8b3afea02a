/**
 * Checker benchmark: generate a valid 1,000,000-line history (5 nodes, pipelined clients, faults,
 * deliver observations, the final phase's marker and probes, final reads of every node) and time `zabkit check` on it, with its peak
 * memory (goal, issue 15: at most 2 s and 300 MiB).
 *
 *   npm run build && node dist/bench/checker-bench.js [--lines N] [--keep]
 *
 * Runs the built CLI (dist/cli/main.js) under /usr/bin/time for the peak RSS when available.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticHistory } from '../jepsen-style/checker/synthetic.js';

function argument(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value !== undefined && Number.isFinite(value) ? value : fallback;
}

function main(): number {
  const lines = argument('--lines', 1_000_000);
  const keep = process.argv.includes('--keep');
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  if (!existsSync(cli)) {
    process.stderr.write(`checker-bench: ${cli} not found; run \`npm run build\` first\n`);
    return 254;
  }
  const dir = mkdtempSync(join(tmpdir(), 'zabkit-checker-bench-'));
  try {
    const history = join(dir, 'history.jsonl');
    const started = process.hrtime.bigint();
    const summary = writeSyntheticHistory(history, { lines, nodes: 5, clients: 20, subscribers: 3, pipeline: 4, seed: 2026, finalPhase: true });
    const generatedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const sizeMiB = statSync(history).size / (1 << 20);
    process.stdout.write(`history: ${summary.lines} lines, ${summary.broadcasts} broadcasts, ${summary.committed} committed, ${sizeMiB.toFixed(1)} MiB (generated in ${(generatedMs / 1000).toFixed(1)} s)\n`);

    const useTime = existsSync('/usr/bin/time');
    const command = useTime ? '/usr/bin/time' : process.execPath;
    const args = useTime ? ['-f', 'ZABKIT_TIME %e %M %U %S', process.execPath, cli, 'check', history, '--out', join(dir, 'results.json')] : [cli, 'check', history, '--out', join(dir, 'results.json')];
    const t0 = process.hrtime.bigint();
    const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write(run.stdout);
    const measured = /ZABKIT_TIME ([\d.]+) (\d+) ([\d.]+) ([\d.]+)/.exec(run.stderr ?? '');
    const cpuS = measured === null ? undefined : Number(measured[3]) + Number(measured[4]);
    const peakMiB = measured === null ? undefined : Number(measured[2]) / 1024;
    process.stderr.write((run.stderr ?? '').replace(/ZABKIT_TIME.*\n?/, ''));
    process.stdout.write(`zabkit check: exit ${String(run.status)}, ${wallS.toFixed(2)} s wall, ${cpuS === undefined ? '?' : cpuS.toFixed(2)} s CPU (user+sys; wall suffers on a shared machine), peak RSS ${peakMiB === undefined ? 'unknown (no /usr/bin/time)' : `${peakMiB.toFixed(0)} MiB`}\n`);
    process.stdout.write(`goal: <= 2 s and <= 300 MiB: ${wallS <= 2 && (peakMiB ?? 0) <= 300 ? 'met' : 'NOT met'}\n`);
    if (keep) process.stdout.write(`kept ${dir}\n`);
    return run.status === 0 ? 0 : 1;
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = main();
