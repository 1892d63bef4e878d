// Render stage: a routed record into the prompt text the agent receives.
import type { Route } from './config/routes';
import type { KafkaRecord } from './decode';
import { getPath } from './json-path';
import { parseTemplate, type TemplatePart } from './template';

/** `missing`: the placeholders the record had no value for (kept as `{name}` or emptied, per on_missing). */
export type RenderResult = { ok: true; text: string; truncatedBytes?: number; missing?: string[] } | { ok: false; reason: string };

const stringify = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v) ?? String(v));

function meta(record: KafkaRecord, part: { placeholder: string; path: string[] }): unknown {
  switch (part.path[0]) {
    case 'topic':
      return record.topic;
    case 'partition':
      return record.partition;
    case 'offset':
      return record.offset;
    case 'key':
      return record.key ?? undefined;
    case 'timestamp':
      return record.timestamp ?? undefined;
    case 'timestamp_iso': {
      // A producer may set any long (e.g. Long.MAX_VALUE); outside Date's range it is "missing", not a crash.
      const d = record.timestamp === null ? undefined : new Date(record.timestamp);
      return d && !Number.isNaN(d.getTime()) ? d.toISOString() : undefined;
    }
    case 'value':
      return record.value ?? undefined;
    // The format and schema the value / key was read with: the mapping's schema metadata, or the route's own reader.
    case 'value_format':
      return record.valueSchema?.dataFormat;
    case 'value_schema_id':
      return record.valueSchema?.schemaId ?? undefined;
    case 'key_format':
      return record.keySchema?.dataFormat;
    case 'key_schema_id':
      return record.keySchema?.schemaId ?? undefined;
    case 'headers': {
      // Header names may contain dots: everything after `$headers.` is the name.
      const name = part.placeholder.slice('$headers.'.length);
      return Object.hasOwn(record.headers, name) ? record.headers[name] : undefined;
    }
    default:
      return undefined;
  }
}

export type Renderer = (record: KafkaRecord) => RenderResult;

/** Compiles a route's template once; the returned function is pure. */
export function compileRenderer(route: Route, maxTextBytes: number): Renderer {
  const parts: TemplatePart[] | undefined = route.template === undefined ? undefined : parseTemplate(route.template);
  const body = (record: KafkaRecord): RenderResult => {
    if (!parts) {
      // A JSON string is sent as its content, not with its quotes; other JSON values pretty-printed.
      if (typeof record.json === 'string') return { ok: true, text: record.json };
      if (record.json !== undefined) return { ok: true, text: JSON.stringify(record.json, null, 2) };
      return { ok: true, text: record.value ?? '' };
    }
    let text = '';
    const missing: string[] = [];
    for (const part of parts) {
      if ('literal' in part) {
        text += part.literal;
        continue;
      }
      const v = part.meta ? meta(record, part) : getPath(record.json, part.path);
      if (v !== undefined) text += stringify(v);
      else if (route.onMissing === 'fail') return { ok: false, reason: `template field {${part.placeholder}} is missing` };
      else {
        if (!missing.includes(part.placeholder)) missing.push(part.placeholder);
        if (route.onMissing === 'keep') text += `{${part.placeholder}}`;
      }
    }
    return missing.length ? { ok: true, text, missing } : { ok: true, text };
  };
  return (record) => {
    let res: RenderResult;
    try {
      res = body(record);
    } catch (err) {
      // Defence in depth: a value no rule foresaw is one record's failure, never its batch's.
      return { ok: false, reason: `cannot render: ${(err as Error).message}` };
    }
    if (!res.ok) return res;
    const bytes = Buffer.byteLength(res.text, 'utf8');
    if (bytes <= maxTextBytes) return res;
    if (route.onOversize === 'dead_letter') {
      return { ok: false, reason: `rendered text is ${bytes} bytes, over MAX_TEXT_BYTES ${maxTextBytes}` };
    }
    return { ok: true, text: truncateUtf8(res.text, maxTextBytes, bytes), truncatedBytes: bytes };
  };
}

/** Cuts at a character boundary and appends a marker, the whole staying within maxBytes. */
export function truncateUtf8(text: string, maxBytes: number, totalBytes = Buffer.byteLength(text, 'utf8')): string {
  let marker = `\n[truncated: ${totalBytes} bytes in all]`;
  if (Buffer.byteLength(marker, 'utf8') > maxBytes) marker = ''; // a limit this small has no room for it
  const room = maxBytes - Buffer.byteLength(marker, 'utf8');
  const buf = Buffer.from(text, 'utf8');
  let end = Math.min(room, buf.length);
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // do not split a multi-byte character
  return buf.subarray(0, end).toString('utf8') + marker;
}
