/**
 * Resident memory of a server as the kernel counts it: the sum of VmRSS over every process of its
 * process group (a zabkit node is one process; a ZooKeeper server is a JVM, possibly under a
 * wrapper), read from /proc. Linux only; elsewhere, or for a group that is gone, undefined.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Bytes resident in the process group `pgid`, or undefined when no process of it is left. */
export function groupRssBytes(pgid: number): number | undefined {
  let total: number | undefined;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'latin1');
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
      if (match) total = (total ?? 0) + Number(match[1]) * 1024;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

/** One sample: seconds since the sampler started, and each server's resident MiB (null: not running). */
export interface RssSample {
  readonly t_s: number;
  readonly mib: Record<string, number | null>;
}

/**
 * Samples every server's RSS every `intervalMs` until stopped. `pids` is asked again at each sample
 * (a restarted server has a new process group).
 */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(private readonly pids: () => Promise<Record<string, number | undefined>>, intervalMs: number) {
    this.timer = setInterval(() => void this.sample(), intervalMs);
    this.timer.unref();
    void this.sample();
  }

  private sampling = false;

  async sample(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const pids = await this.pids();
      const mib: Record<string, number | null> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const bytes = pid === undefined ? undefined : groupRssBytes(pid);
        mib[name] = bytes === undefined ? null : Math.round((bytes / 2 ** 20) * 10) / 10;
      }
      this.samples.push({ t_s: Math.round((Date.now() - this.started) / 100) / 10, mib });
    } catch {
      // A status call that failed mid-run: this sample is skipped.
    } finally {
      this.sampling = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Each server's largest sample, in MiB. */
  maxByNode(): Record<string, number> {
    const max: Record<string, number> = {};
    for (const sample of this.samples) {
      for (const [name, value] of Object.entries(sample.mib)) if (value !== null) max[name] = Math.max(max[name] ?? 0, value);
    }
    return max;
  }
}
