/**
 * A tiny builder for hand-written histories: each call appends one op and returns its index. Op k
 * happens at k ms (plus whatever `sleep` added).
 */
import { expect } from 'vitest';
import type { CheckResult, Op, ProcessId } from '../../../jepsen-style/types.js';

export type D = [id: string, zxid: string];

export class H {
  readonly ops: Op[] = [];
  private offsetNs = 0;
  private push(process: ProcessId, type: Op['type'], f: string, value: unknown, node?: string, error?: string): number {
    const index = this.ops.length;
    this.ops.push({ index, time: index * 1_000_000 + this.offsetNs, process, type, f, value, ...(node === undefined ? {} : { node }), ...(error === undefined ? {} : { error }) });
    return index;
  }
  /** Later ops happen `ms` later than they would have. */
  sleep(ms: number): void {
    this.offsetNs += ms * 1_000_000;
  }
  /** The runner's final-phase marker (checker.ts header): faults healed, these nodes must answer within boundMs. */
  marker(boundMs: number, nodes: string[]): number {
    return this.push('nemesis', 'info', 'final-phase', { boundMs, nodes });
  }
  /** A nemesis op that failed (a testbed failure). */
  nemesisFailed(f: string, value: unknown, error: string): number {
    return this.push('nemesis', 'info', f, value, undefined, error);
  }
  /** Any op, as another tool might write it. */
  raw(process: ProcessId, type: Op['type'], f: string, value: unknown, node?: string): number {
    return this.push(process, type, f, value, node);
  }
  invoke(p: number, id: string, node = 'n1'): number {
    return this.push(p, 'invoke', 'broadcast', { id }, node);
  }
  ok(p: number, id: string, zxid: string, node = 'n1'): number {
    return this.push(p, 'ok', 'broadcast', { id, zxid }, node);
  }
  fail(p: number, id: string, node = 'n1'): number {
    return this.push(p, 'fail', 'broadcast', { id }, node, 'rejected');
  }
  info(p: number, id: string, node = 'n1'): number {
    return this.push(p, 'info', 'broadcast', { id }, node, 'timeout');
  }
  /** invoke + ok. Returns [invoke index, ok index]. */
  bcast(p: number, id: string, zxid: string, node = 'n1'): [number, number] {
    return [this.invoke(p, id, node), this.ok(p, id, zxid, node)];
  }
  deliver(p: number, node: string, id: string, zxid: string, subscription?: string): number {
    return this.push(p, 'ok', 'deliver', { id, zxid, ...(subscription === undefined ? {} : { subscription }) }, node);
  }
  nemesis(f: string, value: unknown): number {
    return this.push('nemesis', 'info', f, value);
  }
  /** invoke + ok of a final read. Returns the ok's index. */
  read(p: number, node: string, deliveries: D[]): number {
    this.push(p, 'invoke', 'read', null, node);
    return this.push(p, 'ok', 'read', { deliveries: deliveries.map(([id, zxid]) => ({ id, zxid })) }, node);
  }
  /** Final reads of the same sequence on n1..nN; returns their ok indices. */
  reads(deliveries: D[], nodes = 3, firstProcess = 100): number[] {
    const out: number[] = [];
    for (let i = 1; i <= nodes; i += 1) out.push(this.read(firstProcess + i, `n${i}`, deliveries));
    return out;
  }
  jsonl(): string {
    return this.ops.map((op) => JSON.stringify(op)).join('\n') + '\n';
  }
}

/** Every example of every anomaly cites at least one history index, each of an op of `ops`. */
export function expectCited(result: CheckResult, ops: readonly Op[]): void {
  for (const [name, report] of Object.entries(result.anomalies)) {
    expect(report.examples.length, name).toBeGreaterThan(0);
    for (const example of report.examples) {
      const indices = (example as { indices?: unknown }).indices;
      expect(Array.isArray(indices) && indices.length > 0, `${name} cites indices`).toBe(true);
      for (const i of indices as number[]) expect(ops.some((op) => op.index === i), `${name} cites op ${i}`).toBe(true);
    }
  }
}

export function z(epoch: number, counter: number): string {
  return `0x${((BigInt(epoch) << 32n) | BigInt(counter)).toString(16)}`;
}
