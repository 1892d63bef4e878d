// Deterministic identifiers: the same record and route always produce the same JSON-RPC id and
// messageId, so an agent (or the idempotency store) recognises a redelivery.
import { createHash } from 'node:crypto';

// A fixed namespace for this product's name-based (v5) UUIDs.
const NAMESPACE = Buffer.from('6f1c1c8e2b7a4f0c9a55d1f3c0b2a7e4', 'hex');

/** RFC 9562 UUID version 5 (SHA-1, name-based). */
export function uuidV5(name: string): string {
  const h = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export interface RecordCoordinates {
  topic: string;
  partition: number;
  offset: number;
}

/** `<topic>-<partition>-<offset>#<route>`: also the idempotency key. */
export const deliveryKey = (r: RecordCoordinates, route: string): string => `${r.topic}-${r.partition}-${r.offset}#${route}`;

export const messageIds = (r: RecordCoordinates, route: string) => {
  const key = deliveryKey(r, route);
  return { rpcId: `kafka:${key}`, messageId: uuidV5(key) };
};
