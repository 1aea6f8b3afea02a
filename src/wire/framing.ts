/**
 * Length-prefixed frames: a 4-byte big-endian length, then that many bytes. Used on the peer port and
 * the client port. The decoder never throws on bad input: it reports a FrameError and stops, and the
 * caller closes the connection.
 */

export class FrameError extends Error {
  override name = 'FrameError';
}

export const frameHeaderBytes = 4;

/** Prepends the length header to `body`. */
export function encodeFrame(body: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderBytes + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, frameHeaderBytes);
  return frame;
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames found so far (views into
 * internal buffers; valid until the next push), or a FrameError when a length prefix exceeds
 * `maxFrameBytes` or is zero (an empty frame is never valid here).
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);
  private failed: FrameError | undefined;

  constructor(private readonly maxFrameBytes: number) {}

  /** Bytes received but not yet part of a complete frame (a half frame when the stream ends). */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  push(chunk: Buffer): Buffer[] | FrameError {
    if (this.failed) return this.failed;
    const data = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const frames: Buffer[] = [];
    let offset = 0;
    while (data.length - offset >= frameHeaderBytes) {
      const length = data.readUInt32BE(offset);
      if (length === 0 || length > this.maxFrameBytes) {
        this.failed = new FrameError(`frame length ${length} at stream offset ${offset} is outside 1..${this.maxFrameBytes}`);
        this.buffer = Buffer.alloc(0);
        return this.failed;
      }
      if (data.length - offset - frameHeaderBytes < length) break;
      frames.push(data.subarray(offset + frameHeaderBytes, offset + frameHeaderBytes + length));
      offset += frameHeaderBytes + length;
    }
    // Keep the remainder; copy it when it is small so one big chunk is not pinned by a tiny tail.
    const rest = data.subarray(offset);
    this.buffer = rest.length > 0 && rest.length < 4096 ? Buffer.from(rest) : rest;
    return frames;
  }
}
