// The reply stage: after an agent answered, its reply is written to the route's destination before the record
// counts as delivered. A failed write never sends the record to the agent again: the answer is kept in the
// idempotency item (size-capped) and rewritten on redelivery, or, when it cannot be kept there, put in the
// dead-letter queue with the record. Only when that write fails too is the record left to run again.
import type { Route } from '../config/routes';
import type { KafkaRecord } from '../decode';
import { compileRenderer, type Renderer } from '../render';
import { describeDestination, type Destination } from './destination';
import { buildEnvelope, buildErrorEnvelope, safeJson, serializeEnvelope, type ReplyEnvelope } from './envelope';
import { edgeFor, type ReplyEdges, type ReplyMessage } from './sink';

export interface ReplyStore {
  keepReply?(key: string, reply: string, signal?: AbortSignal): Promise<void>;
  replyWritten?(key: string, signal?: AbortSignal): Promise<void>;
}

export interface ReplyStageOptions {
  edges: ReplyEdges;
  /** Largest serialized envelope kept in the idempotency item (DynamoDB items end at 400 KB). */
  maxStoredBytes: number;
  now?: () => number;
}

/** What became of a reply. `kept`: in the store, written on redelivery. `overflow`: the caller dead-letters it. */
export type ReplyResult =
  | { outcome: 'written'; where: string }
  | { outcome: 'kept'; error: string }
  | { outcome: 'unkept'; error: string; envelope: ReplyEnvelope; body: string };

export interface PreparedReply {
  dest: Destination;
  envelope: ReplyEnvelope;
  message: ReplyMessage;
}

/** Largest reply key a reply_key template may render (longer keys are cut at a character boundary). */
const MAX_KEY_BYTES = 1024;

export class ReplyStage {
  private readonly keyRenderers = new Map<string, Renderer>();

  constructor(private readonly o: ReplyStageOptions) {}

  /** The reply's key, base64: the route's reply_key template (missing fields render empty), or the source key. */
  private keyOf(record: KafkaRecord, route: { name: string; replyKey?: string }): string | null {
    if (route.replyKey === undefined) return record.keyB64;
    let render = this.keyRenderers.get(route.name);
    if (!render) {
      const asRoute = { name: route.name, template: route.replyKey, onMissing: 'empty', onOversize: 'truncate' } as Route;
      this.keyRenderers.set(route.name, (render = compileRenderer(asRoute, MAX_KEY_BYTES)));
    }
    const res = render(record);
    return Buffer.from(res.ok ? res.text : '', 'utf8').toString('base64');
  }

  prepare(
    dest: Destination,
    record: KafkaRecord,
    route: { name: string; agentId: string; replyHeaders?: readonly string[]; replyKey?: string },
    answer: { text: string; taskId?: string; attempts: number; latencyMs?: number; state?: 'awaiting_input'; approvalRequests?: unknown[] },
    bootstrapServers?: string,
  ): PreparedReply {
    const envelope = buildEnvelope({ record, route, ...answer, at: new Date((this.o.now ?? Date.now)()) });
    const body = serializeEnvelope(envelope, edgeFor(this.o.edges, dest).maxBytes);
    return { dest, envelope, message: { ...messageOf(envelope, body, record, bootstrapServers), keyB64: this.keyOf(record, route) } };
  }

  /** Writes a prepared reply before `deadline` (epoch ms); on failure keeps it in the store when it can. */
  async write(p: PreparedReply, deadline: number, store: ReplyStore | undefined, key: string, storeSignal?: AbortSignal): Promise<ReplyResult> {
    const { error, where } = await this.attempt(p.dest, p.message, deadline);
    if (error === undefined) return { outcome: 'written', where: where! };
    if (store?.keepReply && Buffer.byteLength(p.message.body, 'utf8') <= this.o.maxStoredBytes) {
      try {
        await store.keepReply(key, p.message.body, storeSignal);
        return { outcome: 'kept', error };
      } catch (err) {
        return { outcome: 'unkept', error: `${error}; keeping it in the idempotency store failed too: ${(err as Error).message}`, envelope: p.envelope, body: p.message.body };
      }
    }
    return { outcome: 'unkept', error, envelope: p.envelope, body: p.message.body };
  }

  /** Rewrites a reply kept by an earlier invocation (the agent is not called). */
  async rewrite(
    dest: Destination,
    body: string,
    record: KafkaRecord,
    route: { name: string; replyKey?: string },
    deadline: number,
    store: ReplyStore,
    key: string,
    bootstrapServers?: string,
    storeSignal?: AbortSignal,
  ): Promise<ReplyResult> {
    const envelope = JSON.parse(body) as ReplyEnvelope;
    const m = { ...messageOf(envelope, body, record, bootstrapServers), keyB64: this.keyOf(record, route) };
    const { error, where } = await this.attempt(dest, m, deadline);
    if (error !== undefined) return { outcome: 'kept', error };
    try {
      await store.replyWritten?.(key, storeSignal);
    } catch {
      // Still REPLY_PENDING in the store: the next redelivery writes it once more (same envelope id).
    }
    return { outcome: 'written', where: where! };
  }

  /** Announces a dead-lettered record on the route's `errors` destination: once, best effort (the DLQ holds it). */
  async announce(
    dest: Destination,
    record: KafkaRecord,
    route: { name: string; agentId: string },
    error: { class: string; message: string },
    attempts: number,
    deadline: number,
    bootstrapServers?: string,
  ): Promise<{ error?: string; where?: string }> {
    const envelope = buildErrorEnvelope({ record, route, error, attempts, at: new Date((this.o.now ?? Date.now)()) });
    const m: ReplyMessage = {
      body: safeJson(envelope),
      id: envelope.id,
      keyB64: record.keyB64,
      headers: { 'ce-id': envelope.id, 'ce-type': envelope.type, 'source-topic': record.topic, 'source-partition': String(record.partition), 'source-offset': String(record.offset) },
      ...(bootstrapServers ? { bootstrapServers } : {}),
    };
    return this.attempt(dest, m, deadline);
  }

  private async attempt(dest: Destination, m: ReplyMessage, deadline: number): Promise<{ error?: string; where?: string }> {
    const left = deadline - (this.o.now ?? Date.now)();
    if (left <= 0) return { error: `no time left in this invocation to write the reply to ${describeDestination(dest)}` };
    try {
      return { where: await edgeFor(this.o.edges, dest).write(dest, m, AbortSignal.timeout(left)) };
    } catch (err) {
      return { error: `reply write to ${describeDestination(dest)} failed: ${(err as Error).message}` };
    }
  }
}

function messageOf(envelope: ReplyEnvelope, body: string, record: KafkaRecord, bootstrapServers?: string): ReplyMessage {
  return {
    body,
    id: envelope.id,
    keyB64: record.keyB64,
    headers: {
      'ce-id': envelope.id,
      'ce-type': envelope.type,
      'source-topic': record.topic,
      'source-partition': String(record.partition),
      'source-offset': String(record.offset),
    },
    ...(bootstrapServers ? { bootstrapServers } : {}),
  };
}
