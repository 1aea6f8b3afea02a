/**
 * Liveness after healing, with real processes (issue: "Zab that never gets stuck"): 3 real
 * `zabkit node` processes behind the real Toxiproxy, under pipelined load, while the followers'
 * links to and from the leader are reset over and over (reset_peer: every connection through
 * them dies mid-stream, ACKs included) or black-holed (silent drop) for several syncLimits. After
 * each heal, a new broadcast through every node must commit again. Before the fix, a follower
 * whose ACK was lost on a reset link rejoined by a DIFF past that proposal and never ACKed it:
 * commits stopped for good (6 stalls in 13 attempts).
 *
 * The bound is liveness, not speed: `recoveryBoundMs` is far above the measured recovery (printed
 * per round; tens to a few hundred ms here) and below anything a stall could hide behind.
 */
import { describe, expect, it } from 'vitest';
import { sleep } from '../../../jepsen-style/async.js';
import type { ZabkitDb } from '../../../cluster/zabkit/db.js';
import { ZabkitDbFixture } from '../helpers.js';
import { ZabClient } from '../../../src/client/zab-client.js';

const recoveryBoundMs = 15_000;
const faultMs = 2_000;

/**
 * The faults, one per round, twice over. `flap`: reset_peer with a timeout, so each connection
 * lives that long, then dies, and the link keeps reconnecting: ACKs and proposals are lost at every
 * phase of a rejoin, while the leader may keep its quorum through the other follower.
 */
type Fault = { readonly name: string; readonly followers: 'both' | 'first' | 'alternate' | 'pulse'; readonly direction: 'both' | 'to-leader' | 'from-leader'; readonly kind: 'reset' | 'flap' | 'black-hole'; readonly timeoutMs?: number };
const faults: readonly Fault[] = [
  { name: 'reset, both followers, both ways', followers: 'both', direction: 'both', kind: 'reset' },
  { name: 'brief resets of both followers\' ACK links (every 150 ms)', followers: 'pulse', direction: 'to-leader', kind: 'reset' },
  { name: 'black hole, both followers, both ways', followers: 'both', direction: 'both', kind: 'black-hole' },
  { name: 'flapping ACK links (200 ms), both followers', followers: 'both', direction: 'to-leader', kind: 'flap', timeoutMs: 200 },
  { name: 'flapping links (100 ms), one follower at a time', followers: 'alternate', direction: 'both', kind: 'flap', timeoutMs: 100 },
  { name: 'black hole of one follower\'s ACK link', followers: 'first', direction: 'to-leader', kind: 'black-hole' },
  { name: 'flapping proposal links (300 ms), both followers', followers: 'both', direction: 'from-leader', kind: 'flap', timeoutMs: 300 },
];
const rounds = faults.length * 2;

const fixture = new ZabkitDbFixture('zabkit-liveness-');

/** Pipelined broadcasts to every node until stopped; errors are expected under faults. */
function startLoad(cluster: ZabkitDb, inFlight: number): { stop(): Promise<number> } {
  let stopped = false;
  let acknowledged = 0;
  const workers = cluster.nodes().map(async (node, worker) => {
    let sent = 0;
    while (!stopped && sent < 1_000_000) {
      const client = await ZabClient.connect({ host: node.clientHost, port: node.clientPort, timeoutMs: 2000 }).catch(() => undefined);
      if (client === undefined) {
        await sleep(100);
        continue;
      }
      try {
        while (!stopped && !client.closed) {
          const batch = Array.from({ length: inFlight }, () => client.broadcast(`load-${worker}-${sent++}`, { timeoutMs: 3000 }).then(() => void acknowledged++, () => undefined));
          await Promise.all(batch);
        }
      } finally {
        await client.close();
      }
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
      return acknowledged;
    },
  };
}

/** Milliseconds until a broadcast through `node` commits (retrying), or undefined past the bound. */
async function timeToCommit(cluster: ZabkitDb, node: string, message: string): Promise<number | undefined> {
  const info = cluster.nodes().find((n) => n.name === node)!;
  const started = Date.now();
  for (let attempt = 0; Date.now() - started < recoveryBoundMs && attempt < 1000; attempt++) {
    const client = await ZabClient.connect({ host: info.clientHost, port: info.clientPort, timeoutMs: 2000 }).catch(() => undefined);
    if (client !== undefined) {
      try {
        await client.broadcast(`${message}-${attempt}`, { timeoutMs: Math.max(1, recoveryBoundMs - (Date.now() - started)) });
        return Date.now() - started;
      } catch {
        // not yet: an election, a rejoin; retry
      } finally {
        await client.close();
      }
    }
    await sleep(50);
  }
  return undefined;
}

describe('zabkit commits again after every heal (3 real nodes, real Toxiproxy, load)', () => {
  it('repeated resets and black holes of the followers\' links never leave the cluster stalled', async () => {
    const db = fixture.create({ nodes: 3, seed: 23 });
    await db.setup();
    const net = db.net();
    const load = startLoad(db, 8);
    const recoveries: { round: number; fault: string; ms: (number | undefined)[] }[] = [];
    try {
      for (let round = 0; round < rounds; round++) {
        const leader = await db.leader();
        expect(leader, `round ${round}: a leader before the fault`).toBeDefined();
        const followers = db.nodes().map((n) => n.name).filter((name) => name !== leader);
        const fault = faults[round % faults.length]!;
        const links = (follower: string): [string, string][] =>
          fault.direction === 'both' ? [[follower, leader!], [leader!, follower]] : fault.direction === 'to-leader' ? [[follower, leader!]] : [[leader!, follower]];
        const apply = async (follower: string): Promise<void> => {
          for (const [from, to] of links(follower)) {
            if (fault.kind === 'black-hole') await net.cut(from, to, 'silent');
            else await net.reset(from, to, fault.timeoutMs ?? 0);
          }
        };
        if (fault.followers === 'pulse') {
          // Both followers lose the ACKs in flight at once, then rejoin at once: the leader may
          // keep its quorum through the rejoin (it checks it once a tick), with a proposal both
          // logged and neither ACKed.
          for (let step = 0; step < faultMs / 150; step++) {
            for (const follower of followers) await apply(follower);
            await sleep(10);
            await net.healAll();
            await sleep(140);
          }
        } else if (fault.followers === 'alternate') {
          // One follower's links at a time, so the leader keeps a quorum through the other.
          for (let step = 0; step < faultMs / 250; step++) {
            await net.healAll();
            await apply(followers[step % followers.length]!);
            await sleep(250);
          }
        } else {
          for (const follower of fault.followers === 'both' ? followers : followers.slice(0, 1)) await apply(follower);
          await sleep(faultMs);
        }
        await net.healAll();
        const ms = await Promise.all(db.nodes().map((node) => timeToCommit(db, node.name, `probe-${round}-${node.name}`)));
        recoveries.push({ round, fault: fault.name, ms });
        console.log(`round ${round} (${fault.name}, ${faultMs} ms): commits again through ${db.nodes().map((n, i) => `${n.name} in ${ms[i] ?? 'never'} ms`).join(', ')}`);
      }
    } finally {
      const acknowledged = await load.stop();
      console.log(`load: ${acknowledged} broadcasts acknowledged during the ${rounds} rounds`);
    }
    for (const { round, fault, ms } of recoveries) {
      expect(ms.every((value) => value !== undefined), `round ${round} (${fault}): every node commits again within ${recoveryBoundMs} ms`).toBe(true);
    }
  });
});
