/**
 * docker-compose.yml cannot run here (no Docker engine), so this test runs the same topology without
 * Docker: a Toxiproxy started apart and reached by URL, the runner's command taken from the compose
 * file with its service names and wildcard binds replaced by loopback addresses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, toxiproxyBinary, cliPath } from '../helpers.js';
import { allocatePorts, type PortBlock } from '../../../cluster/ports.js';

function composeRunnerArgs(): string[] {
  const text = readFileSync(path.join(repoRoot, 'docker-compose.yml'), 'utf8');
  const match = /runner:[\s\S]*?command: >-\n((?:\s{6}.*\n)+)/.exec(text);
  if (!match?.[1]) throw new Error('no runner command in docker-compose.yml');
  const command = match[1].split('\n').map((line) => line.trim()).join(' ').trim();
  // ${ZABKIT_TEST_ARGS:-default} -> default
  const expanded = command.replace(/\$\{ZABKIT_TEST_ARGS:-([^}]*)\}/, '$1');
  return expanded.split(/\s+/).filter(Boolean);
}

describe('the docker-compose topology, without Docker', () => {
  let toxiproxy: ResultPromise | undefined;
  let url = '';
  let store = '';
  let ports: PortBlock | undefined;

  beforeAll(async () => {
    store = mkdtempSync(path.join(os.tmpdir(), 'zabkit-compose-'));
    ports = await allocatePorts({ count: 1, owner: `it-compose-${process.pid}` });
    const port = ports.take();
    url = `http://127.0.0.1:${port}`;
    toxiproxy = execa(toxiproxyBinary(), ['-host', '127.0.0.1', '-port', String(port)], { env: { LOG_LEVEL: 'warn' }, reject: false });
    for (let attempt = 0; attempt < 100; attempt++) {
      const up = await fetch(`${url}/version`).then((response) => response.ok, () => false);
      if (up) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('toxiproxy did not start');
  });

  afterAll(async () => {
    toxiproxy?.kill('SIGTERM');
    await toxiproxy?.catch(() => undefined);
    ports?.release();
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it("runs the compose file's runner command against a Toxiproxy reached by URL and stores a valid run", async () => {
    const args = composeRunnerArgs()
      .map((arg) => (arg === 'http://toxiproxy:8474' ? url : arg))
      .map((arg) => (arg === 'toxiproxy' || arg === 'runner' || arg === '0.0.0.0' ? '127.0.0.1' : arg))
      .map((arg) => (arg === '/store' ? store : arg));
    expect(args[0]).toBe('test');
    expect(args).toContain('--toxiproxy-url');
    // Keep the run short on a 2-core machine: override the default workload of the compose file.
    const overridden = replaceOption(replaceOption(replaceOption(args, '--time-limit', '8'), '--nodes', '3'), '--nemesis', 'partition');
    const result = await execa('node', [cliPath, ...overridden, '--seed', '7', '--name', 'compose'], { reject: false, all: true, timeout: 240_000 });
    expect(result.all).toContain('seed=7');
    expect(result.exitCode, result.all).toBe(0);
    const runDir = path.join(store, 'compose', 'latest');
    for (const file of ['test.json', 'history.jsonl', 'results.json', 'index.html']) {
      expect(existsSync(path.join(runDir, file)), file).toBe(true);
    }
    // The Toxiproxy we started is left as we found it: no proxies of the run remain.
    const proxies = (await (await fetch(`${url}/proxies`)).json()) as Record<string, unknown>;
    expect(Object.keys(proxies)).toEqual([]);
  });
});

function replaceOption(args: string[], name: string, value: string): string[] {
  const index = args.indexOf(name);
  if (index < 0) return [...args, name, value];
  const copy = [...args];
  copy[index + 1] = value;
  return copy;
}
