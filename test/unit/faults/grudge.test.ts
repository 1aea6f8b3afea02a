import { describe, expect, it } from 'vitest';
import { bridgeGrudge, grudgeLinks, halvesGrudge, isolateGrudge, majoritiesRingGrudge, majority, shuffle, visibleFrom, type Grudge } from '../../../faults/grudge.js';
import { createPrng } from '../../../src/core/prng.js';

const cluster = (n: number): string[] => Array.from({ length: n }, (_, i) => `n${i + 1}`);

/** Grudge only names known nodes, never a node dropping itself. */
function wellFormed(grudge: Grudge, nodes: string[]): void {
  for (const [node, dropped] of Object.entries(grudge)) {
    expect(nodes).toContain(node);
    expect(dropped).not.toContain(node);
    for (const other of dropped) expect(nodes).toContain(other);
  }
}

describe('grudge builders', () => {
  it.each([2, 3, 4, 5, 7, 9])('halves of %i nodes: two complete components, smaller first', (n) => {
    const nodes = cluster(n);
    const grudge = halvesGrudge(nodes);
    wellFormed(grudge, nodes);
    const small = nodes.slice(0, Math.floor(n / 2));
    for (const node of nodes) {
      const side = small.includes(node) ? small : nodes.filter((x) => !small.includes(x));
      expect(visibleFrom(grudge, nodes, node)).toEqual(side);
    }
    // symmetric: every cut link is cut both ways
    const links = grudgeLinks(grudge).map(([a, b]) => `${a}>${b}`);
    for (const [a, b] of grudgeLinks(grudge)) expect(links).toContain(`${b}>${a}`);
    expect(links.length).toBe(2 * small.length * (n - small.length));
  });

  it.each([3, 4, 5, 6, 7, 9])('majorities ring of %i nodes: each sees a majority, no two the same one', (n) => {
    const nodes = shuffle(createPrng(n), cluster(n));
    const grudge = majoritiesRingGrudge(nodes);
    wellFormed(grudge, nodes);
    const views = nodes.map((node) => visibleFrom(grudge, nodes, node));
    for (const [i, view] of views.entries()) {
      expect(view).toContain(nodes[i]);
      expect(view.length).toBe(majority(n));
    }
    expect(new Set(views.map((view) => [...view].sort().join(','))).size).toBe(n);
    // and no node sees everyone: it is a real partition
    expect(views.every((view) => view.length < n)).toBe(true);
  });

  it.each([3, 4, 5, 7])('bridge of %i nodes: one node hears and is heard by all; the halves are cut', (n) => {
    const nodes = cluster(n);
    const grudge = bridgeGrudge(nodes);
    wellFormed(grudge, nodes);
    const bridge = nodes[Math.floor(n / 2)]!;
    expect(grudge[bridge]).toBeUndefined();
    for (const dropped of Object.values(grudge)) expect(dropped).not.toContain(bridge);
    const small = nodes.slice(0, Math.floor(n / 2));
    const large = nodes.slice(Math.floor(n / 2)).filter((x) => x !== bridge);
    for (const a of small) for (const b of large) {
      expect(grudge[a]).toContain(b);
      expect(grudge[b]).toContain(a);
    }
  });

  it('isolating a group cuts it from the rest in both directions and nothing else', () => {
    const nodes = cluster(5);
    const grudge = isolateGrudge(['n2', 'n4'], nodes);
    expect(visibleFrom(grudge, nodes, 'n2')).toEqual(['n2', 'n4']);
    expect(visibleFrom(grudge, nodes, 'n1')).toEqual(['n1', 'n3', 'n5']);
    expect(grudgeLinks(grudge).length).toBe(12);
  });
});
