/**
 * The report, opened in a real headless Chromium: it renders its plots (SVG present, the verdict
 * visible) with no console error and no network request, for a valid run and for an invalid one of
 * 100,000 operations (sampled, and saying so), and its size stays bounded.
 *
 * Set ZABKIT_REPORT_SCREENSHOT_DIR to keep screenshots of both reports.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHistory } from '../../../jepsen-style/checker.js';
import { writeSyntheticHistory } from '../../../jepsen-style/checker/synthetic.js';
import { readHistory } from '../../../jepsen-style/history.js';
import { writeReport } from '../../../jepsen-style/report/index.js';

const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let browser: Browser | undefined;
let root = '';

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'zabkit-report-'));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs });
});

afterAll(async () => {
  await browser?.close();
  rmSync(root, { recursive: true, force: true });
});

function makeRun(name: string, lines: number, plant: 'lost' | 'none'): string {
  const runDir = join(root, name);
  mkdirSync(join(runDir, 'nodes', 'n1'), { recursive: true });
  mkdirSync(join(runDir, 'nodes', 'n2'), { recursive: true });
  writeFileSync(join(runDir, 'nodes', 'n1', 'zabkit.log'), '{"level":30,"msg":"started"}\n');
  writeFileSync(join(runDir, 'nodes', 'n2', 'zabkit.log'), '{"level":30,"msg":"started"}\n');
  writeFileSync(join(runDir, 'toxiproxy.log'), 'toxiproxy started\n');
  writeSyntheticHistory(join(runDir, 'history.jsonl'), { lines, nodes: 5, clients: 8, seed: 7, plant, stepNs: 2_000_000 }, join(runDir, 'roles.jsonl'));
  const { ops } = readHistory(join(runDir, 'history.jsonl'));
  const results = checkHistory(ops);
  writeFileSync(join(runDir, 'results.json'), JSON.stringify(results, null, 2));
  writeFileSync(join(runDir, 'test.json'), JSON.stringify({ name: 'synthetic', system: 'zabkit', nodes: 5, nemesis: 'kill,pause,partition', seed: 7, command: 'zabkit test --nemesis kill,pause,partition --seed 7' }));
  return runDir;
}

async function open(runDir: string, screenshot: string): Promise<{ errors: string[]; requests: string[]; verdict: string; svgs: number; marks: number; text: string }> {
  if (browser === undefined) throw new Error('no browser');
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('request', (request) => {
      if (!request.url().startsWith('file:')) requests.push(request.url());
    });
    await page.goto(pathToFileURL(join(runDir, 'index.html')).href, { waitUntil: 'load' });
    const verdict = (await page.locator('#verdict .word').innerText()).trim();
    expect(await page.locator('#verdict').isVisible()).toBe(true);
    const svgs = await page.locator('svg.plot').count();
    const marks = await page.locator('#timeline-svg rect[data-i]').count();
    const text = await page.locator('main').innerText();
    const dir = process.env.ZABKIT_REPORT_SCREENSHOT_DIR;
    if (dir !== undefined && dir !== '') {
      await page.screenshot({ path: join(dir, screenshot), fullPage: true });
      await page.screenshot({ path: join(dir, `top-${screenshot}`), clip: { x: 0, y: 0, width: 1280, height: 1700 } });
    }
    // Clicking an operation shows its details (the inline script works).
    await page.locator('#timeline-svg rect[data-i]').first().click({ force: true });
    expect(await page.locator('#op-detail').innerText()).toMatch(/history \d+/);
    return { errors, requests, verdict, svgs, marks, text };
  } finally {
    await page.close();
  }
}

describe('report in headless Chromium', () => {
  it('a valid run: verdict first, plots rendered, no console error, no network', async () => {
    const runDir = makeRun('valid', 6000, 'none');
    const report = writeReport(runDir);
    expect(report.sampled).toBe(false);
    const page = await open(runDir, 'report-valid.png');
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    expect(page.verdict).toBe('VALID');
    expect(page.svgs).toBe(4);
    expect(page.marks).toBeGreaterThan(100);
    expect(page.text).toMatch(/leader e\d/);
    expect(page.text).toContain('nodes/n1/zabkit.log');
    expect(page.text).toContain('toxiproxy.log');
  });

  it('an invalid run of 100,000 events: anomalies with witnesses, sampled and saying so, bounded size', async () => {
    const runDir = makeRun('invalid', 100_000, 'lost');
    const report = writeReport(runDir);
    expect(report.sampled).toBe(true);
    expect(report.drawnOperations).toBeLessThanOrEqual(4000);
    expect(statSync(report.path).size).toBeLessThan(4 * 1024 * 1024);
    const page = await open(runDir, 'report-invalid.png');
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([]);
    expect(page.verdict).toBe('INVALID');
    expect(page.svgs).toBe(4);
    expect(page.text).toMatch(/lost ×1/);
    expect(page.text).toMatch(/the timeline and the scatter draw 4,000 of them/);
  });
});
