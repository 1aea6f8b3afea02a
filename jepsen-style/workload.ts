/**
 * The broadcast workload: `concurrency` workers, each a Jepsen process with one client connection
 * to one node. Every worker broadcasts unique message ids at its share of the rate (some workers
 * pipeline several broadcasts on their connection), and follows its node's deliveries through a
 * subscription, recording `deliver` observations. A process that gets `info` is retired: the
 * worker goes on under a new process id (old id + concurrency), on a fresh connection.
 */
import { DefiniteFailure, UnknownOutcome, type Client, type ClientFactory, type Delivery, type NodeInfo } from './types.js';
import type { Prng } from '../src/core/prng.js';

/** What the workload needs of the history: append one event, get its index back. */
export interface EventSink {
  append(event: {
    process: number;
    type: 'invoke' | 'ok' | 'fail' | 'info';
    f: string;
    node: string;
    value: unknown;
    error?: string;
  }): void;
}

export interface WorkloadOptions {
  readonly nodes: readonly NodeInfo[];
  readonly concurrency: number;
  /** Total broadcasts per second across all workers. */
  readonly rate: number;
  /** Every `pipelineEvery`-th worker keeps up to `pipelineDepth` broadcasts in flight. */
  readonly pipelineDepth: number;
  readonly pipelineEvery: number;
  /** A broadcast not answered within this many ms is recorded as info (unknown outcome). */
  readonly broadcastTimeoutMs: number;
  readonly prng: Prng;
  readonly factory: ClientFactory;
  readonly sink: EventSink;
}

export interface WorkloadCounters {
  ok: number;
  fail: number;
  info: number;
  delivered: number;
}

/** Limits of the workload (docs/LIMITS.md). */
export const workloadLimits = {
  /** A worker that cannot connect waits this long before trying again (bounded retry loop). */
  reconnectDelayMs: 250,
  /** Most broadcasts one pipelining worker keeps in flight. */
  pipelineDepthMax: 64,
} as const;

export class Workload {
  readonly counters: WorkloadCounters = { ok: 0, fail: 0, info: 0, delivered: 0 };
  /** The highest process id any worker has used (later phases take ids above it). */
  highestProcess = -1;
  private stopped = false;
  private readonly workers: Promise<void>[] = [];
  private readonly clients = new Set<Client>();
  private readonly options: WorkloadOptions;

  constructor(options: WorkloadOptions) {
    if (options.concurrency < 1) throw new RangeError('concurrency must be at least 1');
    if (options.pipelineDepth > workloadLimits.pipelineDepthMax) throw new RangeError('pipeline depth over its limit');
    this.options = options;
  }

  start(): void {
    for (let worker = 0; worker < this.options.concurrency; worker++) {
      const prng = this.options.prng.fork();
      this.workers.push(this.runWorker(worker, prng));
    }
  }

  /** Stop issuing broadcasts; wait (bounded by the broadcast timeout) for in-flight ones; close clients. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled(this.workers);
    await Promise.allSettled([...this.clients].map((client) => client.close()));
    this.clients.clear();
  }

  private async runWorker(worker: number, prng: Prng): Promise<void> {
    const { concurrency, nodes } = this.options;
    const pipelining = this.options.pipelineEvery > 0 && worker % this.options.pipelineEvery === this.options.pipelineEvery - 1;
    const depth = pipelining ? this.options.pipelineDepth : 1;
    const perWorkerRate = this.options.rate / concurrency;
    const meanGapMs = perWorkerRate > 0 ? 1000 / perWorkerRate : 1000;
    let process = worker;
    let sequence = 0;
    let lastSeen: string | undefined;
    let nodeIndex = worker % nodes.length;

    while (!this.stopped) {
      const node = nodes[nodeIndex % nodes.length]!;
      let client: Client;
      try {
        client = await this.options.factory.open(node);
      } catch {
        // No connection, no operation: Jepsen would record a fail with no-client; we simply retry.
        nodeIndex++;
        await sleep(workloadLimits.reconnectDelayMs);
        continue;
      }
      this.clients.add(client);
      const myProcess = process;
      this.highestProcess = Math.max(this.highestProcess, myProcess);
      let subscriptionFailed = false;
      client.subscribe(
        lastSeen,
        (delivery: Delivery) => {
          lastSeen = delivery.zxid;
          this.counters.delivered++;
          this.options.sink.append({ process: myProcess, type: 'ok', f: 'deliver', node: node.name, value: delivery });
        },
        () => {
          subscriptionFailed = true;
        },
      );

      const inFlight = new Set<Promise<void>>();
      let retired = false;
      while (!this.stopped && !retired && !subscriptionFailed) {
        while (inFlight.size >= depth) await Promise.race(inFlight);
        if (this.stopped || retired) break;
        const id = `${myProcess}-${sequence++}`;
        const operation = this.broadcast(client, myProcess, node.name, id).then((outcome) => {
          if (outcome === 'info') retired = true;
        });
        const tracked = operation.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        // Exponential gaps give a Poisson arrival process at the worker's share of the rate.
        await sleep(Math.min(-Math.log(1 - prng.next()) * meanGapMs, meanGapMs * 10));
      }
      await Promise.allSettled(inFlight);
      this.clients.delete(client);
      await client.close().catch(() => undefined);
      // A retired (or disconnected) process never invokes again: continue as a new process id.
      process += concurrency;
      if (retired || subscriptionFailed) nodeIndex++;
    }
  }

  private async broadcast(client: Client, process: number, node: string, id: string): Promise<'ok' | 'fail' | 'info'> {
    const sink = this.options.sink;
    sink.append({ process, type: 'invoke', f: 'broadcast', node, value: { id } });
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.broadcastTimeoutMs);
    try {
      const { zxid } = await client.broadcast(id, controller.signal);
      sink.append({ process, type: 'ok', f: 'broadcast', node, value: { id, zxid } });
      this.counters.ok++;
      return 'ok';
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (error instanceof DefiniteFailure) {
        sink.append({ process, type: 'fail', f: 'broadcast', node, value: { id }, error: reason.slice(0, 200) });
        this.counters.fail++;
        return 'fail';
      }
      const why = controller.signal.aborted ? 'timeout' : error instanceof UnknownOutcome ? reason : `indeterminate: ${reason}`;
      sink.append({ process, type: 'info', f: 'broadcast', node, value: { id }, error: why.slice(0, 200) });
      this.counters.info++;
      return 'info';
    } finally {
      clearTimeout(timer);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, ms));
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
