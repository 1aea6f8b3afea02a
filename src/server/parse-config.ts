/**
 * Building a NodeConfig from a JSON file or from command-line fields, with every field checked, and
 * the relations between fields too (timing: src/core/timing.ts; ports; peer ids).
 * Errors are ConfigError (the CLI turns them into usage errors, exit 254).
 */
import { readFileSync } from 'node:fs';
import { timingViolation } from '../core/timing.js';
import { plantedBugs, type PlantedBug, type Timing } from '../core/types.js';
import { maxMemoryLogEntries, maxSegmentBytes, minSegmentBytes } from './limits.js';
import { defaultTickMs, defaultTiming, type NodeConfig, type PeerAddress } from '../wire/node-config.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface NodeFlags {
  readonly clusterId?: string;
  readonly id?: string;
  readonly host?: string;
  readonly peerPort?: string;
  readonly clientPort?: string;
  readonly peers?: string;
  readonly dataDir?: string;
  readonly logFile?: string;
  readonly logLevel?: string;
  readonly tickMs?: string;
  readonly segmentBytes?: string;
  readonly memoryLogEntries?: string;
  readonly bug?: readonly string[];
  readonly seed?: string;
}

/** "2@127.0.0.1:7002,3@127.0.0.1:7003" */
export function parsePeers(text: string): PeerAddress[] {
  const peers: PeerAddress[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const match = /^(\d+)@(.+):(\d+)$/.exec(part);
    if (!match) throw new ConfigError(`--peers: "${part}" is not ID@HOST:PORT`);
    peers.push({ id: int('peer id', match[1], 0, 0xffff_ffff), host: match[2] as string, port: int('peer port', match[3], 1, 65535) });
  }
  return peers;
}

function int(name: string, raw: unknown, min: number, max: number): number {
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function bugList(raw: unknown): PlantedBug[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new ConfigError('bugs must be a list of names');
  return raw.map((name) => {
    if (!(plantedBugs as readonly unknown[]).includes(name)) throw new ConfigError(`unknown planted bug ${JSON.stringify(name)} (known: ${plantedBugs.join(', ')})`);
    return name as PlantedBug;
  });
}

function timing(raw: unknown): Timing {
  if (raw === undefined) return defaultTiming;
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('timing must be an object');
  const t = raw as Record<string, unknown>;
  const field = (name: keyof Timing, min: number): number => (t[name] === undefined ? defaultTiming[name] : int(`timing.${name}`, t[name], min, 1_000_000));
  const parsed: Timing = {
    initLimitTicks: field('initLimitTicks', 1),
    syncLimitTicks: field('syncLimitTicks', 1),
    finalizeWaitTicks: field('finalizeWaitTicks', 0),
    notificationResendTicks: field('notificationResendTicks', 1),
    pingIntervalTicks: field('pingIntervalTicks', 1),
  };
  const violation = timingViolation(parsed);
  if (violation !== undefined) throw new ConfigError(`timing: ${violation}`);
  return parsed;
}

function string(name: string, raw: unknown): string {
  if (typeof raw !== 'string' || raw === '') throw new ConfigError(`${name} must be a non-empty string`);
  return raw;
}

/** Validates a parsed JSON object as a NodeConfig (missing optional fields get defaults). */
export function nodeConfigFromObject(raw: unknown, randomSeed: () => number): NodeConfig {
  if (typeof raw !== 'object' || raw === null) throw new ConfigError('the configuration must be a JSON object');
  const o = raw as Record<string, unknown>;
  const id = int('id', o['id'], 0, 0xffff_ffff);
  if (!Array.isArray(o['peers'])) throw new ConfigError('peers must be a list of {id, host, port}');
  const peers = (o['peers'] as unknown[]).map((p, i) => {
    const q = (p ?? {}) as Record<string, unknown>;
    return { id: int(`peers[${i}].id`, q['id'], 0, 0xffff_ffff), host: string(`peers[${i}].host`, q['host']), port: int(`peers[${i}].port`, q['port'], 1, 65535) };
  });
  const ids = new Set(peers.map((p) => p.id));
  if (ids.size !== peers.length || ids.has(id)) throw new ConfigError('peer ids must be distinct and differ from id');
  const peerHost = o['peerHost'] === undefined ? '127.0.0.1' : string('peerHost', o['peerHost']);
  const peerPort = int('peerPort', o['peerPort'], 0, 65535);
  const clientHost = o['clientHost'] === undefined ? '127.0.0.1' : string('clientHost', o['clientHost']);
  const clientPort = int('clientPort', o['clientPort'], 0, 65535);
  if (peerPort !== 0 && peerPort === clientPort && peerHost === clientHost) throw new ConfigError(`peerPort and clientPort must differ (both ${peerPort} on ${peerHost})`);
  return {
    clusterId: o['clusterId'] === undefined ? 'zabkit' : string('clusterId', o['clusterId']),
    id,
    peerHost,
    peerPort,
    clientHost,
    clientPort,
    peers,
    dataDir: string('dataDir', o['dataDir']),
    ...(o['logFile'] === undefined ? {} : { logFile: string('logFile', o['logFile']) }),
    ...(o['logLevel'] === undefined ? {} : { logLevel: string('logLevel', o['logLevel']) }),
    tickMs: o['tickMs'] === undefined ? defaultTickMs : int('tickMs', o['tickMs'], 1, 60_000),
    ...(o['segmentBytes'] === undefined ? {} : { segmentBytes: int('segmentBytes', o['segmentBytes'], minSegmentBytes, maxSegmentBytes) }),
    ...(o['memoryLogEntries'] === undefined ? {} : { memoryLogEntries: int('memoryLogEntries', o['memoryLogEntries'], 0, maxMemoryLogEntries) }),
    timing: timing(o['timing']),
    bugs: bugList(o['bugs']),
    seed: o['seed'] === undefined ? randomSeed() : int('seed', o['seed'], 0, Number.MAX_SAFE_INTEGER),
  };
}

export function nodeConfigFromFile(file: string, randomSeed: () => number): NodeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read the configuration ${file}: ${(error as Error).message}`);
  }
  return nodeConfigFromObject(raw, randomSeed);
}

export function nodeConfigFromFlags(flags: NodeFlags, randomSeed: () => number): NodeConfig {
  const need = (name: string, value: string | undefined): string => {
    if (value === undefined) throw new ConfigError(`--${name} is required (or give --config FILE)`);
    return value;
  };
  return nodeConfigFromObject(
    {
      clusterId: flags.clusterId,
      id: int('--id', need('id', flags.id), 0, 0xffff_ffff),
      peerHost: flags.host,
      clientHost: flags.host,
      peerPort: int('--peer-port', need('peer-port', flags.peerPort), 0, 65535),
      clientPort: int('--client-port', need('client-port', flags.clientPort), 0, 65535),
      peers: parsePeers(need('peers', flags.peers)),
      dataDir: need('data-dir', flags.dataDir),
      logFile: flags.logFile,
      logLevel: flags.logLevel,
      tickMs: flags.tickMs === undefined ? undefined : int('--tick-ms', flags.tickMs, 1, 60_000),
      segmentBytes: flags.segmentBytes === undefined ? undefined : int('--segment-bytes', flags.segmentBytes, minSegmentBytes, maxSegmentBytes),
      memoryLogEntries: flags.memoryLogEntries === undefined ? undefined : int('--memory-log-entries', flags.memoryLogEntries, 0, maxMemoryLogEntries),
      bugs: flags.bug ?? [],
      seed: flags.seed === undefined ? undefined : int('--seed', flags.seed, 0, Number.MAX_SAFE_INTEGER),
    },
    randomSeed,
  );
}
