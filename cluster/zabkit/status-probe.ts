/**
 * Ask one zabkit node for its status over its public client port, through the client library
 * (ZabClient.status), bounded by a short timeout. Resolves undefined when the node does not answer
 * in time (dead, paused, overloaded).
 */
import { ZabClient, type NodeStatusReply } from '../../src/client/zab-client.js';
import { withTimeout } from '../../jepsen-style/async.js';

/** Why: a healthy node answers in well under 50 ms; a paused or partitioned one never does. */
export const defaultStatusTimeoutMs = 1000;

export async function probeStatus(host: string, port: number, timeoutMs = defaultStatusTimeoutMs): Promise<NodeStatusReply | undefined> {
  const connecting = ZabClient.connect({ host, port, timeoutMs });
  // Whatever happens, close the connection once it exists (even if it completes after the timeout).
  const closeLater = (): void => { connecting.then((client) => client.close(), () => {}).catch(() => {}); };
  try {
    return await withTimeout(connecting.then((client) => client.status({ timeoutMs })), timeoutMs + 100, `status of ${host}:${port}`);
  } catch {
    return undefined;
  } finally {
    closeLater();
  }
}
