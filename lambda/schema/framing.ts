// Schema-registry framing of a Kafka key or value: the header a registry-aware producer writes before the
// Avro or Protobuf payload. Pure: bytes in, payload and schema id out, or a SchemaError naming the problem.
import { inflateSync } from 'node:zlib';
import { BridgeError } from '../errors';

export type Framing = 'auto' | 'confluent' | 'glue' | 'none';

export class SchemaError extends BridgeError {
  constructor(message: string, options?: ErrorOptions) {
    super('schema_frame_invalid', message, options);
    this.name = 'SchemaError';
  }
}

export interface Unframed {
  registry: 'confluent' | 'glue' | null;
  /** Confluent: the schema id as a decimal string; Glue: the schema version UUID; unframed: null. */
  schemaId: string | null;
  /** Confluent Protobuf only: the message indexes naming the message type within the schema. */
  messageIndexes?: number[];
  payload: Buffer;
}

const CONFLUENT_MAGIC = 0;
const GLUE_HEADER_VERSION = 3;
const GLUE_COMPRESSION_NONE = 0;
const GLUE_COMPRESSION_ZLIB = 5;

/** A zigzag varint (Confluent writes Protobuf message indexes as signed varints). */
function readZigzag(buf: Buffer, at: number): { value: number; next: number } {
  let result = 0;
  let shift = 0;
  for (let i = at; i < buf.length && shift < 35; i++) {
    const b = buf[i];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return { value: result % 2 === 0 ? result / 2 : -(result + 1) / 2, next: i + 1 };
  }
  throw new SchemaError('Confluent frame: truncated Protobuf message index');
}

function confluent(buf: Buffer, protobuf: boolean): Unframed {
  if (buf.length < 5) throw new SchemaError(`Confluent frame: ${buf.length} bytes, shorter than its 5-byte header`);
  const schemaId = String(buf.readUInt32BE(1));
  if (!protobuf) return { registry: 'confluent', schemaId, payload: buf.subarray(5) };
  // Message indexes: a count then that many indexes; a count of 0 stands for [0], the schema's first message.
  const { value: count, next } = readZigzag(buf, 5);
  if (count < 0 || count > 100) throw new SchemaError(`Confluent frame: invalid Protobuf message index count ${count}`);
  let at = next;
  const indexes: number[] = [];
  for (let i = 0; i < count; i++) {
    const r = readZigzag(buf, at);
    if (r.value < 0) throw new SchemaError(`Confluent frame: negative Protobuf message index ${r.value}`);
    indexes.push(r.value);
    at = r.next;
  }
  return { registry: 'confluent', schemaId, messageIndexes: count === 0 ? [0] : indexes, payload: buf.subarray(at) };
}

function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function glue(buf: Buffer): Unframed {
  if (buf.length < 18) throw new SchemaError(`Glue frame: ${buf.length} bytes, shorter than its 18-byte header`);
  const compression = buf[1];
  const schemaId = formatUuid(buf.subarray(2, 18));
  const body = buf.subarray(18);
  if (compression === GLUE_COMPRESSION_NONE) return { registry: 'glue', schemaId, payload: body };
  if (compression !== GLUE_COMPRESSION_ZLIB) throw new SchemaError(`Glue frame: unknown compression byte ${compression}`);
  try {
    return { registry: 'glue', schemaId, payload: inflateSync(body) };
  } catch (e) {
    throw new SchemaError(`Glue frame: zlib payload does not inflate: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * `auto` reads the first byte: 0 is Confluent's magic byte, 3 Glue's header version. Anything else is
 * not a registry frame: a route reading unframed payloads (the mapping's SOURCE format) says `none`.
 */
export function unframe(buf: Buffer, framing: Framing, protobuf: boolean): Unframed {
  if (framing === 'none') return { registry: null, schemaId: null, payload: buf };
  if (buf.length === 0) throw new SchemaError('empty payload: no registry frame');
  const first = buf[0];
  if (framing === 'confluent' || (framing === 'auto' && first === CONFLUENT_MAGIC)) {
    if (first !== CONFLUENT_MAGIC) throw new SchemaError(`not a Confluent frame: magic byte ${first}, expected 0`);
    return confluent(buf, protobuf);
  }
  if (framing === 'glue' || (framing === 'auto' && first === GLUE_HEADER_VERSION)) {
    if (first !== GLUE_HEADER_VERSION) throw new SchemaError(`not a Glue frame: header version byte ${first}, expected 3`);
    return glue(buf);
  }
  throw new SchemaError(`no registry frame: first byte ${first} is neither Confluent's magic byte 0 nor Glue's header version 3`);
}
