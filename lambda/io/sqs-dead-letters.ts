// The SQS edge of the dead-letter stage. Letters are written in rounds: each round takes the next letter
// of every partition, so a partition's letters land in offset order and a partition stops at its first
// failed letter: a letter above a failure must not be in the queue, since Lambda redelivers it. A chunked
// letter stops at its first failed chunk group (SQS has no transaction: the chunks before it stay, and a
// consumer drops a set that never completes; see docs/OPERATIONS.md, "Dead-letter queue").
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

      /** One SendMessageBatch; returns the messages SQS refused (and whether it is worth a retry), or all on a failed call. */
      const sendGroup = async (group: QueueMessage[]): Promise<Array<{ m: QueueMessage; retry: boolean }>> => {
        const left = untilMs - now();
        if (left <= 0) return group.map((m) => ({ m, retry: false }));
        try {
          const res = await sqs.send(
            new SendMessageBatchCommand({ QueueUrl: o.queueUrl, Entries: group.map((m, i) => ({ Id: `m${i}`, MessageBody: m.body })) }),
            { abortSignal: AbortSignal.timeout(left) },
          );
          return (res.Failed ?? []).flatMap((f) => {
            const m = group[Number(f.Id?.slice(1))];
            return m ? [{ m, retry: !f.SenderFault }] : [];
          });
        } catch {
          // The whole call failed (network, auth, throttling past the SDK's retries, the deadline).
          return group.map((m) => ({ m, retry: false }));
        }
      };

      /**
       * Writes messages in order; returns the letter ids with any message unwritten. A message SQS refused on its
       * side is retried once at once. A letter stops at its first unwritten message: the later chunks of a
       * chunked letter are not sent after one of its chunks failed (a consumer drops the incomplete set).
       */
      const write = async (messages: QueueMessage[]): Promise<Set<string>> => {
        const bad = new Set<string>();
        for (const group of groups(messages, o.maxMessageBytes)) {
          const live = group.filter((m) => !bad.has(m.letterId));
          if (live.length === 0) continue;
          let failed = await sendGroup(live);
          const again = failed.filter((f) => f.retry).map((f) => f.m);
          if (again.length) failed = [...failed.filter((f) => !f.retry), ...(await sendGroup(again))];
          for (const f of failed) bad.add(f.m.letterId);
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
