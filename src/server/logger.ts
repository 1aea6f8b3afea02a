/** pino NDJSON logging for one server: one file per node; child loggers bound to {node, role, epoch}. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(node: number, logFile: string | undefined, level = 'info'): Logger {
  // Synchronous writes: only events are logged (never per message), and a kill -9 must not eat the last lines.
  const destination = pino.destination({ dest: logFile ?? 1, sync: true, mkdir: true });
  return pino({ level, base: { node, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}
