/**
 * The configuration of one server process (`zabkit node --config FILE`, or the same fields as flags):
 * a format shared across processes, like the peer and client protocols, so it lives in src/wire.
 * The cluster launcher (cluster/) writes one such JSON file per node; the server parses it
 * (src/server/parse-config.ts).
 */
import type { PlantedBug, ServerId, Timing } from '../core/types.js';

export interface PeerAddress {
  readonly id: ServerId;
  /** Where THIS node dials peer `id` (with Toxiproxy: the listen address of proxy this->id). */
  readonly host: string;
  readonly port: number;
}

export interface NodeConfig {
  /** Shared by every server of a cluster; a peer presenting another cluster id is refused. */
  readonly clusterId: string;
  readonly id: ServerId;
  /** Peer port: where other servers (or the proxies in front of this one) connect. */
  readonly peerHost: string;
  readonly peerPort: number;
  /** Client port: broadcast, read, subscribe, status. */
  readonly clientHost: string;
  readonly clientPort: number;
  /** Every voting member other than this one, with the address this node dials it at. */
  readonly peers: readonly PeerAddress[];
  readonly dataDir: string;
  /** pino NDJSON log file; stdout when absent. */
  readonly logFile?: string;
  readonly logLevel?: string;
  readonly tickMs: number;
  /** The transaction log rolls to a new segment file at this size (src/server/limits.ts defaultSegmentBytes when absent). */
  readonly segmentBytes?: number;
  /** Durable, delivered log entries kept in memory by the core and by the client port (src/core/limits.ts memoryLogEntries when absent). */
  readonly memoryLogEntries?: number;
  readonly timing: Timing;
  readonly bugs: readonly PlantedBug[];
  /** Seed of the core's PRNG (election jitter); printed at start. */
  readonly seed: number;
}

export const defaultTickMs = 50;

/** Defaults: leader loss is noticed within syncLimit * tickMs = 500 ms. */
export const defaultTiming: Timing = {
  initLimitTicks: 20,
  syncLimitTicks: 10,
  finalizeWaitTicks: 2,
  notificationResendTicks: 4,
  pingIntervalTicks: 2,
};
