// Builds Lambda Kafka events (Amazon MSK or self-managed Kafka) from plain messages, in the exact shape the
// event source mapping delivers: records grouped by "<topic>-<partition>", base64 keys and values, headers
// as arrays of byte values. Used by `npm run event`, the sample events, the tests, the benchmark and the
// reliability suite.

/** Header values: text (sent as UTF-8) or raw bytes. */
export type HeaderValue = string | Uint8Array;
/** A record's headers: a map, or name/value pairs when a name repeats (Kafka allows it). */
export type Headers = Record<string, HeaderValue> | ReadonlyArray<readonly [string, HeaderValue]>;

export interface KafkaMessage {
  /**
   * A string is sent as is (UTF-8), bytes as they are, null is a tombstone, any other value (object,
   * array, number, boolean) is serialised as JSON.
   */
  value: string | Uint8Array | null | number | boolean | object;
  /** null or absent: no key. */
  key?: string | Uint8Array | null;
  /** Added after the options' headers. */
  headers?: Headers;
  topic?: string;
  partition?: number;
  /** Default: the next offset of its topic-partition. */
  offset?: number;
  /** Epoch ms, ISO text or a Date. Default: the options' clock. */
  timestamp?: number | string | Date;
  timestampType?: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  /** Put verbatim in the event instead of encoding `value`: for deliberately undecodable records. */
  rawValue?: string;
  /** What a mapping with a schema registry adds to a record it deserialized (EventRecordFormat JSON). */
  keySchemaMetadata?: SchemaMetadata;
  valueSchemaMetadata?: SchemaMetadata;
}

export interface SchemaMetadata {
  dataFormat: 'AVRO' | 'PROTOBUF' | 'JSON';
  schemaId: string;
}

export interface MskEventOptions {
  /** Default topic for messages without their own. Default "events". */
  topic?: string;
  /** Fixed partition for messages without their own. Default 0, unless `partitions` is given. */
  partition?: number;
  /**
   * Spread messages without their own partition over this many partitions: keyed messages as Kafka's
   * default partitioner does (murmur2 of the key), the others round-robin.
   */
  partitions?: number;
  /** Default key for messages that do not give one. */
  key?: string | null;
  /** Headers on every message (each message's own headers follow). */
  headers?: Headers;
  /** First offset of each new topic-partition. Default 0. */
  startOffset?: number;
  /** Timestamp of the first record (epoch ms, ISO text or Date). Default: now. */
  timestamp?: number | string | Date;
  /** Added to the timestamp for each further record. Default 1 ms. */
  timestampStepMs?: number;
  timestampType?: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  /** "msk" (eventSource aws:kafka, the default) or "self-managed" (SelfManagedKafka). */
  source?: 'msk' | 'self-managed';
  eventSourceArn?: string;
  bootstrapServers?: string;
  /** Append to this event: its records are kept and new offsets continue after them. */
  base?: MskEvent;
}

export interface MskEventRecord {
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  timestampType: 'CREATE_TIME' | 'LOG_APPEND_TIME';
  key?: string;
  value: string | null;
  headers: Array<Record<string, number[]>>;
  keySchemaMetadata?: SchemaMetadata;
  valueSchemaMetadata?: SchemaMetadata;
}

export interface MskEvent {
  eventSource: 'aws:kafka' | 'SelfManagedKafka';
  eventSourceArn?: string;
  bootstrapServers: string;
  records: Record<string, MskEventRecord[]>;
}

export const DEFAULT_CLUSTER_ARN = 'arn:aws:kafka:us-east-1:123456789012:cluster/local-cluster/a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d-1';
export const DEFAULT_MSK_BOOTSTRAP =
  'b-1.local-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098,b-2.local-cluster.abc123.c2.kafka.us-east-1.amazonaws.com:9098';
export const DEFAULT_SELF_MANAGED_BOOTSTRAP = 'localhost:9092';

const bytesOf = (v: string | Uint8Array): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v));

function toMillis(t: number | string | Date, what: string): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : /^\d+$/.test(t.trim()) ? Number(t) : Date.parse(t);
  if (!Number.isFinite(ms)) throw new TypeError(`${what}: not a timestamp: ${String(t)}`);
  return Math.trunc(ms);
}

function encodeValue(v: KafkaMessage['value']): string | null {
  if (v === null) return null;
  if (typeof v === 'string' || v instanceof Uint8Array) return bytesOf(v).toString('base64');
  return Buffer.from(JSON.stringify(v), 'utf8').toString('base64');
}

function headerEntries(h: Headers | undefined): Array<Record<string, number[]>> {
  if (!h) return [];
  const pairs: ReadonlyArray<readonly [string, HeaderValue]> = Array.isArray(h) ? (h as ReadonlyArray<readonly [string, HeaderValue]>) : Object.entries(h);
  return pairs.map(([name, value]) => ({ [name]: [...bytesOf(value)] }));
}

/** Kafka's murmur2 (as in the Java client's Utils.murmur2), for the default partitioner. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  const length = data.length;
  let h = (0x9747b28c ^ length) | 0;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] & 0xff) | ((data[i + 1] & 0xff) << 8) | ((data[i + 2] & 0xff) << 16) | ((data[i + 3] & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & 3;
  if (tail === 3) h ^= (data[whole + 2] & 0xff) << 16;
  if (tail >= 2) h ^= (data[whole + 1] & 0xff) << 8;
  if (tail >= 1) {
    h ^= data[whole] & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition Kafka's default partitioner gives a key. */
export const partitionForKey = (key: string | Uint8Array, partitions: number): number => (murmur2(bytesOf(key)) & 0x7fffffff) % partitions;

/**
 * Builds one event from messages (plain strings are message values). Offsets are filled in per
 * topic-partition, timestamps count up from `timestamp`; both can be set per message.
 */
export function buildMskEvent(messages: ReadonlyArray<KafkaMessage | string>, options: MskEventOptions = {}): MskEvent {
  const source = options.base?.eventSource ?? (options.source === 'self-managed' ? 'SelfManagedKafka' : 'aws:kafka');
  const records: Record<string, MskEventRecord[]> = {};
  const nextOffset = new Map<string, number>();
  for (const [pk, list] of Object.entries(options.base?.records ?? {})) {
    records[pk] = [...list];
    const max = Math.max(-1, ...list.map((r) => r.offset));
    nextOffset.set(pk, max + 1);
  }
  if (options.partitions !== undefined && (!Number.isInteger(options.partitions) || options.partitions < 1)) {
    throw new RangeError(`partitions must be a positive integer, got ${options.partitions}`);
  }
  const start = options.timestamp === undefined ? Date.now() : toMillis(options.timestamp, 'timestamp');
  const step = options.timestampStepMs ?? 1;
  const startOffset = options.startOffset ?? 0;
  let roundRobin = 0;

  messages.forEach((input, i) => {
    const m: KafkaMessage = typeof input === 'string' ? { value: input } : input;
    const topic = m.topic ?? options.topic ?? 'events';
    const key = m.key !== undefined ? m.key : options.key ?? null;
    let partition = m.partition ?? options.partition;
    if (partition === undefined) {
      if (options.partitions !== undefined) partition = key !== null ? partitionForKey(key, options.partitions) : roundRobin++ % options.partitions;
      else partition = 0;
    }
    if (!Number.isInteger(partition) || partition < 0) throw new RangeError(`message ${i}: partition must be a non-negative integer, got ${partition}`);
    const pk = `${topic}-${partition}`;
    const offset = m.offset ?? nextOffset.get(pk) ?? startOffset;
    if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError(`message ${i}: offset must be a non-negative integer, got ${offset}`);
    nextOffset.set(pk, Math.max(nextOffset.get(pk) ?? 0, offset + 1));
    const record: MskEventRecord = {
      topic,
      partition,
      offset,
      timestamp: m.timestamp !== undefined ? toMillis(m.timestamp, `message ${i} timestamp`) : start + i * step,
      timestampType: m.timestampType ?? options.timestampType ?? 'CREATE_TIME',
      ...(key !== null ? { key: bytesOf(key).toString('base64') } : {}),
      value: m.rawValue !== undefined ? m.rawValue : encodeValue(m.value),
      headers: [...headerEntries(options.headers), ...headerEntries(m.headers)],
      ...(m.keySchemaMetadata && { keySchemaMetadata: m.keySchemaMetadata }),
      ...(m.valueSchemaMetadata && { valueSchemaMetadata: m.valueSchemaMetadata }),
    };
    (records[pk] ??= []).push(record);
  });

  for (const list of Object.values(records)) list.sort((a, b) => a.offset - b.offset);
  if (source === 'SelfManagedKafka') {
    return { eventSource: source, bootstrapServers: options.bootstrapServers ?? options.base?.bootstrapServers ?? DEFAULT_SELF_MANAGED_BOOTSTRAP, records };
  }
  return {
    eventSource: source,
    eventSourceArn: options.eventSourceArn ?? options.base?.eventSourceArn ?? DEFAULT_CLUSTER_ARN,
    bootstrapServers: options.bootstrapServers ?? options.base?.bootstrapServers ?? DEFAULT_MSK_BOOTSTRAP,
    records,
  };
}

/** Number of records in an event (of any shape; 0 when it has none). */
export function countRecords(event: unknown): number {
  const recs = (event as { records?: unknown } | null)?.records;
  if (!recs || typeof recs !== 'object') return 0;
  return Object.values(recs as Record<string, unknown>).reduce<number>((n, l) => n + (Array.isArray(l) ? l.length : 1), 0);
}

/**
 * JSON text with 2-space indentation, except that arrays of numbers (header bytes) stay on one line:
 * JSON.stringify(e, null, 2) would give every header byte its own line.
 */
export function formatEvent(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every((v) => typeof v === 'number')) return `[${value.join(',')}]`;
    const inner = `${indent}  `;
    return `[\n${value.map((v) => inner + formatEvent(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    // A header entry ({"name": [bytes]}) on one line.
    if (entries.length === 1 && Array.isArray(entries[0][1]) && entries[0][1].every((v) => typeof v === 'number')) {
      return `{ ${JSON.stringify(entries[0][0])}: ${formatEvent(entries[0][1])} }`;
    }
    const inner = `${indent}  `;
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatEvent(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export type EventOrigin = 'event' | 'dead-letter' | 'sqs';

export class NotAnEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotAnEventError';
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A Kafka event from what an operator has at hand, to replay it: a Lambda Kafka event as is, a dead-letter
 * message body (a .dlq/ file, or the Body of an SQS message), or `aws sqs receive-message` output (every
 * message in it). A dead letter holds its record as Lambda delivered it (base64 key and value, headers
 * as received), so the replayed record is byte for byte the original, at its original topic, partition
 * and offset.
 */
export function toKafkaEvent(input: unknown): { event: unknown; origin: EventOrigin; letters: number } {
  if (isObject(input) && 'eventSource' in input && 'records' in input) return { event: input, origin: 'event', letters: 0 };
  let bodies: unknown[];
  let origin: EventOrigin;
  if (isObject(input) && Array.isArray(input.Messages)) {
    origin = 'sqs';
    bodies = input.Messages.map((m, i) => {
      const body = isObject(m) ? m.Body : undefined;
      if (typeof body !== 'string') throw new NotAnEventError(`SQS message ${i} has no Body`);
      try {
        return JSON.parse(body) as unknown;
      } catch {
        throw new NotAnEventError(`SQS message ${i}: Body is not JSON`);
      }
    });
    if (bodies.length === 0) throw new NotAnEventError('the SQS output holds no messages');
  } else {
    origin = 'dead-letter';
    bodies = [input];
  }
  const records: Record<string, unknown[]> = {};
  let eventSource: unknown;
  bodies.forEach((b, i) => {
    const where = origin === 'sqs' ? `SQS message ${i}` : 'the input';
    if (isObject(b) && b.kind === 'chunk') {
      throw new NotAnEventError(`${where} is one chunk of a dead letter split for size: join the chunks first (joinChunks in lambda/dead-letter.ts)`);
    }
    if (!isObject(b) || !isObject(b.record) || typeof b.eventSource !== 'string') {
      throw new NotAnEventError(`${where} is neither a Kafka event (eventSource, records) nor a dead letter (version, eventSource, record)`);
    }
    if (eventSource !== undefined && eventSource !== b.eventSource) throw new NotAnEventError('the dead letters come from different event sources');
    eventSource = b.eventSource;
    const r = b.record;
    (records[`${String(r.topic)}-${String(r.partition)}`] ??= []).push(r);
  });
  return { event: { eventSource, records }, origin, letters: bodies.length };
}
