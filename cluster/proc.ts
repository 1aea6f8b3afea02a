/**
 * Process helpers for the launcher: liveness (zombies count as dead), process-group signals,
 * killing a group. Only ever signals process ids that this testbed recorded itself.
 */
import { readFileSync } from 'node:fs';
import { waitFor } from '../jepsen-style/async.js';

/** True if `pid` exists and is not a zombie. */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux';
  }
}

/** The command line of `pid` (Linux), or undefined. */
export function commandLine(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** Signal a whole process group (the leader's pid); falls back to the pid alone. Never throws. */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

/** SIGKILL a process group and wait (bounded) until its leader is gone. */
export async function killGroup(pid: number | undefined, timeoutMs = 5000): Promise<boolean> {
  if (pid === undefined) return true;
  signalGroup(pid, 'SIGCONT');
  signalGroup(pid, 'SIGKILL');
  return waitFor(() => !isAlive(pid), timeoutMs, 20);
}
