/**
 * Fault packages for `--nemesis` (interfaces.md): each names a family of faults with its start and
 * its heal. Process faults act on nodes through the Db; network faults through the Net (Toxiproxy).
 */
import { UsageError } from '../jepsen-style/types.js';

export const faultPackages = ['kill', 'pause', 'power', 'partition', 'one-way', 'latency', 'bandwidth', 'reset', 'slice'] as const;
export type FaultPackage = (typeof faultPackages)[number];

export const processPackages: readonly FaultPackage[] = ['kill', 'pause', 'power'];
export const networkPackages: readonly FaultPackage[] = ['partition', 'one-way', 'latency', 'bandwidth', 'reset', 'slice'];

/** The history `f` of each package's start and of its end (interfaces.md nemesis ops). */
export const packageOps: Record<FaultPackage, { readonly start: string; readonly stop: string }> = {
  kill: { start: 'kill', stop: 'start' },
  pause: { start: 'pause', stop: 'resume' },
  power: { start: 'power-off', stop: 'power-on' },
  partition: { start: 'partition', stop: 'heal' },
  'one-way': { start: 'partition-one-way', stop: 'heal' },
  latency: { start: 'latency', stop: 'heal' },
  bandwidth: { start: 'bandwidth', stop: 'heal' },
  reset: { start: 'reset', stop: 'heal' },
  slice: { start: 'slice', stop: 'heal' },
};

export function isFaultPackage(name: string): name is FaultPackage {
  return (faultPackages as readonly string[]).includes(name);
}

/**
 * Parse a --nemesis LIST: comma-separated package names, `none` (no faults) or `all` (every
 * package). Duplicates collapse; order is the canonical order. Unknown names → UsageError.
 */
export function parsePackages(text: string): FaultPackage[] {
  const names = text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0);
  if (names.length === 0) throw new UsageError(`--nemesis is empty; valid: none, all, ${faultPackages.join(', ')}`);
  const chosen = new Set<FaultPackage>();
  for (const name of names) {
    if (name === 'none') continue;
    if (name === 'all') { for (const p of faultPackages) chosen.add(p); continue; }
    if (!isFaultPackage(name)) {
      throw new UsageError(`unknown fault package "${name}" in --nemesis; valid: none, all, ${faultPackages.join(', ')}`);
    }
    chosen.add(name);
  }
  if (names.includes('none') && chosen.size > 0) throw new UsageError('--nemesis: "none" cannot be combined with fault packages');
  return faultPackages.filter((name) => chosen.has(name));
}
