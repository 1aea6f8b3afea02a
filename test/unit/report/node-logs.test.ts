/** The report's "why it never served": a node's last error lines, from ZooKeeper's log4j/logback and zabkit's pino logs. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorLines, nodeLastErrors, nodeLogLimits } from '../../../jepsen-style/report/node-logs.js';

const zookeeperLog = [
  '2026-12-03 09:44:53,500 [myid:1] - INFO  [main:o.a.z.s.p.FileSnap@86] - Reading snapshot',
  '2026-12-03 09:44:53,518 [myid:1] - ERROR [main:o.a.z.s.q.QuorumPeer@1203] - Unable to load database on disk',
  'java.io.EOFException: null',
  '\tat java.base/java.io.DataInputStream.readInt(DataInputStream.java:397)',
  '2026-12-03 09:44:53,519 [myid:1] - ERROR [main:o.a.z.u.ServiceUtils@48] - Exiting JVM with code 1',
].join('\n');

describe('a node\'s last error lines', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'zabkit-node-logs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('takes ZooKeeper\'s ERROR lines with the exception each names, not the stack', () => {
    expect(errorLines(zookeeperLog)).toEqual([
      '2026-12-03 09:44:53,518 [myid:1] - ERROR [main:o.a.z.s.q.QuorumPeer@1203] - Unable to load database on disk',
      '  java.io.EOFException: null',
      '2026-12-03 09:44:53,519 [myid:1] - ERROR [main:o.a.z.u.ServiceUtils@48] - Exiting JVM with code 1',
    ]);
  });

  it('takes zabkit\'s pino lines of level error and fatal, the last few, each cut short', () => {
    const lines = Array.from({ length: 10 }, (_, k) => JSON.stringify({ level: k % 2 === 0 ? 60 : 30, msg: `line ${k} ${'x'.repeat(400)}` }));
    const found = errorLines(lines.join('\n'));
    expect(found.length).toBeLessThanOrEqual(nodeLogLimits.lines);
    expect(found.every((line) => line.includes('"level":60') && line.length === nodeLogLimits.lineChars)).toBe(true);
    expect(found[found.length - 1]).toContain('line 8');
  });

  it('reads the .log files of nodes/<node>/ by name, and nothing for a node without logs or a bad name', () => {
    mkdirSync(path.join(dir, 'nodes', 'n1'), { recursive: true });
    writeFileSync(path.join(dir, 'nodes', 'n1', 'zookeeper.log'), zookeeperLog);
    writeFileSync(path.join(dir, 'nodes', 'n1', 'stdout.log'), 'nothing wrong\n');
    expect(nodeLastErrors(dir, 'n1')).toEqual([{ file: 'nodes/n1/zookeeper.log', lines: errorLines(zookeeperLog) }]);
    expect(nodeLastErrors(dir, 'n2')).toEqual([]);
    expect(nodeLastErrors(dir, '../n1')).toEqual([]);
  });
});
