/** A crashed nightly cell shows its cause: in the summary page and in the JUnit error message. */
import { describe, expect, it } from 'vitest';
import { crashCause, junitXml, summaryHtml, type NightlyCell } from '../../../jepsen-style/nightly.js';

function cell(overrides: Partial<NightlyCell>): NightlyCell {
  return {
    package: 'kill', seed: 7, name: 'nightly-kill-seed7', exitCode: 0, valid: true, runDir: undefined, anomalies: {},
    acknowledged: 100, seconds: 12.5, replay: 'zabkit test --nemesis kill --seed 7', error: undefined, ...overrides,
  };
}

describe('a crashed nightly cell', () => {
  it('takes its cause from results.json, else from the CRASHED line of the output, else the last lines', () => {
    expect(crashCause('toxiproxy died twice', 'whatever\nzabkit test: CRASHED: other')).toBe('toxiproxy died twice');
    expect(crashCause(undefined, 'a\nb\nzabkit test: CRASHED: toxiproxy did not come back\n')).toBe('toxiproxy did not come back');
    expect(crashCause(undefined, '1\n2\n3\n4\n5\n6\n')).toBe('2\n3\n4\n5\n6');
    expect(crashCause(undefined, '')).toBe('the run ended without output');
  });

  it('shows the cause in the summary and in the JUnit error message', () => {
    const crashed = cell({ valid: 'crashed', exitCode: 255, error: 'toxiproxy <pid 12> did not restart' });
    const html = summaryHtml([cell({}), crashed], { seeds: [7], system: 'zabkit', nodes: 3, timeLimitSeconds: 10 }, '/tmp/x');
    expect(html).toContain('toxiproxy &lt;pid 12&gt; did not restart');
    expect(junitXml([crashed])).toContain('<error message="crashed: toxiproxy &lt;pid 12&gt; did not restart">');
  });
});
