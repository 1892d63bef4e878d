// Dead-letter sinks for the reliability suite: an in-memory queue that injects write failures (the 1,000-batch
// profile, where a real queue would be too slow), and helpers to read a real SQS queue (moto) back.
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { joinChunks, toQueueMessages, type DeadLetter, type DeadLetterBody, type DeadLetterSink } from '../../../lambda/dead-letter';
import { draw } from './prng';

export interface MemoryDeadLetters extends DeadLetterSink {
  /** Bodies as a consumer of the queue would read them back (chunked letters reassembled). */
  readonly bodies: DeadLetterBody[];
  /** Letters whose write was made to fail (their ids as the pipeline gave them). */
  readonly failed: DeadLetter[];
  readonly calls: number;
}

export interface MemoryDeadLetterOptions {
  seed: number;
  /** Probability that one letter's write fails (an SQS batch entry failure). */
  failRate: number;
  /** Every write fails: the queue is down / unreachable. */
  down?: boolean;
  /** The SQS message limit the letters are split with (the bridge's DLQ_MAX_MESSAGE_BYTES default). */
  maxMessageBytes?: number;
}

/**
 * Behaves like the SQS sink: each letter becomes one message or ordered base64 chunks (the very same
 * toQueueMessages), and what is "in the queue" is what a consumer reassembles. Failures are seeded per letter.
 */
export function memoryDeadLetters(o: MemoryDeadLetterOptions): MemoryDeadLetters {
  const bodies: DeadLetterBody[] = [];
  const failed: DeadLetter[] = [];
  let calls = 0;
  return {
    bodies,
    failed,
    get calls() {
      return calls;
    },
    async send(letters) {
      calls++;
      await new Promise((r) => setImmediate(r));
      const out = new Set<string>();
      for (const letter of letters) {
        if (o.down || draw(o.seed, 'dlq', letter.id) < o.failRate) {
          out.add(letter.id);
          failed.push(letter);
          continue;
        }
        const messages = toQueueMessages(letter, o.maxMessageBytes ?? 256 * 1024);
        bodies.push(messages.length === 1 ? (JSON.parse(messages[0].body) as DeadLetterBody) : joinChunks(messages.map((m) => m.body)));
      }
      return out;
    },
  };
}

/** Reads a queue until it is empty; chunked letters are reassembled (any order) into their bodies. */
export async function drainQueue(sqs: SQSClient, queueUrl: string): Promise<DeadLetterBody[]> {
  const raw: string[] = [];
  for (;;) {
    const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }));
    if (!res.Messages?.length) break;
    raw.push(...res.Messages.map((m) => m.Body!));
  }
  const bodies: DeadLetterBody[] = [];
  const chunks = new Map<string, string[]>();
  for (const b of raw) {
    const parsed = JSON.parse(b) as { kind?: string; chunk?: { id: string } };
    if (parsed.kind === 'chunk' && parsed.chunk) chunks.set(parsed.chunk.id, [...(chunks.get(parsed.chunk.id) ?? []), b]);
    else bodies.push(parsed as DeadLetterBody);
  }
  for (const [, parts] of chunks) bodies.push(joinChunks(parts));
  return bodies;
}
