/**
 * The nemesis op vocabulary, in one place (interfaces.md "Nemesis operations"): every `f` the
 * testbed writes for `process: "nemesis"`, what each one means, and the fault packages of
 * `--nemesis`. The nemesis (faults/) emits these names, the checker reads which ones restart a
 * process, the report pairs fault windows and draws markers with them. Bottom layer: imports only
 * the testbed's interfaces.
 *
 *   package     start f              stop f      the fault
 *   kill        kill                 start       kill -9 of the process group, then a restart
 *   pause       pause                resume      SIGSTOP / SIGCONT
 *   power       power-off            power-on    kill -9 at one instant, unsynced writes lost
 *   partition   partition            heal        silent or refusing cuts, both ways
 *   one-way     partition-one-way    heal        cuts, one direction
 *   latency     latency              heal        Toxiproxy latency toxic
 *   bandwidth   bandwidth            heal        Toxiproxy bandwidth toxic
 *   reset       reset                heal        Toxiproxy reset_peer toxic
 *   slice       slice                heal        Toxiproxy slicer toxic
 *   rejoin      rejoin               rejoin-end  followers down and back one at a time, leader killed when quiet (faults/rejoin.ts)
 *   disk        disk-fault           disk-heal   a node's fault filesystem slow, stalled, failing (EIO) or full; the heal restarts the node if it exited
 *
 * A start and its stop share `value.id` and `value.package`. Besides those, the history holds:
 *   heal                {value: "all"}                      the runner's final heal (closes every fault)
 *   heal                {value: "processes" | "network"}    a part of Nemesis.healAll that failed (with error)
 *   resume / start      {value: {nodes}}                    Nemesis.healAll resuming / restarting nodes
 *   heal                {value: [events...]}                the runner's record of what healAll did
 *   final-phase         {value: {boundMs, nodes}}           the runner's final-phase marker
 *   toxiproxy-down      {value: {cause}}                    testbed supervision (cluster/toxiproxy-supervisor.ts)
 *   toxiproxy-restored  {value: {proxies, toxics, downMs}}  testbed supervision
 *   scenario-step       {value: {step, do, nodes?, unmet?}} a scenario step done (faults/scenario.ts); value.unmet: a precondition not met; error: the testbed could not do it
 * A scenario's own faults use the ops above (kill/stop -> start, pause -> resume, partition -> heal) with `value.step`.
 */
import { UsageError } from './types.js';

export const faultPackages = ['kill', 'pause', 'power', 'partition', 'one-way', 'latency', 'bandwidth', 'reset', 'slice', 'rejoin', 'disk'] as const;
export type FaultPackage = (typeof faultPackages)[number];

export const processPackages: readonly FaultPackage[] = ['kill', 'pause', 'power'];
export const networkPackages: readonly FaultPackage[] = ['partition', 'one-way', 'latency', 'bandwidth', 'reset', 'slice'];
/** Membership churn: its own lane of the schedule (faults/schedule.ts), beside the process and network lanes. */
export const membershipPackages: readonly FaultPackage[] = ['rejoin'];
/** Disk faults (a fault filesystem under each node's data): the fourth lane, after the other three, so every seed keeps their faults. */
export const storagePackages: readonly FaultPackage[] = ['disk'];

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
  rejoin: { start: 'rejoin', stop: 'rejoin-end' },
  disk: { start: 'disk-fault', stop: 'disk-heal' },
};

/** How the report groups a package's fault window (its colour lane). */
export type FaultGroup = 'kill' | 'pause' | 'partition' | 'network';
export const packageGroup: Record<FaultPackage, FaultGroup> = {
  kill: 'kill',
  power: 'kill',
  pause: 'pause',
  partition: 'partition',
  'one-way': 'partition',
  latency: 'network',
  bandwidth: 'network',
  reset: 'network',
  slice: 'network',
  rejoin: 'kill',
  // A slow or stalled disk freezes a node like a pause; a failing or full one makes it exit (and the heal restart it).
  disk: 'pause',
};

export function isFaultPackage(name: string): name is FaultPackage {
  return (faultPackages as readonly string[]).includes(name);
}

/** The package whose start op is `f` (each start f belongs to exactly one package). */
export function packageOfStart(f: string): FaultPackage | undefined {
  return faultPackages.find((name) => packageOps[name].start === f);
}

/** The packages whose stop op is `f` (`heal` ends every network package). */
export function packagesOfStop(f: string): FaultPackage[] {
  return faultPackages.filter((name) => packageOps[name].stop === f && packageOps[name].start !== f);
}

/** The heal f: the stop of the network packages, the runner's final heal, healAll's failures. */
export const healF = 'heal';
/** `value` of the runner's final heal, which ends every fault still open. */
export const healAllValue = 'all';

/** The runner's final-phase marker (jepsen-style/checker/final-phase.ts reads its value). */
export const finalPhaseMarkerF = 'final-phase';

/** The runner's snapshot of silent nodes after a final phase some did not pass: `value.nodes`, one NodeStatus each. */
export const nodeStatusF = 'node-status';

/**
 * One line on a node's state, from a NodeStatus (or one read back from a history):
 * `n2: following, phase sync, epoch 7, last 0x700000003, committed 0x700000001`.
 */
export function describeNodeStatus(status: object): string {
  const s = status as Readonly<Record<string, unknown>>;
  const name = String(s['name'] ?? '?');
  if (s['alive'] === false) return `${name}: down`;
  if (s['paused'] === true) return `${name}: paused`;
  if (s['answers'] === false) return `${name}: alive (pid ${String(s['pid'] ?? '?')}) but does not answer a status request`;
  const parts = [String(s['role'] ?? 'unknown')];
  for (const [key, label] of [['phase', 'phase'], ['epoch', 'epoch'], ['lastZxid', 'last'], ['commitZxid', 'committed']] as const) {
    if (s[key] !== undefined) parts.push(`${label} ${String(s[key])}`);
  }
  return `${name}: ${parts.join(', ')}`;
}

/** A scenario step's marker (faults/scenario.ts): what the step did and found. */
export const scenarioStepF = 'scenario-step';

/** Testbed supervision events (cluster/toxiproxy-supervisor.ts): about the testbed, not a fault. */
export const supervisionOps = ['toxiproxy-down', 'toxiproxy-restored'] as const;
export type SupervisionOp = (typeof supervisionOps)[number];

export function isSupervisionOp(f: string): f is SupervisionOp {
  return (supervisionOps as readonly string[]).includes(f);
}

/** Nemesis-process events that mark a moment instead of a fault: the final phase, node states, scenario steps and supervision. */
export function isMarkerOp(f: string): boolean {
  return f === finalPhaseMarkerF || f === nodeStatusF || f === scenarioStepF || isSupervisionOp(f);
}

/**
 * Ops that restart a node's process (the node named in `value` lost its volatile state and came
 * back, or will): the starts and stops of the kill, power, rejoin and disk packages (a disk error
 * makes a node exit; its heal starts it again). A subscription to that node may legitimately start
 * over. Pause and resume are not restarts.
 */
export const processRestartOps: readonly string[] = [
  packageOps.kill.start, packageOps.kill.stop, packageOps.power.start, packageOps.power.stop, packageOps.rejoin.start, packageOps.rejoin.stop,
  packageOps.disk.start, packageOps.disk.stop,
];

/**
 * Names other tools' histories use for a process going down or coming back (Jepsen's db nemeses:
 * kill/start, stop, crash, restart, power): a subscription that re-delivers after one of these is
 * a restart, not a repeat. Exact names only (never a prefix: `start-partition` is no restart).
 */
const otherToolsRestartOps: readonly string[] = ['restart', 'crash', 'stop', 'power'];

export function isProcessRestartOp(f: string): boolean {
  return processRestartOps.includes(f) || otherToolsRestartOps.includes(f);
}

/**
 * Parse a --nemesis LIST: comma-separated package names, `none` (no faults) or `all` (every
 * package, interleaved in one run). Duplicates collapse; order is the canonical order. Unknown
 * names → UsageError.
 */
export function parsePackages(text: string): FaultPackage[] {
  const names = text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0);
  if (names.length === 0) throw new UsageError(`--nemesis is empty; valid: none, all, ${faultPackages.join(', ')}`);
  const chosen = new Set<FaultPackage>();
  for (const name of names) {
    if (name === 'none') continue;
    if (name === 'all') { for (const p of faultPackages) chosen.add(p); continue; }
    if (name === 'each') throw new UsageError('--nemesis each is a word of zabkit nightly (one row per package); one run takes all, every package interleaved');
    if (!isFaultPackage(name)) {
      throw new UsageError(`unknown fault package "${name}" in --nemesis; valid: none, all, ${faultPackages.join(', ')}`);
    }
    chosen.add(name);
  }
  if (names.includes('none') && chosen.size > 0) throw new UsageError('--nemesis: "none" cannot be combined with fault packages');
  return faultPackages.filter((name) => chosen.has(name));
}

/**
 * The packages of a run already parsed (`TestCliOptions.nemesis`, test.json's `nemesis`: what
 * `parsePackages` returned, so `[]` for `none`), checked again by name.
 */
export function parsedPackages(names: readonly string[]): FaultPackage[] {
  return names.length === 0 ? [] : parsePackages(names.join(','));
}

/**
 * The rows of a nightly matrix (`zabkit nightly --nemesis LIST`, alias `--packages`): each entry is
 * one row run with `zabkit test --nemesis ROW`, so `all` is one row with every package interleaved,
 * the same meaning as in `zabkit test`; `each` expands into one row per package; `none` is a row
 * without faults. Order as given, duplicates dropped. Unknown names → UsageError.
 */
export function parseNightlyRows(text: string): string[] {
  const names = text.split(',').map((name) => name.trim().toLowerCase()).filter((name) => name.length > 0);
  if (names.length === 0) throw new UsageError(`--nemesis is empty; valid: each, all, none, ${faultPackages.join(', ')}`);
  const rows: string[] = [];
  for (const name of names) {
    const expanded = name === 'each' ? [...faultPackages] : [name];
    for (const row of expanded) {
      if (row !== 'all' && row !== 'none' && !isFaultPackage(row)) {
        throw new UsageError(`unknown fault package "${row}" in --nemesis; valid: each, all, none, ${faultPackages.join(', ')}`);
      }
      if (!rows.includes(row)) rows.push(row);
    }
  }
  return rows;
}
