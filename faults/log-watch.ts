/**
 * Watching a server's own log file for a line, as a scenario's `await-log` and strikes do: the file
 * is read from a byte offset (where a step began), polled every `pollMs`, and each complete line is
 * tested against a regex. A strike must land within a few ms of the line being written, so the
 * poll is tight (1 ms) while a strike is armed; a stat() per poll costs microseconds.
 *
 * The line's own timestamp (log4j's `2026-12-02 00:12:34,567` in local time, or pino's
 * `"time":"2026-12-02T00:12:34.567Z"`) gives when the server wrote it, so a strike can report its
 * reaction time: from the line's timestamp to the moment the fault was dealt.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { sleep } from '../jepsen-style/async.js';

/** Limits of log watching (docs/LIMITS.md). */
export const logWatchLimits = {
  /** Bytes read per poll; a faster-growing log is read over several polls. */
  readChunkBytes: 1 << 20,
  /** A line longer than this many characters is cut (matched on its start). */
  maxLineBytes: 64 * 1024,
} as const;

export interface LogMatch {
  /** The matching line (without its newline). */
  readonly line: string;
  /** Byte offset just after the line. */
  readonly offset: number;
  /** When the server wrote it, by the line's own timestamp (ms since the epoch), if it has one. */
  readonly writtenAtMs: number | undefined;
  /** When the watcher saw it (Date.now()). */
  readonly seenAtMs: number;
  /** Set when `failOn` matched instead of `pattern`. */
  readonly failed: boolean;
}

/** Size of a log file now (0 if it does not exist yet): where a later watch starts. */
export function logOffset(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** The time a log line says it was written: log4j/logback's local `yyyy-MM-dd HH:mm:ss,SSS`, or pino's ISO `"time"`. */
export function lineTimestamp(line: string): number | undefined {
  const log4j = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)[,.](\d{3})/.exec(line);
  if (log4j) {
    const [, y, mo, d, h, mi, s, ms] = log4j.map(Number) as number[];
    return new Date(y!, mo! - 1, d!, h!, mi!, s!, ms!).getTime();
  }
  const pino = /"time":"([^"]+)"/.exec(line);
  if (pino) {
    const t = Date.parse(pino[1]!);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

export interface WatchOptions {
  readonly file: string;
  readonly pattern: RegExp;
  /** A line that means the awaited one will not come (e.g. a SNAP sync where a DIFF is needed). */
  readonly failOn?: RegExp;
  /** Byte offset to start at (lines before it are ignored). */
  readonly from: number;
  readonly timeoutMs: number;
  readonly pollMs: number;
  readonly signal?: AbortSignal;
}

/** Wait for the first line at or after `from` that matches; undefined on timeout or abort. Never throws on a missing file. */
export async function watchLog(options: WatchOptions): Promise<LogMatch | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let offset = options.from;
  let partial = '';
  const buffer = Buffer.alloc(logWatchLimits.readChunkBytes);
  for (;;) {
    if (options.signal?.aborted) return undefined;
    const size = logOffset(options.file);
    if (size < offset) {
      offset = 0; // the file was replaced: read the new one from its start
      partial = '';
    }
    while (size > offset) {
      const read = readAt(options.file, buffer, offset);
      if (read === 0) break;
      const text = partial + buffer.toString('utf8', 0, read);
      const lines = text.split('\n');
      const unfinished = lines.pop() ?? '';
      // Offsets count the whole unfinished tail; only what is kept of it for matching is cut.
      let consumed = offset + read - Buffer.byteLength(unfinished);
      partial = unfinished.slice(0, logWatchLimits.maxLineBytes);
      // Offsets of each complete line's end, walking back from the end of what was consumed.
      const ends: number[] = [];
      for (let k = lines.length - 1; k >= 0; k--) {
        ends[k] = consumed;
        consumed -= Buffer.byteLength(lines[k]!) + 1;
      }
      for (let k = 0; k < lines.length; k++) {
        const line = lines[k]!.slice(0, logWatchLimits.maxLineBytes);
        const failed = options.failOn?.test(line) === true;
        if (failed || options.pattern.test(line)) {
          return { line, offset: ends[k]!, writtenAtMs: lineTimestamp(line), seenAtMs: Date.now(), failed };
        }
      }
      offset += read;
    }
    if (Date.now() >= deadline) return undefined;
    await sleep(options.pollMs, options.signal);
  }
}

function readAt(file: string, buffer: Buffer, offset: number): number {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    return readSync(fd, buffer, 0, buffer.length, offset);
  } catch {
    return 0;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
