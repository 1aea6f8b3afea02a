/**
 * A small seeded PRNG (splitmix32-seeded xoshiro128**): deterministic for a given seed, so a
 * run replays from its seed. The core only ever sees this interface.
 */
export interface Prng {
  /** Uniform float in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** A new independent stream derived from this one (for a sub-component). */
  fork(): Prng;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export function createPrng(seed: number): Prng {
  const mix = splitmix32(Math.floor(seed) ^ Math.floor(seed / 0x1_0000_0000));
  let a = mix(), b = mix(), c = mix(), d = mix();
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a; d ^= b; b ^= c; a ^= d; c ^= t;
    d = rotl(d, 11);
    return result;
  };
  const prng: Prng = {
    next: () => nextU32() / 0x1_0000_0000,
    int: (n: number) => {
      if (!(n > 0)) throw new RangeError(`Prng.int needs n > 0, got ${n}`);
      return Math.floor((nextU32() / 0x1_0000_0000) * n);
    },
    fork: () => createPrng(nextU32() * 0x1_0000 + (nextU32() & 0xffff)),
  };
  return prng;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
