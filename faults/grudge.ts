/**
 * Partition shapes as grudges (Jepsen's nemesis.clj): `grudge[dst]` lists the nodes whose traffic
 * `dst` drops. Pure functions; randomness comes in as an already shuffled node list.
 */
import type { Prng } from '../src/core/prng.js';

export type Grudge = Record<string, readonly string[]>;

/** Fisher–Yates with the seeded PRNG (a copy; the input is left alone). */
export function shuffle<T>(prng: Prng, items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = prng.int(i + 1);
    [copy[i], copy[j]] = [copy[j]!, copy[i]!];
  }
  return copy;
}

/** Split in two, the smaller half first. */
export function bisect<T>(items: readonly T[]): [T[], T[]] {
  const half = Math.floor(items.length / 2);
  return [items.slice(0, half), items.slice(half)];
}

/** Every node drops traffic from every node outside its component. */
export function completeGrudge(components: readonly (readonly string[])[]): Grudge {
  const all = components.flat();
  const grudge: Record<string, string[]> = {};
  for (const component of components) {
    for (const node of component) grudge[node] = all.filter((other) => !component.includes(other));
  }
  return grudge;
}

/** The nodes in two halves (Jepsen partition-halves; shuffle first for random halves). */
export function halvesGrudge(nodes: readonly string[]): Grudge {
  return completeGrudge(bisect(nodes));
}

/** `group` (e.g. the leader, or a minority holding it) cut off from everyone else. */
export function isolateGrudge(group: readonly string[], nodes: readonly string[]): Grudge {
  return completeGrudge([[...group], nodes.filter((node) => !group.includes(node))]);
}

/**
 * Each node of `alone` cut off by itself, the rest together (the end state of a handover: the old
 * leader, then the leader elected after it, each isolated in turn).
 */
export function isolateEachGrudge(alone: readonly string[], nodes: readonly string[]): Grudge {
  return completeGrudge([...alone.map((node) => [node]), nodes.filter((node) => !alone.includes(node))]);
}

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

/**
 * Every node sees a majority (itself included), but no two nodes see the same majority (Jepsen's
 * majorities-ring: in ring order, each node sees the window of `majority(n)` nodes centred on it).
 * Directional for an even window. Shuffle first for a random ring.
 */
export function majoritiesRingGrudge(nodes: readonly string[]): Grudge {
  const n = nodes.length;
  const m = majority(n);
  const grudge: Record<string, string[]> = {};
  for (let start = 0; start < n; start++) {
    const window = Array.from({ length: m }, (_, k) => nodes[(start + k) % n]!);
    const centre = window[Math.floor(m / 2)]!;
    grudge[centre] = nodes.filter((node) => !window.includes(node));
  }
  return grudge;
}

/**
 * Two halves, with one "bridge" node (the first of the larger half) keeping both directions to
 * everyone (Jepsen's bridge). Shuffle first for a random bridge.
 */
export function bridgeGrudge(nodes: readonly string[]): Grudge {
  const [small, large] = bisect(nodes);
  const bridge = large[0];
  const grudge = completeGrudge([small, large]);
  const result: Record<string, string[]> = {};
  for (const [node, dropped] of Object.entries(grudge)) {
    if (node === bridge) continue;
    result[node] = dropped.filter((other) => other !== bridge);
  }
  return result;
}

/** What `node` still hears from (itself included) under `grudge`. */
export function visibleFrom(grudge: Grudge, nodes: readonly string[], node: string): string[] {
  const dropped = grudge[node] ?? [];
  return nodes.filter((other) => !dropped.includes(other));
}

/** The directed cuts a grudge means: [from, to] pairs whose bytes are dropped. */
export function grudgeLinks(grudge: Grudge): [string, string][] {
  return Object.entries(grudge).flatMap(([to, froms]) => froms.map((from): [string, string] => [from, to]));
}
