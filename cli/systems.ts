/**
 * Builds a run's environment for one system under test: the Db (real processes behind one Toxiproxy
 * proxy per directed link), the Net over those proxies, the nemesis, the seeded fault schedule and
 * the workload's client factory. The same nemesis, schedule and checker serve both systems.
 * Toxiproxy is supervised for the whole run (cluster/toxiproxy-supervisor.ts): restarted and
 * rebuilt if it dies, reported fatal if it cannot be.
 */
import type { RunEnvironment, Script } from '../jepsen-style/runner.js';
import type { Db, HealableNet } from '../jepsen-style/types.js';
import { createScenarioScript } from '../faults/scenario.js';
import type { CreateEnvironment, TestCliOptions } from '../jepsen-style/run-test.js';
import { createZabkitDb, repoRoot } from '../cluster/zabkit/db.js';
import { createZookeeperCluster } from '../cluster/zookeeper/cluster.js';
import { createNemesis, generateSchedule } from '../faults/index.js';
import { parsedPackages } from '../jepsen-style/vocabulary.js';
import { writeClusterFile } from '../cluster/cluster-file.js';
import { handleOf } from '../cluster/toxiproxy.js';
import { superviseToxiproxy } from '../cluster/toxiproxy-supervisor.js';
import { zabkitClientFactory } from '../cluster/zabkit/client.js';
import { zookeeperClientFactory } from '../cluster/zookeeper/client.js';
import { ensureFaultFsBinary, faultFsSupport } from '../cluster/faultfs.js';
import { existsSync } from 'node:fs';
import { UsageError } from '../jepsen-style/types.js';

/** --fault-filesystem: the binary to mount under every node's data, or why there is none. */
async function faultFsChoice(options: TestCliOptions, log: (line: string) => void): Promise<{ binary?: string; record: { used: boolean; why?: string } }> {
  const wanted = options.faultFilesystem ?? 'auto';
  if (wanted === 'off') return { record: { used: false, why: '--fault-filesystem off' } };
  if (existsSync('/dev/fuse')) await ensureFaultFsBinary(repoRoot(), log);
  const support = faultFsSupport(repoRoot());
  if (support.ok) return { binary: support.binary, record: { used: true } };
  if (wanted === 'on') throw new UsageError(`--fault-filesystem on: ${support.why}`);
  return { record: { used: false, why: support.why } };
}

export const createEnvironment: CreateEnvironment = async (options: TestCliOptions, runDir: string, log: (line: string) => void): Promise<RunEnvironment> => {
  const packages = parsedPackages(options.nemesis);
  const faultFs = await faultFsChoice(options, log);
  // A scenario replaces the random schedule; its steps run through the same Db and Net.
  const schedule = options.scenario !== undefined ? [] : generateSchedule({
    packages,
    seed: options.seed,
    intervalSeconds: options.nemesisIntervalSeconds,
    timeLimitSeconds: options.timeLimitSeconds,
  });
  const scriptFor = (db: Db, net: HealableNet | undefined): { script?: Script } => options.scenario === undefined ? {} : {
    script: createScenarioScript({ scenario: options.scenario.scenario, system: options.system, db, ...(net ? { net } : {}), seed: options.seed }),
  };

  if (options.system === 'zabkit') {
    const db = createZabkitDb({
      nodes: options.nodes,
      dir: runDir,
      ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
      bugs: options.bug ? [options.bug] : [],
      seed: options.seed,
      ...(faultFs.binary !== undefined ? { faultFs: faultFs.binary } : {}),
      hosts: {
        bind: options.bindHost,
        proxyListen: options.proxyListenHost,
        proxyDial: options.proxyHost,
        nodeUpstream: options.nodeHost,
      },
      log,
    });
    try {
      await db.setup();
    } catch (error) {
      await db.teardown();
      throw error;
    }
    const net = db.net();
    const api = db.toxiproxyApi();
    const handle = api ? handleOf(api) : undefined;
    // After a restart the pid changed: cluster.json must name the new one, for a later cleanup.
    const supervisor = handle ? superviseToxiproxy({
      handle, net,
      onEvent: (event) => { if (event.f === 'toxiproxy-restored') { try { writeClusterFile(db.clusterFile()); } catch { /* best effort */ } } },
    }) : undefined;
    const nemesis = createNemesis({ db, net, seed: options.seed });
    return {
      db, nemesis, factory: zabkitClientFactory(), schedule, ...scriptFor(db, net), ...(supervisor ? { supervisor } : {}), faultFilesystem: faultFs.record,
      close: async () => { supervisor?.stop(); },
    };
  }

  const fromScenario = options.scenario?.scenario.zookeeper;
  const cluster = await createZookeeperCluster({
    dir: runDir,
    nodes: options.nodes,
    repoRoot: repoRoot(),
    version: options.zookeeper.version,
    // The scenario's settings first; the command line's over them.
    properties: { ...(fromScenario?.properties ?? {}), ...options.zookeeper.properties },
    jvmFlags: [...(fromScenario?.jvmFlags ?? []), ...options.zookeeper.jvmFlags],
    ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
    ...(faultFs.binary !== undefined ? { faultFs: faultFs.binary } : {}),
    log,
  });
  try {
    await cluster.db.setup();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  const supervisor = cluster.toxiproxy && cluster.net ? superviseToxiproxy({ handle: cluster.toxiproxy, net: cluster.net }) : undefined;
  const nemesis = createNemesis({ db: cluster.db, ...(cluster.net ? { net: cluster.net } : {}), seed: options.seed });
  return {
    db: cluster.db, nemesis, factory: zookeeperClientFactory(), schedule, ...scriptFor(cluster.db, cluster.net), ...(supervisor ? { supervisor } : {}), faultFilesystem: faultFs.record,
    close: async () => { supervisor?.stop(); await cluster.close(); },
  };
};
