// Conversations per Kafka key (route `conversation: "key"`): the contextId the agent answered in is kept per
// route and key (in the idempotency table, item kind CONTEXT, CONVERSATION_TTL_SECONDS after the key's last
// record) and sent with the key's next record, so the agent sees an order's or a customer's whole history.
// Records of one key are sent one after another under ORDERING=key or partition; ORDERING=none is refused
// at cold start (lambda/config/settings.ts), as is a missing table.
import type { KafkaRecord } from './decode';

export interface ContextStore {
  getContext?(key: string, signal?: AbortSignal): Promise<string | undefined>;
  putContext?(key: string, contextId: string, ttlSeconds: number, signal?: AbortSignal): Promise<void>;
}

/** The conversation's key: route and the record key's exact bytes. A record without a key has no conversation. */
export function conversationKey(record: Pick<KafkaRecord, 'keyB64'>, route: string): string | undefined {
  return record.keyB64 === null ? undefined : `ctx#${route}#${record.keyB64}`;
}

/**
 * The contextId to send, or undefined (new conversation). A store that cannot answer does not hold the record
 * back: it is sent without a context and the agent starts a new conversation (logged by the caller).
 */
export async function contextFor(store: ContextStore, key: string, signal?: AbortSignal): Promise<string | undefined> {
  return store.getContext ? store.getContext(key, signal) : undefined;
}

/** Remembers the contextId the agent answered in; a message that carries none keeps the previous one. */
export async function rememberContext(store: ContextStore, key: string, contextId: string | undefined, ttlSeconds: number, signal?: AbortSignal): Promise<void> {
  if (contextId === undefined || !store.putContext) return;
  await store.putContext(key, contextId, ttlSeconds, signal);
}
