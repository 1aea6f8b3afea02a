/** `zabkit test` options of issue 12: --scenario, --zookeeper-version, --zk-property, --zk-jvm-flag, as a user types them. */
import { describe, expect, it } from 'vitest';
import { parseTestArgs } from '../../../cli/test.js';

describe('zabkit test --scenario and the ZooKeeper options', () => {
  it('a shipped scenario by name sets the node count and the run name, and is recorded whole', () => {
    const options = parseTestArgs(['--system', 'zookeeper', '--zookeeper-version', '3.9.3', '--scenario', 'zk-4925', '--seed', '3']);
    expect(options.nodes).toBe(5);
    expect(options.name).toBe('zookeeper-3.9.3-scenario-zk-4925');
    expect(options.scenario?.scenario.name).toBe('zk-4925');
    expect(options.scenario?.source).toMatch(/scenarios\/zk-4925\.json$/);
    expect(options.zookeeper.version).toBe('3.9.3');
    expect(parseTestArgs(['--scenario', 'zk-4785']).nodes).toBe(3);
  });

  it('refuses --nemesis or a different --nodes beside a scenario, and an unknown scenario', () => {
    expect(() => parseTestArgs(['--scenario', 'zk-4925', '--nemesis', 'kill'])).toThrow(/--scenario replaces the random schedule/);
    expect(() => parseTestArgs(['--scenario', 'zk-4925', '--nodes', '3'])).toThrow(/runs on 5 nodes \(got --nodes 3\)/);
    expect(parseTestArgs(['--scenario', 'zk-4925', '--nodes', '5']).nodes).toBe(5);
    expect(() => parseTestArgs(['--scenario', 'zk-9999'])).toThrow(/neither a shipped scenario \(zk-2332, zk-4785, zk-4925\) nor a readable file/);
  });

  it('collects repeated --zk-property and --zk-jvm-flag, and checks them before anything starts', () => {
    const options = parseTestArgs(['--system', 'zookeeper', '--zk-property', 'forceSync=no', '--zk-property', 'snapCount=1000', '--zk-jvm-flag', '-Dzookeeper.maxBatchSize=1', '--zk-jvm-flag', '-Xmx512m']);
    expect(options.zookeeper).toEqual({ version: '3.8.0', properties: { forceSync: 'no', snapCount: '1000' }, jvmFlags: ['-Dzookeeper.maxBatchSize=1', '-Xmx512m'] });
    expect(() => parseTestArgs(['--system', 'zookeeper', '--zk-property', 'clientPort=2181'])).toThrow(/the testbed sets this key itself/);
    expect(() => parseTestArgs(['--system', 'zookeeper', '--zk-jvm-flag', '-cp'])).toThrow(/one JVM option/);
    expect(() => parseTestArgs(['--system', 'zookeeper', '--zookeeper-version', 'latest'])).toThrow(/MAJOR.MINOR.PATCH/);
    expect(() => parseTestArgs(['--zk-property', 'forceSync=no'])).toThrow(/apply to --system zookeeper only/);
    // One server only: nK:FLAG, nK among the run's nodes.
    expect(parseTestArgs(['--system', 'zookeeper', '--nodes', '3', '--zk-jvm-flag', 'n2:-Dzookeeper.maxBatchSize=1']).zookeeper.jvmFlags).toEqual(['n2:-Dzookeeper.maxBatchSize=1']);
    expect(() => parseTestArgs(['--system', 'zookeeper', '--nodes', '3', '--zk-jvm-flag', 'n4:-Dx=1'])).toThrow(/there is no n4 among 3 nodes/);
    expect(() => parseTestArgs(['--system', 'zookeeper', '--zk-jvm-flag', 'n2:foo'])).toThrow(/one JVM option/);
  });

  it('a run without a scenario keeps the defaults it had', () => {
    const options = parseTestArgs([]);
    expect(options.nodes).toBe(5);
    expect(options.nemesis).toContain('rejoin');
    expect(options.scenario).toBeUndefined();
    expect(options.name).toBe('zabkit-all');
  });
});
