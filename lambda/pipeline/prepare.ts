// A record's turn in its chain: route and render it (pure), and build the message the agent client sends. What
// this finds is a fact (lambda/pipeline/record-state.ts `Prepared`); the record's state follows from it there.
import type { KafkaRecord } from '../decode';
import type { OutgoingMessage } from '../deliver/a2a-protocol';
import { messageIds } from '../deliver/ids';
import { travellingHeaders } from '../headers';
import type { Prepared, Ready } from './record-state';
import type { PipelineDeps } from './types';

/** Route and render are pure and total by design; should one still throw, that record is poison, not the batch. */
export function prepare(record: KafkaRecord, deps: PipelineDeps): Prepared {
  try {
    return routeAndRender(record, deps);
  } catch (err) {
    return { kind: 'unrenderable', record, reason: `cannot route or render: ${(err as Error).message}` };
  }
}

export function routeAndRender(decoded: KafkaRecord, deps: PipelineDeps): Prepared {
  const routed = deps.router(decoded);
  if (!routed.route) {
    const u = routed.unreadable;
    if (u) return { kind: 'unreadable', record: decoded, code: u.code, reason: u.reason };
    return { kind: 'unrouted', record: decoded };
  }
  const { route, record } = routed;
  const plan = deps.plans.get(route.name);
  if (!plan) throw new Error(`route ${route.name} has no compiled plan`);
  if (record.value === null && route.template === undefined) return { kind: 'tombstone', record, plan };
  const rendered = plan.render(record);
  if (!rendered.ok) return { kind: 'unrenderable', record, plan, reason: rendered.reason };
  const at = plan.urlFor?.(record);
  if (at && !at.ok) return { kind: 'unrenderable', record, plan, reason: at.reason };
  return { kind: 'ready', record, plan, text: rendered.text, ...(at?.ok && { url: at.url }), ...(rendered.missing && { missingFields: rendered.missing }) };
}

export function toMessage(s: Ready): OutgoingMessage {
  const r = s.record;
  const route = s.plan.route;
  // Only allow-listed Kafka headers (and a valid traceparent) travel with the request.
  const h = travellingHeaders(r, route);
  return {
    ...messageIds(r, route.name),
    text: s.text,
    metadata: {
      kafka: { topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp, ...(h.metadata && { headers: h.metadata }) },
      route: route.name,
    },
    ...(h.http && { headers: h.http }),
  };
}
