// Dead-letter messages: the full record, why it failed and how often it was tried, as JSON an operator
// can replay from. A message over the queue's size limit is split into ordered base64 chunks instead of
// being trimmed: nothing of the record is ever dropped.
import { randomUUID } from 'node:crypto';
import type { KafkaRecord, PoisonRecord } from './decode';
import type { DeadLetter, DeadLetterBody } from './ports';
export type { DeadLetter, DeadLetterBody, DeadLetterSink } from './ports';

/** Who wrote a letter, and when: the same for every letter of an invocation. */
export interface LetterContext {
  at: string;
  source: string;
  requestId: string | null;
}

const letterId = (r: { partitionKey: string; offset: number | null }, i: number) => `${r.partitionKey}@${r.offset ?? `?${i}`}`;

/** A decoded record the bridge gave up on: a render failure (poison) or an agent's permanent refusal. */
export function recordLetter(
  r: KafkaRecord,
  why: { kind: DeadLetterBody['kind']; class: string; message: string; attempts: number },
  route: { name: string; agentId: string } | undefined,
  ctx: LetterContext,
  reply?: unknown,
  task?: { taskId: string; contextId?: string; approvalRequests?: unknown[] },
): DeadLetter {
  return {
    id: letterId(r, 0),
    partitionKey: r.partitionKey,
    offset: r.offset,
    body: {
      version: 1,
      kind: why.kind,
      error: { class: why.class, message: why.message },
      attempts: why.attempts,
      route: route?.name ?? null,
      agentId: route?.agentId ?? null,
      deadLetteredAt: ctx.at,
      eventSource: ctx.source,
      requestId: ctx.requestId,
      record: {
        topic: r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp: r.timestamp,
        timestampType: r.timestampType,
        key: r.keyB64,
        value: r.valueB64,
        headers: r.rawHeaders,
        ...(r.keySchema && { keySchemaMetadata: r.keySchema }),
        ...(r.valueSchema && { valueSchemaMetadata: r.valueSchema }),
      },
      ...(reply !== undefined && { reply }),
      ...(task && { task: { taskId: task.taskId, ...(task.contextId !== undefined && { contextId: task.contextId }), approvalRequests: task.approvalRequests ?? [] } }),
    },
  };
}

/** An undecodable record: everything it arrived with, as it arrived. `i` tells apart records without an offset. */
export function poisonLetter(p: PoisonRecord, i: number, ctx: LetterContext): DeadLetter {
  const raw = p.raw;
  return {
    id: letterId(p, i),
    partitionKey: p.partitionKey,
    offset: p.offset,
    body: {
      version: 1,
      kind: 'poison',
      error: { class: 'undecodable', message: p.reason },
      attempts: 0,
      route: null,
      agentId: null,
      deadLetteredAt: ctx.at,
      eventSource: ctx.source,
      requestId: ctx.requestId,
      record: {
        ...(raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { raw }),
        topic: p.topic,
        partition: p.partition,
        offset: p.offset,
      },
    },
  };
}

export interface QueueMessage {
  letterId: string;
  body: string;
  bytes: number;
}

/** SQS accepts only XML-safe characters; JSON.stringify leaves U+FFFE/U+FFFF raw, so escape them. */
const sqsSafe = (json: string): string => json.replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);

export function toQueueMessages(letter: DeadLetter, maxBytes: number): QueueMessage[] {
  const body = sqsSafe(JSON.stringify(letter.body));
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes <= maxBytes) return [{ letterId: letter.id, body, bytes }];
  const data = Buffer.from(body, 'utf8').toString('base64');
  const chunkId = randomUUID();
  const envelope = (index: number, count: number, piece: string) =>
    JSON.stringify({
      version: 1,
      kind: 'chunk',
      chunk: { id: chunkId, index, count, encoding: 'base64(json)' },
      topic: letter.body.record.topic ?? null,
      partition: letter.body.record.partition ?? null,
      offset: letter.body.record.offset ?? null,
      data: piece,
    });
  const room = maxBytes - Buffer.byteLength(envelope(99999, 99999, ''), 'utf8');
  if (room < 1024) throw new RangeError(`DLQ message limit ${maxBytes} bytes is too small to carry chunks`);
  const per = room - (room % 4);
  const count = Math.ceil(data.length / per);
  const out: QueueMessage[] = [];
  for (let i = 0; i < count; i++) {
    const m = envelope(i, count, data.slice(i * per, (i + 1) * per));
    out.push({ letterId: letter.id, body: m, bytes: Buffer.byteLength(m, 'utf8') });
  }
  return out;
}

/** Reassembles chunk messages (any order) into the original dead-letter body: the inverse of toQueueMessages. */
export function joinChunks(bodies: readonly string[]): DeadLetterBody {
  const chunks = bodies.map((b) => JSON.parse(b) as { chunk: { index: number; count: number }; data: string });
  chunks.sort((a, b) => a.chunk.index - b.chunk.index);
  if (chunks.length === 0 || chunks.length !== chunks[0].chunk.count) throw new Error('incomplete chunk set');
  return JSON.parse(Buffer.from(chunks.map((c) => c.data).join(''), 'base64').toString('utf8')) as DeadLetterBody;
}
