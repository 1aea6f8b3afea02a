/**
 * ZooKeeper's four-letter words over the client port (`srvr`, whitelisted in zoo.cfg), bounded.
 */
import net from 'node:net';
import { zxidEpoch, zxidHex, zxidValue } from '../../jepsen-style/zxid.js';

/** Send a four-letter word and return the whole reply (the server closes after answering). */
export function fourLetterWord(host: string, port: number, word: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ host, port });
    const finish = (error: Error | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => finish(new Error(`${word} to ${host}:${port} timed out after ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('error', (error) => finish(error));
  });
}

export interface SrvrReply {
  /** false when the server answered "not currently serving requests". */
  readonly serving: boolean;
  readonly mode?: 'leader' | 'follower' | 'standalone' | 'observer' | string;
  /** "0x" + hex, as printed by ZooKeeper. */
  readonly zxid?: string;
  readonly epoch?: number;
}

/** Parse the reply to `srvr`. */
export function parseSrvr(text: string): SrvrReply {
  if (/not currently serving/i.test(text)) return { serving: false };
  const mode = /^Mode:\s*(\S+)/m.exec(text)?.[1];
  const zxidRaw = /^Zxid:\s*(0x[0-9a-fA-F]+)/m.exec(text)?.[1];
  if (mode === undefined) return { serving: false };
  if (zxidRaw === undefined) return { serving: true, mode };
  const value = zxidValue(zxidRaw);
  return { serving: true, mode, zxid: zxidHex(value), epoch: Number(zxidEpoch(value)) };
}
