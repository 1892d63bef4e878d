// Route stage: the first route whose topic pattern, header_match and field_match all hold.
// A route with a value_format / key_format reads the record with its schema between header_match and
// field_match (so field_match sees the deserialized value); a route without one never takes a record
// whose value is not text.
import type { Route } from './config/routes';
import type { KafkaRecord } from './decode';
import { getPath, splitPath } from './json-path';
import { readRecord } from './schema/read';
import type { RouteReaders } from './schema/load';

/** Exact name, glob (`*` any run, `?` one character) or `/regex/`. */
export function compileTopicPattern(pattern: string): (topic: string) => boolean {
  if (pattern.length > 1 && pattern.startsWith('/') && pattern.endsWith('/')) {
    const re = new RegExp(pattern.slice(1, -1));
    return (t) => re.test(t);
  }
  if (!/[*?]/.test(pattern)) return (t) => t === pattern;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`, 's');
  return (t) => re.test(t);
}

type Matcher = (r: KafkaRecord) => boolean;

function compileHeaders(route: Route): Matcher {
  const checks: Matcher[] = [];
  for (const [name, values] of Object.entries(route.headerMatch ?? {})) {
    const allowed = new Set(values);
    checks.push((r) => Object.hasOwn(r.headers, name) && allowed.has(r.headers[name]));
  }
  return (r) => checks.every((c) => c(r));
}

function compileFields(route: Route): Matcher {
  const checks: Matcher[] = [];
  for (const [path, values] of Object.entries(route.fieldMatch ?? {})) {
    const parts = splitPath(path);
    // Strict equality on JSON scalars: 3 does not match "3", as in the JSON itself.
    checks.push((r) => {
      const v = getPath(r.json, parts);
      return v !== undefined && values.some((want) => want === v);
    });
  }
  return (r) => checks.every((c) => c(r));
}

export type RouteFn = (record: KafkaRecord) => Route | undefined;

/**
 * route: the matching route and the record as it reads it (deserialized when it names a format).
 * unreadable: the record must be dead-lettered: no route can read its binary value (code poison), or
 * the first route that owns it by topic and headers could not deserialize it (code schema_error).
 */
export type Routed = { route: Route; record: KafkaRecord } | { route?: undefined; unreadable?: { code: 'poison' | 'schema_error'; reason: string } };

export type RecordRouter = (record: KafkaRecord) => Routed;

/** Routing on text and JSON only (no route reads a schema): the matching route, if any. */
export function createRouter(routes: readonly Route[]): RouteFn {
  const router = createRecordRouter(routes);
  return (record) => router(record).route;
}

export function createRecordRouter(routes: readonly Route[], readers: ReadonlyMap<string, RouteReaders> = new Map()): RecordRouter {
  const compiled = routes.map((route) => ({
    route,
    topic: compileTopicPattern(route.topicPattern),
    headers: compileHeaders(route),
    fields: compileFields(route),
    readers: readers.get(route.name),
  }));
  // Topic matching is per topic, not per record: a batch holds few topics and many records.
  const byTopic = new Map<string, typeof compiled>();
  return (record) => {
    let candidates = byTopic.get(record.topic);
    if (!candidates) {
      candidates = compiled.filter((c) => c.topic(record.topic));
      if (byTopic.size < 10_000) byTopic.set(record.topic, candidates);
    }
    for (const c of candidates) {
      if (record.undecodable !== undefined && !c.readers?.value) continue;
      if (!c.headers(record)) continue;
      let read = record;
      if (c.readers) {
        const res = readRecord(record, c.readers);
        if (!res.ok) return { unreadable: { code: 'schema_error', reason: `route "${c.route.name}": ${res.reason}` } };
        read = res.record;
      }
      if (c.fields(read)) return { route: c.route, record: read };
    }
    return record.undecodable !== undefined ? { unreadable: { code: 'poison', reason: `undecodable record: ${record.undecodable}` } } : {};
  };
}
