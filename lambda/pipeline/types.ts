// The pipeline's shapes: what it runs with (PipelineDeps, RoutePlan), what it returns, and a record's item as it
// moves through the stages (its `stage` is a lambda/fate.ts Stage).
import type { Route } from '../config/routes';
import type { KafkaRecord, PoisonRecord } from '../decode';
import type { DeadLetterSink } from '../dead-letter';
import type { AgentClient, DeliveryResult, Target, TokenSource } from '../deliver/agent-client';
import type { CredentialGates } from '../deliver/credential-gate';
import type { Log, MetricsSink } from '../observe';
import type { Stage } from '../fate';
import type { RecordOutcome } from '../outcome';
import type { KafkaBatchResponse } from '../report';
import type { Renderer } from '../render';
import type { RecordRouter } from '../route';
import type { Ordering } from '../schedule';
import type { ReplyStage } from '../reply/stage';
import type { StoredVerdict } from '../claim-settle';
import type { Idempotency } from '../ports';

export interface RoutePlan {
  route: Route;
  render: Renderer;
  target: Target;
  /** A templated route's per-record URL (issue 19); absent: `target.url` for every record. */
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

export interface Item {
  record: KafkaRecord;
  /** Set for an undecodable record: `record` then only carries its coordinates (and raw key) for ordering. */
  poison?: PoisonRecord;
  plan?: RoutePlan;
  text?: string;
  /** Placeholders the template found no value for (issue 20: counted and shown, never silent). */
  missingFields?: string[];
  /** Set when the route's URL is templated per record. */
  url?: string;
  stage: Stage;
  code?: string;
  message?: string;
  result?: DeliveryResult;
  replyTo?: string;
  replyWriteFailed?: boolean;
  errorsTo?: string;
  /** The idempotency key this invocation holds a claim (or a stored verdict) under. */
  claimKey?: string;
  /** A permanent verdict read from the store: the agent is not run again. */
  remembered?: StoredVerdict;
  /** Task mode: the task waits for a person (input-required); the record settles as awaiting_input. */
  awaitingInput?: boolean;
}

export interface PoisonItem {
  poison: PoisonRecord;
  stage: Stage;
  code?: string;
  message?: string;
}
