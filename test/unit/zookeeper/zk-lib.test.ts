/** The repairs of node-zookeeper-client's reply framing (cluster/zookeeper/zk-lib.ts), on the library's own ConnectionManager. */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import '../../../cluster/zookeeper/zk-lib.js';

const require = createRequire(import.meta.url);
const ConnectionManager = require('node-zookeeper-client/lib/ConnectionManager.js') as {
  prototype: Record<string, (...args: unknown[]) => unknown>;
  STATES: Record<string, unknown>;
};

/** A reply frame: length, then ReplyHeader (xid int32, zxid int64, err int32). */
function reply(xid: number, err: number): Buffer {
  const frame = Buffer.alloc(4 + 16);
  frame.writeInt32BE(16, 0);
  frame.writeInt32BE(xid, 4);
  frame.writeInt32BE(err, 16);
  return frame;
}

describe('node-zookeeper-client, repaired', () => {
  it('a reply with an error code it does not know closes the connection; the socket handler does not throw', () => {
    let destroyed = 0;
    const failures: unknown[] = [];
    const manager = Object.assign(Object.create(ConnectionManager.prototype) as Record<string, unknown>, {
      state: ConnectionManager.STATES['CONNECTED'],
      pendingBuffer: null,
      pendingQueue: [{ request: { header: { xid: 5, type: 1 } }, callback: (error: unknown) => failures.push(error) }],
      socket: { destroy: () => { destroyed += 1; } },
    });
    expect(() => ConnectionManager.prototype['onSocketData']!.call(manager, reply(5, 1594687489))).not.toThrow();
    expect(destroyed).toBe(1);
    expect(manager['pendingBuffer']).toBeNull();
  });

  it('a new connection starts without the bytes of a reply the last one left half-received', () => {
    const manager = Object.assign(Object.create(ConnectionManager.prototype) as Record<string, unknown>, {
      pendingBuffer: Buffer.from([0, 0, 0, 16, 1, 2]),
      // connect() asks for the next server; answering nothing keeps the test off the network.
      setState: () => undefined,
      findNextServer: () => undefined,
    });
    ConnectionManager.prototype['connect']!.call(manager);
    expect(manager['pendingBuffer']).toBeNull();
  });
});
