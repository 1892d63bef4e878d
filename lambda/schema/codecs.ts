// In-function Avro / Protobuf readers, compiled once per route at cold start (and at synth, to validate the
// schema files). avsc and protobufjs are required inside the compile functions, not imported at the top:
// their modules are evaluated only when a route names a format, so the common JSON deployment never runs them.
import type * as Avsc from 'avsc';
import type * as Protobuf from 'protobufjs';
import { SchemaError, unframe, type Framing } from './framing';

export interface FormatSpec {
  type: 'avro' | 'protobuf';
  /** Path of the schema file, relative to the routes file (.avsc; .proto or a protobufjs JSON descriptor). */
  schemaFile: string;
  /** Protobuf: the fully qualified message type. */
  messageType?: string;
  framing: Framing;
  /** Avro: older writer schemas by registry schema id (Confluent id or Glue version UUID), for evolution. */
  writerSchemas?: Record<string, string>;
}

/** The schema files' text, read by the caller (cold start or synth): this module does no I/O. */
export interface SchemaTexts {
  schema: string;
  writers: Record<string, string>;
}

export type ReadResult =
  | { ok: true; value: unknown; dataFormat: 'AVRO' | 'PROTOBUF'; schemaId: string | null }
  | { ok: false; reason: string };

export type Reader = (bytes: Buffer) => ReadResult;

export { SchemaError };

let avscModule: typeof Avsc | undefined;
let protobufModule: typeof Protobuf | undefined;
const avsc = (): typeof Avsc => (avscModule ??= require('avsc') as typeof Avsc);
const protobuf = (): typeof Protobuf => (protobufModule ??= require('protobufjs') as typeof Protobuf);

/** Decoded values as plain JSON data: templates, field_match and JSON.stringify see objects, strings and numbers. */
function toPlain(v: unknown): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toPlain(x)]));
  if (typeof v === 'object') {
    const out: Record<string, unknown> = Object.create(null);
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toPlain(x);
    return out;
  }
  return v;
}

function parseAvro(text: string, file: string): Avsc.Type {
  try {
    return avsc().Type.forSchema(JSON.parse(text));
  } catch (e) {
    throw new SchemaError(`${file}: not a valid Avro schema: ${(e as Error).message}`);
  }
}

function avroReader(spec: FormatSpec, texts: SchemaTexts, what: string): Reader {
  const reader = parseAvro(texts.schema, spec.schemaFile);
  const resolvers = new Map<string, Avsc.Resolver>();
  for (const [id, file] of Object.entries(spec.writerSchemas ?? {})) {
    const writer = parseAvro(texts.writers[id], file);
    try {
      resolvers.set(id, reader.createResolver(writer));
    } catch (e) {
      throw new SchemaError(`${file} (writer schema ${id}): cannot be read with ${spec.schemaFile}: ${(e as Error).message}`);
    }
  }
  return (bytes) => {
    let schemaId: string | null = null;
    try {
      const frame = unframe(bytes, spec.framing, false);
      schemaId = frame.schemaId;
      const value = reader.fromBuffer(frame.payload, schemaId === null ? undefined : resolvers.get(schemaId));
      return { ok: true, value: toPlain(value), dataFormat: 'AVRO', schemaId };
    } catch (e) {
      const id = schemaId === null ? '' : `, schema id ${schemaId}`;
      return { ok: false, reason: `${what} does not match its Avro schema (${spec.schemaFile}${id}): ${(e as Error).message}` };
    }
  };
}

/** The message types a Confluent message index walks: the file's top-level messages, then each one's nested. */
const messagesOf = (ns: Protobuf.NamespaceBase): Protobuf.Type[] =>
  ns.nestedArray.filter((n): n is Protobuf.Type => n instanceof protobuf().Type);

function fileMessages(root: Protobuf.Root): Protobuf.Type[] {
  let ns: Protobuf.NamespaceBase = root;
  // Descend through package namespaces (a.b.c) to the first level that declares messages.
  for (;;) {
    const types = messagesOf(ns);
    if (types.length) return types;
    const inner = ns.nestedArray.filter((n): n is Protobuf.Namespace => n instanceof protobuf().Namespace);
    if (inner.length !== 1) return [];
    ns = inner[0];
  }
}

function protobufReader(spec: FormatSpec, texts: SchemaTexts, what: string): Reader {
  const pb = protobuf();
  let root: Protobuf.Root;
  let type: Protobuf.Type;
  try {
    root = spec.schemaFile.endsWith('.json') ? pb.Root.fromJSON(JSON.parse(texts.schema)) : pb.parse(texts.schema, { keepCase: true }).root;
    root.resolveAll();
    type = root.lookupType(spec.messageType!);
  } catch (e) {
    throw new SchemaError(`${spec.schemaFile}: ${(e as Error).message}`);
  }
  const want = type.fullName.replace(/^\./, '');
  const top = fileMessages(root);
  const byIndexes = (indexes: number[]): Protobuf.Type | undefined => {
    let list = top;
    let t: Protobuf.Type | undefined;
    for (const i of indexes) {
      t = list[i];
      if (!t) return undefined;
      list = messagesOf(t);
    }
    return t;
  };
  return (bytes) => {
    let schemaId: string | null = null;
    try {
      const frame = unframe(bytes, spec.framing, true);
      schemaId = frame.schemaId;
      if (frame.messageIndexes) {
        const named = byIndexes(frame.messageIndexes)?.fullName.replace(/^\./, '');
        if (named !== want) {
          throw new SchemaError(`message indexes [${frame.messageIndexes.join(',')}] name ${named ?? 'no message'} in ${spec.schemaFile}, not ${want}`);
        }
      }
      const message = type.decode(frame.payload);
      const value = type.toObject(message, { longs: String, enums: String, bytes: String, defaults: true, arrays: true, objects: true });
      return { ok: true, value: toPlain(value), dataFormat: 'PROTOBUF', schemaId };
    } catch (e) {
      const id = schemaId === null ? '' : `, schema id ${schemaId}`;
      return { ok: false, reason: `${what} does not match its Protobuf schema (${spec.schemaFile} ${want}${id}): ${(e as Error).message}` };
    }
  };
}

/** Throws SchemaError naming the file when a schema does not compile. `what` is "value" or "key". */
export function compileReader(spec: FormatSpec, texts: SchemaTexts, what: 'value' | 'key'): Reader {
  return spec.type === 'avro' ? avroReader(spec, texts, what) : protobufReader(spec, texts, what);
}
