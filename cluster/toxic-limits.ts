/**
 * Which toxic attributes the real Toxiproxy 2.12.0 accepts *and survives*. Its API validates
 * nothing beyond JSON types, and some accepted attributes crash the whole server on the first byte
 * through the proxy, taking every proxy with it (every link of the cluster "fails" at once, and a
 * run would blame the system under test). Pure: no I/O, so faults/schedule.ts draws from the same
 * rules the Net enforces.
 *
 * slicer (toxics/slicer.go at v2.12.0, `chunk(start, end)`): a piece longer than
 * average_size + size_variation is split at mid = start + len/2 + (rand.Intn(2·size_variation) −
 * size_variation). With size_variation >= average_size + 2 the jittered mid can fall before
 * `start` and Pipe slices c.Data[a:b] with a > b: "panic: runtime error: slice bounds out of
 * range" (Shopify/toxiproxy#541, open; fixes #727 and #770 not released). With size_variation
 * >= average_size the mid can equal `start`, so the recursion does not shrink (a stack overflow is
 * possible), and with average_size 0 and size_variation 0 a 1-byte piece recurses forever:
 * "fatal error: stack overflow" (#770). The struct's own comment says size_variation "must be less
 * than the average size". So: 1 <= average_size, 0 <= size_variation < average_size; then both
 * halves are always strictly shorter than the piece (len >= average_size + size_variation + 1 >=
 * 2·size_variation + 2), and nothing is out of range.
 *
 * latency: delay = latency ± jitter via rand.Int63n(2·jitter) only when jitter > 0; negative
 * values make no sense (a negative delay is "now"), so both must be >= 0.
 * bandwidth: rate <= 0 means "no limit" in the sleep but stalls the link (G3); we allow >= 0.
 * timeout, reset_peer, slow_close: a duration in ms, >= 0. limit_data: bytes, >= 0.
 */

/** A toxic as Toxiproxy's API takes it (cluster/toxiproxy.ts). */
export type ToxicStream = 'upstream' | 'downstream';

export interface ToxicSpec {
  readonly name: string;
  readonly type: 'latency' | 'bandwidth' | 'timeout' | 'reset_peer' | 'slicer' | 'slow_close' | 'limit_data';
  readonly stream: ToxicStream;
  readonly attributes: Record<string, number>;
}

export class ToxicParameterError extends RangeError {
  override name = 'ToxicParameterError';
}

/** Why 1: a 0 average_size makes the slicer recurse forever on a 1-byte piece (#770). */
export const slicerMinimumAverageSize = 1;

/** The largest size_variation Toxiproxy 2.12.0 survives for `averageSize` (#541): strictly less. */
export function slicerMaximumSizeVariation(averageSize: number): number {
  return averageSize - 1;
}

/** Why the attributes would crash or confuse the real Toxiproxy, or undefined if they are fine. */
export function toxicProblem(toxic: Pick<ToxicSpec, 'type' | 'attributes'>): string | undefined {
  const a = toxic.attributes;
  const bad = (name: string): string | undefined => {
    const value = a[name];
    return value === undefined || !Number.isInteger(value) || value < 0 ? `${toxic.type} ${name} must be an integer >= 0, got ${value}` : undefined;
  };
  switch (toxic.type) {
    case 'slicer': {
      const problem = bad('average_size') ?? bad('size_variation') ?? bad('delay');
      if (problem) return problem;
      const averageSize = a['average_size']!;
      const sizeVariation = a['size_variation']!;
      if (averageSize < slicerMinimumAverageSize) return `slicer average_size ${averageSize} < ${slicerMinimumAverageSize}: Toxiproxy recurses until its stack overflows (Shopify/toxiproxy#770)`;
      if (sizeVariation > slicerMaximumSizeVariation(averageSize)) {
        return `slicer size_variation ${sizeVariation} >= average_size ${averageSize}: Toxiproxy 2.12.0 panics "slice bounds out of range" (Shopify/toxiproxy#541)`;
      }
      return undefined;
    }
    case 'latency': return bad('latency') ?? bad('jitter');
    case 'bandwidth': return bad('rate');
    case 'timeout':
    case 'reset_peer':
    case 'slow_close': return bad(toxic.type === 'slow_close' ? 'delay' : 'timeout');
    case 'limit_data': return bad('bytes');
  }
}

export function assertSurvivableToxic(toxic: Pick<ToxicSpec, 'type' | 'attributes'>): void {
  const problem = toxicProblem(toxic);
  if (problem) throw new ToxicParameterError(`refusing to add this toxic: ${problem}`);
}
