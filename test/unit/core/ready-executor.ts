/**
 * The shell's execution of one Ready (src/server/replica.ts), in memory, in the order of
 * src/core/types.ts, with a crash point between every two micro-steps. Shared by the transcript
 * harness (harness.ts, synchronous) and the simulation (sim.ts, where the fsync takes time and
 * inputs keep being stepped into the core meanwhile).
 *
 *   start():  1. send `messages` (crash points before-send, mid-send)
 *             2a. write the log: truncate + append into the page cache (before-persist, after-log-write)
 *   [the fsync takes time: the caller may step more inputs; their output goes to the next Ready]
 *   finish(): 2b. fdatasync if this Ready wrote the log (after-fsync), acceptedEpoch (after-accepted-epoch), currentEpoch
 *                 (after-current-epoch); each epoch file is an atomic replace, durable when written
 *             3. send `messagesAfterPersist`, except to a peer whose stream broke during the
 *                persist (as the shell compares stream generations) (mid-after-persist, after-persist)
 *             4. deliver `committed`, answer `clientReplies`
 *   then the caller calls peer.advance(ready).
 *
 * The disk keeps the page cache (`written`: what a read after kill -9 sees) apart from what an
 * fsync made durable (`durable`: what a power loss leaves). See `crashDisk` and `recoverDisk`.
 */
import { sliceWithin } from '../../../src/core/log.js';
import type { ClientReply, Envelope, LogStore, ReadLimit, Ready, ServerId, Txn } from '../../../src/core/types.js';
import type { Zxid } from '../../../src/core/zxid.js';

export const readyCrashPoints = [
  'before-send',
  'mid-send',
  'before-persist',
  'after-log-write',
  'after-fsync',
  'after-accepted-epoch',
  'after-current-epoch',
  'mid-after-persist',
  'after-persist',
] as const;
export type ReadyCrashPoint = (typeof readyCrashPoints)[number];

/** A server's data directory in memory. */
export interface MemoryDisk {
  acceptedEpoch: number;
  currentEpoch: number;
  /** The log file as the OS sees it (page cache included): survives kill -9, not a power loss. */
  written: Txn[];
  /** The log as of the last fsync: what survives a power loss. */
  durable: Txn[];
}

export function emptyDisk(): MemoryDisk {
  return { acceptedEpoch: 0, currentEpoch: 0, written: [], durable: [] };
}

/** What a crash leaves: kill -9 keeps the page cache, a power loss keeps only what was fsynced. */
export function crashDisk(disk: MemoryDisk, kind: 'kill' | 'power'): void {
  if (kind === 'power') disk.written = [...disk.durable];
}

/**
 * What a restarting server reads. `fsyncOnOpen`: recovery fsyncs what it read before acting on it
 * (so a restarted server never votes with, or reports in ACKEPOCH, bytes a power cut could take back).
 */
export function recoverDisk(disk: MemoryDisk, fsyncOnOpen: boolean): Txn[] {
  if (fsyncOnOpen) disk.durable = [...disk.written];
  return [...disk.written];
}

/**
 * The core's view of this disk (src/core/log.ts LogStore), live: what the process reads back is the
 * log file as the OS has it (page cache included), as src/server/wal.ts reads its files.
 */
export class DiskLogStore implements LogStore {
  constructor(private readonly disk: MemoryDisk) {}

  /** Index of the first written entry above `zxid`. */
  private after(zxid: Zxid): number {
    const log = this.disk.written;
    let lo = 0, hi = log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (log[mid]!.zxid <= zxid) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  lastZxid(): Zxid {
    return this.disk.written.at(-1)?.zxid ?? 0;
  }

  read(from: Zxid, to: Zxid, limit?: ReadLimit): Txn[] {
    return sliceWithin(this.disk.written, this.after(from), this.after(to), limit);
  }

  floor(zxid: Zxid): Zxid {
    const i = this.after(zxid) - 1;
    return i >= 0 ? this.disk.written[i]!.zxid : 0;
  }

  count(from: Zxid, to: Zxid): number {
    return Math.max(0, this.after(to) - this.after(from));
  }
}

/** The fsync of the log file: the page cache becomes durable. */
export function syncDisk(disk: MemoryDisk): void {
  disk.durable = [...disk.written];
}

export interface ReadyHost {
  /** Puts one message on its stream (`afterPersist`: from ready.messagesAfterPersist). */
  send(envelope: Envelope, afterPersist: boolean): void;
  /** How many times the stream with `peer` has broken so far (omit when streams never break mid-Ready). */
  generation?(peer: ServerId): number;
  deliver(committed: readonly Txn[]): void;
  reply(replies: readonly ClientReply[]): void;
  /** The process dies at `point`: the host crashes the node (and its disk, kill or power). */
  crash(point: ReadyCrashPoint): void;
  /** Checks the log after the write (e.g. strictly increasing zxids). */
  written?(log: readonly Txn[]): void;
}

export class ReadyExecution {
  private generations: Map<ServerId, number> | undefined;
  private crashed = false;

  constructor(
    readonly ready: Ready,
    private readonly disk: MemoryDisk,
    private readonly host: ReadyHost,
    /** Where this execution dies, if it does. */
    private crashAt: ReadyCrashPoint | undefined,
    /** Skip the fsync (planted bug ack-before-fsync: the disk flushes later, on its own). */
    private readonly deferSync = ready.deferSync,
  ) {}

  /** True when the Ready has something to persist (its fsync takes time). */
  get persists(): boolean {
    const r = this.ready;
    return r.truncateAfter !== undefined || r.append.length > 0 || r.acceptedEpoch !== undefined || r.currentEpoch !== undefined;
  }

  /** Steps 1 and 2a. Returns false if the process died. */
  start(): boolean {
    const r = this.ready;
    if (this.at('before-send')) return false;
    const half = Math.floor(r.messages.length / 2);
    for (let i = 0; i < r.messages.length; i++) {
      if (i === half && this.at('mid-send')) return false;
      this.host.send(r.messages[i]!, false);
    }
    if (r.messages.length === 0 && this.at('mid-send')) return false;
    if (this.host.generation) {
      const gens = new Map<ServerId, number>();
      for (const envelope of r.messagesAfterPersist) gens.set(envelope.to, this.host.generation(envelope.to));
      this.generations = gens;
    }
    if (this.at('before-persist')) return false;
    if (r.truncateAfter !== undefined || r.append.length > 0) {
      let log = this.disk.written;
      if (r.truncateAfter !== undefined) log = log.filter((t) => t.zxid <= r.truncateAfter!);
      this.disk.written = [...log, ...r.append];
      this.host.written?.(this.disk.written);
    }
    return !this.at('after-log-write');
  }

  /** Steps 2b, 3 and 4. Returns false if the process died. */
  finish(): boolean {
    const r = this.ready;
    // The log's sync() is a no-op unless this process wrote to it (src/server/wal.ts: `dirty`).
    if (!this.deferSync && (r.truncateAfter !== undefined || r.append.length > 0)) syncDisk(this.disk);
    if (this.at('after-fsync')) return false;
    if (r.acceptedEpoch !== undefined) this.disk.acceptedEpoch = r.acceptedEpoch;
    if (this.at('after-accepted-epoch')) return false;
    if (r.currentEpoch !== undefined) this.disk.currentEpoch = r.currentEpoch;
    if (this.at('after-current-epoch')) return false;
    const after = r.messagesAfterPersist;
    const half = Math.floor(after.length / 2);
    for (let i = 0; i < after.length; i++) {
      if (i === half && this.at('mid-after-persist')) return false;
      const envelope = after[i]!;
      const before = this.generations?.get(envelope.to);
      if (before !== undefined && this.host.generation!(envelope.to) !== before) continue;
      this.host.send(envelope, true);
    }
    if (after.length === 0 && this.at('mid-after-persist')) return false;
    if (this.at('after-persist')) return false;
    // Entries delivered as a stored range are read back from the log, as the shell does.
    const stored = r.committedStored === undefined ? [] : this.disk.written.filter((t) => t.zxid > r.committedStored!.after && t.zxid <= r.committedStored!.upTo);
    this.host.deliver(stored.length === 0 ? r.committed : [...stored, ...r.committed]);
    this.host.reply(r.clientReplies);
    return true;
  }

  /** This execution will not crash after all (the faults are over). */
  disarm(): void {
    this.crashAt = undefined;
  }

  /** Both halves at once (no time passes during the fsync). */
  run(): boolean {
    return this.start() && this.finish();
  }

  private at(point: ReadyCrashPoint): boolean {
    if (this.crashed || point !== this.crashAt) return false;
    this.crashed = true;
    this.host.crash(point);
    return true;
  }
}
