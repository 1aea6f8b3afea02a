/**
 * Text for what the core emits, one line each (etcd raft's DescribeReady / DescribeMessage):
 * transcripts (test/unit/core/harness.ts) print it and the server's logs carry it. Messages are
 * described next to their definition (messages.ts: `describeMessage`); this file adds the trace
 * events and the Ready batch, which live in types.ts (kept apart so messages.ts and types.ts do not
 * import each other).
 */
import { describeMessage } from './messages.js';
import type { Envelope } from './messages.js';
import type { Ready, TraceEvent } from './types.js';
import { formatZxid as z } from './zxid.js';

/** One line for a trace event. */
export function describeEvent(e: TraceEvent): string {
  switch (e.type) {
    case 'state': return `${e.state}/${e.phase} epoch=${e.epoch} leader=${e.leader ?? '-'}`;
    case 'elected': return `elected ${e.leader} round=${e.round}`;
    case 'sync': return `sync ${e.peer} ${e.mode} peerLast=${z(e.peerLastZxid)} from=${z(e.fromZxid)}`;
    case 'truncated': return `truncated after=${z(e.after)} removed=${e.removed}`;
    case 'rejected': return `rejected ${e.messageType} from ${e.from ?? '-'}: ${e.reason}`;
    case 'step-down': return `step-down: ${e.reason}`;
    case 'dropped': return `dropped learner ${e.peer}: ${e.reason}`;
  }
}

/** `to:` and the first `words` words of the message (its type, then its first field). */
function describeEnvelope(e: Envelope, words: number): string {
  return `${e.to}:${describeMessage(e.message).split(' ').slice(0, words).join(' ')}`;
}

/**
 * One line for a Ready batch, in the order the shell executes it (types.ts header): messages sent
 * now (recipient and type), the truncation, the appended zxids, the epochs, messages sent after
 * the persist (recipient, type and first field), the peers whose sync stream awaits `drained`, and
 * the deferSync flag. Events, deliveries and
 * client replies are not in it (describeEvent; the shell reports those itself). Empty parts are
 * left out.
 */
export function describeReady(r: Ready): string {
  const parts: string[] = [];
  if (r.messages.length > 0) parts.push(`send=[${r.messages.map((e) => describeEnvelope(e, 1)).join(',')}]`);
  if (r.truncateAfter !== undefined) parts.push(`truncateAfter=${z(r.truncateAfter)}`);
  if (r.append.length > 0) parts.push(`append=[${r.append.map((t) => z(t.zxid)).join(',')}]`);
  if (r.acceptedEpoch !== undefined) parts.push(`acceptedEpoch=${r.acceptedEpoch}`);
  if (r.currentEpoch !== undefined) parts.push(`currentEpoch=${r.currentEpoch}`);
  if (r.messagesAfterPersist.length > 0) parts.push(`afterPersist=[${r.messagesAfterPersist.map((e) => describeEnvelope(e, 2)).join(',')}]`);
  if (r.awaitDrain.length > 0) parts.push(`awaitDrain=[${r.awaitDrain.join(',')}]`);
  if (r.deferSync) parts.push('deferSync');
  return parts.join(' ');
}
