// The SQS edge of the dead-letter stage. Letters are written in rounds: each round takes the next letter
// of every partition, so a partition's letters land in offset order and a partition stops at its first
// failed letter: a letter above a failure must not be in the queue, since Lambda redelivers it.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { toQueueMessages, type DeadLetter, type DeadLetterSink, type QueueMessage } from '../dead-letter';

export interface SqsSinkOptions {
  queueUrl: string;
  maxMessageBytes: number;
  client?: SQSClient;
  now?: () => number;
}

/** Without a deadline from the caller, no single call may take longer than this. */
const DEFAULT_BUDGET_MS = 15_000;

export function createSqsDeadLetterSink(o: SqsSinkOptions): DeadLetterSink {
  // Loaded at the first dead letter, not at cold start: most invocations never write one.
  let sdk: Promise<typeof import('@aws-sdk/client-sqs')> | undefined;
  let client = o.client;
  const now = o.now ?? Date.now;
  return {
    async send(letters, untilMs = now() + DEFAULT_BUDGET_MS) {
      const failed = new Set<string>();
      if (letters.length === 0) return failed;
      const { SQSClient, SendMessageBatchCommand } = await (sdk ??= import('@aws-sdk/client-sqs'));
      // throwOnRequestTimeout: without it the handler only warns and a silent endpoint hangs the call forever.
      client ??= new SQSClient({ maxAttempts: 3, requestHandler: { requestTimeout: 5000, connectionTimeout: 2000, throwOnRequestTimeout: true } });
      const sqs = client;

      /** Writes messages; returns the letter ids with any message unwritten. One retry for SQS-side failures. */
      const write = async (messages: QueueMessage[]): Promise<Set<string>> => {
        const bad = new Set<string>();
        let pending = messages;
        for (let round = 0; round < 2 && pending.length > 0; round++) {
          const retry: QueueMessage[] = [];
          for (const group of groups(pending, o.maxMessageBytes)) {
            const left = untilMs - now();
            if (left <= 0) {
              for (const m of group) bad.add(m.letterId);
              continue;
            }
            try {
              const res = await sqs.send(
                new SendMessageBatchCommand({ QueueUrl: o.queueUrl, Entries: group.map((m, i) => ({ Id: `m${i}`, MessageBody: m.body })) }),
                { abortSignal: AbortSignal.timeout(left) },
              );
              for (const f of res.Failed ?? []) {
                const m = group[Number(f.Id?.slice(1))];
                if (!m) continue;
                if (f.SenderFault || round === 1) bad.add(m.letterId);
                else retry.push(m);
              }
            } catch {
              // The whole call failed (network, auth, throttling past the SDK's retries, the deadline).
              for (const m of group) bad.add(m.letterId);
            }
          }
          pending = retry;
        }
        return bad;
      };

      const queues = new Map<string, DeadLetter[]>();
      for (const l of letters) queues.set(l.partitionKey, [...(queues.get(l.partitionKey) ?? []), l]);
      for (const q of queues.values()) q.sort((a, b) => (a.offset ?? Infinity) - (b.offset ?? Infinity));

      while (queues.size > 0) {
        const round = [...queues.values()].map((q) => q.shift()!);
        for (const [pk, q] of queues) if (q.length === 0) queues.delete(pk);
        const messages: QueueMessage[] = [];
        for (const letter of round) {
          try {
            messages.push(...toQueueMessages(letter, o.maxMessageBytes));
          } catch {
            failed.add(letter.id);
          }
        }
        for (const id of await write(messages)) failed.add(id);
        for (const letter of round) {
          if (!failed.has(letter.id)) continue;
          // Stop the partition: its later letters are reported with it instead of written.
          for (const later of queues.get(letter.partitionKey) ?? []) failed.add(later.id);
          queues.delete(letter.partitionKey);
        }
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
