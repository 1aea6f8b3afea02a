/**
 * The Toxiproxy supervisor against the real Toxiproxy 2.12.0, with TCP echo servers as nodes:
 * a toxiproxy-server killed with SIGKILL mid-run is restarted and every proxy and active toxic is
 * back (through the API, and as traffic: healthy links carry bytes, a cut link is still cut, a
 * refused link still refuses); a Net call made while it was down waits and lands; a real panic
 * (Shopify/toxiproxy#541, the slicer sent raw, past the guard) is reported with its message; when
 * the restart is made impossible (its port taken) the fatal cause is reported and Net calls fail
 * with a typed error; an external Toxiproxy that goes away is fatal at once.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isAlive } from '../../../cluster/proc.js';
import { waitFor } from '../../../jepsen-style/async.js';
import { superviseToxiproxy, type SupervisorEvent, type ToxiproxySupervisor } from '../../../cluster/toxiproxy-supervisor.js';
import { startToxiproxy, ToxiproxyUnavailable } from '../../../cluster/toxiproxy.js';
import { createNet } from '../../../cluster/net.js';
import { echoBed, payload, pushThrough, type EchoBed } from './echo.js';

/** Why 30 s: a restore takes well under a second; this only bounds a broken one. */
const restoreWaitMs = 30_000;

describe('ToxiproxySupervisor', () => {
  let bed: EchoBed | undefined;
  let supervisor: ToxiproxySupervisor | undefined;
  let blocker: Server | undefined;

  afterEach(async () => {
    supervisor?.stop();
    if (blocker) await new Promise((done) => blocker!.close(done));
    await bed?.close();
    for (const pid of bed?.pids ?? []) expect(isAlive(pid), `toxiproxy-server ${pid} left running`).toBe(false);
    bed = undefined; supervisor = undefined; blocker = undefined;
  });

  const watch = (b: EchoBed, onEvent?: (event: SupervisorEvent) => void): { events: SupervisorEvent[]; supervisor: ToxiproxySupervisor } => {
    const events: SupervisorEvent[] = [];
    const s = superviseToxiproxy({ handle: b.toxiproxy, net: b.net, ...(onEvent ? { onEvent } : {}) });
    s.onEvent((event) => { events.push(event); if (b.toxiproxy.pid !== undefined) b.pids.add(b.toxiproxy.pid); });
    return { events, supervisor: s };
  };

  it('restores every proxy and active toxic after a SIGKILL; cut links stay cut; a call made meanwhile waits and lands', async () => {
    bed = await echoBed(['a', 'b', 'c'], 'sup');
    const b = bed;
    const watched = watch(b);
    supervisor = watched.supervisor;
    // The faults in force when Toxiproxy dies.
    await b.net.cut('a', 'b', 'refuse'); // P(a->b) disabled; P(b->a) downstream cut
    await b.net.cut('c', 'a', 'silent'); // P(c->a) upstream, P(a->c) downstream
    await b.net.sealedLatency('b', 'c', 50, 0); // P(b->c) upstream, P(c->b) downstream (two toxics each)
    const before = await b.toxiproxy.api.list();
    const oldPid = b.toxiproxy.pid!;

    process.kill(-oldPid, 'SIGKILL');
    // Issued while Toxiproxy is dead: waits at the gate (or fails, reports, waits) and lands after the restore.
    await b.net.bandwidth('c', 'b', 512);
    await waitFor(() => watched.events.some((e) => e.f === 'toxiproxy-restored'), restoreWaitMs, 20);

    expect(isAlive(oldPid)).toBe(false);
    expect(b.toxiproxy.pid).not.toBe(oldPid);
    expect(isAlive(b.toxiproxy.pid)).toBe(true);
    const down = watched.events.find((e) => e.f === 'toxiproxy-down')!;
    expect(down.error).toBeUndefined();
    expect(String((down.value as { cause: string }).cause)).toMatch(/SIGKILL|gone|did not answer/);
    const restored = watched.events.find((e) => e.f === 'toxiproxy-restored')!;
    const counts = restored.value as { proxies: number; toxics: number; downMs: number };
    expect(counts.proxies).toBe(6);
    expect(watched.events.filter((e) => e.error !== undefined)).toEqual([]);
    expect(supervisor.fatal()).toBeUndefined();
    process.stdout.write(`toxiproxy restored after SIGKILL: down ${counts.downMs} ms, ${counts.proxies} proxies, ${counts.toxics} toxics\n`);

    // Through the API: the same proxies, enabled or not, with the same toxics (plus the bandwidth one).
    const after = await b.toxiproxy.api.list();
    const shape = (listed: typeof after): Record<string, string> => Object.fromEntries(Object.values(listed)
      .filter((proxy) => b.proxies.some((p) => p.name === proxy.name))
      .map((proxy) => [proxy.name, `${proxy.enabled} ${proxy.toxics.map((t) => `${t.name}/${t.stream}`).sort().join(',')}`]));
    const expected = shape(before);
    for (const name of [b.proxies.find((p) => p.from === 'c' && p.to === 'b')!.name, b.proxies.find((p) => p.from === 'b' && p.to === 'c')!.name]) {
      const stream = name.endsWith('-c-b') ? 'upstream' : 'downstream';
      const [enabled, toxics] = expected[name]!.split(' ');
      expected[name] = `${enabled} ${[...toxics!.split(',').filter((t) => t), `bandwidth-c-b/${stream}`].sort().join(',')}`;
    }
    expect(shape(after)).toEqual(expected);

    // As traffic.
    const data = payload();
    const through = async (from: string, to: string, waitMs = 3000): Promise<Awaited<ReturnType<typeof pushThrough>>> => pushThrough(b.port(from, to), data, waitMs);
    expect((await through('a', 'b', 500)).closed).toBe(true); // refused: still refuses
    expect((await through('c', 'a', 500)).received.length).toBe(0); // silent cut: still cut
    expect((await through('b', 'a', 500)).received.length).toBe(0); // a's replies to b: cut (refuse's other half)
    expect((await through('b', 'c')).intact).toBe(true); // slow, but flows
    expect((await through('c', 'b')).intact).toBe(true); // slow and narrow, but flows

    await b.net.healAll();
    expect(b.net.healErrors).toEqual([]);
    expect(await b.net.faults()).toEqual([]);
    for (const [from, to] of [['a', 'b'], ['b', 'a'], ['c', 'a'], ['a', 'c']] as const) expect((await through(from, to)).intact, `${from}->${to} healed`).toBe(true);
  });

  it('a real panic (the #541 slicer, sent raw past the guard) is reported with its message and restored, without the slicer', async () => {
    bed = await echoBed(['a', 'b'], 'sup');
    const b = bed;
    const watched = watch(b);
    supervisor = watched.supervisor;
    await b.net.latency('a', 'b', 20, 0);
    const proxy = b.proxies.find((p) => p.from === 'a' && p.to === 'b')!;
    await b.toxiproxy.api.client.api.post(`${b.toxiproxy.url}/proxies/${proxy.name}/toxics`, {
      name: 'raw-slicer', type: 'slicer', stream: 'upstream', toxicity: 1, attributes: { average_size: 1, size_variation: 4, delay: 0 },
    });
    await pushThrough(b.port('a', 'b'), payload(), 2000);
    await waitFor(() => watched.events.some((e) => e.f === 'toxiproxy-restored'), restoreWaitMs, 20);
    const cause = String((watched.events.find((e) => e.f === 'toxiproxy-down')?.value as { cause?: string } | undefined)?.cause);
    expect(cause).toMatch(/slice bounds out of range/);
    const listed = await b.toxiproxy.api.list();
    expect(listed[proxy.name]!.toxics.map((t) => t.name)).toEqual(['latency-a-b']);
    expect((await pushThrough(b.port('a', 'b'), payload(), 3000)).intact).toBe(true);
  });

  it('reports the fatal cause when the restart is impossible (its port taken), and Net calls then fail typed', async () => {
    bed = await echoBed(['a', 'b'], 'sup');
    const b = bed;
    // Told synchronously when the loss is noticed, before the first restart: take the API port then.
    const taken = new Promise<void>((done) => {
      const watched = watch(b, (event) => {
        if (event.f !== 'toxiproxy-down' || blocker) return;
        blocker = createServer((socket) => socket.destroy());
        blocker.listen(b.toxiproxyPort, '127.0.0.1', () => done());
      });
      supervisor = watched.supervisor;
    });
    const events: SupervisorEvent[] = [];
    supervisor!.onEvent((event) => events.push(event));
    await b.net.cut('a', 'b', 'silent');
    process.kill(-b.toxiproxy.pid!, 'SIGKILL');
    await taken;
    await waitFor(() => supervisor!.fatal() !== undefined, restoreWaitMs, 50);
    const fatal = supervisor!.fatal();
    expect(fatal).toMatch(/could not be restored after 3 attempts/);
    expect(fatal).toMatch(/address already in use/);
    const failed = events.filter((e) => e.f === 'toxiproxy-down' && e.error !== undefined);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toBe(fatal);
    await expect(b.net.bandwidth('a', 'b', 8)).rejects.toBeInstanceOf(ToxiproxyUnavailable);
  });

  it('an external Toxiproxy (--toxiproxy-url) that goes away is fatal: it cannot be restarted', async () => {
    bed = await echoBed(['a', 'b'], 'sup');
    const b = bed;
    const external = await startToxiproxy({ repoRoot: '.', url: b.toxiproxy.url, port: 0, logFile: '' });
    const net = createNet(external.api, b.proxies);
    const events: SupervisorEvent[] = [];
    supervisor = superviseToxiproxy({ handle: external, net });
    supervisor.onEvent((event) => events.push(event));
    process.kill(-b.toxiproxy.pid!, 'SIGKILL');
    await waitFor(() => supervisor!.fatal() !== undefined, restoreWaitMs, 50);
    expect(supervisor.fatal()).toMatch(/given by --toxiproxy-url.*cannot be restarted/);
    expect(events.map((e) => [e.f, e.error === undefined])).toEqual([['toxiproxy-down', true], ['toxiproxy-down', false]]);
    await expect(net.cut('a', 'b', 'silent')).rejects.toBeInstanceOf(ToxiproxyUnavailable);
  });
});
