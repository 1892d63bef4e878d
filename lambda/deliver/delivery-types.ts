// The agent client's vocabulary: where a record goes (Target), what its delivery came to (DeliveryResult), the
// client's options, and the scheduler's and the pipeline's say on each send (Slot, SendGuard).
import type { DeliveryStatus, FateCode } from '../fate';
import type { HttpPost, TokenSource } from '../ports';
import type { A2AVersion, OutgoingMessage, TaskFacts } from './a2a-protocol';
import type { AgentLimits, LimitSpec } from './agent-limits';
import type { CircuitBreakers } from './circuit-breaker';
import type { CredentialGate } from './credential-gate';
import type { ChatOptions } from './openai-protocol';

export interface Target {
  url: string;
  version: A2AVersion;
  timeoutMs: number;
  /** Only Archestra's own origin receives the bearer token; a route's foreign `url` never sees it. */
  sendToken: boolean;
  /** The wire protocol: A2A JSON-RPC (default) or OpenAI-compatible Chat Completions (with `chat`). */
  protocol?: 'a2a' | 'openai';
  chat?: ChatOptions;
  /** Per-target limits below MAX_CONCURRENCY; the limiter and the circuit are keyed by `url`. */
  limits?: LimitSpec;
  /** The limiter's key when it is not `url` (a templated route: one limiter for all its per-record URLs). */
  limitKey?: string;
  /** Task mode (A2A 1.0, lambda/deliver/task-mode.ts): send with returnImmediately and hand back the unfinished task. */
  taskMode?: boolean;
}

export interface DeliveryResult {
  status: DeliveryStatus;
  reply?: string;
  code?: FateCode;
  message?: string;
  /** HTTP requests made for this record (sends, retries and polls). */
  attempts: number;
  retries: number;
  /** From the first send to the final answer, ms. */
  latencyMs?: number;
  taskId?: string;
  /** The conversation the agent answered in (A2A 1.0 messages and tasks carry it). */
  contextId?: string;
  /** A task that ended without a reply (input-required, failed, ...): what it said about itself. */
  task?: TaskFacts;
}

export interface ClientOptions {
  post: HttpPost;
  tokens: TokenSource;
  maxRetries: number;
  retryDelayMs: number;
  /** A request is only started with at least this much time left before the deadline. */
  minRequestMs: number;
  pollInitialMs?: number;
  pollMaxMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Per container: one circuit per target (absent: never open). */
  breakers?: CircuitBreakers;
  /** Per container: the per-target limiters (absent: no per-target limit). */
  limits?: AgentLimits;
}

/** Runs a request when a concurrency slot is free; the scheduler decides who goes first. */
export type Slot = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The caller's say on sending, consulted inside the slot at the moment of each send and retry: a request
 * queued behind a failure that makes it pointless is not sent. `failing` is told, still inside the slot,
 * when this record is about to end as reported, so a request waiting for the slot sees it at once.
 */
export interface SendGuard {
  mayStart(): boolean;
  failing(): void;
}

/** One record's delivery: what `AgentClient.deliver` takes. */
export interface DeliverRequest {
  msg: OutgoingMessage;
  target: Target;
  /** Epoch ms: no request starts with less than `minRequestMs` left before it. */
  deadline: number;
  slot: Slot;
  /** The credential's memory in this container. */
  gate: CredentialGate;
  /** @default always may start */
  guard?: SendGuard;
  /** Fires at the invocation's deadline and ends any wait (token read, credential trial). */
  signal?: AbortSignal;
  /** Bounds the re-reads of a refused token to one per invocation. */
  invocationStart?: number;
}

/** Requests made for one record so far. */
export interface Tally {
  attempts: number;
  retries: number;
  firstSend?: number;
}

export type ResultFn = (s: DeliveryStatus, extra?: Partial<DeliveryResult>) => DeliveryResult;
