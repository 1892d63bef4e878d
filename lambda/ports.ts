// The bridge's ports: every seam where the pure pipeline meets I/O, with the shapes that cross it. The composition
// root (lambda/compose.ts) plugs the AWS and HTTP edges of lambda/io into them; tests and the local tools plug in
// their own. A leaf: it imports nothing of the bridge, so any module may depend on it without a cycle. Over 200
// lines: the TSDoc of every seam, kept beside its signature.
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Counter } from './metric-names';
import type { Destination } from './reply/destination';

// ---- HTTP ------------------------------------------------------------------------------------------------

/** What one POST answered. */
export interface HttpReply {
  status: number;
  text: string;
  /** The Retry-After header, as sent. */
  retryAfter: string | null;
}

/**
 * One JSON POST to an agent. Rejects with an `HttpError` (lambda/io/http.ts) on a timeout, a network failure or a
 * reply over the size cap; any status, 5xx included, resolves.
 * @param url - the agent endpoint
 * @param headers - request headers (the bearer token among them, never logged)
 * @param body - the serialized JSON-RPC request
 * @param timeoutMs - hard limit for the whole exchange
 * @param signal - ends the exchange early like the timeout does: the caller's own deadline
 * @default `httpPost` (node:http(s) with keep-alive agents)
 * @example
 * const post: HttpPost = async () => ({ status: 200, text: '{"jsonrpc":"2.0","id":1,"result":{}}', retryAfter: null });
 */
export type HttpPost = (url: string, headers: Record<string, string>, body: string, timeoutMs: number, signal?: AbortSignal) => Promise<HttpReply>;

// ---- Token -----------------------------------------------------------------------------------------------

export interface TokenReadOptions {
  /** Read the secret again unless the cached value was read at or after this time (epoch ms). */
  fresherThan?: number;
  /** Abandons the wait (the invocation's deadline). */
  signal?: AbortSignal;
}

/**
 * The Archestra bearer token.
 * @default `createTokenSource` (lambda/io/token.ts): ARCHESTRA_TOKEN, or the Secrets Manager secret ARCHESTRA_TOKEN_SECRET_ARN cached for TOKEN_TTL_SECONDS
 * @example
 * const tokens: TokenSource = { fixed: true, get: async () => 'test-token' };
 */
export interface TokenSource {
  /**
   * The token (cached across warm invocations); rejects with a TokenUnavailableError when there is none.
   * @param opts - freshness wanted and the deadline's signal
   */
  get(opts?: TokenReadOptions): Promise<string | undefined>;
  /** True when a re-read cannot change the value (ARCHESTRA_TOKEN): a refusal is then never followed by a read. */
  readonly fixed: boolean;
}

// ---- Dead letters ----------------------------------------------------------------------------------------

export interface DeadLetter {
  /** Correlates the outcome with this entry (the record's id in the batch). */
  id: string;
  partitionKey: string;
  offset: number | null;
  body: DeadLetterBody;
}

export interface DeadLetterBody {
  version: 1;
  /** reply_unwritten: the agent answered but its reply could not be written; `reply` holds the envelope. */
  kind: 'poison' | 'permanent_failure' | 'reply_unwritten' | 'awaiting_input';
  error: { class: string; message: string };
  attempts: number;
  route: string | null;
  agentId: string | null;
  deadLetteredAt: string;
  eventSource: string;
  requestId: string | null;
  /** topic, partition, offset, timestamp, timestampType, key and value in base64, headers as received. */
  record: Record<string, unknown>;
  /** kind reply_unwritten: the reply envelope (lambda/reply/envelope.ts), whole. */
  reply?: unknown;
  /** kind awaiting_input (task mode): the task waiting for a person, with the approval requests it sent. */
  task?: { taskId: string; contextId?: string; approvalRequests: unknown[] };
}

/**
 * Where poison records and permanent failures go.
 * @default `createSqsDeadLetterSink` (lambda/io/sqs-dead-letters.ts) when DLQ_URL is set; none otherwise (such records are reported for redelivery)
 */
export interface DeadLetterSink {
  /**
   * Resolves with the ids that could NOT be written; they must then be reported to Lambda. Each partition's
   * letters are written in offset order, and a partition stops at its first failed letter (the ones above it
   * are not written: they come back with the partition). Gives up on anything unwritten at `untilMs`.
   * @param letters - this invocation's letters, any order
   * @param untilMs - epoch ms after which nothing more is written
   */
  send(letters: readonly DeadLetter[], untilMs?: number): Promise<Set<string>>;
}

// ---- Idempotency -----------------------------------------------------------------------------------------

/** A permanent failure remembered by the store until its record can be dead-lettered. */
export interface StoredVerdict {
  class: string;
  code: string;
  message: string;
  attempts: number;
}

/** A task-mode record's running task, kept in its claim so that a later invocation polls it instead of sending again. */
export interface KeptTask {
  taskId: string;
  /** The agent endpoint the task lives on (a route's URL may change between deploys). */
  url: string;
  /** Epoch ms the task was created: the route's timeout counts from here, across invocations. */
  startedAt: number;
  /** The invocation polling it holds it until then (its claim's hold); a later claim may take it over after. */
  holdUntilMs: number;
}

/**
 * Optional idempotency store: claims a record before sending it. Every call takes the record's key and an optional
 * `signal` that aborts it (the invocation's deadline): it then rejects.
 * @default `createDynamoIdempotency` (lambda/io/dynamo-idempotency.ts) when IDEMPOTENCY_TABLE is set; none otherwise
 */
export interface Idempotency {
  /**
   * 'claimed' = send it; 'completed' = already delivered; 'in_progress' = another invocation holds it.
   * The claim lapses at holdUntilMs (this invocation's deadline) if it is never completed or released.
   * @param key - the record's idempotency key
   * @param holdUntilMs - epoch ms the claim holds until unless completed, released or leased
   */
  claim(key: string, holdUntilMs: number, signal?: AbortSignal): Promise<'claimed' | 'completed' | 'in_progress' | { replyPending: string } | { verdict: StoredVerdict } | { task: KeptTask }>;
  /** Delivered (or, for a claim holding a stored verdict, dead-lettered from it). */
  complete(key: string, signal?: AbortSignal): Promise<void>;
  release(key: string, signal?: AbortSignal): Promise<void>;
  /** Sent with an unknown outcome: keep the claim until untilMs instead of releasing it. Absent: it lapses at holdUntilMs. */
  lease?(key: string, untilMs: number, signal?: AbortSignal): Promise<void>;
  /** A permanent verdict not dead-lettered yet: `claim` returns it to the redelivery. Absent: released. */
  fail?(key: string, verdict: StoredVerdict, signal?: AbortSignal): Promise<void>;
  /** Reply stage (lambda/reply/stage.ts): the agent answered, its reply is unwritten; keep it for the redelivery. */
  keepReply?(key: string, reply: string, signal?: AbortSignal): Promise<void>;
  /** The kept reply was written: the record is completed. */
  replyWritten?(key: string, signal?: AbortSignal): Promise<void>;
  /**
   * Task mode (lambda/deliver/task-mode.ts): the claim now holds the agent's running task. A claim by a later
   * invocation, once `task.holdUntilMs` has passed, takes it over and returns `{ task }`: the record is polled,
   * never sent again. Kept for IDEMPOTENCY_TTL_SECONDS.
   */
  keepTask?(key: string, task: KeptTask, signal?: AbortSignal): Promise<void>;
  /** Conversations per key (lambda/conversation.ts): the contextId kept for `key`, if any and not expired. */
  getContext?(key: string, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * @param contextId - the agent's conversation id to reuse for the next record with this key
   * @param ttlSeconds - CONVERSATION_TTL_SECONDS
   */
  putContext?(key: string, contextId: string, ttlSeconds: number, signal?: AbortSignal): Promise<void>;
}

// ---- Observability ---------------------------------------------------------------------------------------

/**
 * Structured logging.
 * @default the Powertools `logger` (lambda/observe.ts): JSON lines
 */
export type Log = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/**
 * What the pipeline reports once per batch.
 * @default `powertoolsMetrics` (lambda/observe.ts): EMF, totals under the service dimension and one blob per route
 * @example
 * const seen: Array<Partial<Record<Counter, number>>> = [];
 * const metrics: MetricsSink = { add: (counts) => void seen.push(counts) };
 */
export interface MetricsSink {
  /**
   * @param counts - the batch's totals by counter (lambda/metric-names.ts)
   * @param perRoute - the same counters and the delivery latencies, per route name
   */
  add(counts: Partial<Record<Counter, number>>, perRoute: Map<string, { counts: Partial<Record<Counter, number>>; latenciesMs: number[] }>): void;
}

// ---- Replies ---------------------------------------------------------------------------------------------

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

/**
 * Writes replies to one kind of destination (one edge per kind in lambda/io: reply-sqs, reply-sns,
 * reply-eventbridge, reply-kafka, reply-folder).
 */
export interface ReplyEdge {
  /** Largest body this destination accepts, bytes. */
  readonly maxBytes: number;
  /**
   * Resolves with where the reply went (for logs and the local tools); rejects when it was not written.
   * @param dest - the route's reply or errors destination
   * @param m - the envelope and its correlation
   * @param signal - aborts the write (the invocation's deadline)
   */
  write(dest: Destination, m: ReplyMessage, signal: AbortSignal): Promise<string>;
}

/**
 * Reply writers by kind of destination.
 * @default `replyEdges(settings)` (lambda/compose.ts): only the kinds some route names, or REPLY_DIR's folder
 */
export type ReplyEdges = Partial<Record<Destination['kind'], ReplyEdge>>;
