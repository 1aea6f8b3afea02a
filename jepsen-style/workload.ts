/**
 * The broadcast workload: `concurrency` workers, each a Jepsen process with one client connection
 * to one node. Every worker broadcasts unique message ids at its share of the rate (some workers
 * pipeline several broadcasts on their connection), and follows its node's deliveries through a
 * subscription, recording `deliver` observations. A process that gets `info` is retired: the
 * worker goes on under a new process id (old id + the number of workers), on a fresh connection.
 * With `readEveryMs`, one more worker reads a random node's whole delivered sequence now and then
 * (f `read`, as the final reads), so that a node is read more than once in a run.
 */
import { DefiniteFailure, UnknownOutcome, type Client, type ClientFactory, type Delivery, type HistorySink, type NodeInfo } from './types.js';
import type { Prng } from '../src/core/prng.js';
import { sleep } from './async.js';


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
  /** Mean gap between reads of a random node's whole sequence by the reader worker (none if unset). */
  readonly readEveryMs?: number;
  /** A read not answered within this many ms is recorded as info. */
  readonly readTimeoutMs?: number;
  readonly prng: Prng;
  readonly factory: ClientFactory;
  readonly sink: HistorySink;
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
  /** Process ids step by the number of workers (broadcasters plus the reader, if any). */
  private readonly stride: number;
  private readonly wake = new AbortController();

  constructor(options: WorkloadOptions) {
    if (options.concurrency < 1) throw new RangeError('concurrency must be at least 1');
    if (options.pipelineDepth > workloadLimits.pipelineDepthMax) throw new RangeError('pipeline depth over its limit');
    if (options.readEveryMs !== undefined && !(options.readEveryMs > 0)) throw new RangeError('readEveryMs must be above 0');
    this.options = options;
    this.stride = options.concurrency + (options.readEveryMs === undefined ? 0 : 1);
  }

  start(): void {
    for (let worker = 0; worker < this.options.concurrency; worker++) {
      const prng = this.options.prng.fork();
      this.workers.push(this.runWorker(worker, prng));
    }
    if (this.options.readEveryMs !== undefined) this.workers.push(this.runReader(this.options.concurrency, this.options.readEveryMs, this.options.prng.fork()));
  }

  /** Stop issuing broadcasts; wait (bounded by the broadcast timeout) for in-flight ones; close clients. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake.abort();
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
      process += this.stride;
      if (retired || subscriptionFailed) nodeIndex++;
    }
  }

  /**
   * The reader worker: at exponential gaps (mean `everyMs`), read a random node's whole delivered
   * sequence, recorded as `read` invoke then ok/info, the final read's format. A read that cannot
   * connect is not recorded (no connection, no operation); an `info` retires the process.
   */
  private async runReader(worker: number, everyMs: number, prng: Prng): Promise<void> {
    const { nodes } = this.options;
    const timeoutMs = this.options.readTimeoutMs ?? 20_000;
    let process = worker;
    while (!this.stopped) {
      await sleep(Math.min(-Math.log(1 - prng.next()) * everyMs, everyMs * 10), this.wake.signal);
      if (this.stopped) break;
      const node = nodes[Math.floor(prng.next() * nodes.length) % nodes.length]!;
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      let client: Client | undefined;
      try {
        client = await withDeadline(this.options.factory.open(node), controller.signal);
      } catch {
        clearTimeout(timer);
        continue;
      }
      this.clients.add(client);
      this.highestProcess = Math.max(this.highestProcess, process);
      this.options.sink.append({ process, type: 'invoke', f: 'read', node: node.name, value: null });
      try {
        const deliveries = await client.read(controller.signal);
        this.options.sink.append({ process, type: 'ok', f: 'read', node: node.name, value: { deliveries } });
      } catch (error) {
        const reason = controller.signal.aborted ? 'timeout' : error instanceof Error ? error.message : String(error);
        this.options.sink.append({ process, type: 'info', f: 'read', node: node.name, value: null, error: reason.slice(0, 200) });
        process += this.stride;
      } finally {
        clearTimeout(timer);
        this.clients.delete(client);
        await client.close().catch(() => undefined);
      }
    }
  }

  private async broadcast(client: Client, process: number, node: string, id: string): Promise<'ok' | 'fail' | 'info'> {
    const outcome = await recordBroadcast(this.options.sink, client, process, node, id, this.options.broadcastTimeoutMs);
    this.counters[outcome]++;
    return outcome;
  }
}

/**
 * One broadcast as a history operation: invoke, then ok (with the zxid), fail (definitely not
 * delivered) or info (timeout, or an unknown outcome), bounded by `timeoutMs` and by `signal`.
 * Used by the workload and by the runner's final phase, so both record the same way.
 */
export async function recordBroadcast(
  sink: HistorySink, client: Client, process: number, node: string, id: string, timeoutMs: number, signal?: AbortSignal,
): Promise<'ok' | 'fail' | 'info'> {
  sink.append({ process, type: 'invoke', f: 'broadcast', node, value: { id } });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const onAbort = (): void => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const { zxid } = await client.broadcast(id, controller.signal);
    sink.append({ process, type: 'ok', f: 'broadcast', node, value: { id, zxid } });
    return 'ok';
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof DefiniteFailure) {
      sink.append({ process, type: 'fail', f: 'broadcast', node, value: { id }, error: reason.slice(0, 200) });
      return 'fail';
    }
    const why = controller.signal.aborted ? 'timeout' : error instanceof UnknownOutcome ? reason : `indeterminate: ${reason}`;
    sink.append({ process, type: 'info', f: 'broadcast', node, value: { id }, error: why.slice(0, 200) });
    return 'info';
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Opens a client to `node` within `ms`; a connection that comes up later is closed, never leaked. */
export async function openWithin(factory: ClientFactory, node: NodeInfo, ms: number): Promise<Client> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    return await withDeadline(factory.open(node), controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`, or a rejection once `signal` aborts (the late result, if any, is closed). */
function withDeadline(promise: Promise<Client>, signal: AbortSignal): Promise<Client> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new Error('timed out'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (client) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) void client.close().catch(() => undefined);
        else resolve(client);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
