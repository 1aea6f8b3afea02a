/**
 * Ask one zabkit node for its status over its public client port, bounded by a timeout. A tiny
 * stand-alone reader of the client protocol (src/client/protocol.ts: HELLO, then STATUS) so the
 * launcher needs nothing but the port. Resolves undefined when the node does not answer in time.
 */
import { createConnection } from 'node:net';
import type { NodeStatusReply } from '../src/client/protocol.js';
import { op, encodeRequest } from '../src/client/protocol.js';

/** Why: a healthy node answers in well under 50 ms; a paused or partitioned one never does. */
export const defaultStatusTimeoutMs = 1000;
const maxStatusFrameBytes = 1 << 20;

export function probeStatus(host: string, port: number, timeoutMs = defaultStatusTimeoutMs): Promise<NodeStatusReply | undefined> {
  return new Promise((resolve) => {
    let settled = false;
    let buffer = Buffer.alloc(0);
    const socket = createConnection({ host, port });
    const finish = (value: NodeStatusReply | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('connect', () => socket.write(encodeRequest(op.status, 1)));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 4) {
        const length = buffer.readUInt32BE(0);
        if (length > maxStatusFrameBytes || length < 5) return finish(undefined);
        if (buffer.length < 4 + length) return;
        const body = buffer.subarray(4, 4 + length);
        buffer = buffer.subarray(4 + length);
        if (body[0] === op.statusReply) {
          try {
            return finish(JSON.parse(body.subarray(5).toString('utf8')) as NodeStatusReply);
          } catch {
            return finish(undefined);
          }
        }
      }
    });
  });
}

export function zxidHex(zxid: number | undefined): string | undefined {
  return zxid === undefined || !Number.isFinite(zxid) ? undefined : `0x${zxid.toString(16)}`;
}
