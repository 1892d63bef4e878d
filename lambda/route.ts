// Route stage: the first route whose topic pattern, header_match and field_match all hold.
import type { Route } from './config/routes';
import type { KafkaRecord } from './decode';
import { getPath, splitPath } from './json-path';

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

function compileConditions(route: Route): Matcher {
  const checks: Matcher[] = [];
  for (const [name, values] of Object.entries(route.headerMatch ?? {})) {
    const allowed = new Set(values);
    checks.push((r) => Object.prototype.hasOwnProperty.call(r.headers, name) && allowed.has(r.headers[name]));
  }
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

export function createRouter(routes: readonly Route[]): RouteFn {
  const compiled = routes.map((route) => ({ route, topic: compileTopicPattern(route.topicPattern), when: compileConditions(route) }));
  // Topic matching is per topic, not per record: a batch holds few topics and many records.
  const byTopic = new Map<string, typeof compiled>();
  return (record) => {
    let candidates = byTopic.get(record.topic);
    if (!candidates) {
      candidates = compiled.filter((c) => c.topic(record.topic));
      if (byTopic.size < 10_000) byTopic.set(record.topic, candidates);
    }
    for (const c of candidates) if (c.when(record)) return c.route;
    return undefined;
  };
}
