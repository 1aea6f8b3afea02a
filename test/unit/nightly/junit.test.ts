import { describe, expect, it } from 'vitest';
import { junitXml, worstExitCode, type NightlyCell } from '../../../jepsen-style/nightly.js';

function cell(overrides: Partial<NightlyCell>): NightlyCell {
  return {
    package: 'kill', seed: 7, name: 'nightly-kill-seed7', exitCode: 0, valid: true, runDir: '/s/x', anomalies: {},
    acknowledged: 100, seconds: 12.5, replay: 'zabkit test --nemesis kill --seed 7', error: undefined, ...overrides,
  };
}

describe('nightly summary', () => {
  it('exit code is the worst verdict: invalid over crashed over unknown over valid', () => {
    expect(worstExitCode([cell({})])).toBe(0);
    expect(worstExitCode([cell({}), cell({ valid: 'unknown', exitCode: 2 })])).toBe(2);
    expect(worstExitCode([cell({ valid: 'unknown' }), cell({ valid: 'crashed', exitCode: 255 })])).toBe(255);
    expect(worstExitCode([cell({ valid: 'crashed' }), cell({ valid: false, exitCode: 1 })])).toBe(1);
  });

  it('JUnit XML: one testcase per cell, failures carry the anomalies and the replay command, text escaped', () => {
    const xml = junitXml([
      cell({}),
      cell({ package: 'partition', name: 'nightly-partition-seed9', seed: 9, valid: false, exitCode: 1, anomalies: { lost: 3 }, replay: "zabkit test --name 'a<b>'" }),
      cell({ package: 'power', name: 'nightly-power-seed9', valid: 'crashed', exitCode: 255, error: 'boom & bust' }),
    ]);
    expect(xml.startsWith('<?xml')).toBe(true);
    expect(xml).toContain('tests="3" failures="1" errors="1"');
    expect((xml.match(/<testcase /g) ?? []).length).toBe(3);
    expect(xml).toContain('<failure message="invalid: lost: 3">');
    expect(xml).toContain('a&lt;b&gt;');
    expect(xml).toContain('boom &amp; bust');
    expect(xml).not.toContain('a<b>');
  });
});
