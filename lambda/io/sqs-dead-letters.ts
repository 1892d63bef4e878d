// The SQS edge of the dead-letter stage: SendMessageBatch in groups within the API's limits
// (10 entries, maxBytes in all), one more try for entries SQS failed on its side.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { toQueueMessages, type DeadLetterSink, type QueueMessage } from '../dead-letter';

export interface SqsSinkOptions {
  queueUrl: string;
  maxMessageBytes: number;
  client?: SQSClient;
}

export function createSqsDeadLetterSink(o: SqsSinkOptions): DeadLetterSink {
  // Loaded at the first dead letter, not at cold start: most invocations never write one (~60 ms saved).
  let sdk: Promise<typeof import('@aws-sdk/client-sqs')> | undefined;
  let client = o.client;
  return {
    async send(letters) {
      const failed = new Set<string>();
      const messages: QueueMessage[] = [];
      for (const letter of letters) {
        try {
          messages.push(...toQueueMessages(letter, o.maxMessageBytes));
        } catch {
          failed.add(letter.id);
        }
      }
      if (messages.length === 0) return failed;
      const { SQSClient, SendMessageBatchCommand } = await (sdk ??= import('@aws-sdk/client-sqs'));
      // Short timeouts: a DLQ write must leave time to answer Lambda before the function's own timeout.
      client ??= new SQSClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5000, connectionTimeout: 2000 } });
      let pending = messages;
      for (let round = 0; round < 2 && pending.length > 0; round++) {
        const retry: QueueMessage[] = [];
        for (const group of groups(pending, o.maxMessageBytes)) {
          try {
            const res = await client.send(
              new SendMessageBatchCommand({
                QueueUrl: o.queueUrl,
                Entries: group.map((m, i) => ({ Id: `m${i}`, MessageBody: m.body })),
              }),
            );
            for (const f of res.Failed ?? []) {
              const m = group[Number(f.Id?.slice(1))];
              if (!m) continue;
              if (f.SenderFault || round === 1) failed.add(m.letterId);
              else retry.push(m);
            }
          } catch {
            // The whole call failed (network, auth, throttling past the SDK's retries): every entry is unwritten.
            for (const m of group) failed.add(m.letterId);
          }
        }
        pending = retry;
      }
      return failed;
    },
  };
}

function* groups(messages: QueueMessage[], maxBytes: number): Generator<QueueMessage[]> {
  let group: QueueMessage[] = [];
  let bytes = 0;
  for (const m of messages) {
    if (group.length === 10 || (group.length > 0 && bytes + m.bytes > maxBytes)) {
      yield group;
      group = [];
      bytes = 0;
    }
    group.push(m);
    bytes += m.bytes;
  }
  if (group.length) yield group;
}
