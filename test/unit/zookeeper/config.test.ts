/** A ZooKeeper server's files and command line with a user's --zk-property and --zk-jvm-flag, and which release's jars it runs. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  assertJvmFlag, debianClasspath, defaultZkTiming, javaArgs, parseZkProperty, renderLog4j, renderLogback, renderZooCfg,
  type JavaArgsInput, type ZooCfgInput,
} from '../../../cluster/zookeeper/config.js';
import { assertZookeeperVersion, resolveZookeeper, zookeeperCacheDir } from '../../../cluster/zookeeper/versions.js';

const cfg = (properties?: Record<string, string>): ZooCfgInput => ({
  id: 1,
  dataDir: '/tmp/zk/n1/data',
  host: '127.0.0.1',
  ports: { client: 21810, quorum: 28880, election: 38880 },
  timing: defaultZkTiming,
  servers: [
    { id: 1, quorum: { host: '127.0.0.1', port: 28880 }, election: { host: '127.0.0.1', port: 38880 } },
    { id: 2, quorum: { host: '127.0.0.1', port: 40001 }, election: { host: '127.0.0.1', port: 40002 } },
    { id: 3, quorum: { host: '127.0.0.1', port: 40003 }, election: { host: '127.0.0.1', port: 40004 } },
  ],
  forceSync: true,
  maxSessionTimeoutMs: 30_000,
  ...(properties === undefined ? {} : { properties }),
});

const linesOf = (text: string, key: string): string[] => text.split('\n').filter((line) => line.startsWith(`${key}=`));

const java = (jvmFlags?: string[]): JavaArgsInput => ({
  classpath: '/usr/share/java/zookeeper.jar:/x/log4j.jar',
  configFile: '/tmp/zk/n1/zoo.cfg',
  log4jFile: '/tmp/zk/n1/log4j.properties',
  logbackFile: '/tmp/zk/n1/logback.xml',
  heapMb: 256,
  ...(jvmFlags === undefined ? {} : { jvmFlags }),
});

describe('zoo.cfg with --zk-property', () => {
  it('a property replaces the testbed\'s line of the same key, in place', () => {
    const before = renderZooCfg(cfg());
    expect(linesOf(before, 'forceSync')).toEqual(['forceSync=yes']);
    const after = renderZooCfg(cfg({ forceSync: 'no', tickTime: '100' }));
    expect(linesOf(after, 'forceSync')).toEqual(['forceSync=no']);
    expect(linesOf(after, 'tickTime')).toEqual(['tickTime=100']);
    expect(after.split('\n').indexOf('forceSync=no')).toBe(before.split('\n').indexOf('forceSync=yes'));
    expect(after.split('\n').length).toBe(before.split('\n').length);
  });

  it('a new key is added, and the servers still follow', () => {
    const text = renderZooCfg(cfg({ 'zookeeper.snapCount': '10', preAllocSize: '64' }));
    expect(linesOf(text, 'zookeeper.snapCount')).toEqual(['zookeeper.snapCount=10']);
    expect(linesOf(text, 'preAllocSize')).toEqual(['preAllocSize=64']);
    expect(text).toContain('server.1=127.0.0.1:28880:38880:participant\n');
    expect(text).toContain('server.3=127.0.0.1:40003:40004:participant\n');
    expect(text.endsWith('\n')).toBe(true);
  });

  it('a key that only starts like a testbed key is a new line, not a replacement', () => {
    const text = renderZooCfg(cfg({ syncLimitX: '3' }));
    expect(linesOf(text, 'syncLimit')).toEqual([`syncLimit=${defaultZkTiming.syncLimit}`]);
    expect(linesOf(text, 'syncLimitX')).toEqual(['syncLimitX=3']);
  });

  it('keys the testbed owns are refused, saying the testbed sets them', () => {
    for (const entry of ['dataDir=/elsewhere', 'clientPort=2181', 'clientPortAddress=0.0.0.0', 'server.3=10.0.0.1:2888:3888', 'standaloneEnabled=true']) {
      expect(() => parseZkProperty(entry)).toThrow(RangeError);
      expect(() => parseZkProperty(entry)).toThrow(/the testbed sets this key itself/);
    }
    expect(() => renderZooCfg(cfg({ dataDir: '/elsewhere' }))).toThrow(/--zk-property dataDir: the testbed sets this key itself/);
    // A key may start with a digit (4lw...), and this one the testbed owns: its status asks srvr.
    expect(() => parseZkProperty('4lw.commands.whitelist=*')).toThrow(/4lw.commands.whitelist: the testbed sets this key itself/);
    expect(() => renderZooCfg(cfg({ '4lw.commands.whitelist': '*' }))).toThrow(RangeError);
  });

  it('malformed entries are refused', () => {
    expect(() => parseZkProperty('forceSync')).toThrow(/must be KEY=VALUE/);
    expect(() => parseZkProperty('=no')).toThrow(/must be KEY=VALUE/);
    expect(() => parseZkProperty('force sync=no')).toThrow(/must be KEY=VALUE/);
    expect(() => parseZkProperty('forceSync;x=no')).toThrow(/must be KEY=VALUE/);
    expect(() => parseZkProperty('forceSync=no\nserver.9=evil:1:2')).toThrow(/--zk-property forceSync: the value must be one line/);
    expect(() => parseZkProperty('forceSync=no\r')).toThrow(RangeError);
    expect(() => parseZkProperty(`forceSync=${'y'.repeat(1001)}`)).toThrow(/at most 1000 characters/);
    // A newline smuggled in through renderZooCfg's own properties is caught there too.
    expect(() => renderZooCfg(cfg({ forceSync: 'no\nserver.9=evil:1:2' }))).toThrow(RangeError);
  });

  it('a well-formed entry splits at the first =', () => {
    expect(parseZkProperty('forceSync=no')).toEqual(['forceSync', 'no']);
    expect(parseZkProperty('ssl.quorum.ciphersuites=a=b')).toEqual(['ssl.quorum.ciphersuites', 'a=b']);
    expect(parseZkProperty('preAllocSize=')).toEqual(['preAllocSize', '']);
  });
});

describe('java command line with --zk-jvm-flag', () => {
  it('accepts single JVM options', () => {
    for (const flag of ['-Dzookeeper.maxBatchSize=1', '-Xmx512m', '-XX:+UseG1GC', '-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NIOServerCnxnFactory']) {
      expect(() => assertJvmFlag(flag)).not.toThrow();
    }
  });

  it('refuses what is not one option, or would replace the classpath or the main class', () => {
    for (const flag of ['foo', 'Dzookeeper.maxBatchSize=1', '-cp', '-classpath', '-jar', '-jar=/tmp/x.jar', '-Dfoo=a b', '-Xmx512m -cp /tmp', '', '-']) {
      expect(() => assertJvmFlag(flag), flag).toThrow(RangeError);
    }
    expect(() => assertJvmFlag('-cp')).toThrow(/--zk-jvm-flag must be one JVM option/);
    expect(() => javaArgs(java(['-Xmx512m', '-jar']))).toThrow(RangeError);
  });

  it('puts the flags after the testbed\'s own options and before -cp, in order', () => {
    const args = javaArgs(java(['-Dzookeeper.maxBatchSize=1', '-Xmx512m']));
    const cp = args.indexOf('-cp');
    expect(args.slice(cp - 2, cp)).toEqual(['-Dzookeeper.maxBatchSize=1', '-Xmx512m']);
    expect(args.indexOf('-Xmx256m')).toBeLessThan(args.indexOf('-Xmx512m')); // a later -X wins
    expect(args.indexOf('-Dzookeeper.admin.enableServer=false')).toBeLessThan(args.indexOf('-Dzookeeper.maxBatchSize=1'));
    expect(args.slice(cp)).toEqual(['-cp', '/usr/share/java/zookeeper.jar:/x/log4j.jar', 'org.apache.zookeeper.server.quorum.QuorumPeerMain', '/tmp/zk/n1/zoo.cfg']);
    expect(javaArgs(java()).length).toBe(args.length - 2);
  });

  it('points both logging backends at their files', () => {
    const args = javaArgs(java());
    expect(args).toContain('-Dlogback.configurationFile=/tmp/zk/n1/logback.xml');
    expect(args).toContain('-Dlog4j.configuration=file:/tmp/zk/n1/log4j.properties');
    expect(args.indexOf('-Dlogback.configurationFile=/tmp/zk/n1/logback.xml')).toBeLessThan(args.indexOf('-cp'));
  });
});

describe('logback configuration', () => {
  it('writes everything to the given file with the same pattern as log4j', () => {
    const xml = renderLogback('/tmp/zk/n1/zookeeper.log');
    expect(xml).toContain('<appender name="FILE" class="ch.qos.logback.core.FileAppender">');
    expect(xml).toContain('<file>/tmp/zk/n1/zookeeper.log</file>');
    expect(xml).toContain('<append>true</append>');
    expect(xml).toMatch(/<root level="INFO"><appender-ref ref="FILE"\/><\/root>/);
    const logbackPattern = /<pattern>(.*)<\/pattern>/.exec(xml)?.[1];
    const log4jPattern = /ConversionPattern=(.*)/.exec(renderLog4j('/tmp/zk/n1/zookeeper.log'))?.[1];
    expect(logbackPattern).toBeDefined();
    expect(logbackPattern).toBe(log4jPattern);
    expect(logbackPattern).toContain('[myid:%X{myid}]');
    expect(logbackPattern).toMatch(/^%d\{ISO8601\} /);
  });

  it('escapes a file name that XML would misread', () => {
    const xml = renderLogback('/tmp/a&b<c/zookeeper.log');
    expect(xml).toContain('<file>/tmp/a&amp;b&lt;c/zookeeper.log</file>');
  });
});

describe('ZooKeeper versions', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'zabkit-zk-versions-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a version is MAJOR.MINOR.PATCH', () => {
    for (const version of ['3.8.0', '3.9.3', '10.0.100']) expect(() => assertZookeeperVersion(version)).not.toThrow();
    for (const version of ['3.9', '3.9.3-beta', 'v3.9.3', '3.9.x', '', '../../etc']) {
      expect(() => assertZookeeperVersion(version), version).toThrow(RangeError);
    }
    expect(() => assertZookeeperVersion('latest')).toThrow(/like 3\.9\.3 \(got "latest"\)/);
  });

  it('a cached release lives under .tools/zookeeper/<version>, and a bad version never names a folder', () => {
    expect(zookeeperCacheDir('/repo', '3.9.3')).toBe(path.join('/repo', '.tools', 'zookeeper', '3.9.3'));
    expect(() => zookeeperCacheDir('/repo', '../../etc')).toThrow(RangeError);
  });

  it('ZABKIT_ZOOKEEPER_CLASSPATH wins over Debian\'s jars', () => {
    const classpath = '/opt/zk/lib/zookeeper-3.8.0.jar:/opt/zk/lib/logback-classic.jar';
    expect(resolveZookeeper('3.8.0', { repoRoot: dir, env: { ZABKIT_ZOOKEEPER_CLASSPATH: classpath } })).toBe(classpath);
  });

  it('refuses a bad version before looking anywhere', () => {
    expect(() => resolveZookeeper('3.9', { repoRoot: dir, env: { ZABKIT_ZOOKEEPER_CLASSPATH: '/x.jar' } })).toThrow(RangeError);
  });

  it.skipIf(!debianClasspath.every((jar) => existsSync(jar)))('3.8.0 is Debian\'s package: its jars, nothing cached (an empty override is no override)', () => {
    expect(resolveZookeeper('3.8.0', { repoRoot: dir, env: {} })).toBe(debianClasspath.join(':'));
    expect(resolveZookeeper('3.8.0', { repoRoot: dir, env: { ZABKIT_ZOOKEEPER_CLASSPATH: '' } })).toBe('/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar');
    expect(existsSync(path.join(dir, '.tools'))).toBe(false);
  });
});

describe('per-server JVM flags (nK:FLAG)', () => {
  it('a scoped flag reaches only its server, an unscoped one every server, in order', async () => {
    const { jvmFlagsFor } = await import('../../../cluster/zookeeper/config.js');
    const entries = ['-Xmx512m', 'n2:-Dzookeeper.maxBatchSize=1', 'n3:-Dzookeeper.flushDelay=5'];
    expect(jvmFlagsFor(entries, 'n1')).toEqual(['-Xmx512m']);
    expect(jvmFlagsFor(entries, 'n2')).toEqual(['-Xmx512m', '-Dzookeeper.maxBatchSize=1']);
    expect(jvmFlagsFor(entries, 'n3')).toEqual(['-Xmx512m', '-Dzookeeper.flushDelay=5']);
    expect(() => jvmFlagsFor(['n2:-cp'], 'n2')).toThrow(RangeError);
  });
});
