// The pipeline's shapes: what it runs with (PipelineDeps, RoutePlan) and what it returns. A record's states are
// lambda/pipeline/record-state.ts; the invocation's state its chains share, run.ts.
import type { Route } from '../config/routes';
import type { KafkaRecord } from '../decode';
import type { DeadLetterSink } from '../dead-letter';
import type { AgentClient, Target, TokenSource } from '../deliver/agent-client';
import type { CredentialGates } from '../deliver/credential-gate';
import type { Log, MetricsSink } from '../observe';
import type { RecordOutcome } from '../outcome';
import type { KafkaBatchResponse } from '../report';
import type { Renderer } from '../render';
import type { RecordRouter } from '../route';
import type { Ordering } from '../schedule';
import type { ReplyStage } from '../reply/stage';
import type { Idempotency } from '../ports';

export interface RoutePlan {
  route: Route;
  render: Renderer;
  target: Target;
  /** A templated route's per-record URL; absent: `target.url` for every record. */
  urlFor?: (record: KafkaRecord) => { ok: true; url: string } | { ok: false; reason: string };
}


/**
 * What `processBatch` runs with; `composeBridge` (lambda/compose.ts) builds it from the settings, every edge included.
 * The ports (lambda/ports.ts) are the fields a test or a local tool replaces.
 */
export interface PipelineDeps {
  /** Picks each record's route (ROUTES_CONFIG), decoding its value with the route's schema. */
  router: RecordRouter;
  /** Per route name: its renderer and its target, compiled at cold start. */
  plans: ReadonlyMap<string, RoutePlan>;
  /** Sends one rendered message to its agent: retries, breakers, per-target limits. */
  client: AgentClient;
  tokens: TokenSource;
  /** Per container (outlives the invocation): what the agents answered to each credential. */
  gates: CredentialGates;
  /** @default none: poison records and permanent failures are reported for redelivery */
  deadLetters?: DeadLetterSink;
  /** @default none: no claim, a redelivered record is sent again */
  idempotency?: Idempotency;
  /** ORDERING: how records of one partition are sequenced. */
  ordering: Ordering;
  /** MAX_CONCURRENCY: records (or partitions, in order) in flight at once. */
  maxConcurrency: number;
  /** SAFETY_MARGIN_SECONDS: the invocation stops this long before Lambda's deadline, to write letters and answer. */
  safetyMarginMs: number;
  /** No request, and so no idempotency claim, is started with less time than this left. */
  minRequestMs?: number;
  /** UNKNOWN_OUTCOME_MARGIN_SECONDS: a lease after an unknown outcome lasts the route's timeout plus this. */
  unknownOutcomeMarginMs?: number;
  /** LOG_REPLY_CHARS: how much of each reply the delivered line logs. */
  logReplyChars: number;
  log: Log;
  metrics: MetricsSink;
  /** @default Date.now */
  now?: () => number;
  /** Writes agents' replies for routes with a `reply` or `errors` destination (lambda/reply). */
  replies?: ReplyStage;
  /** Routes with `conversation: "key"`: how long a key's contextId is kept (CONVERSATION_TTL_SECONDS). */
  conversationTtlSeconds?: number;
  /** Called when the agent client is done with a record (delivered or not): progress for the local CLI. */
  onDelivered?: () => void;
}

export interface InvocationInfo {
  requestId: string | null;
  /** context.getRemainingTimeInMillis() at the start of the invocation. */
  remainingMs: number;
}


export interface BatchResult {
  response: KafkaBatchResponse;
  outcomes: RecordOutcome[];
  durationMs: number;
}
