// Which Kafka headers of a record travel with its request: only those a route lists (metadata_headers into the
// A2A message's metadata, forward_headers as HTTP headers), plus a valid W3C traceparent. Pure.
import type { Route } from './config/routes';
import type { KafkaRecord } from './decode';

/** A header value in metadata: its text when it is valid UTF-8, else its bytes in base64. */
export type MetadataHeaderValue = string | { base64: string };

export interface TravellingHeaders {
  metadata?: Record<string, MetadataHeaderValue>;
  http?: Record<string, string>;
  /** The record's W3C trace context, when it carries a valid one. */
  traceparent?: string;
}

// version-traceid-parentid-flags; version ff and all-zero ids are invalid (W3C Trace Context, section 3.2).
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}(-.*)?$/;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** The raw bytes of the last header of that name (Kafka allows repeats; the decoded map keeps the last too). */
function rawValue(record: KafkaRecord, name: string): Buffer | undefined {
  let found: Buffer | undefined;
  if (Array.isArray(record.rawHeaders)) {
    for (const entry of record.rawHeaders) {
      if (!entry || typeof entry !== 'object' || !Object.hasOwn(entry, name)) continue;
      const v = (entry as Record<string, unknown>)[name];
      if (Array.isArray(v)) found = Buffer.from(v as number[]);
      else if (typeof v === 'string') found = Buffer.from(v, 'utf8');
    }
  }
  return found;
}

function asText(bytes: Buffer): string | undefined {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes) ? text : undefined;
}

export function travellingHeaders(record: KafkaRecord, route: Route): TravellingHeaders {
  const out: TravellingHeaders = {};
  for (const name of route.metadataHeaders ?? []) {
    const bytes = rawValue(record, name);
    if (bytes === undefined) continue;
    const text = asText(bytes);
    (out.metadata ??= Object.create(null) as Record<string, MetadataHeaderValue>)[name] = text ?? { base64: bytes.toString('base64') };
  }
  for (const name of route.forwardHeaders ?? []) {
    const bytes = rawValue(record, name);
    const text = bytes && asText(bytes);
    // HTTP header values are printable ASCII here: anything else (binary, control characters, which could split
    // the request) is not forwarded. List the header in metadata_headers to carry its bytes.
    if (text === undefined || !PRINTABLE.test(text)) continue;
    (out.http ??= {})[name.toLowerCase()] = text.trim();
  }
  const tp = record.headers.traceparent?.trim().toLowerCase();
  if (tp !== undefined && TRACEPARENT.test(tp)) {
    out.traceparent = tp;
    (out.http ??= {}).traceparent = tp;
    const state = record.headers.tracestate;
    if (state !== undefined && state.length <= 512 && PRINTABLE.test(state)) out.http.tracestate = state;
  }
  return out;
}
