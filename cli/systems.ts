/**
 * Builds a run's environment for one system under test: the Db (real processes behind one Toxiproxy
 * proxy per directed link), the Net over those proxies, the nemesis, the seeded fault schedule and
 * the workload's client factory. The same nemesis, schedule and checker serve both systems.
 * Toxiproxy is supervised for the whole run (cluster/toxiproxy-supervisor.ts): restarted and
 * rebuilt if it dies, reported fatal if it cannot be.
 */
import type { RunEnvironment } from '../jepsen-style/runner.js';
import type { CreateEnvironment, TestCliOptions } from '../jepsen-style/run-test.js';
import { createZabkitDb, repoRoot } from '../cluster/zabkit/db.js';
import { createZookeeperCluster } from '../cluster/zookeeper/cluster.js';
import { createNemesis, generateSchedule } from '../faults/index.js';
import { parsePackages } from '../jepsen-style/vocabulary.js';
import { writeClusterFile } from '../cluster/cluster-file.js';
import { handleOf } from '../cluster/toxiproxy.js';
import { superviseToxiproxy } from '../cluster/toxiproxy-supervisor.js';
import { zabkitClientFactory } from '../cluster/zabkit/client.js';
import { zookeeperClientFactory } from '../cluster/zookeeper/client.js';

export const createEnvironment: CreateEnvironment = async (options: TestCliOptions, runDir: string, log: (line: string) => void): Promise<RunEnvironment> => {
  const packages = parsePackages(options.nemesis.join(','));
  const schedule = generateSchedule({
    packages,
    seed: options.seed,
    intervalSeconds: options.nemesisIntervalSeconds,
    timeLimitSeconds: options.timeLimitSeconds,
  });

  if (options.system === 'zabkit') {
    const db = createZabkitDb({
      nodes: options.nodes,
      dir: runDir,
      ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
      bugs: options.bug ? [options.bug] : [],
      seed: options.seed,
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
      db, nemesis, factory: zabkitClientFactory(), schedule, ...(supervisor ? { supervisor } : {}),
      close: async () => { supervisor?.stop(); },
    };
  }

  const cluster = await createZookeeperCluster({
    dir: runDir,
    nodes: options.nodes,
    repoRoot: repoRoot(),
    ...(options.toxiproxyUrl ? { toxiproxyUrl: options.toxiproxyUrl } : {}),
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
    db: cluster.db, nemesis, factory: zookeeperClientFactory(), schedule, ...(supervisor ? { supervisor } : {}),
    close: async () => { supervisor?.stop(); await cluster.close(); },
  };
};
