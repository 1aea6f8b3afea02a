/** What the transaction-log tests share: temp folders removed after each test, and reading a whole log back. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { Txn } from '../../../src/core/types.js';
import { TxnLog, type TornTail } from '../../../src/server/wal.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A new temp folder, removed after the test. */
export function tempDir(prefix = 'zabkit-wal-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** Opens the log as a start does and reads every record back at once (what a start no longer reads). */
export async function openAll(dir: string, options: { segmentBytes?: number } = {}): Promise<{ log: TxnLog; recovered: { txns: Txn[]; tornTail: TornTail | undefined } }> {
  const { log, recovered } = await TxnLog.open(dir, options);
  return { log, recovered: { txns: log.read(0, log.lastZxid), tornTail: recovered.tornTail } };
}
