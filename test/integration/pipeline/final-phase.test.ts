/**
 * Jepsen's final phase: a healed cluster must work again. The same short run (3 real zabkit servers
 * behind the real Toxiproxy, kill faults) twice, in this process so that the runner's afterHeal hook
 * can reach in:
 *   - commits frozen at heal time (the servers' test-only ZABKIT_TEST_FREEZE_COMMITS_FILE switch: while
 *     the file exists they drop client broadcasts, yet elect, ping and answer status as usual): the
 *     final phase's probes are never acknowledged, and the stored run is invalid with `unavailable`;
 *   - the file never created: the same run is valid, every live node acknowledged a probe.
 * Both runs also read nodes during the faults (--reads-during-run): a node read more than once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { executeTest } from '../../../jepsen-style/run-test.js';
import { parseTestArgs } from '../../../cli/test.js';
import { createEnvironment } from '../../../cli/systems.js';

interface StoredResults {
  valid: unknown;
  anomalies: Record<string, { count: number; examples: unknown[] }>;
}

describe('the final phase', () => {
  const store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-final-phase-'));
  const freezeFile = path.join(store, 'freeze-commits');
  const previous = process.env['ZABKIT_TEST_FREEZE_COMMITS_FILE'];

  beforeAll(() => {
    // Inherited by the server processes the run starts.
    process.env['ZABKIT_TEST_FREEZE_COMMITS_FILE'] = freezeFile;
  });
  afterAll(() => {
    if (previous === undefined) delete process.env['ZABKIT_TEST_FREEZE_COMMITS_FILE'];
    else process.env['ZABKIT_TEST_FREEZE_COMMITS_FILE'] = previous;
    rmSync(store, { recursive: true, force: true });
  });

  const run = async (name: string, freeze: boolean): Promise<{ valid: unknown; results: StoredResults; history: Record<string, unknown>[] }> => {
    const argv = ['test', '--nodes', '3', '--time-limit', '6', '--nemesis', 'kill', '--nemesis-interval', '3', '--rate', '100',
      '--concurrency', '4', '--seed', '11', '--recovery', '10', '--reads-during-run', '--store', store, '--name', name];
    const verdict = await executeTest(parseTestArgs(argv.slice(1)), argv, createEnvironment, freeze ? { afterHeal: () => writeFileSync(freezeFile, 'frozen\n') } : {});
    rmSync(freezeFile, { force: true });
    const runDir = path.join(store, name, 'latest');
    const results = JSON.parse(readFileSync(path.join(runDir, 'results.json'), 'utf8')) as StoredResults;
    const history = readFileSync(path.join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    return { valid: verdict.valid, results, history };
  };

  it('commits frozen after the heal: the stored run is invalid with unavailable', async () => {
    const { valid, results, history } = await run('frozen', true);
    const marker = history.find((op) => op.f === 'final-phase');
    expect(marker?.value).toMatchObject({ boundMs: 30_000, nodes: ['n1', 'n2', 'n3'] });
    const probes = history.filter((op) => op.f === 'broadcast' && typeof (op.value as { id?: unknown }).id === 'string' && String((op.value as { id: string }).id).startsWith('final-'));
    expect(probes.filter((op) => op.type === 'invoke').length).toBeGreaterThanOrEqual(3);
    expect(probes.filter((op) => op.type === 'ok')).toEqual([]);
    // Where each silent node stood: frozen commits leave every node serving in broadcast.
    const status = history.find((op) => op.f === 'node-status');
    expect((status?.value as { nodes: { name: string; alive: boolean; phase?: string }[] }).nodes.map((n) => [n.name, n.alive, n.phase])).toEqual([
      ['n1', true, 'broadcast'], ['n2', true, 'broadcast'], ['n3', true, 'broadcast']]);
    expect(valid).toBe(false);
    expect(results.valid).toBe(false);
    expect(results.anomalies['unavailable']?.count ?? 0).toBeGreaterThan(0);
  });

  it('the same run without the freeze: valid, every live node acknowledged a probe', async () => {
    const { valid, results, history } = await run('healthy', false);
    const acknowledged = new Set(history.filter((op) => op.f === 'broadcast' && op.type === 'ok' && String((op.value as { id: string }).id).startsWith('final-')).map((op) => op.node));
    expect([...acknowledged].sort()).toEqual(['n1', 'n2', 'n3']);
    expect(results.anomalies['unavailable']?.count ?? 0).toBe(0);
    expect(history.filter((op) => op.f === 'node-status')).toEqual([]);
    // --reads-during-run: some node was read during the faults too; the final reads come last.
    const marker = history.findIndex((op) => op.f === 'final-phase');
    const reads = history.map((op, k) => ({ op, k })).filter(({ op }) => op.f === 'read' && op.type === 'ok');
    expect(reads.filter(({ k }) => k < marker).length).toBeGreaterThan(0);
    for (const node of ['n1', 'n2', 'n3']) expect(reads.filter(({ op }) => op.node === node).pop()!.k).toBeGreaterThan(marker);
    expect(results.valid, JSON.stringify(results.anomalies)).toBe(true);
    expect(valid).toBe(true);
  });
});
