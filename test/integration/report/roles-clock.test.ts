/**
 * One clock: a real run (3 zabkit servers behind the real Toxiproxy) whose first fault kills the
 * leader, then its report opened in a real headless Chromium. The role lane of the killed node must
 * turn `down` at the x position of the kill in the timeline, within one role-sample interval: the
 * role samples (roles.jsonl) and the history share one time origin. (They did not: the lanes were
 * shifted by the cluster's setup time.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSchedule } from '../../../faults/schedule.js';
import { runnerLimits } from '../../../jepsen-style/runner.js';
import { cliPath } from '../helpers.js';

const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const timeLimitSeconds = 8;
const intervalSeconds = 3;

function seedKillingTheLeaderFirst(): number {
  for (let seed = 1; seed < 500; seed++) {
    const schedule = generateSchedule(['kill'], seed, intervalSeconds, timeLimitSeconds);
    const [first, second] = schedule;
    const value = first?.op.value as { targets?: string } | undefined;
    if (first && second && value?.targets === 'leader' && first.atMs > 1000 && second.atMs - first.atMs > 1000) return seed;
  }
  throw new Error('no seed kills the leader first');
}

let browser: Browser | undefined;
let root = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'zabkit-roles-clock-'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('role lanes and nemesis events share one clock', () => {
  it('the killed leader\u2019s lane turns down at the kill, within one sample interval', async () => {
    const seed = seedKillingTheLeaderFirst();
    const result = await execa('node', [cliPath, 'test', '--nodes', '3', '--time-limit', String(timeLimitSeconds), '--nemesis', 'kill',
      '--nemesis-interval', String(intervalSeconds), '--rate', '100', '--concurrency', '4', '--seed', String(seed), '--store', root, '--name', 'clock'],
    { reject: false, all: true, timeout: 240_000 });
    expect(result.exitCode, result.all).toBe(0);
    const runDir = join(root, 'clock', 'latest');

    // The kill as the history has it: its start, its completion (with the node it killed), its end.
    const history = readFileSync(join(runDir, 'history.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { index: number; time: number; process: unknown; f: string; value: Record<string, unknown> | null });
    const kills = history.filter((op) => op.process === 'nemesis' && op.f === 'kill' && op.value?.id === 1);
    const killed = (kills[1]?.value?.nodes as string[] | undefined)?.[0];
    expect(killed, JSON.stringify(kills)).toMatch(/^n\d$/);
    expect(kills[1]?.value?.leader).toBe(killed);
    const killStart = kills[0]!.time;
    const killDone = kills[1]!.time;
    const restart = history.find((op) => op.process === 'nemesis' && op.f === 'start' && op.value?.id === 1);
    expect(restart).toBeDefined();

    if (browser === undefined) throw new Error('no browser');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await page.goto(pathToFileURL(join(runDir, 'index.html')).href, { waitUntil: 'load' });
      // Positions as drawn, in the timeline's own coordinates.
      const number = async (value: Promise<string | null>): Promise<number> => Number(await value);
      const windowRect = page.locator(`#timeline-svg g.fault[data-kind="kill"][data-label="kill ${killed!}"] rect`).first();
      const roleRects = await page.locator(`#timeline-svg rect.role[data-node="${killed!}"]`).all();
      const roles = await Promise.all(roleRects.map(async (r) => ({ role: await r.getAttribute('data-role'), x: await number(r.getAttribute('x')), width: await number(r.getAttribute('width')) })));
      const drawn = {
        window: (await windowRect.count()) === 0 ? undefined : { x: await number(windowRect.getAttribute('x')), width: await number(windowRect.getAttribute('width')) },
        roles,
      };
      expect(drawn.window, 'the kill window is drawn').toBeDefined();
      const window = drawn.window!;
      // The window spans the kill's start to its end (the restart): that gives the scale.
      const pxPerNs = window.width / (restart!.time - killStart);
      const sampleIntervalPx = runnerLimits.roleSampleMs * 1e6 * pxPerNs;
      const killDonePx = window.x + (killDone - killStart) * pxPerNs;

      const down = drawn.roles.find((r) => r.role === 'down' && r.x >= window.x - 1);
      expect(down, JSON.stringify(drawn.roles)).toBeDefined();
      // Not before the kill began, and at most one sample interval after the node was dead.
      expect(down!.x).toBeGreaterThanOrEqual(window.x - 1);
      expect(down!.x - killDonePx).toBeLessThanOrEqual(sampleIntervalPx + 1);
      // Until the kill, the same lane showed that node leading.
      const before = drawn.roles.filter((r) => r.x < window.x - 1).pop();
      expect(before?.role).toBe('leading');
    } finally {
      await page.close();
    }
  });
});
