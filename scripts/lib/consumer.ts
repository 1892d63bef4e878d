// A local stand-in for Lambda's Kafka event source mapping (`npm run consume`): a consumer group reads the
// topics, records are gathered into batches as the mapping gathers them (up to a batch size, for at most a
// batching window, within Lambda's 6 MB payload), each batch becomes the same `aws:kafka` / `SelfManagedKafka`
// event (scripts/lib/msk-event.ts) and is handed to the handler, and the handler's answer is honoured as
// Lambda honours it:
// - no failures: the batch is settled, each partition is committed past its last record;
// - a partial-batch response: each listed partition is committed up to the reported offset (the records
//   below it are settled) and consumed again from that offset; the other partitions are committed whole;
// - an invocation that throws: nothing is committed and the same batch is retried, up to `retryAttempts`
//   (-1: until it succeeds); then its KafkaBatchInfo goes to the on-failure callback and the batch is
//   committed past, as Lambda does when it gives up on a batch.
// One invocation at a time, so a partition is never in two invocations at once and always resumes in order.
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage as KafkaJsMessage } from 'kafkajs';
import type { KafkaBatchResponse } from '../../lambda/report';
import { buildMskEvent, type KafkaMessage, type MskEvent } from './msk-event';

/** Lambda's synchronous invocation payload limit. */
export const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer]>;
  /** Bytes this record adds to the event (base64 key and value, headers), for the payload limit. */
  size: number;
}

export interface PartitionRange {
  partition: string;
  first: number;
  last: number;
  count: number;
}

/** Lambda's on-failure destination record for a Kafka batch it gave up on (SQS / SNS shape). */
export interface KafkaBatchInfoMessage {
  requestContext: { requestId: string; functionArn: string; condition: 'RetryAttemptsExhausted'; approximateInvokeCount: number };
  responseContext: { statusCode: number; executedVersion: string; functionError: 'Unhandled' };
  version: '1.0';
  timestamp: string;
  KafkaBatchInfo: {
    batchSize: number;
    eventSourceArn?: string;
    bootstrapServers: string;
    payloadSize: number;
    recordsInfo: Record<string, { firstRecordOffset: string; lastRecordOffset: string; firstRecordTimestamp: string; lastRecordTimestamp: string }>;
  };
}

export interface InvocationAnswer<T> {
  response: KafkaBatchResponse;
  /** Whatever the caller wants back in the batch report (the CLI keeps the per-record outcomes). */
  detail?: T;
}

export interface BatchReport<T> {
  /** 1-based count of invocations. */
  invocation: number;
  /** 1-based attempt of this batch (above 1 after a thrown invocation). */
  attempt: number;
  event: MskEvent;
  records: number;
  payloadBytes: number;
  partitions: PartitionRange[];
  durationMs: number;
  /** The handler's answer; absent when the invocation threw. */
  response?: KafkaBatchResponse;
  detail?: T;
  error?: string;
  /** What was committed after this invocation: the next offset to read, per partition. */
  committed: Record<string, number>;
  /** Partitions read again from these offsets (the reported ones). */
  resumeFrom: Record<string, number>;
  /** Set when retries are exhausted: what Lambda sends to the on-failure destination. */
  gaveUp?: KafkaBatchInfoMessage;
  /** The commit itself failed (e.g. the group rebalanced): the records will be read again. */
  commitError?: string;
}

export interface ConsumeOptions<T> {
  kafka: Kafka;
  topics: string[];
  groupId: string;
  /** TRIM_HORIZON: a group without committed offsets starts at the oldest record; LATEST: at the end. */
  startingPosition: 'LATEST' | 'TRIM_HORIZON';
  batchSize: number;
  batchingWindowMs: number;
  maxPayloadBytes?: number;
  source: 'msk' | 'self-managed';
  eventSourceArn?: string;
  bootstrapServers: string;
  /** Retries of a batch whose invocation threw; -1 retries until it succeeds (Lambda's default for Kafka). */
  retryAttempts: number;
  functionArn?: string;
  invoke(event: MskEvent): Promise<InvocationAnswer<T>>;
  onBatch?(report: BatchReport<T>): void | Promise<void>;
  /** Called with the KafkaBatchInfo of a batch given up on, before it is committed past. */
  onFailure?(info: KafkaBatchInfoMessage): Promise<void>;
  /** Called once the consumer joined its group and holds partitions. */
  onJoin?(assigned: string[]): void;
  /** Stop after this many invocations. */
  maxBatches?: number;
  /** Stop when no record arrived for this long after joining and nothing is left to invoke. */
  idleExitMs?: number;
  signal?: AbortSignal;
}

export interface ConsumeSummary {
  invocations: number;
  batches: number;
  records: number;
  /** Invocations that threw. */
  thrown: number;
  /** Batches given up on after the retries (sent to the on-failure callback). */
  gaveUp: number;
  /** Partitions whose last invocation reported failures: their records will be read again. */
  outstanding: Record<string, number>;
  /** The last committed next-offset per partition. */
  committed: Record<string, number>;
  stoppedBy: 'max-batches' | 'idle' | 'signal';
  /** The run stopped while a batch's invocation had thrown and was not yet retried to an answer. */
  interrupted: boolean;
}

const b64len = (n: number) => Math.ceil(n / 3) * 4;
const tpOf = (topic: string, partition: number) => `${topic}-${partition}`;

function headerPairs(h: KafkaJsMessage['headers']): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const [name, v] of Object.entries(h ?? {})) {
    for (const one of Array.isArray(v) ? v : [v]) if (one !== undefined) out.push([name, Buffer.isBuffer(one) ? one : Buffer.from(String(one), 'utf8')]);
  }
  return out;
}

export function toConsumedRecord(topic: string, partition: number, m: KafkaJsMessage): ConsumedRecord {
  const headers = headerPairs(m.headers);
  const key = m.key ?? null;
  const value = m.value ?? null;
  return {
    topic,
    partition,
    offset: Number(m.offset),
    timestamp: Number(m.timestamp),
    // Bit 3 of the record batch attributes is the timestamp type.
    timestampType: (m.attributes & 0x08) !== 0 ? 'LOG_APPEND_TIME' : 'CREATE_TIME',
    key,
    value,
    headers,
    size: 200 + b64len(key?.length ?? 0) + b64len(value?.length ?? 0) + headers.reduce((n, [k, v]) => n + k.length + 8 + v.length * 4, 0),
  };
}

/** The Lambda event for these records, exactly as the mapping builds it. */
export function eventOf(records: readonly ConsumedRecord[], o: Pick<ConsumeOptions<unknown>, 'source' | 'eventSourceArn' | 'bootstrapServers'>): MskEvent {
  const messages: KafkaMessage[] = records.map((r) => ({
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    timestamp: r.timestamp,
    timestampType: r.timestampType,
    key: r.key,
    value: r.value,
    headers: r.headers,
  }));
  return buildMskEvent(messages, { source: o.source, bootstrapServers: o.bootstrapServers, ...(o.eventSourceArn ? { eventSourceArn: o.eventSourceArn } : {}) });
}

export function rangesOf(records: readonly ConsumedRecord[]): PartitionRange[] {
  const m = new Map<string, PartitionRange>();
  for (const r of records) {
    const tp = tpOf(r.topic, r.partition);
    const cur = m.get(tp);
    if (!cur) m.set(tp, { partition: tp, first: r.offset, last: r.offset, count: 1 });
    else Object.assign(cur, { first: Math.min(cur.first, r.offset), last: Math.max(cur.last, r.offset), count: cur.count + 1 });
  }
  return [...m.values()];
}

export function batchInfo(records: readonly ConsumedRecord[], event: MskEvent, o: { functionArn?: string; requestId: string; invokeCount: number; payloadBytes: number }): KafkaBatchInfoMessage {
  const recordsInfo: KafkaBatchInfoMessage['KafkaBatchInfo']['recordsInfo'] = {};
  for (const range of rangesOf(records)) {
    const inPartition = records.filter((r) => tpOf(r.topic, r.partition) === range.partition);
    const ts = (off: number) => new Date(inPartition.find((r) => r.offset === off)!.timestamp).toISOString();
    recordsInfo[range.partition] = {
      firstRecordOffset: String(range.first),
      lastRecordOffset: String(range.last),
      firstRecordTimestamp: ts(range.first),
      lastRecordTimestamp: ts(range.last),
    };
  }
  return {
    requestContext: {
      requestId: o.requestId,
      functionArn: o.functionArn ?? 'arn:aws:lambda:us-east-1:123456789012:function:kafka-a2a-bridge-local',
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: o.invokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    version: '1.0',
    timestamp: new Date().toISOString(),
    KafkaBatchInfo: {
      batchSize: records.length,
      ...(event.eventSourceArn ? { eventSourceArn: event.eventSourceArn } : {}),
      bootstrapServers: event.bootstrapServers,
      payloadSize: o.payloadBytes,
      recordsInfo,
    },
  };
}

/**
 * Checks the handler's answer against the batch: Lambda's partial-batch contract names a partition of the
 * batch and an offset of one of its records there. Anything else is an answer Lambda cannot apply.
 */
export function invalidFailures(response: unknown, records: readonly ConsumedRecord[]): string | undefined {
  const failures = (response as KafkaBatchResponse | null)?.batchItemFailures;
  if (failures === undefined || failures === null) return undefined; // no list: the whole batch succeeded
  if (!Array.isArray(failures)) return 'batchItemFailures is not a list';
  const present = new Set(records.map((r) => `${tpOf(r.topic, r.partition)}@${r.offset}`));
  for (const f of failures) {
    const id = (f as { itemIdentifier?: { partition?: unknown; offset?: unknown } } | null)?.itemIdentifier;
    if (!id || typeof id.partition !== 'string' || !present.has(`${id.partition}@${Number(id.offset)}`)) {
      return `batchItemFailures names ${JSON.stringify(id ?? f)}, which is not a record of this batch`;
    }
  }
  return undefined;
}

/** An on-failure destination on SQS, as the mapping's: one message per batch given up on, its KafkaBatchInfo as the body. */
export function sqsOnFailure(sqs: SQSClient, queueUrl: string): (info: KafkaBatchInfoMessage) => Promise<void> {
  return async (info) => {
    await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(info) }));
  };
}

interface Buffered {
  records: ConsumedRecord[];
  /** When its oldest buffered record arrived (the batching window counts from there). */
  since: number;
}

export async function consume<T>(o: ConsumeOptions<T>): Promise<ConsumeSummary> {
  const maxPayload = o.maxPayloadBytes ?? MAX_PAYLOAD_BYTES;
  // A short fetch wait: a partition read again after a partial failure should not wait on a long poll.
  const consumer: Consumer = o.kafka.consumer({ groupId: o.groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 500 });
  const buffer = new Map<string, Buffered>();
  /** Next offset expected per partition: what was already buffered or invoked is never taken twice. */
  const position = new Map<string, number>();
  /** After a seek, everything is dropped until the record at the seek offset arrives again. */
  const pendingSeek = new Map<string, number>();
  const paused = new Set<string>();
  const committed: Record<string, number> = {};
  const outstanding: Record<string, number> = {};
  let joinedAt: number | undefined;
  let lastActivity = Date.now();
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let crashed: Error | undefined;

  const buffered = () => [...buffer.values()].reduce((n, b) => n + b.records.length, 0);
  /** Fetching resumes for a paused partition once its buffer is down to a batch (or dropped by a seek). */
  const resumeDrained = () => {
    for (const tp of [...paused]) {
      if ((buffer.get(tp)?.records.length ?? 0) < o.batchSize) {
        paused.delete(tp);
        const dash = tp.lastIndexOf('-');
        consumer.resume([{ topic: tp.slice(0, dash), partitions: [Number(tp.slice(dash + 1))] }]);
      }
    }
  };

  const eachBatch = async ({ batch, isStale }: EachBatchPayload) => {
    if (isStale()) return;
    const tp = tpOf(batch.topic, batch.partition);
    for (const m of batch.messages) {
      const offset = Number(m.offset);
      const seekTo = pendingSeek.get(tp);
      if (seekTo !== undefined) {
        if (offset !== seekTo) continue;
        pendingSeek.delete(tp);
      }
      const expected = position.get(tp);
      if (expected !== undefined && offset < expected) continue;
      const entry = buffer.get(tp) ?? { records: [], since: Date.now() };
      entry.records.push(toConsumedRecord(batch.topic, batch.partition, m));
      buffer.set(tp, entry);
      position.set(tp, offset + 1);
      lastActivity = Date.now();
    }
    // Backpressure: a partition far ahead of the invocations stops being fetched until it drains.
    const held = buffer.get(tp)?.records.length ?? 0;
    if (held >= o.batchSize * 2 && !paused.has(tp)) {
      paused.add(tp);
      consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
    }
    poke();
  };

  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    // A new assignment: what was buffered is read again from the committed offsets.
    buffer.clear();
    position.clear();
    pendingSeek.clear();
    paused.clear();
    joinedAt = Date.now();
    lastActivity = joinedAt;
    const assigned = Object.entries(e.payload.memberAssignment).flatMap(([t, ps]) => (ps as number[]).map((p) => tpOf(t, p)));
    o.onJoin?.(assigned);
    poke();
  });
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = e.payload.error;
    poke();
  });

  await consumer.connect();
  try {
    for (const topic of o.topics) await consumer.subscribe({ topic, fromBeginning: o.startingPosition === 'TRIM_HORIZON' });
    await consumer.run({ autoCommit: false, eachBatchAutoResolve: true, eachBatch });

    let invocations = 0;
    let batches = 0;
    let records = 0;
    let thrown = 0;
    let gaveUp = 0;
    let stoppedBy: ConsumeSummary['stoppedBy'] | undefined;
    let interrupted = false;
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          wake = undefined;
          resolve();
        }, Math.max(0, ms));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    const onAbort = () => poke();
    o.signal?.addEventListener('abort', onAbort);

    try {
      for (;;) {
        if (crashed) throw crashed;
        if (o.signal?.aborted) {
          stoppedBy = 'signal';
          break;
        }
        if (o.maxBatches !== undefined && invocations >= o.maxBatches) {
          stoppedBy = 'max-batches';
          break;
        }
        const n = buffered();
        if (n === 0) {
          // Not idle while a reported partition has not come back yet: its records are still to be handled.
          if (o.idleExitMs !== undefined && joinedAt !== undefined && pendingSeek.size === 0 && Date.now() - lastActivity >= o.idleExitMs) {
            stoppedBy = 'idle';
            break;
          }
          await sleep(o.idleExitMs !== undefined && joinedAt !== undefined ? Math.max(50, lastActivity + o.idleExitMs - Date.now()) : 1000);
          continue;
        }
        const oldest = Math.min(...[...buffer.values()].map((b) => b.since));
        if (n < o.batchSize && Date.now() < oldest + o.batchingWindowMs) {
          await sleep(oldest + o.batchingWindowMs - Date.now());
          continue;
        }

        // Take up to batchSize records within the payload limit: partitions oldest first, each in offset order.
        const take: ConsumedRecord[] = [];
        let payload = 400;
        const order = [...buffer.entries()].sort((a, b) => a[1].since - b[1].since);
        outer: for (const [, entry] of order) {
          for (const r of entry.records) {
            if (take.length >= o.batchSize || (take.length > 0 && payload + r.size > maxPayload)) break outer;
            take.push(r);
            payload += r.size;
          }
        }
        for (const r of take) {
          const tp = tpOf(r.topic, r.partition);
          const entry = buffer.get(tp)!;
          entry.records.shift();
          if (entry.records.length === 0) buffer.delete(tp);
          else entry.since = Date.now();
        }
        resumeDrained();

        const event = eventOf(take, o);
        const payloadBytes = Buffer.byteLength(JSON.stringify(event));
        const partitions = rangesOf(take);
        batches++;
        records += take.length;
        for (let attempt = 1; ; attempt++) {
          invocations++;
          const started = Date.now();
          let answer: InvocationAnswer<T> | undefined;
          let error: string | undefined;
          try {
            answer = await o.invoke(event);
            const invalid = invalidFailures(answer.response, take);
            if (invalid) {
              error = `the handler's answer cannot be applied: ${invalid}`;
              answer = undefined;
            }
          } catch (e) {
            error = (e as Error).message ?? String(e);
          }
          const durationMs = Date.now() - started;
          const report: BatchReport<T> = {
            invocation: invocations,
            attempt,
            event,
            records: take.length,
            payloadBytes,
            partitions,
            durationMs,
            ...(answer ? { response: answer.response, detail: answer.detail } : { error }),
            committed: {},
            resumeFrom: {},
          };
          let commit: Array<{ tp: string; topic: string; partition: number; offset: number }> = [];
          const split = (tp: string) => {
            const dash = tp.lastIndexOf('-');
            return { topic: tp.slice(0, dash), partition: Number(tp.slice(dash + 1)) };
          };
          let done = false;
          if (answer) {
            const failed = new Map<string, number>();
            for (const f of answer.response.batchItemFailures ?? []) {
              const cur = failed.get(f.itemIdentifier.partition);
              const off = Number(f.itemIdentifier.offset);
              if (cur === undefined || off < cur) failed.set(f.itemIdentifier.partition, off);
            }
            for (const p of partitions) {
              const at = failed.get(p.partition);
              commit.push({ tp: p.partition, ...split(p.partition), offset: at ?? p.last + 1 });
              if (at !== undefined) {
                // Lambda resumes the partition from the reported offset: what was fetched beyond it is dropped
                // and the partition is read again from there, in order.
                const { topic, partition } = split(p.partition);
                buffer.delete(p.partition);
                position.set(p.partition, at);
                pendingSeek.set(p.partition, at);
                consumer.seek({ topic, partition, offset: String(at) });
                report.resumeFrom[p.partition] = at;
                outstanding[p.partition] = at;
              } else delete outstanding[p.partition];
            }
            resumeDrained(); // a reported partition must be fetched again even if it was paused
            done = true;
          } else {
            thrown++;
            if (o.retryAttempts >= 0 && attempt > o.retryAttempts) {
              // Retries exhausted: Lambda records the batch's coordinates on its on-failure destination and moves on.
              const info = batchInfo(take, event, { functionArn: o.functionArn, requestId: `local-${invocations}`, invokeCount: attempt, payloadBytes });
              await o.onFailure?.(info);
              report.gaveUp = info;
              gaveUp++;
              commit = partitions.map((p) => ({ tp: p.partition, ...split(p.partition), offset: p.last + 1 }));
              for (const p of partitions) delete outstanding[p.partition];
              done = true;
            }
          }
          if (commit.length) {
            try {
              await consumer.commitOffsets(commit.map((c) => ({ topic: c.topic, partition: c.partition, offset: String(c.offset) })));
              for (const c of commit) {
                report.committed[c.tp] = c.offset;
                committed[c.tp] = c.offset;
              }
            } catch (e) {
              report.commitError = (e as Error).message;
            }
          }
          lastActivity = Date.now();
          await o.onBatch?.(report);
          if (done) break;
          if (o.signal?.aborted || (o.maxBatches !== undefined && invocations >= o.maxBatches)) {
            interrupted = true; // nothing was committed: the batch is read again next time
            break;
          }
        }
      }
    } finally {
      o.signal?.removeEventListener('abort', onAbort);
    }
    return { invocations, batches, records, thrown, gaveUp, outstanding, committed, stoppedBy: stoppedBy!, interrupted };
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}
