/**
 * Which Apache ZooKeeper release runs: Debian's package (3.8.0, the default) or any release Maven
 * Central serves, resolved once with Maven (`mvn dependency:copy-dependencies`) into a cache under
 * `.tools/zookeeper/<version>/lib/` and reused offline after that. Maven's ZooKeeper brings no
 * logging backend (logback is optional there), so slf4j-reload4j (log4j 1.2's maintained fork) comes
 * with it, and metrics-core and snappy-java, which the server needs and the pom leaves "provided": every version, Debian's too, logs through the same log4j.properties (config.ts
 * renderLog4j), so the testbed watches the same line format whatever the release.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ClusterSetupError } from '../assembly.js';
import { debianClasspath } from './config.js';

/** Debian's `zookeeper` package is this release; Maven Central does not serve it. */
export const debianZookeeperVersion = '3.8.0';

/** Limits of the resolution (docs/LIMITS.md). */
export const versionLimits = {
  /** A first resolution downloads about 10 MB; a stalled mirror must not hang a run. */
  mavenTimeoutMs: 600_000,
} as const;

export function assertZookeeperVersion(version: string): void {
  if (!/^\d{1,2}\.\d{1,2}\.\d{1,3}$/.test(version)) {
    throw new RangeError(`a ZooKeeper version is MAJOR.MINOR.PATCH, like 3.9.3 (got ${JSON.stringify(version)})`);
  }
}

/** Where a Maven-resolved release's jars live. */
export function zookeeperCacheDir(repoRoot: string, version: string): string {
  assertZookeeperVersion(version);
  return path.join(repoRoot, '.tools', 'zookeeper', version);
}

/** The jars of a cached release, or undefined when it is not (completely) in the cache. */
function cachedClasspath(libDir: string, version: string): string | undefined {
  if (!existsSync(libDir)) return undefined;
  const jars = readdirSync(libDir).filter((name) => name.endsWith('.jar')).sort();
  const needed = [`zookeeper-${version}.jar`, 'logback-classic-', 'metrics-core-', 'snappy-java-'];
  if (!needed.every((prefix) => jars.some((name) => name.startsWith(prefix)))) return undefined;
  return jars.map((name) => path.join(libDir, name)).join(':');
}

function pomFor(version: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- written by zabkit (cluster/zookeeper/versions.ts): the jars of Apache ZooKeeper ${version} and a log4j 1.2 backend -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>zabkit.cache</groupId>
  <artifactId>zookeeper-${version}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <!-- The release's own dependency versions, for what its pom leaves to the distribution ("provided"). -->
  <dependencyManagement>
    <dependencies>
      <dependency><groupId>org.apache.zookeeper</groupId><artifactId>parent</artifactId><version>${version}</version><type>pom</type><scope>import</scope></dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>${version}</version></dependency>
    <!-- "provided" in zookeeper's pom, and the server cannot start without them (ServerMetrics, SnapStream) -->
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId></dependency>
    <dependency><groupId>commons-cli</groupId><artifactId>commons-cli</artifactId></dependency>
    <!-- optional in zookeeper's pom; its version comes from the release's own parent, so it matches its slf4j -->
    <dependency><groupId>ch.qos.logback</groupId><artifactId>logback-classic</artifactId></dependency>
  </dependencies>
</project>
`;
}

export interface ResolveOptions {
  readonly repoRoot: string;
  readonly log?: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * The classpath of a ZooKeeper release: ZABKIT_ZOOKEEPER_CLASSPATH if set (any version), Debian's
 * jars for 3.8.0, else the Maven cache, filled on first use. A release Maven cannot resolve is a
 * ClusterSetupError naming the version and Maven's last lines (the testbed's failure, not the system's).
 */
export function resolveZookeeper(version: string, options: ResolveOptions): string {
  assertZookeeperVersion(version);
  const env = options.env ?? process.env;
  const override = env['ZABKIT_ZOOKEEPER_CLASSPATH'];
  if (override !== undefined && override !== '') return override;
  if (version === debianZookeeperVersion) {
    const missing = debianClasspath.filter((jar) => !existsSync(jar));
    if (missing.length > 0) {
      throw new ClusterSetupError(`ZooKeeper ${version} is Debian's package and its jars are missing (${missing.join(', ')}): apt-get install -y zookeeper`);
    }
    return debianClasspath.join(':');
  }
  const dir = zookeeperCacheDir(options.repoRoot, version);
  const libDir = path.join(dir, 'lib');
  const cached = cachedClasspath(libDir, version);
  if (cached !== undefined) return cached;

  options.log?.(`resolving Apache ZooKeeper ${version} with Maven into ${dir} (once; later runs use the cache)`);
  mkdirSync(dir, { recursive: true });
  const staging = path.join(dir, `lib.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  writeFileSync(path.join(dir, 'pom.xml'), pomFor(version));
  try {
    execFileSync('mvn', ['-B', '-q', '-f', path.join(dir, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`, '-DincludeScope=runtime'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: versionLimits.mavenTimeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    const output = error instanceof Error && 'stdout' in error ? `${String((error as { stdout?: unknown }).stdout ?? '')}${String((error as { stderr?: unknown }).stderr ?? '')}` : String(error);
    const missingMvn = (error as NodeJS.ErrnoException).code === 'ENOENT';
    const tail = output.replace(/\x1b\[[0-9;]*m/g, '').trim().split('\n').slice(-6).join('\n');
    throw new ClusterSetupError(
      missingMvn
        ? `ZooKeeper ${version} must be resolved with Maven, and mvn is not installed (apt-get install -y maven)`
        : `Maven could not resolve Apache ZooKeeper ${version} (is it a release Maven Central serves?):\n${tail}`,
    );
  }
  // Atomic: a run killed mid-download leaves only a partial folder, never a half cache.
  rmSync(libDir, { recursive: true, force: true });
  renameSync(staging, libDir);
  const resolved = cachedClasspath(libDir, version);
  if (resolved === undefined) throw new ClusterSetupError(`Maven resolved ZooKeeper ${version} but ${libDir} lacks zookeeper-${version}.jar, metrics-core, snappy-java or logback`);
  return resolved;
}
