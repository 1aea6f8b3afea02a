/** Opening a listening port, shared by the peer port (transport.ts) and the client port (client-port.ts). */
import type * as net from 'node:net';
import type { Logger } from './logger.js';

/**
 * Listens on `host:port`: rejects when the port cannot be bound (in use, no permission); errors
 * after that are logged as `<name> error`, and the server keeps serving.
 */
export async function listen(server: net.Server, host: string, port: number, logger: Logger, name: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, `${name} error`));
}

/** The port `server` is bound to (useful with port 0), or `configured` before it is bound. */
export function boundPort(server: net.Server, configured: number): number {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : configured;
}
