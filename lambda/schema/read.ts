// Applies a route's readers to a decoded record: the value (and key) deserialized into JSON data, with the
// format and schema id they were read with. Pure; a tombstone stays a tombstone, a record without a key keeps none.
import type { KafkaRecord } from '../decode';
import type { RouteReaders } from './load';

export type ReadRecord = { ok: true; record: KafkaRecord } | { ok: false; reason: string };

const asText = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function readRecord(record: KafkaRecord, readers: RouteReaders): ReadRecord {
  let out: KafkaRecord = record;
  if (readers.value && record.valueB64 !== null) {
    const res = readers.value(Buffer.from(record.valueB64, 'base64'));
    if (!res.ok) return res;
    const { undecodable: _, ...rest } = out;
    out = { ...rest, value: asText(res.value), json: res.value, valueSchema: { dataFormat: res.dataFormat, schemaId: res.schemaId } };
  }
  if (readers.key && record.keyB64 !== null) {
    const res = readers.key(Buffer.from(record.keyB64, 'base64'));
    if (!res.ok) return res;
    out = { ...out, key: asText(res.value), keySchema: { dataFormat: res.dataFormat, schemaId: res.schemaId } };
  }
  return { ok: true, record: out };
}
