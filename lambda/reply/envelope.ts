// The reply envelope: one versioned JSON document per agent answer, the same on every destination (Kafka, SQS,
// SNS, EventBridge, the local folder). A CloudEvents 1.0 event in structured mode, built by hand: the format is
// seven fixed attributes, and the `cloudevents` package would add its validator and HTTP/Kafka bindings to the
// bundle for no more than that. Pure: no I/O.
import type { KafkaRecord } from '../decode';
import { deliveryKey } from '../deliver/ids';

export const REPLY_EVENT_TYPE = 'dev.kafka-a2a-bridge.reply.v1';
export const REPLY_SCHEMA_VERSION = 1;

export interface ReplyData {
  version: typeof REPLY_SCHEMA_VERSION;
  route: string;
  agentId: string;
  record: {
    topic: string;
    partition: number;
    offset: number;
    /** The key as UTF-8 text (invalid bytes replaced) and as the exact bytes, base64. */
    key: string | null;
    keyBase64: string | null;
    timestamp: number | null;
    /** Only the headers the route names in reply_headers. */
    headers: Record<string, string>;
  };
  reply: {
    text: string;
    /** Present when the text was cut to fit the destination's message limit: the full text's UTF-8 size. */
    truncatedFromBytes?: number;
  };
  taskId: string | null;
  attempts: number;
  latencyMs: number | null;
  /** Task mode: the agent's task waits for a person (input-required); `reply.text` is its status message. */
  state?: 'awaiting_input';
  approvalRequests?: unknown[];
}

export interface ReplyEnvelope {
  specversion: '1.0';
  /** `<topic>-<partition>-<offset>#<route>`: the same id on every rewrite, so consumers can drop repeats. */
  id: string;
  source: string;
  type: typeof REPLY_EVENT_TYPE;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: ReplyData;
}

export interface ReplyInput {
  record: KafkaRecord;
  route: { name: string; agentId: string; replyHeaders?: readonly string[] };
  text: string;
  taskId?: string;
  attempts: number;
  latencyMs?: number;
  at: Date;
  state?: 'awaiting_input';
  approvalRequests?: unknown[];
}

/** The CloudEvents attributes a reply and an error announcement share (their JSON keys in this order). */
function eventHead<T extends string>(type: T, id: string, i: { record: KafkaRecord; route: { name: string }; at: Date }) {
  const r = i.record;
  return {
    specversion: '1.0' as const,
    id,
    source: `urn:kafka-a2a-bridge:route:${i.route.name}`,
    type,
    subject: `${r.topic}/${r.partition}/${r.offset}`,
    time: i.at.toISOString(),
    datacontenttype: 'application/json' as const,
  };
}

/** The head of `data` both envelopes share: the route, its agent and the record's coordinates. */
function dataHead(i: { record: KafkaRecord; route: { name: string; agentId: string } }): Omit<ErrorEnvelope['data'], 'error' | 'attempts' | 'deadLettered'> {
  const r = i.record;
  return {
    version: REPLY_SCHEMA_VERSION,
    route: i.route.name,
    agentId: i.route.agentId,
    record: { topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, keyBase64: r.keyB64, timestamp: r.timestamp },
  };
}

export function buildEnvelope(i: ReplyInput): ReplyEnvelope {
  const r = i.record;
  const headers: Record<string, string> = {};
  for (const h of i.route.replyHeaders ?? []) if (Object.hasOwn(r.headers, h)) headers[h] = r.headers[h];
  const head = dataHead(i);
  return {
    ...eventHead(REPLY_EVENT_TYPE, deliveryKey(r, i.route.name), i),
    data: {
      ...head,
      record: { ...head.record, headers },
      reply: { text: i.text },
      taskId: i.taskId ?? null,
      attempts: i.attempts,
      latencyMs: i.latencyMs ?? null,
      ...(i.state && { state: i.state, approvalRequests: i.approvalRequests ?? [] }),
    },
  };
}

/**
 * JSON text of the envelope, safe for every destination: JSON.stringify already escapes control characters and
 * lone surrogates; U+FFFE and U+FFFF (which SQS refuses) are escaped too. Over `maxBytes`, the reply text is cut
 * (never inside a surrogate pair) and the full size recorded in reply.truncatedFromBytes.
 */
export function serializeEnvelope(e: ReplyEnvelope, maxBytes: number): string {
  const json = safeJson;
  const whole = json(e);
  if (Buffer.byteLength(whole, 'utf8') <= maxBytes) return whole;
  const text = e.data.reply.text;
  const cut = (n: number): ReplyEnvelope => {
    let end = n;
    const c = text.charCodeAt(end - 1);
    if (end > 0 && c >= 0xd800 && c <= 0xdbff) end--;
    return { ...e, data: { ...e.data, reply: { text: text.slice(0, end), truncatedFromBytes: Buffer.byteLength(text, 'utf8') } } };
  };
  // Largest prefix that fits: escaping makes bytes per character uneven, so search rather than compute.
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(json(cut(mid)), 'utf8') <= maxBytes) lo = mid;
    else hi = mid - 1;
  }
  const out = json(cut(lo));
  if (Buffer.byteLength(out, 'utf8') > maxBytes) throw new RangeError(`reply envelope cannot fit in ${maxBytes} bytes even without its text`);
  return out;
}

/** JSON.stringify, with U+FFFE/U+FFFF escaped (SQS refuses them raw). */
export function safeJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

export const ERROR_EVENT_TYPE = 'dev.kafka-a2a-bridge.error.v1';

/** Announces a record the bridge gave up on (route `errors`): the dead-letter queue keeps its content. */
export interface ErrorEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: typeof ERROR_EVENT_TYPE;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  data: {
    version: typeof REPLY_SCHEMA_VERSION;
    route: string;
    agentId: string;
    record: Omit<ReplyData['record'], 'headers'>;
    error: { class: string; message: string };
    attempts: number;
    deadLettered: boolean;
  };
}

export function buildErrorEnvelope(i: {
  record: KafkaRecord;
  route: { name: string; agentId: string };
  error: { class: string; message: string };
  attempts: number;
  at: Date;
}): ErrorEnvelope {
  return {
    ...eventHead(ERROR_EVENT_TYPE, `${deliveryKey(i.record, i.route.name)}!error`, i),
    data: {
      ...dataHead(i),
      // The message is cut: the dead-letter queue keeps the whole record and error.
      error: { class: i.error.class, message: i.error.message.slice(0, 4096) },
      attempts: i.attempts,
      deadLettered: true,
    },
  };
}
