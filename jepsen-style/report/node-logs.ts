/**
 * A node's own last words, for the report: the error lines at the end of its logs, so that a node
 * the checker found `unavailable` says why it never served (ZooKeeper's `Unable to load database
 * on disk`, zabkit's `cannot start: ...`). Reads only the tail of each log (bounded).
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Limits (docs/LIMITS.md): how much of each log is read, and how much is shown. */
export const nodeLogLimits = {
  tailBytes: 256 * 1024,
  lines: 6,
  lineChars: 300,
} as const;

/** A log4j/logback ERROR or FATAL line, or a pino line of level error (50) or fatal (60). */
const errorLine = /\s(ERROR|FATAL)\s|"level":(50|60)\b/;
/** The line after a Java error line that names the exception: "java.io.EOFException: null". */
const exceptionLine = /^(Caused by: )?[\w$]+(\.[\w$]+)+(Exception|Error)\b/;

/** The error lines of one log's text, with the exception line that follows each, the last `max`. */
export function errorLines(text: string, max: number = nodeLogLimits.lines): string[] {
  const lines = text.split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (!errorLine.test(line)) continue;
    out.push(line.slice(0, nodeLogLimits.lineChars));
    const next = lines[i + 1];
    if (next !== undefined && exceptionLine.test(next.trim())) out.push(`  ${next.trim().slice(0, nodeLogLimits.lineChars)}`);
  }
  return out.slice(-max);
}

/** The last error lines of each `.log` file in `nodes/<node>/` of a run, by file (relative path). */
export function nodeLastErrors(runDir: string, node: string): { file: string; lines: string[] }[] {
  const dir = join(runDir, 'nodes', node);
  if (!/^[\w.-]+$/.test(node) || !existsSync(dir)) return [];
  const found: { file: string; lines: string[] }[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith('.log')) continue;
    const lines = errorLines(logTail(join(dir, name), nodeLogLimits.tailBytes));
    if (lines.length > 0) found.push({ file: `nodes/${node}/${name}`, lines });
  }
  return found;
}

/** The last `bytes` of a file as text (from the first whole line), '' when it cannot be read. */
export function logTail(file: string, bytes: number): string {
  const stat = statSync(file, { throwIfNoEntry: false });
  if (stat === undefined || !stat.isFile() || stat.size === 0) return '';
  const length = Math.min(bytes, stat.size);
  const buffer = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buffer, 0, length, stat.size - length);
  } finally {
    closeSync(fd);
  }
  const text = buffer.toString('utf8');
  return length < stat.size ? text.slice(text.indexOf('\n') + 1) : text;
}
