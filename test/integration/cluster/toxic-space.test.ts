/**
 * Every link fault the seeded schedule can produce (faults/schedule.ts linkFaultSpace(), plus the
 * fixed toxics of the partition packages: silent cut, refused link, sealed latency) is applied
 * through the Net to the real Toxiproxy 2.12.0 while TCP traffic flows through both proxies of
 * the link, then healed. After each, Toxiproxy must still be alive and answering, and a fresh
 * connection must carry a payload through intact. Issue 10: one slicer the schedule used to draw
 * (average_size 1, size_variation 4) killed Toxiproxy, and with it every link of the cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LinkFaultKind } from '../../../cluster/net.js';
import { isAlive } from '../../../cluster/proc.js';
import { ToxicParameterError } from '../../../cluster/toxic-limits.js';
import { linkFaultSpace, type LinkFaultParameters } from '../../../faults/schedule.js';
import { echoBed, payload, pushThrough, type EchoBed } from './echo.js';

/** Why 20 s: the slowest combination (1-byte slices 1 ms apart, or 1 KB/s) passes 1500 bytes in a few seconds. */
const pushWaitMs = 20_000;

describe('every fault parameter the schedule can emit, through the real Toxiproxy', () => {
  let bed: EchoBed;

  beforeAll(async () => {
    bed = await echoBed(['a', 'b'], 'space');
  });

  afterAll(async () => {
    await bed?.close();
  });

  /** Traffic both ways over the link a->b: a's bytes on P(a->b) upstream, a's replies on P(b->a) downstream. */
  const trafficOverLink = (waitMs: number): Promise<[Awaited<ReturnType<typeof pushThrough>>, Awaited<ReturnType<typeof pushThrough>>]> => {
    const data = payload();
    return Promise.all([pushThrough(bed.port('a', 'b'), data, waitMs), pushThrough(bed.port('b', 'a'), data, waitMs)]);
  };

  const assertSurvived = async (what: string): Promise<void> => {
    expect(isAlive(bed.toxiproxy.pid), `toxiproxy-server died after ${what}`).toBe(true);
    expect(await bed.toxiproxy.api.version()).toBeTypeOf('string');
    expect(await bed.net.faults(), `faults left after healing ${what}`).toEqual([]);
    const [there, back] = await trafficOverLink(5000);
    expect(there.intact && back.intact, `traffic after ${what}`).toBe(true);
  };

  const apply = (fault: LinkFaultParameters): { kind: LinkFaultKind; run: Promise<void> } => {
    switch (fault.package) {
      case 'latency': return { kind: 'latency', run: bed.net.latency('a', 'b', fault.latencyMs, fault.jitterMs) };
      case 'bandwidth': return { kind: 'bandwidth', run: bed.net.bandwidth('a', 'b', fault.rateKBps) };
      case 'reset': return { kind: 'reset', run: bed.net.reset('a', 'b', fault.timeoutMs) };
      case 'slice': return { kind: 'slice', run: bed.net.slice('a', 'b', fault.averageSize, fault.sizeVariation, fault.delayUs) };
    }
  };

  it('latency, bandwidth, reset and slice: each combination, with traffic, leaves Toxiproxy alive and the link working', async () => {
    const space = linkFaultSpace();
    const figures: string[] = [];
    for (const fault of space) {
      const what = JSON.stringify(fault);
      const { kind, run } = apply(fault);
      await run;
      const started = Date.now();
      const [there, back] = await trafficOverLink(pushWaitMs);
      figures.push(`${what}: ${Date.now() - started} ms`);
      // Only reset_peer may cut the traffic short; every other toxic delivers the bytes unchanged.
      if (fault.package !== 'reset') expect(there.intact && back.intact, `payload through ${what}`).toBe(true);
      await bed.net.heal('a', 'b', kind);
      await assertSurvived(what);
    }
    process.stdout.write(`toxic space: ${space.length} combinations\n  ${figures.join('\n  ')}\n`);
  });

  it('the partition toxics (silent cut, refused link, sealed latency then cut) leave Toxiproxy alive', async () => {
    await bed.net.cut('a', 'b', 'silent');
    const [cutThere] = await trafficOverLink(500);
    expect(cutThere.received.length).toBe(0);
    await bed.net.heal('a', 'b', 'cut');
    await assertSurvived('a silent cut');

    await bed.net.cut('a', 'b', 'refuse');
    const [refused] = await trafficOverLink(500);
    expect(refused.closed && refused.received.length === 0).toBe(true);
    await bed.net.heal('a', 'b', 'cut');
    await assertSurvived('a refused link');

    await bed.net.sealedLatency('a', 'b', 100, 0);
    const [slow] = await trafficOverLink(pushWaitMs);
    expect(slow.intact).toBe(true);
    await bed.net.cut('a', 'b', 'silent');
    await bed.net.heal('a', 'b', 'cut');
    await bed.net.heal('a', 'b', 'latency');
    await assertSurvived('a sealed latency then a cut');
  });

  it('a slicer that would crash Toxiproxy (the incident: average_size 1, size_variation 4) is refused before it is sent', async () => {
    await expect(bed.net.slice('a', 'b', 1, 4, 0)).rejects.toBeInstanceOf(ToxicParameterError);
    await expect(bed.net.slice('a', 'b', 0, 0, 0)).rejects.toBeInstanceOf(ToxicParameterError);
    const listed = await bed.toxiproxy.api.list();
    expect(Object.values(listed).flatMap((proxy) => proxy.toxics)).toEqual([]);
    await bed.net.healAll();
    await assertSurvived('a refused slicer');
  });
});
