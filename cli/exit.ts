/** Exit codes shared by test, check and nightly (Jepsen's convention, interfaces.md). */
export const exitCodes = {
  valid: 0,
  invalid: 1,
  unknown: 2,
  badArguments: 254,
  toolFailed: 255,
} as const;

import { UsageError } from '../jepsen-style/types.js';
export { UsageError };

export function exitCodeForValidity(valid: true | false | 'unknown'): number {
  if (valid === true) return exitCodes.valid;
  if (valid === false) return exitCodes.invalid;
  return exitCodes.unknown;
}

/** Parse an integer option within [min, max], or throw a UsageError naming the option. */
export function intOption(name: string, raw: string | number | undefined, min: number, max: number, fallback?: number): number {
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  const value = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Commander's way to repeat an option: each value appended to the list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
