/** The node configuration: the relations between fields are checked at load, with the core's one Timing rule. */
import { describe, expect, it } from 'vitest';
import { ConfigError, nodeConfigFromObject } from '../../../src/server/parse-config.js';
import { defaultTiming } from '../../../src/wire/node-config.js';

const base = { id: 1, peerPort: 7001, clientPort: 8001, peers: [{ id: 2, host: '127.0.0.1', port: 7002 }], dataDir: '/tmp/unused', seed: 1 };
const load = (extra: Record<string, unknown>): unknown => nodeConfigFromObject({ ...base, ...extra }, () => 0);

describe('node configuration', () => {
  it('accepts the defaults and a consistent timing', () => {
    expect(load({})).toMatchObject({ timing: defaultTiming, tickMs: 50 });
    expect(load({ timing: { initLimitTicks: 4, syncLimitTicks: 4, pingIntervalTicks: 3 } })).toMatchObject({ timing: { initLimitTicks: 4, syncLimitTicks: 4, pingIntervalTicks: 3 } });
  });

  it('refuses timing whose fields contradict each other', () => {
    expect(() => load({ timing: { syncLimitTicks: 2, pingIntervalTicks: 2 } })).toThrow(/pingIntervalTicks \(2\) must be below syncLimitTicks \(2\)/);
    expect(() => load({ timing: { syncLimitTicks: 30 } })).toThrow(/syncLimitTicks \(30\) must not exceed initLimitTicks \(20\)/);
    expect(() => load({ timing: { syncLimitTicks: 30 } })).toThrow(ConfigError);
    expect(() => load({ tickMs: 0 })).toThrow(ConfigError);
  });

  it('refuses one port for both the peer and the client port on one host', () => {
    expect(() => load({ clientPort: 7001 })).toThrow(/peerPort and clientPort must differ/);
    expect(load({ peerPort: 0, clientPort: 0 })).toMatchObject({ peerPort: 0, clientPort: 0 });
  });
});
