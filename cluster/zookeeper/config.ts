/**
 * Files and command line of one Apache ZooKeeper server (run directly with java:
 * org.apache.zookeeper.server.quorum.QuorumPeerMain; the jars come from versions.ts). Pure functions:
 * no I/O.
 */
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
  /** User entries (`--zk-property KEY=VALUE`): each replaces the line of the same key, or is added. */
  readonly properties?: Readonly<Record<string, string>>;
}

/** zoo.cfg keys the testbed owns: it must know where each server listens and keeps its data, and ask `srvr`. */
const reservedZooCfgKeys = [/^dataDir$/, /^clientPort$/, /^clientPortAddress$/, /^server\.\d+$/, /^4lw\.commands\.whitelist$/, /^standaloneEnabled$/];

/** Check one `--zk-property` entry; returns [key, value]. Throws RangeError with the reason. */
export function parseZkProperty(text: string): [string, string] {
  const at = text.indexOf('=');
  const key = at < 0 ? text : text.slice(0, at);
  const value = at < 0 ? '' : text.slice(at + 1);
  if (at < 0 || !/^[A-Za-z0-9][\w.-]{0,99}$/.test(key)) throw new RangeError(`--zk-property must be KEY=VALUE with a zoo.cfg key like forceSync (got ${JSON.stringify(text)})`);
  if (reservedZooCfgKeys.some((pattern) => pattern.test(key))) throw new RangeError(`--zk-property ${key}: the testbed sets this key itself (ports, data folder, servers, status words)`);
  if (/[\r\n]/.test(value) || value.length > 1000) throw new RangeError(`--zk-property ${key}: the value must be one line of at most 1000 characters`);
  return [key, value];
}

/**
 * One `--zk-jvm-flag` entry: `FLAG` for every server, or `nK:FLAG` for server nK only (say, a
 * -Dzookeeper.maxBatchSize=1 on one victim). Throws RangeError with the reason.
 */
export function parseJvmFlagEntry(text: string): { readonly node?: string; readonly flag: string } {
  const scoped = /^(n[1-9]):(.*)$/.exec(text);
  const flag = scoped ? (scoped[2] as string) : text;
  assertJvmFlag(flag);
  return scoped ? { node: scoped[1] as string, flag } : { flag };
}

/** Check `--zk-jvm-flag` entries for a cluster of `nodes`: each a JVM option, an `nK:` scope naming one of its servers. */
export function assertJvmFlagEntries(entries: readonly string[], nodes: number): void {
  for (const entry of entries) {
    const scoped = parseJvmFlagEntry(entry).node;
    if (scoped !== undefined && Number(scoped.slice(1)) > nodes) throw new RangeError(`--zk-jvm-flag ${entry}: there is no ${scoped} among ${nodes} nodes`);
  }
}

/** The flags of `entries` (`FLAG` or `nK:FLAG`) that apply to `node`, in order. */
export function jvmFlagsFor(entries: readonly string[], node: string): string[] {
  return entries.map((entry) => parseJvmFlagEntry(entry)).filter((entry) => entry.node === undefined || entry.node === node).map((entry) => entry.flag);
}

/** Check one JVM option such as -Dzookeeper.maxBatchSize=1 or -Xmx512m. */
export function assertJvmFlag(flag: string): void {
  if (!/^-[\w.:+=%,/@-]{1,300}$/.test(flag) || flag === '-cp' || flag === '-classpath' || flag.startsWith('-jar')) {
    throw new RangeError(`--zk-jvm-flag must be one JVM option starting with "-" (like -Dzookeeper.maxBatchSize=1), got ${JSON.stringify(flag)}`);
  }
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
  for (const [key, value] of Object.entries(input.properties ?? {})) {
    parseZkProperty(`${key}=${value}`);
    const at = lines.findIndex((line) => line.startsWith(`${key}=`));
    if (at >= 0) lines[at] = `${key}=${value}`;
    else lines.push(`${key}=${value}`);
  }
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

/** logback configuration (Maven-resolved releases log through slf4j + logback): the same file and pattern as renderLog4j. */
export function renderLogback(logFile: string): string {
  const file = logFile.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return [
    '<configuration>',
    '  <appender name="FILE" class="ch.qos.logback.core.FileAppender">',
    `    <file>${file}</file>`,
    '    <append>true</append>',
    '    <encoder><pattern>%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n</pattern></encoder>',
    '  </appender>',
    '  <root level="INFO"><appender-ref ref="FILE"/></root>',
    '</configuration>',
    '',
  ].join('\n');
}

/** Debian's jars: zookeeper.jar (its manifest Class-Path brings netty, jute, ...) plus a log4j binding. */
export const debianClasspath: readonly string[] = [
  '/usr/share/java/zookeeper.jar',
  '/usr/share/java/slf4j-log4j12.jar',
  '/usr/share/java/log4j-1.2.jar',
];

export interface JavaArgsInput {
  readonly classpath: string;
  readonly configFile: string;
  readonly log4jFile: string;
  readonly logbackFile: string;
  readonly heapMb: number;
  /** Extra JVM options (`--zk-jvm-flag`, a scenario's), after the testbed's own: a later -D or -X wins. */
  readonly jvmFlags?: readonly string[];
}

export function javaArgs(input: JavaArgsInput): string[] {
  return [
    `-Xmx${input.heapMb}m`,
    '-Xms32m',
    '-XX:+UseSerialGC',
    // No /tmp/hsperfdata_<user>/<pid> file: a server killed -9 would leave it behind.
    '-XX:-UsePerfData',
    '-Djava.net.preferIPv4Stack=true',
    // Whichever backend the release has (log4j 1.2 in Debian's, logback in Maven's) reads its file.
    `-Dlog4j.configuration=file:${input.log4jFile}`,
    `-Dlogback.configurationFile=${input.logbackFile}`,
    '-Dzookeeper.jmx.log4j.disable=true',
    '-Dzookeeper.admin.enableServer=false',
    ...(input.jvmFlags ?? []).map((flag) => {
      assertJvmFlag(flag);
      return flag;
    }),
    '-cp',
    input.classpath,
    'org.apache.zookeeper.server.quorum.QuorumPeerMain',
    input.configFile,
  ];
}
