/**
 * Loading the durable state on start (ZooKeeper's loadDataBase): recover the transaction log, read
 * both epoch files, and refuse to start on an inconsistent image.
 */
import * as path from 'node:path';
import { assert } from '../core/assert.js';
import type { DurableState, LogStore, PlantedBug } from '../core/types.js';
import { epochOf, makeZxid, zxidToHex } from '../core/zxid.js';
import type { Logger } from './logger.js';
import { acceptedEpochFileName, currentEpochFileName, readEpochFile, TxnLog } from './wal.js';

/** The transaction log as the core reads it (src/core/log.ts LogStore). */
export function storeOf(log: TxnLog): LogStore {
  return {
    lastZxid: () => log.lastZxid,
    read: (from, to, limit) => (limit === undefined ? log.read(from, to) : log.read(from, to, limit.bytes, limit.entries)),
    floor: (zxid) => log.floor(zxid),
    count: (from, to) => log.count(from, to),
  };
}

/** The data directory holds a state the server must not start from. */
export class InconsistentStateError extends Error {
  override name = 'InconsistentStateError';
}

export async function loadDurableState(dataDir: string, bugs: readonly PlantedBug[], logger: Logger, segmentBytes?: number): Promise<{ log: TxnLog; durable: DurableState }> {
  const opened = await TxnLog.open(dataDir, segmentBytes === undefined ? {} : { segmentBytes });
  const log = opened.log;
  const recovered = opened.recovered;
  try {
    if (recovered.tornTail) {
      logger.warn({ file: log.file, offset: recovered.tornTail.offset, bytes: recovered.tornTail.bytes }, 'torn last record cut off the transaction log');
    }
    const lastZxid = log.lastZxid;
    let acceptedEpoch: number;
    let currentEpoch: number;
    if (bugs.includes('no-epoch-persist')) {
      // Planted bug ZOOKEEPER-335: the epochs live only in memory, so on start they come from the log.
      acceptedEpoch = currentEpoch = epochOf(lastZxid);
      logger.warn({ acceptedEpoch, currentEpoch }, 'planted bug no-epoch-persist: epochs derived from the last zxid');
    } else {
      acceptedEpoch = await readEpochFile(dataDir, acceptedEpochFileName);
      currentEpoch = await readEpochFile(dataDir, currentEpochFileName);
      if (epochOf(lastZxid) > currentEpoch) {
        if (epochOf(lastZxid) > acceptedEpoch) {
          throw new InconsistentStateError(
            `the current epoch ${currentEpoch} (${path.join(dataDir, currentEpochFileName)}) is older than the epoch of the last zxid ${zxidToHex(lastZxid)} in ${log.file}; refusing to start`,
          );
        }
        // ZOOKEEPER-1653: a crash inside a follower's NEWLEADER batch, after the log fsync and before
        // the currentEpoch write. Entries of the accepted-but-not-current epoch were never ACKed
        // (ACKs leave only once currentEpoch is durable), so they are cut like a torn tail.
        const after = log.floor(makeZxid(currentEpoch + 1, 0) - 1);
        const above = log.count(after, lastZxid);
        const removed = await log.truncateAfter(after);
        assert(removed === above && epochOf(log.lastZxid) <= currentEpoch,
          `cutting after ${zxidToHex(after)} removed ${removed} of the ${above} entries above epoch ${currentEpoch}`);
        await log.sync();
        logger.warn({ currentEpoch, acceptedEpoch, after: zxidToHex(after), removed }, 'unacknowledged entries of an epoch not yet current cut from the log (crash inside NEWLEADER)');
      }
      if (acceptedEpoch < currentEpoch) {
        throw new InconsistentStateError(
          `the accepted epoch ${acceptedEpoch} (${path.join(dataDir, acceptedEpochFileName)}) is older than the current epoch ${currentEpoch}; refusing to start`,
        );
      }
    }
    logger.info({ entries: log.length, lastZxid: zxidToHex(log.lastZxid), segments: log.segments().length, acceptedEpoch, currentEpoch }, 'recovered durable state');
    return { log, durable: { acceptedEpoch, currentEpoch, log: storeOf(log) } };
  } catch (error) {
    log.close();
    throw error;
  }
}
