/**
 * zxid = epoch << 32 | counter (ZooKeeper's ZxidUtils). Held as a JS number: exact while
 * epoch < 2^21 (limits.ts: epochMax), so arithmetic stays cheap on the hot path.
 * Rendered outside the process as "0x" + hex (interfaces.md).
 */
import { assert } from './assert.js';

export type Zxid = number;

const TWO_32 = 0x1_0000_0000;
export const counterMax = 0xffff_ffff;
/** Epochs above this would not fit a JS number exactly. */
export const epochMax = 0x1f_ffff;

export function makeZxid(epoch: number, counter: number): Zxid {
  assert(Number.isInteger(epoch) && epoch >= 0 && epoch <= epochMax, `bad epoch ${epoch}`);
  assert(Number.isInteger(counter) && counter >= 0 && counter <= counterMax, `bad counter ${counter}`);
  return epoch * TWO_32 + counter;
}

export function epochOf(zxid: Zxid): number {
  return Math.floor(zxid / TWO_32);
}

export function counterOf(zxid: Zxid): number {
  return zxid % TWO_32;
}

export function zxidToHex(zxid: Zxid): string {
  return '0x' + zxid.toString(16);
}

/** Parses "0x..." (or a decimal string); returns undefined for anything else. */
export function zxidFromHex(text: string): Zxid | undefined {
  if (!/^(0x[0-9a-fA-F]{1,14}|[0-9]{1,16})$/.test(text)) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value)) return undefined;
  return value;
}

export function formatZxid(zxid: Zxid): string {
  return `${epochOf(zxid)}/${counterOf(zxid)}`;
}
