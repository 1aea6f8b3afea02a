/**
 * The relations between the timing parameters of the protocol (Timing, in ticks), in one function:
 * the server's config parser reports a violation as a configuration error, and ZabPeer's
 * constructor asserts it (a core built with a bad Timing is a programmer error).
 */
import { assert } from './assert.js';
import type { Timing } from './types.js';

/**
 * Why `timing` cannot work, or undefined when it can:
 * - every limit is a whole number of ticks, at least 1 (finalizeWaitTicks may be 0: no wait);
 * - pingIntervalTicks < syncLimitTicks: a follower must hear the leader's PING within syncLimit,
 *   or a healthy leader would be given up;
 * - syncLimitTicks <= initLimitTicks: discovery and synchronization (initLimit) carry a whole log,
 *   so they may take longer than a broadcast round trip (syncLimit), never less (ZooKeeper's rule).
 */
export function timingViolation(timing: Timing): string | undefined {
  const { initLimitTicks, syncLimitTicks, finalizeWaitTicks, notificationResendTicks, pingIntervalTicks } = timing;
  const ticks = { initLimitTicks, syncLimitTicks, notificationResendTicks, pingIntervalTicks };
  for (const [name, value] of Object.entries(ticks)) {
    if (!Number.isSafeInteger(value) || value < 1) return `${name} must be a whole number of ticks, at least 1 (got ${value})`;
  }
  if (!Number.isSafeInteger(finalizeWaitTicks) || finalizeWaitTicks < 0) return `finalizeWaitTicks must be a whole number of ticks, at least 0 (got ${finalizeWaitTicks})`;
  if (pingIntervalTicks >= syncLimitTicks) return `pingIntervalTicks (${pingIntervalTicks}) must be below syncLimitTicks (${syncLimitTicks})`;
  if (syncLimitTicks > initLimitTicks) return `syncLimitTicks (${syncLimitTicks}) must not exceed initLimitTicks (${initLimitTicks})`;
  return undefined;
}

/** Crashes on a Timing that cannot work (see timingViolation). */
export function assertTiming(timing: Timing): void {
  const violation = timingViolation(timing);
  assert(violation === undefined, `bad timing: ${violation}`);
}
