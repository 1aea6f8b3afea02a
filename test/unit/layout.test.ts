/**
 * The layout rules of docs/ARCHITECTURE.md, checked on the import statements of every .ts file
 * (outside node_modules and dist): no import cycle among files, none among the top-level folders,
 * the testbed's layers point one way (interfaces <- engines <- systems), src/ imports only src/,
 * and the testbed never imports src/server or cli/. ESLint has the last two as well; this test
 * adds the cycles and the layers.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const skipped = new Set(['node_modules', 'dist', '.git', 'store', 'coverage']);

function tsFiles(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    if (skipped.has(name) || name.startsWith('.')) continue;
    const full = path.join(dir, name);
    const stat = statSync(full);
    if (stat.isDirectory()) tsFiles(full, out);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path.relative(root, full).split(path.sep).join('/'));
  }
  return out;
}

/** Repository-relative .ts files each file imports (static, dynamic, re-exports, type-only alike). */
function importGraph(): Map<string, string[]> {
  const files = tsFiles(root, []);
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(path.join(root, file), 'utf8'), true, true);
    const targets: string[] = [];
    for (const ref of info.importedFiles) {
      if (!ref.fileName.startsWith('.')) continue; // a package
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(file), ref.fileName)).replace(/\.js$/, '.ts');
      const target = known.has(resolved) ? resolved : known.has(`${resolved}/index.ts`) ? `${resolved}/index.ts` : resolved;
      targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Strongly connected components with more than one member, or a self-loop (Tarjan). */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      for (;;) {
        const w = stack.pop() as string;
        onStack.delete(w);
        component.push(w);
        if (w === v) break;
      }
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

const topFolders = ['cli', 'src', 'cluster', 'faults', 'jepsen-style', 'bench', 'test'] as const;
const testbed = ['cluster/', 'faults/', 'jepsen-style/'];

function topFolder(file: string): string | undefined {
  const first = file.split('/')[0] as string;
  return (topFolders as readonly string[]).includes(first) ? first : undefined;
}

/**
 * The testbed's layers (docs/ARCHITECTURE.md), bottom first. 0 interfaces: the small interfaces,
 * the nemesis op vocabulary, async and zxid helpers; they import nothing else of the testbed.
 * 1 engines: workload, runner, nemesis, net, history, checker, report, store, cluster assembly.
 * 2 systems: zabkit and ZooKeeper, plugged in at the top (their Dbs, clients, and cli/systems.ts).
 */
const interfaceFiles = new Set(['jepsen-style/types.ts', 'jepsen-style/vocabulary.ts', 'jepsen-style/async.ts', 'jepsen-style/zxid.ts']);
const systemFiles = [/^cluster\/zabkit\//, /^cluster\/zookeeper\//, /^cli\/systems\.ts$/];

function layer(file: string): number | undefined {
  if (interfaceFiles.has(file)) return 0;
  if (systemFiles.some((pattern) => pattern.test(file))) return 2;
  if (testbed.some((prefix) => file.startsWith(prefix))) return 1;
  return undefined;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, targets]) => targets.map((to) => ({ from, to })));

describe('layout', () => {
  it('reads a sensible number of files and imports', () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
  });

  it('every relative import names a file that exists', () => {
    expect(edges.filter(({ to }) => !graph.has(to)).map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('has no import cycle among files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('has no import cycle among the top-level folders', () => {
    const folders = new Map<string, string[]>(topFolders.map((folder) => [folder, []]));
    for (const { from, to } of edges) {
      const a = topFolder(from);
      const b = topFolder(to);
      if (a !== undefined && b !== undefined && a !== b && !(folders.get(a) as string[]).includes(b)) (folders.get(a) as string[]).push(b);
    }
    expect(cycles(folders)).toEqual([]);
  });

  it("the testbed's layers point one way: interfaces <- engines <- systems", () => {
    const upward = edges.filter(({ from, to }) => {
      const a = layer(from);
      const b = layer(to);
      return a !== undefined && b !== undefined && b > a;
    });
    expect(upward.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
    const interfacesImporting = edges.filter(({ from, to }) => layer(from) === 0 && !interfaceFiles.has(to) && !to.startsWith('src/core/'));
    expect(interfacesImporting.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('src/ imports only src/', () => {
    expect(edges.filter(({ from, to }) => from.startsWith('src/') && !to.startsWith('src/')).map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('the testbed never imports src/server or cli/', () => {
    const bad = edges.filter(({ from, to }) => testbed.some((prefix) => from.startsWith(prefix)) && (to.startsWith('src/server/') || to.startsWith('cli/')));
    expect(bad.map(({ from, to }) => `${from} -> ${to}`)).toEqual([]);
  });

  it('finds a cycle when there is one (the checks are not vacuous)', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
  });
});
