/**
 * A seeded generator of valid broadcast histories (and roles.jsonl), for the checker benchmark and
 * the report tests: clients that pipeline broadcasts, outcomes ok/info/fail, a leader killed and
 * restarted now and then (new epoch), pauses and partitions, subscribers observing deliveries,
 * optionally the final phase (marker and probes), and the final reads of every node. Optionally
 * plants one anomaly.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export interface SyntheticOptions {
  /** Approximate number of history lines before the final reads. */
  readonly lines: number;
  readonly nodes?: number;
  readonly clients?: number;
  readonly subscribers?: number;
  readonly pipeline?: number;
  readonly seed?: number;
  /** Mean nanoseconds between events. */
  readonly stepNs?: number;
  /** Plant an anomaly: an acknowledged message dropped from every final read. */
  readonly plant?: 'lost' | 'none';
  /**
   * End with the runner's final phase (checker.ts header): a final-phase marker listing every node,
   * then one probe broadcast per node, acknowledged within the bound, before the final reads.
   */
  readonly finalPhase?: boolean;
}

export interface SyntheticSummary {
  readonly lines: number;
  readonly broadcasts: number;
  readonly committed: number;
  readonly lostId?: string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Write a synthetic history to `historyPath` (and roles to `rolesPath` if given). */
export function writeSyntheticHistory(historyPath: string, options: SyntheticOptions, rolesPath?: string): SyntheticSummary {
  const random = mulberry32(options.seed ?? 1);
  const nodeCount = options.nodes ?? 5;
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const clients = options.clients ?? 10;
  const subscribers = options.subscribers ?? 2;
  const pipeline = options.pipeline ?? 3;
  const stepNs = options.stepNs ?? 200_000;
  const fd = openSync(historyPath, 'w');
  const rolesFd = rolesPath === undefined ? undefined : openSync(rolesPath, 'w');
  let buffer: string[] = [];
  let bufferedBytes = 0;
  const flush = (): void => {
    if (buffer.length > 0) writeSync(fd, buffer.join(''));
    buffer = [];
    bufferedBytes = 0;
  };
  let index = 0;
  let time = 0;
  const emit = (o: Record<string, unknown>): void => {
    const line = `${JSON.stringify({ index, time, ...o })}\n`;
    index += 1;
    buffer.push(line);
    bufferedBytes += line.length;
    if (bufferedBytes > 1 << 20) flush();
  };
  const tick = (): void => {
    time += 1 + Math.floor(-Math.log(1 - random()) * stepNs);
  };
  let epoch = 1;
  let counter = 0;
  let leader = 0;
  const roles = (): void => {
    if (rolesFd === undefined) return;
    const lines = nodes.map((node, i) => JSON.stringify({ time, node, role: i === leader ? 'leading' : 'following', epoch })).join('\n');
    writeSync(rolesFd, `${lines}\n`);
  };
  roles();
  const log: { id: string; zxid: string }[] = [];
  const commit = (id: string): string => {
    counter += 1;
    const zxid = `0x${(epoch * 2 ** 32 + counter).toString(16)}`;
    log.push({ id, zxid });
    return zxid;
  };
  // Clients: worker slot -> current process id and its pending broadcasts (in invoke order).
  const workers = Array.from({ length: clients }, (_, i) => ({ process: i, node: nodes[i % nodeCount] as string, pending: [] as string[] }));
  let nextProcess = clients + subscribers + nodeCount;
  const cursors = Array.from({ length: subscribers }, () => 0);
  let nextId = 0;
  let broadcasts = 0;
  let acknowledged: string[] = [];
  let openFault: string | undefined;
  const target = options.lines;
  while (index < target) {
    tick();
    const r = random();
    if (r < 0.002) {
      // A fault starts or ends.
      if (openFault === undefined) {
        const kind = ['kill', 'pause', 'partition'][Math.floor(random() * 3)] as string;
        const victim = kind === 'kill' ? (nodes[leader] as string) : (nodes[Math.floor(random() * nodeCount)] as string);
        emit({ process: 'nemesis', type: 'info', f: kind, value: { nodes: [victim] } });
        openFault = kind === 'kill' ? `start:${victim}` : kind === 'pause' ? `resume:${victim}` : 'heal:';
        if (kind === 'kill') {
          epoch += 1;
          counter = 0;
          leader = (leader + 1) % nodeCount;
          roles();
        }
      } else {
        const [f, victim] = openFault.split(':') as [string, string];
        emit({ process: 'nemesis', type: 'info', f, value: victim === '' ? null : { nodes: [victim] } });
        openFault = undefined;
      }
      continue;
    }
    if (r < 0.35 && subscribers > 0) {
      // A subscriber observes the next delivery it has not seen.
      const s = Math.floor(random() * subscribers);
      const cursor = cursors[s] as number;
      const entry = log[cursor];
      if (entry !== undefined) {
        emit({ process: clients + s, type: 'ok', f: 'deliver', node: nodes[s % nodeCount], value: entry });
        cursors[s] = cursor + 1;
      }
      continue;
    }
    const w = workers[Math.floor(random() * clients)] as (typeof workers)[number];
    if (w.pending.length < pipeline && (w.pending.length === 0 || random() < 0.5)) {
      const id = `m${nextId}`;
      nextId += 1;
      broadcasts += 1;
      w.pending.push(id);
      emit({ process: w.process, type: 'invoke', f: 'broadcast', node: w.node, value: { id } });
      continue;
    }
    const id = w.pending.shift();
    if (id === undefined) continue;
    const outcome = random();
    if (outcome < 0.97) {
      const zxid = commit(id);
      acknowledged.push(id);
      if (acknowledged.length > 64) acknowledged = acknowledged.slice(-32);
      emit({ process: w.process, type: 'ok', f: 'broadcast', node: w.node, value: { id, zxid } });
    } else if (outcome < 0.99 || w.pending.length > 0) {
      // Indeterminate: committed half of the time. The process retires; its pipelined broadcasts
      // become indeterminate too (committed in order, or not at all after the first dropped one).
      let committing = random() < 0.5;
      if (committing) commit(id);
      emit({ process: w.process, type: 'info', f: 'broadcast', node: w.node, value: { id }, error: 'timeout' });
      for (const rest of w.pending) {
        committing = committing && random() < 0.5;
        if (committing) commit(rest);
        emit({ process: w.process, type: 'info', f: 'broadcast', node: w.node, value: { id: rest }, error: 'connection closed' });
      }
      w.pending = [];
      w.process = nextProcess;
      nextProcess += 1;
    } else {
      emit({ process: w.process, type: 'fail', f: 'broadcast', node: w.node, value: { id }, error: 'rejected' });
    }
  }
  if (openFault !== undefined) {
    const [f, victim] = openFault.split(':') as [string, string];
    emit({ process: 'nemesis', type: 'info', f, value: victim === '' ? null : { nodes: [victim] } });
  }
  // Outstanding broadcasts end indeterminate (not committed).
  for (const w of workers) {
    for (const id of w.pending) {
      tick();
      emit({ process: w.process, type: 'info', f: 'broadcast', node: w.node, value: { id }, error: 'test ended' });
    }
    w.pending = [];
  }
  if (options.finalPhase === true) {
    tick();
    emit({ process: 'nemesis', type: 'info', f: 'final-phase', value: { boundMs: 10_000, nodes } });
    nodes.forEach((node) => {
      const process = nextProcess;
      nextProcess += 1;
      const id = `probe-${node}`;
      broadcasts += 1;
      tick();
      emit({ process, type: 'invoke', f: 'broadcast', node, value: { id } });
      tick();
      emit({ process, type: 'ok', f: 'broadcast', node, value: { id, zxid: commit(id) } });
    });
  }
  let lostId: string | undefined;
  let final = log;
  if (options.plant === 'lost' && acknowledged.length > 0) {
    lostId = acknowledged[Math.floor(acknowledged.length / 2)];
    final = log.filter((d) => d.id !== lostId);
  }
  // Final reads: one per node.
  nodes.forEach((node, i) => {
    tick();
    const process = clients + subscribers + i;
    emit({ process, type: 'invoke', f: 'read', node, value: null });
    tick();
    emit({ process, type: 'ok', f: 'read', node, value: { deliveries: final } });
  });
  flush();
  closeSync(fd);
  if (rolesFd !== undefined) closeSync(rolesFd);
  return { lines: index, broadcasts, committed: log.length, ...(lostId === undefined ? {} : { lostId }) };
}
