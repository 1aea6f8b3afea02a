/** Watching a server's log for a line, as a scenario's await-log and strikes do: from an offset, line by line, bounded. */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lineTimestamp, logOffset, watchLog } from '../../../faults/log-watch.js';

let dir = '';
let log = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'zabkit-log-watch-'));
  log = join(dir, 'zookeeper.log');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const zkLine = (text: string): string => `2026-12-02 00:12:34,567 [myid:1] - INFO  [QuorumPeer[myid=1](plain=0.0.0.0:2181):Learner@553] - ${text}`;
const later = (ms: number, action: () => void): void => {
  setTimeout(action, ms);
};

describe('lineTimestamp', () => {
  it('reads log4j/logback\'s local timestamp', () => {
    expect(lineTimestamp(zkLine('Getting a diff from the leader 0x100000005'))).toBe(new Date(2026, 11, 2, 0, 12, 34, 567).getTime());
  });

  it('reads pino\'s ISO time (UTC)', () => {
    const line = '{"level":30,"time":"2026-12-02T00:12:34.567Z","node":"n2","pid":4242,"msg":"sync from leader: DIFF"}';
    expect(lineTimestamp(line)).toBe(Date.UTC(2026, 11, 2, 0, 12, 34, 567));
  });

  it('is undefined for a line without a timestamp', () => {
    expect(lineTimestamp('\tat org.apache.zookeeper.server.quorum.Learner.syncWithLeader(Learner.java:553)')).toBeUndefined();
    expect(lineTimestamp('{"level":30,"time":"not a time","msg":"x"}')).toBeUndefined();
    expect(lineTimestamp('')).toBeUndefined();
  });
});

describe('logOffset', () => {
  it('is the file\'s size, and 0 for a file not written yet', () => {
    expect(logOffset(log)).toBe(0);
    writeFileSync(log, 'héllo\n');
    expect(logOffset(log)).toBe(7);
  });
});

describe('watchLog', () => {
  it('finds a line appended while it waits, with the line\'s own timestamp', async () => {
    writeFileSync(log, `${zkLine('Starting quorum peer')}\n`);
    const from = logOffset(log);
    let appendedAt = 0;
    later(20, () => {
      appendedAt = Date.now();
      appendFileSync(log, `${zkLine('Following - leader election took - 12 MS')}\n${zkLine('Getting a diff from the leader 0x100000005')}\n`);
    });
    const match = await watchLog({ file: log, pattern: /Getting a diff from the leader/, from, timeoutMs: 5000, pollMs: 1 });
    expect(match).toBeDefined();
    expect(match!.line).toBe(zkLine('Getting a diff from the leader 0x100000005'));
    expect(match!.failed).toBe(false);
    expect(match!.offset).toBe(logOffset(log));
    expect(match!.writtenAtMs).toBe(new Date(2026, 11, 2, 0, 12, 34, 567).getTime());
    expect(match!.seenAtMs).toBeGreaterThanOrEqual(appendedAt);
  });

  it('ignores matching lines before `from`', async () => {
    writeFileSync(log, `${zkLine('Getting a diff from the leader 0x100000001')}\n`);
    const from = logOffset(log);
    expect(await watchLog({ file: log, pattern: /Getting a diff/, from, timeoutMs: 30, pollMs: 1 })).toBeUndefined();
    later(10, () => appendFileSync(log, `${zkLine('Getting a diff from the leader 0x200000007')}\n`));
    const match = await watchLog({ file: log, pattern: /Getting a diff/, from, timeoutMs: 5000, pollMs: 1 });
    expect(match?.line).toContain('0x200000007');
  });

  it('returns the offset just after the line, so the next watch finds the next match', async () => {
    const first = '{"time":"2026-12-02T00:12:34.567Z","msg":"sync from leader: DIFF → zxid 0x100000003"}';
    const second = '{"time":"2026-12-02T00:12:35.001Z","msg":"sync from leader: DIFF → zxid 0x200000001"}';
    writeFileSync(log, `${first}\n{"msg":"élection: LEADING"}\n${second}\n`);
    const a = await watchLog({ file: log, pattern: /sync from leader: DIFF/, from: 0, timeoutMs: 1000, pollMs: 1 });
    expect(a?.line).toBe(first);
    expect(a?.offset).toBe(Buffer.byteLength(`${first}\n`));
    expect(a?.writtenAtMs).toBe(Date.UTC(2026, 11, 2, 0, 12, 34, 567));
    const b = await watchLog({ file: log, pattern: /sync from leader: DIFF/, from: a!.offset, timeoutMs: 1000, pollMs: 1 });
    expect(b?.line).toBe(second);
    expect(b?.offset).toBe(logOffset(log));
    expect(await watchLog({ file: log, pattern: /sync from leader: DIFF/, from: b!.offset, timeoutMs: 20, pollMs: 1 })).toBeUndefined();
  });

  it('keeps offsets exact when an unfinished line is longer than the line limit', async () => {
    writeFileSync(log, `match A\n${'x'.repeat(70_000)}`);
    const a = await watchLog({ file: log, pattern: /match/, from: 0, timeoutMs: 1000, pollMs: 1 });
    expect(a?.offset).toBe(8);
    appendFileSync(log, '\nmatch B\n');
    const b = await watchLog({ file: log, pattern: /match/, from: a!.offset, timeoutMs: 1000, pollMs: 1 });
    expect(b?.line).toBe('match B');
    expect(b?.offset).toBe(logOffset(log));
  });

  it('matches a line written in two parts only once it is complete', async () => {
    writeFileSync(log, `${zkLine('Starting quorum peer')}\n${zkLine('Getting a di')}`);
    let completedAt = 0;
    later(30, () => {
      completedAt = Date.now();
      appendFileSync(log, 'ff from the leader 0x100000005\n');
    });
    const match = await watchLog({ file: log, pattern: /Getting a di/, from: 0, timeoutMs: 5000, pollMs: 1 });
    expect(match?.line).toBe(zkLine('Getting a diff from the leader 0x100000005'));
    expect(match?.offset).toBe(logOffset(log));
    expect(completedAt).toBeGreaterThan(0);
    expect(match!.seenAtMs).toBeGreaterThanOrEqual(completedAt);
  });

  it('reports failed when a failOn line comes first', async () => {
    writeFileSync(log, `${zkLine('Getting a snapshot from leader 0x100000005')}\n${zkLine('Getting a diff from the leader 0x100000005')}\n`);
    const match = await watchLog({ file: log, pattern: /Getting a diff from the leader/, failOn: /Getting a snapshot from leader|Truncating log/, from: 0, timeoutMs: 1000, pollMs: 1 });
    expect(match?.failed).toBe(true);
    expect(match?.line).toContain('Getting a snapshot from leader');
    // Without failOn the awaited line is found.
    const ok = await watchLog({ file: log, pattern: /Getting a diff from the leader/, from: 0, timeoutMs: 1000, pollMs: 1 });
    expect(ok?.failed).toBe(false);
    expect(ok?.line).toContain('Getting a diff');
  });

  it('reads a replaced (shorter) file from its start', async () => {
    writeFileSync(log, `${zkLine('x'.repeat(500))}\n`);
    const from = logOffset(log);
    later(10, () => writeFileSync(log, `${zkLine('LEADING')}\n`));
    const match = await watchLog({ file: log, pattern: /LEADING/, from, timeoutMs: 5000, pollMs: 1 });
    expect(match?.line).toBe(zkLine('LEADING'));
  });

  it('is undefined on timeout', async () => {
    writeFileSync(log, `${zkLine('Following')}\n`);
    const started = Date.now();
    expect(await watchLog({ file: log, pattern: /LEADING/, from: 0, timeoutMs: 40, pollMs: 1 })).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(35);
  });

  it('is undefined, and does not throw, when the file does not exist', async () => {
    await expect(watchLog({ file: join(dir, 'missing', 'zookeeper.log'), pattern: /./, from: 0, timeoutMs: 20, pollMs: 1 })).resolves.toBeUndefined();
  });

  it('stops at once when its signal aborts, even mid-poll', async () => {
    writeFileSync(log, `${zkLine('Following')}\n`);
    const controller = new AbortController();
    const started = Date.now();
    later(20, () => controller.abort());
    expect(await watchLog({ file: log, pattern: /LEADING/, from: 0, timeoutMs: 60_000, pollMs: 30_000, signal: controller.signal })).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2000);
    // Already aborted: returns without reading, even when a line would match.
    expect(await watchLog({ file: log, pattern: /Following/, from: 0, timeoutMs: 60_000, pollMs: 1, signal: controller.signal })).toBeUndefined();
  });
});
