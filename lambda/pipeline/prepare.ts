// A record's turn in its chain: route and render it (pure), or carry an undecodable one as poison, and build the
// message the agent client sends.
import type { KafkaRecord, PoisonRecord } from '../decode';
import type { OutgoingMessage } from '../deliver/a2a-protocol';
import { messageIds } from '../deliver/ids';
import { travellingHeaders } from '../headers';
import type { Item, PipelineDeps } from './types';

export function poisonInChain(p: PoisonRecord): Item {
  const raw = (p.raw && typeof p.raw === 'object' ? p.raw : {}) as { key?: unknown };
  return {
    poison: p,
    stage: 'dead_letter',
    code: 'poison',
    message: p.reason,
    record: {
      partitionKey: p.partitionKey,
      topic: p.topic ?? '',
      partition: p.partition ?? -1,
      offset: p.offset as number,
      timestamp: null,
      timestampType: null,
      keyB64: typeof raw.key === 'string' ? raw.key : null,
      valueB64: null,
      key: null,
      value: null,
      json: undefined,
      headers: {},
      rawHeaders: [],
    },
  };
}

/** Route and render are pure and total by design; should one still throw, that record is poison, not the batch. */
export function prepare(record: KafkaRecord, deps: PipelineDeps): Item {
  try {
    return routeAndRender(record, deps);
  } catch (err) {
    return { record, stage: 'dead_letter', code: 'render_failed', message: `cannot route or render: ${(err as Error).message}` };
  }
}

export function routeAndRender(decoded: KafkaRecord, deps: PipelineDeps): Item {
  const routed = deps.router(decoded);
  if (!routed.route) {
    const u = routed.unreadable;
    if (u) return { record: decoded, stage: 'dead_letter', code: u.code, message: u.reason };
    return { record: decoded, stage: 'unrouted', code: 'unrouted', message: 'no route matches' };
  }
  const { route, record } = routed;
  const plan = deps.plans.get(route.name)!;
  if (record.value === null && route.template === undefined) {
    return { record, plan, stage: 'tombstone', code: 'tombstone', message: 'tombstone with no template: nothing to send' };
  }
  const rendered = plan.render(record);
  if (!rendered.ok) return { record, plan, stage: 'dead_letter', code: 'render_failed', message: rendered.reason };
  const at = plan.urlFor?.(record);
  if (at && !at.ok) return { record, plan, stage: 'dead_letter', code: 'render_failed', message: at.reason };
  return { record, plan, text: rendered.text, stage: 'send', ...(at?.ok && { url: at.url }), ...(rendered.missing && { missingFields: rendered.missing }) };
}

export function toMessage(item: Item): OutgoingMessage {
  const r = item.record;
  const route = item.plan!.route;
  // Issue 19: only allow-listed Kafka headers (and a valid traceparent) travel with the request.
  const h = travellingHeaders(r, route);
  return {
    ...messageIds(r, route.name),
    text: item.text!,
    metadata: {
      kafka: { topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp, ...(h.metadata && { headers: h.metadata }) },
      route: route.name,
    },
    ...(h.http && { headers: h.http }),
  };
}
