// `npm run replay`: the event source mapping's on-failure destination keeps only the coordinates of a batch
// Lambda gave up on (KafkaBatchInfo: per "<topic>-<partition>", the first and last offsets). This module reads
// those messages and fetches exactly those records back from Kafka, so they can run through the pipeline again.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { toConsumedRecord, type ConsumedRecord } from './consumer';

export interface BatchRange {
  /** "<topic>-<partition>", as Lambda names it. */
  partitionKey: string;
  topic: string;
  partition: number;
  first: number;
  last: number;
}

export interface BatchInfo {
  eventSourceArn?: string;
  bootstrapServers?: string;
  condition?: string;
  timestamp?: string;
  requestId?: string;
  ranges: BatchRange[];
}

export class NotBatchInfoError extends Error {}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function splitKey(key: string): { topic: string; partition: number } | undefined {
  const dash = key.lastIndexOf('-');
  const digits = key.slice(dash + 1);
  return dash > 0 && /^\d{1,9}$/.test(digits) ? { topic: key.slice(0, dash), partition: Number(digits) } : undefined;
}

const offsetOf = (v: unknown): number | undefined => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : typeof v === 'number' ? v : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
};

/**
 * The batch coordinates in an on-failure message body: Lambda's SQS / SNS record
 * (`{requestContext, responseContext, KafkaBatchInfo: {recordsInfo: {"<topic>-<partition>": {firstRecordOffset,
 * lastRecordOffset, ...}}}}`), also when it arrives through an SNS subscription (the JSON in `Message`).
 */
export function parseBatchInfo(body: string): BatchInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new NotBatchInfoError('the message body is not JSON');
  }
  if (isObject(doc) && doc.Type === 'Notification' && typeof doc.Message === 'string') return parseBatchInfo(doc.Message);
  const info = isObject(doc) ? doc.KafkaBatchInfo : undefined;
  if (!isObject(info) || !isObject(info.recordsInfo)) {
    throw new NotBatchInfoError('not a Kafka on-failure record (no KafkaBatchInfo.recordsInfo): is this the dead-letter queue? (that one is for npm run redrive)');
  }
  const ranges: BatchRange[] = [];
  for (const [key, v] of Object.entries(info.recordsInfo)) {
    const tp = splitKey(key);
    const first = isObject(v) ? offsetOf(v.firstRecordOffset) : undefined;
    const last = isObject(v) ? offsetOf(v.lastRecordOffset) : undefined;
    if (!tp || first === undefined || last === undefined || last < first) throw new NotBatchInfoError(`recordsInfo "${key}" is not a topic-partition with first and last offsets`);
    ranges.push({ partitionKey: key, ...tp, first, last });
  }
  if (ranges.length === 0) throw new NotBatchInfoError('KafkaBatchInfo.recordsInfo is empty');
  const rc = isObject(doc) && isObject(doc.requestContext) ? doc.requestContext : {};
  return {
    ranges,
    ...(typeof info.eventSourceArn === 'string' ? { eventSourceArn: info.eventSourceArn } : {}),
    ...(typeof info.bootstrapServers === 'string' ? { bootstrapServers: info.bootstrapServers } : {}),
    ...(typeof rc.condition === 'string' ? { condition: rc.condition } : {}),
    ...(typeof rc.requestId === 'string' ? { requestId: rc.requestId } : {}),
    ...(isObject(doc) && typeof doc.timestamp === 'string' ? { timestamp: doc.timestamp } : {}),
  };
}

export interface FetchResult {
  records: ConsumedRecord[];
  /** Offsets of a range that Kafka no longer holds (deleted by retention) or never returned. */
  missing: Array<{ partitionKey: string; from: number; to: number; why: string }>;
}

/**
 * Reads exactly the offsets of the ranges. A throwaway consumer group (never committed, so no group's
 * position moves) seeks each partition to its first offset and stops it after its last one.
 */
export async function fetchRanges(kafka: Kafka, ranges: readonly BatchRange[], o: { timeoutMs?: number } = {}): Promise<FetchResult> {
  const wanted = new Map<string, { topic: string; partition: number; first: number; last: number }>();
  for (const r of ranges) {
    const cur = wanted.get(r.partitionKey);
    wanted.set(r.partitionKey, cur ? { ...cur, first: Math.min(cur.first, r.first), last: Math.max(cur.last, r.last) } : { topic: r.topic, partition: r.partition, first: r.first, last: r.last });
  }
  const missing: FetchResult['missing'] = [];
  const topics = [...new Set([...wanted.values()].map((w) => w.topic))];

  // Where each partition's log starts and ends now: records below the start are gone, past the end never were.
  const admin = kafka.admin();
  await admin.connect();
  const bounds = new Map<string, { low: number; high: number }>();
  try {
    for (const topic of topics) {
      let offsets: Awaited<ReturnType<typeof admin.fetchTopicOffsets>>;
      try {
        offsets = await admin.fetchTopicOffsets(topic);
      } catch (e) {
        throw new Error(`cannot read the offsets of topic ${topic}: ${(e as Error).message}`);
      }
      for (const p of offsets) bounds.set(`${topic}-${p.partition}`, { low: Number(p.low), high: Number(p.high) });
    }
  } finally {
    await admin.disconnect();
  }
  const todo = new Map<string, { topic: string; partition: number; from: number; to: number }>();
  for (const [key, w] of wanted) {
    const b = bounds.get(key);
    if (!b) {
      missing.push({ partitionKey: key, from: w.first, to: w.last, why: 'the partition does not exist' });
      continue;
    }
    if (w.first < b.low) missing.push({ partitionKey: key, from: w.first, to: Math.min(w.last, b.low - 1), why: `no longer in Kafka (the log starts at ${b.low}: retention)` });
    if (w.last >= b.high) missing.push({ partitionKey: key, from: Math.max(w.first, b.high), to: w.last, why: `beyond the end of the log (${b.high})` });
    const from = Math.max(w.first, b.low);
    const to = Math.min(w.last, b.high - 1);
    if (from <= to) todo.set(key, { topic: w.topic, partition: w.partition, from, to });
  }
  const records: ConsumedRecord[] = [];
  if (todo.size === 0) return { records, missing };

  const consumer = kafka.consumer({ groupId: `kafka-a2a-bridge-replay-${randomUUID()}`, maxWaitTimeInMs: 500, allowAutoTopicCreation: false });
  const seen = new Map<string, number>();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  let crashed: Error | undefined;
  const complete = (key: string) => (seen.get(key) ?? -1) >= todo.get(key)!.to;
  const checkDone = () => {
    if ([...todo.keys()].every(complete)) finish();
  };
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const t of todo.values()) consumer.seek({ topic: t.topic, partition: t.partition, offset: String(t.from) });
  });
  consumer.on(consumer.events.CRASH, (e) => {
    crashed = e.payload.error;
    finish();
  });
  await consumer.connect();
  let timer: NodeJS.Timeout | undefined;
  try {
    for (const topic of topics) await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch, isStale }) => {
        if (isStale()) return;
        const key = `${batch.topic}-${batch.partition}`;
        const t = todo.get(key);
        if (!t) return;
        for (const m of batch.messages) {
          const off = Number(m.offset);
          if (off < t.from || off > t.to || off <= (seen.get(key) ?? -1)) continue;
          records.push(toConsumedRecord(batch.topic, batch.partition, m));
          seen.set(key, off);
        }
        // A compacted partition may have no record at `to`: the batch reaching past it also ends the range.
        if (Number(batch.lastOffset()) >= t.to) seen.set(key, Math.max(seen.get(key) ?? -1, t.to));
        checkDone();
      },
    });
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, o.timeoutMs ?? 30_000)))]);
    if (crashed) throw crashed;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  for (const [key, t] of todo) {
    if (!complete(key)) missing.push({ partitionKey: key, from: (seen.get(key) ?? t.from - 1) + 1, to: t.to, why: 'not returned by Kafka in time' });
  }
  records.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition || a.offset - b.offset));
  return { records, missing };
}

export interface RecordFilter {
  topics?: string[];
  fromOffset?: number;
  toOffset?: number;
  /** Record timestamps, epoch ms. */
  since?: number;
  until?: number;
}

export function matchesFilter(r: Pick<ConsumedRecord, 'topic' | 'offset' | 'timestamp'>, f: RecordFilter): boolean {
  if (f.topics?.length && !f.topics.includes(r.topic)) return false;
  if (f.fromOffset !== undefined && r.offset < f.fromOffset) return false;
  if (f.toOffset !== undefined && r.offset > f.toOffset) return false;
  if (f.since !== undefined && r.timestamp < f.since) return false;
  if (f.until !== undefined && r.timestamp > f.until) return false;
  return true;
}
