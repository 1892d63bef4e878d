// Small builders shared by the unit tests: raw Lambda Kafka events (base64 as Lambda sends them),
// decoded records for the later stages, and routes parsed through the real config schema.
import { parseRoutes, type Route, type RouteInput } from '../../lambda/config/routes';
import type { KafkaRecord } from '../../lambda/decode';
import { buildMskEvent } from '../../scripts/lib/msk-event';

/** Base64 of a string (UTF-8) or raw bytes. */
export const b64 = (v: string | Uint8Array): string => Buffer.from(typeof v === 'string' ? Buffer.from(v, 'utf8') : v).toString('base64');

/** A header entry as Lambda delivers it: `{name: [byte, ...]}` with the UTF-8 bytes of the text. */
export const headerBytes = (text: string): number[] => [...Buffer.from(text, 'utf8')];

/** Java serialises header bytes as signed: 0x80..0xff become -128..-1. */
export const signedHeaderBytes = (text: string): number[] => headerBytes(text).map((b) => (b > 127 ? b - 256 : b));

export interface RawRecordOptions {
  topic?: string;
  partition?: number;
  offset?: number;
  timestamp?: number;
  timestampType?: string;
  /** Text or bytes, base64-encoded; null/undefined as given. */
  key?: string | Uint8Array | null;
  /** Text or bytes, base64-encoded; a non-string object is JSON-encoded first; null/undefined as given. */
  value?: string | Uint8Array | object | null;
  headers?: Record<string, string>[];
}

const encode = (v: string | Uint8Array | object | null | undefined): string | null | undefined => {
  if (v === null || v === undefined) return v;
  if (typeof v === 'string' || v instanceof Uint8Array) return b64(v);
  return b64(JSON.stringify(v));
};

/** One record of a Lambda MSK event, in Lambda's own shape. Omitting `value` keeps a value; pass null/undefined explicitly for a tombstone. */
export function rawRecord(o: RawRecordOptions = {}): Record<string, unknown> {
  const r: Record<string, unknown> = {
    topic: o.topic ?? 'orders',
    partition: o.partition ?? 0,
    offset: o.offset ?? 0,
    timestamp: o.timestamp ?? 1_700_000_000_000,
    timestampType: o.timestampType ?? 'CREATE_TIME',
    headers: (o.headers ?? []).map((h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, headerBytes(v)]))),
  };
  if ('key' in o) r.key = encode(o.key);
  else r.key = b64('k1');
  if ('value' in o) r.value = encode(o.value);
  else r.value = b64('{"id":1}');
  return r;
}

/** An `aws:kafka` (MSK) event (the product's envelope, scripts/lib/msk-event.ts) around the given `<topic>-<partition>` entries. */
export function mskEvent(records: Record<string, unknown>): Record<string, unknown> {
  const envelope = buildMskEvent([], {
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/demo/abcd1234-0123-4567-89ab-cdef01234567-1',
    bootstrapServers: 'b-1.demo.kafka.us-east-1.amazonaws.com:9098',
  });
  return { ...envelope, records };
}

/** A `SelfManagedKafka` event (no ARN, bootstrap servers only). */
export function selfManagedEvent(records: Record<string, unknown>): Record<string, unknown> {
  return { ...buildMskEvent([], { source: 'self-managed', bootstrapServers: 'broker-1:9092,broker-2:9092' }), records };
}

/** A decoded record for the route/render/schedule stages; `json` is derived from `value` unless given. */
export function record(o: Partial<KafkaRecord> = {}): KafkaRecord {
  const topic = o.topic ?? 'orders';
  const partition = o.partition ?? 0;
  const value = 'value' in o ? (o.value as string | null) : '{"id":1}';
  let json: unknown = o.json;
  if (!('json' in o) && value !== null) {
    try {
      json = JSON.parse(value);
    } catch {
      json = undefined;
    }
  }
  const key = 'key' in o ? (o.key as string | null) : 'k1';
  return {
    partitionKey: o.partitionKey ?? `${topic}-${partition}`,
    topic,
    partition,
    offset: o.offset ?? 0,
    timestamp: 'timestamp' in o ? (o.timestamp as number | null) : 1_700_000_000_000,
    timestampType: o.timestampType ?? 'CREATE_TIME',
    keyB64: 'keyB64' in o ? (o.keyB64 as string | null) : key === null ? null : b64(key),
    valueB64: value === null ? null : b64(value),
    key,
    value,
    json,
    headers: o.headers ?? {},
    rawHeaders: o.rawHeaders ?? [],
  };
}

/** A record whose value is the JSON of `json`. */
export const jsonRecord = (json: unknown, o: Partial<KafkaRecord> = {}): KafkaRecord => record({ ...o, value: JSON.stringify(json) });

/** Routes through the real schema (defaults applied), so tests use exactly what the handler gets. */
export const routes = (...inputs: Array<Partial<RouteInput>>): Route[] =>
  parseRoutes(inputs.map((r, i) => ({ name: `r${i}`, topic_pattern: 'orders', prompt_id: `agent-${i}`, ...r })));

export const route = (input: Partial<RouteInput> = {}): Route => routes(input)[0];

/** A promise whose settlement the test controls. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets every pending promise callback run (microtasks only: no timers involved). */
export async function flushMicrotasks(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}

/** Deterministic Fisher–Yates shuffle (LCG), so a failing order is reproducible. */
export function shuffled<T>(items: readonly T[], seed = 42): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
