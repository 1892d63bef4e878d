// What a reply edge does: write one serialized envelope to one destination before the signal aborts.
// The edges live in lambda/io (one per kind of destination); this module only dispatches to them.
import type { Destination } from './destination';

export interface ReplyMessage {
  /** The serialized envelope (serializeEnvelope), already within the destination's size limit. */
  body: string;
  /** The envelope's id: the SNS/SQS deduplication id of FIFO destinations, a Kafka correlation header. */
  id: string;
  /** The source record's key bytes (base64): the reply's Kafka key, the message group of FIFO destinations. */
  keyB64: string | null;
  /** Correlation headers (Kafka headers, SQS/SNS message attributes). */
  headers: Record<string, string>;
  /** The event's bootstrap servers: a kafka:// destination's default cluster. */
  bootstrapServers?: string;
}

export interface ReplyEdge {
  /** Largest body this destination accepts, bytes. */
  readonly maxBytes: number;
  /** Resolves with where the reply went (for logs and the local tools); rejects when it was not written. */
  write(dest: Destination, m: ReplyMessage, signal: AbortSignal): Promise<string>;
}

export type ReplyEdges = Partial<Record<Destination['kind'], ReplyEdge>>;

export function edgeFor(edges: ReplyEdges, dest: Destination): ReplyEdge {
  const e = edges[dest.kind];
  if (!e) throw new Error(`no ${dest.kind} reply writer configured`);
  return e;
}
