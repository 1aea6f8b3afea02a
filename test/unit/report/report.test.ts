/** The report's model (fault windows, roles) and its HTML for a small invalid run. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkHistory } from '../../../jepsen-style/checker.js';
import { writeReport } from '../../../jepsen-style/report/index.js';
import { faultWindows, markers, roleSegments } from '../../../jepsen-style/report/model.js';
import { H, z } from '../checker/builder.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('report model', () => {
  it('pairs nemesis start and end events into fault windows; an unhealed one runs to the end', () => {
    const h = new H();
    h.nemesis('kill', { nodes: ['n1'] });
    h.nemesis('partition', { groups: [['n1', 'n2'], ['n3']] });
    h.nemesis('start', { nodes: ['n1'] });
    h.nemesis('heal', null);
    h.nemesis('pause', { nodes: ['n3'] });
    h.bcast(1, 'a', z(1, 1));
    const windows = faultWindows(h.ops);
    expect(windows.map((w) => [w.group, w.label, w.startIndex, w.endIndex])).toEqual([
      ['kill', 'kill n1', 0, 2],
      ['partition', 'partition n1,n2,n3', 1, 3],
      ['pause', 'pause n3', 4, undefined],
    ]);
    expect(windows[2]?.end).toBe(h.ops[h.ops.length - 1]?.time);
  });

  it('pairs zabkit nemesis events by id: a start, its completion (targets resolved), its end; power-on closes power-off', () => {
    const h = new H();
    h.nemesis('power-off', { id: 1, package: 'power', targets: 'majority', pick: 7 });
    h.nemesis('partition', { id: 2, package: 'partition', shape: 'halves', pick: 9 });
    h.nemesis('power-off', { id: 1, package: 'power', targets: 'majority', pick: 7, nodes: ['n1', 'n2', 'n3'] });
    h.nemesis('power-on', { id: 1, package: 'power' });
    h.nemesis('power-on', { id: 1, package: 'power', nodes: ['n1', 'n2', 'n3'] });
    h.nemesis('heal', 'all');
    h.bcast(1, 'a', z(1, 1));
    const windows = faultWindows(h.ops);
    expect(windows.map((w) => [w.group, w.label, w.startIndex, w.endIndex])).toEqual([
      ['kill', 'power-off n1,n2,n3', 0, 3],
      ['partition', 'partition', 1, 5],
    ]);
  });

  it('a node-status snapshot is a final-phase marker that says where each silent node stood, never a fault window', () => {
    const h = new H();
    h.nemesis('final-phase', { boundMs: 30_000, nodes: ['n1', 'n2'] });
    h.nemesis('node-status', { nodes: [
      { name: 'n1', alive: false, paused: false, answers: false, role: 'unknown' },
      { name: 'n2', alive: true, paused: false, answers: true, role: 'following', phase: 'sync', epoch: 7, lastZxid: '0x700000003', commitZxid: '0x700000001' },
    ] });
    expect(faultWindows(h.ops)).toEqual([]);
    expect(markers(h.ops).map((m) => [m.kind, m.label])).toEqual([
      ['final-phase', 'final phase: n1,n2 must acknowledge within 30s'],
      ['final-phase', 'n1: down; n2: following, phase sync, epoch 7, last 0x700000003, committed 0x700000001'],
    ]);
  });

  it('turns role samples into segments per node', () => {
    const segments = roleSegments(
      [
        { time: 0, node: 'n1', role: 'leading', epoch: 1 },
        { time: 10, node: 'n1', role: 'leading', epoch: 1 },
        { time: 20, node: 'n1', role: 'looking', epoch: 1 },
        { time: 0, node: 'n2', role: 'following', epoch: 1 },
      ],
      30,
    );
    expect(segments.map((s) => [s.node, s.role, s.start, s.end])).toEqual([
      ['n1', 'leading', 0, 20],
      ['n1', 'looking', 20, 30],
      ['n2', 'following', 0, 30],
    ]);
  });
});

describe('writeReport', () => {
  it('a scenario run: every step a marker on the timeline and a row of the steps table; an unmet precondition in red', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-report-unit-'));
    dirs.push(dir);
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.nemesis('scenario-step', { step: 1, do: 'stop', as: 'F2', note: 'F2 goes stale', nodes: ['n1'], tookMs: 12 });
    h.nemesis('kill', { nodes: ['n3'], id: 1, package: 'kill', step: 2 });
    h.nemesis('scenario-step', { step: 2, do: 'kill', nodes: ['n3'], tookMs: 9, reactionMs: 2, strikeLine: 'Creating new log file: log.100000023' });
    h.nemesis('scenario-step', { step: 3, do: 'await-leader', tookMs: 60010, unmet: 'no single leader within 60000 ms' });
    h.bcast(2, 'b', z(1, 2));
    writeFileSync(join(dir, 'history.jsonl'), h.jsonl());
    writeFileSync(join(dir, 'results.json'), JSON.stringify(checkHistory(h.ops)));
    writeFileSync(join(dir, 'test.json'), JSON.stringify({ scenario: { source: 'zk-4785.json', scenario: { name: 'zk-4785', description: 'the epoch before the DIFF', steps: [{}, {}, {}, {}] } } }));
    writeReport(dir);
    const html = readFileSync(join(dir, 'index.html'), 'utf8');
    expect((html.match(/data-kind="step"/g) ?? []).length).toBe(3);
    expect(html).toContain('<h2 id="scenario">Scenario zk-4785</h2>');
    expect(html).toContain('3 of 4 steps ran');
    expect(html).toContain('step 2 kill n3 (strike: 2 ms after its line)');
    expect(html).toMatch(/<tr class="hot"><td>3<\/td>.*no single leader within 60000 ms/);
    // The scenario's own kill is a fault window like any kill.
    expect(faultWindows(h.ops).map((w) => w.label)).toEqual(['kill n3']);
  });

  it('shows the verdict first and each anomaly with its cited operations highlighted', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-report-unit-'));
    dirs.push(dir);
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b<script>', z(1, 2));
    h.reads([['a', z(1, 1)]]);
    writeFileSync(join(dir, 'history.jsonl'), h.jsonl());
    writeFileSync(join(dir, 'results.json'), JSON.stringify(checkHistory(h.ops)));
    const report = writeReport(dir);
    const html = readFileSync(report.path, 'utf8');
    expect(html.indexOf('INVALID')).toBeLessThan(html.indexOf('id="timeline"'));
    expect(html).toContain('lost \u00d71');
    expect(html).toContain(`<tr class="hot"><td>${bi}</td>`);
    expect(html).toContain(`<tr class="hot"><td>${bo}</td>`);
    expect(html).not.toContain('b<script>');
    expect(html).toContain('b&lt;script&gt;');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('a crashed run: the banner says CRASHED with the cause; the final-phase marker is a line, not a fault window', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-report-unit-'));
    dirs.push(dir);
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.nemesis('heal', 'all');
    h.nemesis('heal', []);
    h.nemesis('final-phase', { boundMs: 30000, nodes: ['n1', 'n2', 'n3'] });
    h.reads([['a', z(1, 1)]]);
    expect(faultWindows(h.ops)).toEqual([]);
    writeFileSync(join(dir, 'history.jsonl'), h.jsonl());
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ ...checkHistory(h.ops), valid: 'unknown', crashed: 'toxiproxy <died> and did not come back' }));
    const html = readFileSync(writeReport(dir).path, 'utf8');
    expect(html).toContain('<span class="word">CRASHED</span>');
    expect(html).toContain('toxiproxy &lt;died&gt; and did not come back');
    expect(html).toContain('<g class="marker" data-kind="final-phase">');
  });

  it('checks the history itself when results.json is missing, and says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'zabkit-report-unit-'));
    dirs.push(dir);
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.reads([['a', z(1, 1)]]);
    writeFileSync(join(dir, 'history.jsonl'), h.jsonl());
    const html = readFileSync(writeReport(dir).path, 'utf8');
    expect(html).toContain('VALID');
    expect(html).toContain('results.json is missing');
  });
});
