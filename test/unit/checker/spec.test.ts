/**
 * The checker judges any history by interfaces.md, not only the shape today's runner writes:
 * several reads per node (the last one is the final state), observations after the final reads
 * began, the final phase and its probes. For each of the 13 anomalies, histories where it must be
 * found, and look-alikes (valid histories that look suspicious) where it must not; every example
 * cites history indices of real ops.
 */
import { describe, expect, it } from 'vitest';
import { anomalyNames, checkHistory, type AnomalyName } from '../../../jepsen-style/checker.js';
import { parseHistory } from '../../../jepsen-style/history.js';
import type { CheckResult } from '../../../jepsen-style/types.js';
import { expectCited, H, z, type D } from './builder.js';

function check(h: H): CheckResult {
  // The history is well formed for the reader too (so `zabkit check` judges it the same way).
  expect(parseHistory(h.jsonl()).ops).toEqual(h.ops);
  const result = checkHistory(h.ops);
  expect(result.error).toBeUndefined();
  expectCited(result, h.ops);
  return result;
}

type Example = Record<string, unknown>;
function examples(result: CheckResult, name: string): Example[] {
  return (result.anomalies[name]?.examples ?? []) as Example[];
}

interface Case {
  readonly title: string;
  readonly run: () => void;
}

const a1: D = ['a', z(1, 1)];
const b2: D = ['b', z(1, 2)];
const c3: D = ['c', z(1, 3)];

const found: Record<AnomalyName, Case[]> = {
  lost: [
    {
      title: 'missing from every final state, though an earlier read of the node held it',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const [bi, bo] = h.bcast(1, 'b', z(1, 2));
        h.read(101, 'n1', [a1, b2]); // a read during the run
        h.nemesis('power', { nodes: ['n1', 'n2', 'n3'] });
        h.nemesis('start', { nodes: ['n1', 'n2', 'n3'] });
        const last = h.reads([a1]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['lost']);
        expect(examples(r, 'lost')).toEqual([{ id: 'b', zxid: z(1, 2), missingFrom: ['n1', 'n2', 'n3'], everywhere: true, indices: [bi, bo, ...last] }]);
        expect(r.valid).toBe(false);
      },
    },
    {
      title: 'missing from one live node\'s final state (a node left behind), even when its earlier read held it',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const [bi, bo] = h.bcast(1, 'b', z(1, 2));
        h.read(103, 'n3', [a1, b2]);
        h.read(101, 'n1', [a1, b2]);
        h.read(102, 'n2', [a1, b2]);
        const behind = h.read(104, 'n3', [a1]);
        const r = check(h);
        expect(r.valid).toBe(false);
        expect(examples(r, 'lost')).toEqual([{ id: 'b', zxid: z(1, 2), missingFrom: ['n3'], everywhere: false, indices: [bi, bo, behind] }]);
        expect(r.anomalies['not-converged']?.count).toBe(1);
      },
    },
  ],
  'failed-delivered': [
    {
      title: 'a failed broadcast in a final state',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const xi = h.invoke(2, 'x');
        const xf = h.fail(2, 'x');
        const reads = h.reads([a1, ['x', z(1, 2)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['failed-delivered']);
        expect(examples(r, 'failed-delivered')[0]).toMatchObject({ id: 'x', indices: [xi, xf, reads[0]] });
      },
    },
  ],
  phantom: [
    {
      title: 'an id nobody invoked, in a final state',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const reads = h.reads([a1, ['ghost', z(1, 2)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['phantom']);
        expect(examples(r, 'phantom')[0]).toMatchObject({ id: 'ghost', indices: [reads[0]] });
      },
    },
  ],
  duplicate: [
    {
      title: 'an earlier read (during the run) that delivered an id twice',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.bcast(1, 'b', z(1, 2));
        const early = h.read(101, 'n1', [a1, a1]);
        h.reads([a1, b2]);
        const r = check(h);
        expect(r.valid).toBe(false);
        expect(examples(r, 'duplicate')).toEqual([{ kind: 'id', node: 'n1', id: 'a', positions: [0, 1], indices: [early] }]);
      },
    },
  ],
  'zxid-conflict': [
    {
      title: 'an id acknowledged at one zxid and observed at another',
      run: () => {
        const h = new H();
        const [, ao] = h.bcast(1, 'a', z(1, 1));
        const o = h.deliver(7, 'n2', 'a', z(1, 9));
        h.reads([a1]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['zxid-conflict']);
        expect(examples(r, 'zxid-conflict')[0]).toMatchObject({ kind: 'id-bound-to-two-zxids', id: 'a', indices: expect.arrayContaining([o]) });
        expect((examples(r, 'zxid-conflict')[0]?.indices as number[]).some((i) => i === ao || i > o)).toBe(true);
      },
    },
  ],
  divergence: [
    {
      title: 'a read during the run that disagrees with the final state at a position both hold',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.invoke(2, 'c');
        h.info(2, 'c');
        const early = h.read(102, 'n2', [a1, ['c', z(2, 1)]]);
        h.bcast(3, 'b', z(1, 2));
        const last = h.reads([a1, b2]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['divergence']);
        expect(examples(r, 'divergence')).toEqual([{ nodes: ['n1', 'n2'], position: 1, ids: ['b', 'c'], lengths: [2, 2], indices: [early, last[0]] }]);
      },
    },
  ],
  'zxid-order': [
    {
      title: 'zxids compared by value: 0x10 then 0x9 goes backwards',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(0, 16));
        h.bcast(2, 'b', z(0, 9));
        const reads = h.reads([['a', z(0, 16)], ['b', z(0, 9)]], 1);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['zxid-order']);
        expect(examples(r, 'zxid-order')[0]).toMatchObject({ zxids: ['0x10', '0x9'], indices: [reads[0]] });
      },
    },
  ],
  fifo: [
    {
      title: 'gap: a pipelined process whose later broadcast is delivered while its earlier info one is in no final state',
      run: () => {
        const h = new H();
        h.bcast(2, 'c', z(1, 1));
        const ai = h.invoke(1, 'a');
        const bi = h.invoke(1, 'b');
        const ax = h.info(1, 'a');
        h.info(1, 'b');
        const reads = h.reads([['c', z(1, 1)], ['b', z(1, 2)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['fifo']);
        expect(examples(r, 'fifo')).toEqual([{ kind: 'gap', process: 1, ids: ['a', 'b'], missing: 'a', outcome: 'info', indices: [ai, bi, ax, reads[0]] }]);
      },
    },
    {
      title: 'gap: the earlier broadcast never completed, the later one was acknowledged',
      run: () => {
        const h = new H();
        const ai = h.invoke(1, 'a');
        const bi = h.invoke(1, 'b');
        h.ok(1, 'b', z(1, 1));
        const reads = h.reads([['b', z(1, 1)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['fifo']);
        expect(examples(r, 'fifo')[0]).toMatchObject({ kind: 'gap', ids: ['a', 'b'], outcome: 'never completed', indices: [ai, bi, reads[0]] });
      },
    },
    {
      title: 'order: two pipelined broadcasts delivered in the other order (counted once, not also as a gap)',
      run: () => {
        const h = new H();
        const ai = h.invoke(1, 'a');
        const bi = h.invoke(1, 'b');
        h.ok(1, 'b', z(1, 1));
        h.ok(1, 'a', z(1, 2));
        h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['fifo']);
        expect(r.anomalies.fifo?.count).toBe(1);
        expect(examples(r, 'fifo')[0]).toMatchObject({ kind: 'order', ids: ['a', 'b'], indices: [ai, bi] });
      },
    },
  ],
  causal: [
    {
      title: 'B invoked after its process saw A acknowledged, yet ordered before A',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        const ao = h.ok(1, 'a', z(1, 2));
        const bi = h.invoke(1, 'b');
        h.ok(1, 'b', z(1, 1));
        h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        const r = check(h);
        // Same process, not pipelined: fifo is the most specific; a process's own ack is fifo too.
        expect(Object.keys(r.anomalies)).toEqual(['fifo']);
        expect(examples(r, 'fifo')[0]?.indices).toEqual([ao - 1, bi]);
        // Another process that saw A delivered: causal.
        const h2 = new H();
        h2.invoke(1, 'a');
        const seen = h2.deliver(3, 'n1', 'a', z(1, 2));
        h2.ok(1, 'a', z(1, 2));
        const bi2 = h2.invoke(3, 'b');
        h2.ok(3, 'b', z(1, 1));
        h2.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        const r2 = check(h2);
        expect(Object.keys(r2.anomalies)).toEqual(['causal']);
        expect(examples(r2, 'causal')[0]).toMatchObject({ process: 3, ids: ['a', 'b'], indices: [seen, bi2] });
      },
    },
  ],
  'real-time': [
    {
      title: 'A acknowledged before B was invoked by another process, yet B ordered before A',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        const ao = h.ok(1, 'a', z(1, 2));
        const bi = h.invoke(2, 'b');
        h.ok(2, 'b', z(1, 1));
        h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['real-time']);
        expect(examples(r, 'real-time')[0]).toMatchObject({ ids: ['a', 'b'], indices: [ao, bi] });
      },
    },
  ],
  'deliver-order': [
    {
      title: 'an observation recorded after the final reads began, of a message no final state holds',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.invoke(2, 'x');
        h.info(2, 'x');
        h.read(101, 'n1', [a1]);
        const o = h.deliver(7, 'n2', 'x', z(1, 2));
        h.read(102, 'n2', [a1]);
        h.read(103, 'n3', [a1]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['deliver-order']);
        expect(examples(r, 'deliver-order')).toEqual([{ kind: 'not-in-order', process: 7, node: 'n2', id: 'x', indices: [o] }]);
      },
    },
    {
      title: 'an observation of a message an earlier read held but no last read holds',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.invoke(2, 'x');
        h.info(2, 'x');
        const o = h.deliver(7, 'n1', 'x', z(1, 2));
        h.read(101, 'n1', [a1, ['x', z(1, 2)]]);
        h.reads([a1]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['deliver-order']);
        expect(examples(r, 'deliver-order')[0]).toMatchObject({ kind: 'not-in-order', id: 'x', indices: [o] });
      },
    },
    {
      title: 'a stream that goes backwards after the final reads began',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.bcast(1, 'b', z(1, 2));
        const reads = h.reads([a1, b2]);
        const o1 = h.deliver(7, 'n1', 'b', z(1, 2));
        const o2 = h.deliver(7, 'n1', 'a', z(1, 1));
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['deliver-order']);
        expect(examples(r, 'deliver-order')[0]).toMatchObject({ kind: 'reordered', indices: [o1, o2] });
        expect(reads.length).toBe(3);
      },
    },
  ],
  'not-converged': [
    {
      title: 'a live node behind on an indeterminate message (not lost: it was never acknowledged)',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.invoke(2, 'x');
        h.info(2, 'x');
        const r1 = h.read(101, 'n1', [a1, ['x', z(1, 2)]]);
        h.read(102, 'n2', [a1, ['x', z(1, 2)]]);
        const r3 = h.read(103, 'n3', [a1]);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['not-converged']);
        expect(examples(r, 'not-converged')).toEqual([{ node: 'n3', length: 1, longest: { node: 'n1', length: 2 }, indices: [r1, r3] }]);
      },
    },
  ],
  unavailable: [
    {
      title: 'every probe to a listed node failed or timed out within the bound',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const m = h.marker(50, ['n1', 'n2']);
        h.bcast(10, 'p1', z(1, 2), 'n1');
        const q1 = h.invoke(11, 'q1', 'n2');
        h.fail(11, 'q1', 'n2');
        const q2 = h.invoke(12, 'q2', 'n2');
        h.info(12, 'q2', 'n2');
        h.reads([a1, ['p1', z(1, 2)]], 2);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['unavailable']);
        expect(r.valid).toBe(false);
        expect(examples(r, 'unavailable')).toEqual([{ node: 'n2', heal: m, boundMs: 50, attempts: [q1, q2], attemptCount: 2, indices: [m, q1, q2] }]);
      },
    },
    {
      title: 'a probe acknowledged, but after the bound',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        const m = h.marker(5, ['n1']);
        const pi = h.invoke(10, 'p', 'n1');
        h.sleep(10);
        h.ok(10, 'p', z(1, 2), 'n1');
        h.reads([a1, ['p', z(1, 2)]], 1);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['unavailable']);
        expect(examples(r, 'unavailable')[0]).toMatchObject({ node: 'n1', heal: m, attempts: [pi] });
      },
    },
    {
      title: 'a broadcast invoked before the marker and acknowledged after it does not count; nor does one to another node',
      run: () => {
        const h = new H();
        h.invoke(1, 'w', 'n1');
        const m = h.marker(1000, ['n1', 'n2']);
        h.ok(1, 'w', z(1, 1), 'n1');
        h.bcast(10, 'p2', z(1, 2), 'n2');
        h.reads([['w', z(1, 1)], ['p2', z(1, 2)]], 2);
        const r = check(h);
        expect(Object.keys(r.anomalies)).toEqual(['unavailable']);
        expect(examples(r, 'unavailable')).toEqual([{ node: 'n1', heal: m, boundMs: 1000, attempts: [], attemptCount: 0, indices: [m] }]);
      },
    },
  ],
};

function expectValid(h: H): CheckResult {
  const r = check(h);
  expect(r.anomalies).toEqual({});
  expect(r.valid).toBe(true);
  return r;
}

const lookalikes: Record<AnomalyName, Case[]> = {
  lost: [
    {
      title: 'an early read without the message, then final states with it',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.bcast(1, 'b', z(1, 2));
        h.read(103, 'n3', [a1]);
        h.reads([a1, b2]);
        expectValid(h);
      },
    },
    {
      title: 'a node the final-phase marker does not list (not live) is behind',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.marker(1000, ['n1', 'n2']);
        h.bcast(10, 'p1', z(1, 2), 'n1');
        h.bcast(11, 'p2', z(1, 3), 'n2');
        const full: D[] = [a1, ['p1', z(1, 2)], ['p2', z(1, 3)]];
        h.read(101, 'n1', full);
        h.read(102, 'n2', full);
        h.read(103, 'n3', [a1]);
        const r = expectValid(h);
        expect(r.stats).toMatchObject({ finalPhases: 1, liveNodes: ['n1', 'n2'], nodesRead: ['n1', 'n2', 'n3'] });
      },
    },
  ],
  'failed-delivered': [
    {
      title: 'an info broadcast (it may have taken effect) delivered everywhere',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.invoke(2, 'x');
        h.info(2, 'x');
        h.reads([a1, ['x', z(1, 2)]]);
        expectValid(h);
      },
    },
  ],
  phantom: [
    {
      title: 'an observation of a message before its ok arrived',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.deliver(7, 'n2', 'a', z(1, 1));
        h.ok(1, 'a', z(1, 1));
        h.reads([a1]);
        expectValid(h);
      },
    },
  ],
  duplicate: [
    {
      title: 'one node read twice (during the run and at the end): the same messages in both reads',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.bcast(1, 'b', z(1, 2));
        h.read(101, 'n1', [a1, b2]);
        h.reads([a1, b2]);
        const r = expectValid(h);
        expect(r.stats).toMatchObject({ finalReads: 4, readLengths: { n1: 2, n2: 2, n3: 2 } });
      },
    },
  ],
  'zxid-conflict': [
    {
      title: 'one zxid spelled differently (leading zeros, upper-case hex) by the ack, an observation and a read',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.ok(1, 'a', '0x000000010000000A');
        h.deliver(7, 'n1', 'a', '0x10000000a');
        h.reads([['a', '0x010000000a']]);
        expectValid(h);
      },
    },
  ],
  divergence: [
    {
      title: 'reads of one node at different times, each a prefix of the next, and nodes of different epochs',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.read(101, 'n1', [a1]);
        h.bcast(1, 'b', z(1, 2));
        h.read(101, 'n1', [a1, b2]);
        h.nemesis('kill', { nodes: ['n1'] });
        h.bcast(2, 'c', z(2, 1), 'n2');
        h.nemesis('start', { nodes: ['n1'] });
        h.reads([a1, b2, ['c', z(2, 1)]]);
        expectValid(h);
      },
    },
  ],
  'zxid-order': [
    {
      title: 'a new epoch resets the counter; hex of different lengths (0x9 before 0x10)',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(0, 9));
        h.bcast(1, 'b', z(0, 16));
        h.bcast(1, 'c', z(1, 1));
        h.reads([['a', z(0, 9)], ['b', z(0, 16)], ['c', z(1, 1)]]);
        expectValid(h);
      },
    },
  ],
  fifo: [
    {
      title: 'a pipelined broadcast that definitely failed, the later ones delivered',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.invoke(1, 'b');
        h.invoke(1, 'c');
        h.ok(1, 'a', z(1, 1));
        h.fail(1, 'b');
        h.ok(1, 'c', z(1, 2));
        h.reads([a1, ['c', z(1, 2)]]);
        expectValid(h);
      },
    },
    {
      title: 'an info broadcast not delivered; the worker goes on under a new process id, delivered',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.info(1, 'a');
        h.bcast(2, 'b', z(1, 1));
        h.reads([['b', z(1, 1)]]);
        expectValid(h);
      },
    },
    {
      title: 'pipelined info broadcasts: the first delivered, the later not (a prefix, no hole)',
      run: () => {
        const h = new H();
        h.bcast(2, 'c', z(1, 1));
        h.invoke(1, 'a');
        h.invoke(1, 'b');
        h.info(1, 'a');
        h.info(1, 'b');
        h.reads([['c', z(1, 1)], ['a', z(1, 2)]]);
        expectValid(h);
      },
    },
  ],
  causal: [
    {
      title: 'a process saw A delivered only after it invoked B; B ordered before A',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.invoke(3, 'b');
        h.deliver(3, 'n1', 'a', z(1, 2));
        h.ok(3, 'b', z(1, 1));
        h.ok(1, 'a', z(1, 2));
        h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        expectValid(h);
      },
    },
  ],
  'real-time': [
    {
      title: 'overlapping broadcasts (A acknowledged after B was invoked), B ordered before A',
      run: () => {
        const h = new H();
        h.invoke(1, 'a');
        h.invoke(2, 'b');
        h.ok(1, 'a', z(1, 2));
        h.ok(2, 'b', z(1, 1));
        h.reads([['b', z(1, 1)], ['a', z(1, 2)]]);
        expectValid(h);
      },
    },
  ],
  'deliver-order': [
    {
      title: 'observations recorded after the final reads began, of probes every final state holds',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.marker(1000, ['n1', 'n2', 'n3']);
        h.invoke(10, 'p1', 'n1');
        h.read(101, 'n1', [a1, ['p1', z(1, 2)]]);
        h.deliver(7, 'n2', 'a', z(1, 1));
        h.deliver(7, 'n2', 'p1', z(1, 2));
        h.ok(10, 'p1', z(1, 2), 'n1');
        h.bcast(11, 'p2', z(1, 3), 'n2');
        h.bcast(12, 'p3', z(1, 4), 'n3');
        const all: D[] = [a1, ['p1', z(1, 2)], ['p2', z(1, 3)], ['p3', z(1, 4)]];
        h.read(101, 'n1', all);
        h.read(102, 'n2', all);
        h.deliver(7, 'n2', 'p3', z(1, 4));
        h.read(103, 'n3', all);
        expectValid(h);
      },
    },
  ],
  'not-converged': [
    {
      title: 'a node behind in the first round of final reads, caught up in the second',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.bcast(1, 'b', z(1, 2));
        h.read(101, 'n1', [a1, b2]);
        h.read(102, 'n2', [a1, b2]);
        h.read(103, 'n3', [a1]);
        h.read(103, 'n3', [a1, b2]);
        expectValid(h);
      },
    },
  ],
  unavailable: [
    {
      title: 'probes that fail, then a retry acknowledged within the bound; another node answering at once',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.marker(100, ['n1', 'n2']);
        h.invoke(10, 'q1', 'n2');
        h.fail(10, 'q1', 'n2');
        h.bcast(11, 'p1', z(1, 2), 'n1');
        h.invoke(10, 'q2', 'n2');
        h.info(10, 'q2', 'n2');
        h.bcast(12, 'q3', z(1, 3), 'n2');
        h.reads([a1, ['p1', z(1, 2)], ['q3', z(1, 3)]], 2);
        expectValid(h);
      },
    },
    {
      title: 'no final-phase marker (an older history, another tool): the check does not apply',
      run: () => {
        const h = new H();
        h.bcast(1, 'a', z(1, 1));
        h.nemesis('heal', null);
        h.invoke(2, 'x', 'n2');
        h.fail(2, 'x', 'n2');
        h.reads([a1], 2);
        expectValid(h);
      },
    },
  ],
};

describe('checker by the spec: each anomaly found, and look-alikes not', () => {
  it('covers all 13 anomalies of interfaces.md', () => {
    expect(anomalyNames.length).toBe(13);
    expect(Object.keys(found).sort()).toEqual([...anomalyNames].sort());
    expect(Object.keys(lookalikes).sort()).toEqual([...anomalyNames].sort());
    for (const name of anomalyNames) {
      expect(found[name].length, name).toBeGreaterThan(0);
      expect(lookalikes[name].length, name).toBeGreaterThan(0);
    }
  });
  for (const name of anomalyNames) {
    describe(name, () => {
      for (const c of found[name]) it(`found: ${c.title}`, c.run);
      for (const c of lookalikes[name]) it(`not found: ${c.title}`, c.run);
    });
  }
});

describe('final state', () => {
  it('several rounds of final reads after repeated outages: only each node\'s last read decides', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    h.read(101, 'n1', [a1]);
    h.read(102, 'n2', []);
    h.nemesis('kill', { nodes: ['n2'] });
    h.nemesis('start', { nodes: ['n2'] });
    h.bcast(1, 'b', z(2, 1));
    h.bcast(1, 'c', z(2, 2));
    h.reads([a1, ['b', z(2, 1)], ['c', z(2, 2)]], 2);
    const r = expectValid(h);
    expect(r.stats).toMatchObject({ finalReads: 4, agreedLength: 3, readLengths: { n1: 3, n2: 3 } });
  });

  it('the agreed order is a final state: an earlier, longer read does not make the final states divergent', () => {
    const h = new H();
    h.bcast(1, 'a', z(1, 1));
    const [bi, bo] = h.bcast(1, 'b', z(1, 2));
    h.read(101, 'n1', [a1, b2, c3]); // c was never invoked: phantom, wherever it was read
    h.reads([a1]);
    const r = check(h);
    expect(Object.keys(r.anomalies).sort()).toEqual(['lost', 'phantom']);
    expect(r.anomalies.lost?.examples[0]).toMatchObject({ id: 'b', everywhere: true, indices: expect.arrayContaining([bi, bo]) });
    expect(r.stats).toMatchObject({ agreedLength: 1, heldOnlyByEarlierReads: 2 });
  });
});
