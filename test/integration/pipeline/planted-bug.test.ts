/**
 * The whole pipeline catches a planted bug: `zabkit test --bug commit-without-quorum` (the leader
 * commits on its own write) under an isolated-leader partition acknowledges messages that the new
 * majority never sees; the checker must call the run invalid with `lost`, and the exit code must be 1.
 * The seed is chosen so that the first fault of the (deterministic) schedule isolates the leader.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateSchedule } from '../../../faults/schedule.js';
import { cliPath } from '../helpers.js';

function seedIsolatingTheLeaderFirst(): number {
  for (let seed = 1; seed < 500; seed++) {
    const first = generateSchedule(['partition'], seed, 3, 12)[0];
    const value = first?.op.value as { shape?: string; mode?: string } | undefined;
    if (first && first.atMs < 3000 && value?.shape === 'leader' && value.mode === 'silent') return seed;
  }
  throw new Error('no seed isolates the leader first');
}

describe('a planted bug, end to end', () => {
  const store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-bug-'));
  afterAll(() => rmSync(store, { recursive: true, force: true }));

  it('commit-without-quorum under an isolated leader: invalid, lost acknowledged broadcasts, exit 1', async () => {
    const seed = seedIsolatingTheLeaderFirst();
    const result = await execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', '12', '--nemesis', 'partition',
      '--nemesis-interval', '3', '--rate', '150', '--seed', String(seed), '--bug', 'commit-without-quorum', '--store', store, '--name', 'bug'],
    { reject: false, all: true, timeout: 240_000 });
    expect(result.all).toContain(`seed=${seed}`);
    expect(result.exitCode, result.all).toBe(1);
    const results = JSON.parse(readFileSync(path.join(store, 'bug', 'latest', 'results.json'), 'utf8')) as {
      valid: unknown; anomalies: Record<string, { count: number; examples: { indices?: number[] }[] }>;
    };
    expect(results.valid).toBe(false);
    expect(results.anomalies['lost']?.count ?? 0).toBeGreaterThan(0);
    expect(results.anomalies['lost']?.examples[0]?.indices?.length ?? 0).toBeGreaterThan(0);
    expect(result.all).toContain('INVALID');
  });
});
