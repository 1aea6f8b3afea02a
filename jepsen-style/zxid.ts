/**
 * zxids as the testbed sees them (interfaces.md): "0x" + hex, epoch in the high 32 bits, counter
 * in the low 32. The testbed's one copy of these helpers (it reads zxids from history lines, status
 * replies and ZooKeeper's 8-byte longs, so it works in bigint). Bottom layer: imports nothing.
 */

/** A zxid (bigint or a safe integer) as "0x" + hex, no leading zeros. */
export function zxidHex(value: bigint | number): string {
  return `0x${value.toString(16)}`;
}

/** `zxidHex`, or undefined for an absent or non-finite number (a status reply's optional field). */
export function optionalZxidHex(value: number | undefined): string | undefined {
  return value === undefined || !Number.isFinite(value) ? undefined : zxidHex(value);
}

/** "0x" hex (or decimal) text as a bigint. */
export function zxidValue(text: string): bigint {
  return BigInt(text);
}

/** The epoch of a zxid (its high 32 bits). */
export function zxidEpoch(zxid: bigint | string): bigint {
  return (typeof zxid === 'string' ? BigInt(zxid) : zxid) >> 32n;
}

