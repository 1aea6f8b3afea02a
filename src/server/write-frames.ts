/**
 * Writes a batch's frames to one socket. Up to maxConcatBytes in all they are joined into one
 * buffer (one write: cheaper than a corked writev of many small frames); a larger batch (a SNAP
 * sync's whole log, a subscriber's backlog) is written corked, frame by frame, so it is never
 * copied whole.
 */
import type * as net from 'node:net';

/** docs/LIMITS.md: batches up to this size leave as one buffer. */
export const maxConcatBytes = 1024 * 1024;

export function writeFrames(socket: net.Socket, frames: readonly Buffer[]): void {
  if (frames.length === 1) {
    socket.write(frames[0]!);
    return;
  }
  let total = 0;
  for (const frame of frames) total += frame.length;
  if (total <= maxConcatBytes) {
    socket.write(Buffer.concat(frames, total));
    return;
  }
  socket.cork();
  for (const frame of frames) socket.write(frame);
  socket.uncork();
}
