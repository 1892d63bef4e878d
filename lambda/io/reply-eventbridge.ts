// EventBridge edge of the reply stage: one PutEvents entry per reply. The whole envelope is the event's detail,
// its type the detail-type, so rules can match on detail.data.route or detail.data.agentId.
import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { describeDestination } from '../reply/destination';
import { REPLY_EVENT_TYPE } from '../reply/envelope';
import type { ReplyEdge } from '../ports';

export const REPLY_EVENT_SOURCE = 'kafka-a2a-bridge';

export function createEventBridgeReplyEdge(o: { client?: EventBridgeClient } = {}): ReplyEdge {
  let sdk: Promise<typeof import('@aws-sdk/client-eventbridge')> | undefined;
  const clients = new Map<string, EventBridgeClient>();
  return {
    // 256 KB per entry, which also counts the source, detail-type and bus name.
    maxBytes: 256 * 1024 - 2048,
    async write(dest, m, signal) {
      if (dest.kind !== 'eventbridge') throw new Error(`not an EventBridge destination: ${describeDestination(dest)}`);
      const { EventBridgeClient, PutEventsCommand } = await (sdk ??= import('@aws-sdk/client-eventbridge'));
      let client = o.client ?? clients.get(dest.region);
      if (!client) clients.set(dest.region, (client = new EventBridgeClient({ region: dest.region, maxAttempts: 3 })));
      const res = await client.send(
        new PutEventsCommand({ Entries: [{ EventBusName: dest.arn, Source: REPLY_EVENT_SOURCE, DetailType: REPLY_EVENT_TYPE, Detail: m.body }] }),
        { abortSignal: signal },
      );
      // PutEvents answers 200 with per-entry failures: those are write failures too.
      const entry = res.Entries?.[0];
      if ((res.FailedEntryCount ?? 0) > 0 || !entry?.EventId) throw new Error(`EventBridge refused the event: ${entry?.ErrorCode ?? 'unknown'} ${entry?.ErrorMessage ?? ''}`.trim());
      return `${dest.arn} (event ${entry.EventId})`;
    },
  };
}
