/**
 * `DIR/cluster.json` (cluster/types.ts) plus a registry copy under os.tmpdir()/zabkit-runs/, so a
 * later run finds what a SIGKILLed runner left behind wherever its directory was: runnerPid dead
 * (and not a background `cluster up`) → kill its recorded process groups, unmount its fault
 * filesystems, remove its proxies and its port locks. Every pid is checked against its recorded command line before it is signalled.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepStaleLocks } from './ports.js';
import { commandLine, isAlive, killGroup, signalGroup } from './proc.js';
import { waitFor } from '../jepsen-style/async.js';
import { ToxiproxyApi } from './toxiproxy.js';
import type { ClusterFile } from './types.js';
import { isMounted } from './faultfs.js';
import { execa } from 'execa';

export const clusterFileName = 'cluster.json';

export function registryDirectory(): string {
  return join(tmpdir(), 'zabkit-runs');
}

function registryFile(clusterId: string): string {
  return join(registryDirectory(), `${clusterId}.json`);
}

function writeAtomic(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, file);
}

/** Write DIR/cluster.json and its registry copy. */
export function writeClusterFile(cluster: ClusterFile): void {
  const text = `${JSON.stringify(cluster, null, 2)}\n`;
  mkdirSync(cluster.dir, { recursive: true });
  writeAtomic(join(cluster.dir, clusterFileName), text);
  mkdirSync(registryDirectory(), { recursive: true });
  writeAtomic(registryFile(cluster.clusterId), text);
}

export function readClusterFile(dir: string): ClusterFile {
  const file = join(dir, clusterFileName);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`no cluster at ${dir} (${file} not found)`);
  }
  const cluster = JSON.parse(text) as ClusterFile;
  if (cluster.version !== 1) throw new Error(`${file}: unsupported version ${String(cluster.version)}`);
  return cluster;
}

export function unregisterCluster(clusterId: string): void {
  rmSync(registryFile(clusterId), { force: true });
}

export function registeredClusters(): ClusterFile[] {
  let names: string[];
  try {
    names = readdirSync(registryDirectory());
  } catch {
    return [];
  }
  const clusters: ClusterFile[] = [];
  for (const name of names) {
    if (!name.endsWith('.json')) continue;
    try {
      clusters.push(JSON.parse(readFileSync(join(registryDirectory(), name), 'utf8')) as ClusterFile);
    } catch {
      // half-written by a live runner: skip
    }
  }
  return clusters;
}

/** A cluster some live process still owns (its runner lives, or it was started to outlive it). */
export function clusterIsOwned(cluster: ClusterFile): boolean {
  return cluster.background === true || isAlive(cluster.runnerPid);
}

/** Is the registered cluster with this id (a port lock's owner) still kept by someone? */
export function ownerIsLive(clusterId: string): boolean {
  try {
    return clusterIsOwned(JSON.parse(readFileSync(registryFile(clusterId), 'utf8')) as ClusterFile);
  } catch {
    return false;
  }
}

/**
 * Stop everything a cluster file records: node process groups, its proxies (when Toxiproxy is
 * shared), the Toxiproxy we started, its port locks and its registry entry. Leaves logs and data.
 * Never throws; returns what it did.
 */
export async function destroyCluster(cluster: ClusterFile): Promise<string[]> {
  const done: string[] = [];
  await Promise.all(cluster.nodes.map(async (node) => {
    if (node.pid === undefined || !isAlive(node.pid)) return;
    if (!(commandLine(node.pid) ?? '').includes(node.configFile)) return; // pid reused by someone else
    await killGroup(node.pid);
    done.push(`killed ${node.name} (pid ${node.pid})`);
  }));
  for (const disk of cluster.disks ?? []) {
    if (isAlive(disk.pid) && (commandLine(disk.pid) ?? '').includes(disk.mountpoint)) {
      signalGroup(disk.pid, 'SIGCONT');
      signalGroup(disk.pid, 'SIGTERM');
      if (!(await waitFor(() => !isAlive(disk.pid), 10_000, 50))) await killGroup(disk.pid);
      done.push(`stopped the fault filesystem of ${disk.node} (pid ${disk.pid})`);
    }
    if (isMounted(disk.mountpoint)) {
      await execa('umount', ['-l', disk.mountpoint], { reject: false, timeout: 10_000 });
      done.push(`unmounted ${disk.mountpoint}`);
    }
  }
  if (cluster.toxiproxy) {
    const api = new ToxiproxyApi(cluster.toxiproxy.url, 2000);
    const pid = cluster.toxiproxy.pid;
    if (pid !== undefined && isAlive(pid) && (commandLine(pid) ?? '').includes('toxiproxy')) {
      signalGroup(pid, 'SIGTERM');
      if (!(await waitFor(() => !isAlive(pid), 3000, 20))) await killGroup(pid);
      done.push(`stopped toxiproxy (pid ${pid})`);
    } else if (pid === undefined) {
      const removed = await Promise.all(cluster.proxies.map((proxy) => api.remove(proxy.name).then(() => true, () => false)));
      done.push(`removed ${removed.filter(Boolean).length} proxies`);
    }
  }
  for (const lock of cluster.portLocks ?? []) {
    try {
      const owner = (JSON.parse(readFileSync(lock, 'utf8')) as { owner: string }).owner;
      if (owner === cluster.clusterId) rmSync(lock, { force: true });
    } catch {
      // gone already
    }
  }
  unregisterCluster(cluster.clusterId);
  return done;
}

/** Clean up after runners that died without tearing down (SIGKILL). Never throws. */
export async function cleanupStaleClusters(log: (line: string) => void = () => {}): Promise<number> {
  let cleaned = 0;
  for (const cluster of registeredClusters()) {
    if (clusterIsOwned(cluster)) continue;
    const done = await destroyCluster(cluster).catch((error: unknown) => [`error: ${String(error)}`]);
    log(`zabkit: cleaned up cluster ${cluster.clusterId} left by dead runner ${cluster.runnerPid}: ${done.join(', ') || 'nothing running'}`);
    cleaned++;
  }
  sweepStaleLocks(ownerIsLive);
  return cleaned;
}
