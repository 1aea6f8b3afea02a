/**
 * Files and command line of one Apache ZooKeeper server (Debian's zookeeper 3.8 package, run directly
 * with java: org.apache.zookeeper.server.quorum.QuorumPeerMain). Pure functions: no I/O here except
 * locating the jars.
 */
import { existsSync } from 'node:fs';

export type ZkLinkKind = 'quorum' | 'election';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Real listen ports of one ZooKeeper server. */
export interface ZkNodePorts {
  readonly client: number;
  readonly quorum: number;
  readonly election: number;
}

/** ZooKeeper's timing. Defaults match zabkit's: tickTime x syncLimit = 50 ms x 10 = 500 ms. */
export interface ZkTiming {
  readonly tickMs: number;
  readonly initLimit: number;
  readonly syncLimit: number;
}

export const defaultZkTiming: ZkTiming = { tickMs: 50, initLimit: 20, syncLimit: 10 };

export interface ZooCfgInput {
  readonly id: number;
  readonly dataDir: string;
  readonly host: string;
  readonly ports: ZkNodePorts;
  readonly timing: ZkTiming;
  /** Every voting member (this one included): the address THIS server dials it at, per link kind. */
  readonly servers: readonly { readonly id: number; readonly quorum: HostPort; readonly election: HostPort }[];
  readonly forceSync: boolean;
  /** Upper bound a client may negotiate; the default (20 ticks = 1 s at tickTime 50) expires sessions during short faults. */
  readonly maxSessionTimeoutMs: number;
}

/** zoo.cfg: server.i is this server's own real listen address; server.j is where it dials j. */
export function renderZooCfg(input: ZooCfgInput): string {
  const lines = [
    `# written by zabkit (cluster/zookeeper/db.ts) for server ${input.id}`,
    `tickTime=${input.timing.tickMs}`,
    `initLimit=${input.timing.initLimit}`,
    `syncLimit=${input.timing.syncLimit}`,
    `dataDir=${input.dataDir}`,
    `clientPort=${input.ports.client}`,
    `clientPortAddress=${input.host}`,
    `forceSync=${input.forceSync ? 'yes' : 'no'}`,
    '4lw.commands.whitelist=srvr,mntr,stat,ruok,conf',
    'admin.enableServer=false',
    `maxSessionTimeout=${input.maxSessionTimeoutMs}`,
    'maxClientCnxns=0',
    'standaloneEnabled=false',
    'reconfigEnabled=false',
    'autopurge.purgeInterval=0',
  ];
  for (const server of input.servers) {
    if (server.id === input.id) {
      lines.push(`server.${server.id}=${input.host}:${input.ports.quorum}:${input.ports.election}:participant`);
    } else {
      if (server.quorum.host !== server.election.host) {
        throw new Error(`server.${server.id}: quorum and election addresses must share a host in zoo.cfg`);
      }
      lines.push(`server.${server.id}=${server.quorum.host}:${server.quorum.port}:${server.election.port}:participant`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** log4j 1.2 configuration (Debian binds slf4j to log4j 1.2): everything to one file. */
export function renderLog4j(logFile: string): string {
  return [
    'log4j.rootLogger=INFO, FILE',
    'log4j.appender.FILE=org.apache.log4j.FileAppender',
    `log4j.appender.FILE.File=${logFile}`,
    'log4j.appender.FILE.Append=true',
    'log4j.appender.FILE.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n',
    '',
  ].join('\n');
}

/** Debian's jars: zookeeper.jar (its manifest Class-Path brings netty, jute, ...) plus a log4j binding. */
export const debianClasspath: readonly string[] = [
  '/usr/share/java/zookeeper.jar',
  '/usr/share/java/slf4j-log4j12.jar',
  '/usr/share/java/log4j-1.2.jar',
];

/** The classpath to run ZooKeeper with: ZABKIT_ZOOKEEPER_CLASSPATH, else Debian's jars. */
export function zookeeperClasspath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['ZABKIT_ZOOKEEPER_CLASSPATH'];
  if (override !== undefined && override !== '') return override;
  const missing = debianClasspath.filter((jar) => !existsSync(jar));
  if (missing.length > 0) {
    throw new Error(
      `Apache ZooKeeper jars not found (${missing.join(', ')}); install Debian's package with ` +
        '`apt-get install -y zookeeper` or set ZABKIT_ZOOKEEPER_CLASSPATH',
    );
  }
  return debianClasspath.join(':');
}

export interface JavaArgsInput {
  readonly classpath: string;
  readonly configFile: string;
  readonly log4jFile: string;
  readonly heapMb: number;
}

export function javaArgs(input: JavaArgsInput): string[] {
  return [
    `-Xmx${input.heapMb}m`,
    '-Xms32m',
    '-XX:+UseSerialGC',
    // No /tmp/hsperfdata_<user>/<pid> file: a server killed -9 would leave it behind.
    '-XX:-UsePerfData',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j.configuration=file:${input.log4jFile}`,
    '-Dzookeeper.jmx.log4j.disable=true',
    '-Dzookeeper.admin.enableServer=false',
    '-cp',
    input.classpath,
    'org.apache.zookeeper.server.quorum.QuorumPeerMain',
    input.configFile,
  ];
}
