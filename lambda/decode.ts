// Decode stage: a Lambda MSK / self-managed Kafka event into records, or poison entries for what cannot be read.
// Never throws for a bad record: one unreadable record must not fail its whole batch.
// Over 200 lines: the event shape checks and each field's decoding stay together, since what makes a record poison
// is decided by all of them at once.
import { BridgeError } from './errors';

export interface RawKafkaRecord {
  topic?: unknown;
  partition?: unknown;
  offset?: unknown;
  timestamp?: unknown;
  timestampType?: unknown;
  key?: unknown;
  value?: unknown;
  headers?: unknown;
  /** Set by the event source mapping when it deserializes with a schema registry. */
  keySchemaMetadata?: unknown;
  valueSchemaMetadata?: unknown;
}

/** The format and schema of a key or value: from the mapping's schema registry, or from an in-function read. */
export interface SchemaMeta {
  dataFormat: string;
  schemaId: string | null;
}

export interface KafkaRecord {
  /** The batch's partition key, `<topic>-<partition>`: what Lambda expects back in itemIdentifier.partition. */
  partitionKey: string;
  topic: string;
  partition: number;
  offset: number;
  timestamp: number | null;
  timestampType: string | null;
  /** Raw base64 as received; kept for the dead-letter queue and for key-based ordering. */
  keyB64: string | null;
  valueB64: string | null;
  /** UTF-8 text of the key (invalid bytes replaced: binary keys still order and route). */
  key: string | null;
  /** UTF-8 text of the value; null for a tombstone. */
  value: string | null;
  /** Parsed JSON value, or undefined when the value is not JSON. */
  json: unknown;
  headers: Record<string, string>;
  rawHeaders: unknown;
  /**
   * Why the value could not be read as text (it is binary, e.g. Avro): only a route with a value_format can
   * read the record; when none does, it is poison with this reason. The bytes stay in valueB64.
   */
  undecodable?: string;
  keySchema?: SchemaMeta;
  valueSchema?: SchemaMeta;
}

export interface PoisonRecord {
  partitionKey: string;
  topic: string | null;
  partition: number | null;
  /** null when the record carries no usable offset (it can then only be dead-lettered, not reported). */
  offset: number | null;
  raw: unknown;
  reason: string;
}

export interface DecodedBatch {
  source: 'aws:kafka' | 'SelfManagedKafka';
  records: KafkaRecord[];
  poison: PoisonRecord[];
}

export class EventShapeError extends BridgeError {
  constructor(message: string) {
    super('event_shape_invalid', message);
    this.name = 'EventShapeError';
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lenientUtf8 = new TextDecoder('utf-8');

class RecordError extends BridgeError {
  constructor(message: string) {
    super('record_invalid', message);
    this.name = 'RecordError';
  }
}

/**
 * Node's decoder skips characters outside the alphabet and stops at padding, so a string is valid base64
 * exactly when it decodes to the length its size promises. (A regex overflowed V8's stack on multi-MB values,
 * and a character loop cost more than the decoding itself.)
 */
function base64Bytes(field: string, v: unknown): Buffer | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new RecordError(`${field} is not a base64 string`);
  const n = v.length;
  const pad = v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0;
  const bytes = Buffer.from(v, 'base64');
  if (n % 4 !== 0 || bytes.length !== (n / 4) * 3 - pad) throw new RecordError(`${field} is not valid base64`);
  return bytes;
}

/** Kafka header values arrive as byte arrays; a JSON number outside 0..255 is a malformed event, not data. */
function decodeHeaders(raw: unknown): Record<string, string> {
  // Null prototype: a header named `__proto__` is a header like any other, not the object's prototype.
  const out = Object.create(null) as Record<string, string>;
  if (raw === undefined || raw === null) return out;
  if (!Array.isArray(raw)) throw new RecordError('headers is not an array');
  for (const entry of raw) {
    if (!entry || typeof entry !== 'object' || Array.isArray(entry)) throw new RecordError('a header entry is not an object');
    for (const [name, bytes] of Object.entries(entry as Record<string, unknown>)) {
      if (typeof bytes === 'string') {
        out[name] = bytes; // some producers / test tools give text; accept it as is
        continue;
      }
      if (!Array.isArray(bytes)) throw new RecordError(`header "${name}" is not a byte array`);
      for (const b of bytes) {
        if (typeof b !== 'number' || !Number.isInteger(b) || b < -128 || b > 255) {
          throw new RecordError(`header "${name}" holds a non-byte value`);
        }
      }
      // Java clients serialise signed bytes; Buffer.from keeps the low 8 bits, mapping -128..-1 to 128..255.
      out[name] = Buffer.from(bytes as number[]).toString('utf8');
    }
  }
  return out;
}

const JSON_START = new Set(['{', '[', '"', '-', 't', 'f', 'n', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

/**
 * JSON nested deeper than this stays plain text: V8 parses any depth, but JSON.stringify and every
 * recursive walk after it overflow the stack from a few thousand levels. No business event nests so deep.
 */
export const MAX_JSON_DEPTH = 256;

function tooDeep(text: string): boolean {
  // Cheap bound first: nesting deeper than the limit needs more opening brackets than the limit.
  let opens = 0;
  for (const ch of ['{', '[']) {
    for (let i = text.indexOf(ch); i !== -1 && opens <= MAX_JSON_DEPTH; i = text.indexOf(ch, i + 1)) opens++;
  }
  if (opens <= MAX_JSON_DEPTH) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

function parseJson(text: string): unknown {
  const first = text.trimStart()[0];
  if (first === undefined || !JSON_START.has(first)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined; // not JSON: the value stays plain text
  }
  return parsed !== null && typeof parsed === 'object' && tooDeep(text) ? undefined : parsed;
}

function splitPartitionKey(key: string): { topic: string | null; partition: number | null } {
  const dash = key.lastIndexOf('-');
  if (dash <= 0) return { topic: null, partition: null };
  const digits = key.slice(dash + 1);
  return /^\d{1,9}$/.test(digits) ? { topic: key.slice(0, dash), partition: Number(digits) } : { topic: null, partition: null };
}

const asInt = (v: unknown): number | null => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : null;
};

function decodeRecord(partitionKey: string, raw: RawKafkaRecord): KafkaRecord {
  const fromKey = splitPartitionKey(partitionKey);
  const topic = typeof raw.topic === 'string' && raw.topic ? raw.topic : fromKey.topic;
  const partition = asInt(raw.partition) ?? fromKey.partition;
  const offset = asInt(raw.offset);
  if (topic === null) throw new RecordError('record has no topic');
  if (partition === null) throw new RecordError('record has no valid partition');
  if (offset === null) throw new RecordError('record has no valid offset');
  const keyBytes = base64Bytes('key', raw.key);
  const valueBytes = base64Bytes('value', raw.value);
  let value: string | null = null;
  let undecodable: string | undefined;
  if (valueBytes) {
    try {
      value = strictUtf8.decode(valueBytes);
    } catch {
      undecodable = NOT_TEXT; // routing decides: a route with a value_format may read it
    }
  }
  const ts = typeof raw.timestamp === 'number' && Number.isFinite(raw.timestamp) ? raw.timestamp : null;
  return {
    partitionKey,
    topic,
    partition,
    offset,
    timestamp: ts,
    timestampType: typeof raw.timestampType === 'string' ? raw.timestampType : null,
    keyB64: keyBytes ? (raw.key as string) : null,
    valueB64: valueBytes ? (raw.value as string) : null,
    key: keyBytes ? lenientUtf8.decode(keyBytes) : null,
    value,
    json: value === null ? undefined : parseJson(value),
    headers: decodeHeaders(raw.headers),
    rawHeaders: raw.headers ?? [],
    ...(undecodable !== undefined && { undecodable }),
    ...schemaMeta('keySchema', raw.keySchemaMetadata),
    ...schemaMeta('valueSchema', raw.valueSchemaMetadata),
  };
}

export const NOT_TEXT = 'value is not valid UTF-8 text';

/** The mapping's keySchemaMetadata / valueSchemaMetadata; anything without a dataFormat string is ignored. */
function schemaMeta(field: 'keySchema' | 'valueSchema', raw: unknown): Partial<Record<typeof field, SchemaMeta>> {
  if (!raw || typeof raw !== 'object') return {};
  const m = raw as { dataFormat?: unknown; schemaId?: unknown };
  if (typeof m.dataFormat !== 'string') return {};
  return { [field]: { dataFormat: m.dataFormat, schemaId: typeof m.schemaId === 'string' ? m.schemaId : null } };
}

export function decodeEvent(event: unknown): DecodedBatch {
  if (!event || typeof event !== 'object') throw new EventShapeError('event is not an object');
  const e = event as { eventSource?: unknown; records?: unknown };
  if (e.eventSource !== 'aws:kafka' && e.eventSource !== 'SelfManagedKafka') {
    throw new EventShapeError(`unsupported eventSource ${JSON.stringify(e.eventSource)}: expected "aws:kafka" or "SelfManagedKafka"`);
  }
  if (!e.records || typeof e.records !== 'object' || Array.isArray(e.records)) {
    throw new EventShapeError('event.records must be an object keyed by "<topic>-<partition>"');
  }
  const records: KafkaRecord[] = [];
  const poison: PoisonRecord[] = [];
  for (const [partitionKey, list] of Object.entries(e.records as Record<string, unknown>)) {
    const fromKey = splitPartitionKey(partitionKey);
    if (!Array.isArray(list)) {
      poison.push({ partitionKey, ...fromKey, offset: null, raw: list, reason: 'partition entry is not an array of records' });
      continue;
    }
    for (const raw of list) {
      try {
        if (!raw || typeof raw !== 'object') throw new RecordError('record is not an object');
        records.push(decodeRecord(partitionKey, raw as RawKafkaRecord));
      } catch (err) {
        if (!(err instanceof RecordError)) throw err;
        const r = (raw && typeof raw === 'object' ? raw : {}) as RawKafkaRecord;
        poison.push({
          partitionKey,
          topic: typeof r.topic === 'string' ? r.topic : fromKey.topic,
          partition: asInt(r.partition) ?? fromKey.partition,
          offset: asInt(r.offset),
          raw,
          reason: `undecodable record: ${err.message}`,
        });
      }
    }
  }
  return { source: e.eventSource, records, poison };
}
