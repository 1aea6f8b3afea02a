/**
 * `DIR/cluster.json`: what `zabkit cluster up` (and `zabkit test`) leave behind to describe a running
 * cluster. `zabkit cluster status|down` and `zabkit client ... --cluster FILE` read it.
 */
export interface ClusterFile {
  readonly version: 1;
  readonly system: 'zabkit' | 'zookeeper';
  readonly clusterId: string;
  readonly dir: string;
  /** PID of the process that started the cluster (a dead runner's leftovers are cleaned by the next run). */
  readonly runnerPid: number;
  readonly createdAt: string;
  readonly toxiproxy: {
    readonly url: string;
    /** Set when we started it (we stop it at teardown); absent when it was given by --toxiproxy-url. */
    readonly pid?: number;
  } | null;
  readonly nodes: readonly ClusterNode[];
  /** One proxy per directed link: `from` dials `to` through `listen`, which forwards to `upstream`. */
  readonly proxies: readonly ClusterProxy[];
  /** True for `zabkit cluster up`: meant to outlive its runner; only `cluster down` removes it. */
  readonly background?: boolean;
  /** Port lock files held by this cluster (cluster/ports.ts), removed at teardown. */
  readonly portLocks?: readonly string[];
  /** Where toxiproxy-server's output goes, when we started it. */
  readonly toxiproxyLog?: string;
  /** The fault filesystems mounted under the nodes' data (cluster/faultfs.ts): unmounted at teardown. */
  readonly disks?: readonly ClusterDisk[];
}

export interface ClusterDisk {
  readonly node: string;
  readonly mountpoint: string;
  readonly backing: string;
  readonly pid: number;
  readonly control: string;
}

export interface ClusterNode {
  /** "n1".."n9" */
  readonly name: string;
  readonly id: number;
  readonly clientHost: string;
  readonly clientPort: number;
  readonly peerHost: string;
  readonly peerPort: number;
  /** Process id of the node (its process group id too: nodes are started detached). */
  readonly pid: number | undefined;
  readonly dataDir: string;
  readonly logFile: string;
  readonly configFile: string;
}

export interface ClusterProxy {
  /** URL-safe name, e.g. "zk-n1-n2" or "n1-n2-election". */
  readonly name: string;
  readonly from: string;
  readonly to: string;
  readonly listen: string;
  readonly upstream: string;
  /** Which of the link's connections this proxy carries, when a link has several (e.g. "quorum", "election"). */
  readonly channel?: string;
}
