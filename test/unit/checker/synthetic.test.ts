/**
 * No false alarms on realistic valid histories (pipelining, info outcomes that did or did not take
 * effect, leader changes, restarts, subscribers), over many seeds; and a planted lost message is
 * found, cited by its invoke and ok.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory } from '../../../jepsen-style/checker.js';
import { writeSyntheticHistory } from '../../../jepsen-style/checker/synthetic.js';
import { readHistory } from '../../../jepsen-style/history.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'zabkit-synthetic-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('checker on generated histories', () => {
  it('finds nothing in 30 valid histories (half of them with the final phase and its probes)', () => {
    for (let seed = 1; seed <= 30; seed += 1) {
      const path = join(dir, `valid-${seed}.jsonl`);
      writeSyntheticHistory(path, { lines: 3000, nodes: 3 + (seed % 3), clients: 2 + (seed % 7), subscribers: seed % 3, pipeline: 1 + (seed % 4), seed, finalPhase: seed % 2 === 0 });
      const result = checkHistory(readHistory(path).ops);
      expect({ seed, anomalies: result.anomalies, valid: result.valid }).toEqual({ seed, anomalies: {}, valid: true });
    }
  });

  it('finds a planted lost message and cites its invoke and ok', () => {
    const path = join(dir, 'lost.jsonl');
    const summary = writeSyntheticHistory(path, { lines: 5000, seed: 99, plant: 'lost', finalPhase: true });
    const { ops } = readHistory(path);
    const result = checkHistory(ops);
    expect(result.valid).toBe(false);
    expect(result.anomalies.lost?.count).toBe(1);
    const example = result.anomalies.lost?.examples[0] as { id: string; indices: number[] };
    expect(example.id).toBe(summary.lostId);
    const cited = example.indices.map((i) => ops[i]);
    expect(cited[0]).toMatchObject({ type: 'invoke', f: 'broadcast', value: { id: summary.lostId } });
    expect(cited[1]).toMatchObject({ type: 'ok', f: 'broadcast', value: { id: summary.lostId } });
  });
});
