// Deliver stage: one record's message to its agent, with retries, Retry-After, task polling,
// the credential gate and token re-read on auth failure, and the invocation's deadline. The HTTP call itself is injected.
import { HttpError, type HttpPost } from '../io/http';
import type { AgentLimits, LimitSpec, Release } from './agent-limits';
import type { CircuitBreakers } from './circuit-breaker';
import type { CredentialGate, CredentialVerdict } from './credential-gate';
import { exchangeFate, type ExchangeFate } from './exchange-outcome';
import { chatCompletionBody, chatRequestHeaders, interpretChatResponse, type ChatOptions } from './openai-protocol';
import {
  cancelTaskBody,
  failure,
  getTaskBody,
  interpretResponse,
  requestHeaders,
  sendMessageBody,
  type A2AVersion,
  type AgentAnswer,
  type OutgoingMessage,
  type TaskFacts,
} from './a2a-protocol';
import type { DeliveryStatus } from '../fate';
export type { DeliveryStatus } from '../fate';
import type { TokenSource } from '../ports';
export type { TokenReadOptions, TokenSource } from '../ports';

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
  code?: string;
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

const ALWAYS: SendGuard = { mayStart: () => true, failing: () => undefined };

/** Without the invocation's start: while a value stays refused, the secret is read again at most this often. */
const REREAD_REFUSED_MS = 1_000;

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Agent-supplied text (replies, error messages) goes to logs and the dead-letter queue: an endpoint that
 * echoes the Authorization header must not be able to put the token there.
 */
function redact(out: AgentAnswer, token: string | undefined): AgentAnswer {
  if (!token) return out;
  const clean = (t: string) => (t.includes(token) ? t.split(token).join('[redacted]') : t);
  if (out.kind === 'success') return { ...out, reply: clean(out.reply) };
  if (out.kind === 'failure') return { ...out, message: clean(out.message) };
  return out;
}

/** Marks a send the guard refused inside the slot. */
const HELD = failure('transient', 'held', 'held');
/** Marks a send whose credential was refused while it waited for the slot: it goes back to the gate. */
const STALE = failure('auth', 'stale', 'stale');

/** What one request taught about its credential: only a JSON-RPC answer under HTTP 200 proves it accepted. */
function verdictOf(out: AgentAnswer, status: number | undefined): CredentialVerdict {
  if (out.kind === 'failure' && out.failure === 'auth') return 'refused';
  if (status !== 200) return 'unknown';
  return out.kind !== 'failure' || /^(jsonrpc_|task_)/.test(out.code) ? 'accepted' : 'unknown';
}

/** What one exchange says about its target's health: an answer closes the circuit, a transient failure counts. */
function settleCircuit(b: CircuitBreakers, key: string, out: AgentAnswer): void {
  if (out.kind !== 'failure' || out.failure === 'permanent') b.success(key);
  else if (out.failure === 'budget') b.trip(key, 'budget exhausted');
  else if (out.failure === 'transient' && out.code !== 'deadline') b.failure(key, out.code);
  else b.neutral(key);
}

interface Tally {
  attempts: number;
  retries: number;
  firstSend?: number;
}

type ResultFn = (s: DeliveryStatus, extra?: Partial<DeliveryResult>) => DeliveryResult;

export class AgentClient {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly o: ClientOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? defaultSleep;
    this.random = o.random ?? Math.random;
  }

  /** Exponential backoff with jitter; Retry-After wins when the server gives it. */
  backoffMs(retry: number, retryAfterMs?: number): number {
    if (retryAfterMs !== undefined) return retryAfterMs;
    const base = this.o.retryDelayMs * 2 ** retry;
    return Math.round(base + this.random() * this.o.retryDelayMs);
  }

  private async exchange(
    target: Target,
    body: unknown,
    rpcId: string,
    token: string | undefined,
    deadline: number,
    extra: Record<string, string> | undefined,
  ): Promise<{ out: AgentAnswer; status?: number; fate: ExchangeFate }> {
    const left = deadline - this.now();
    const timeoutMs = Math.min(target.timeoutMs, left);
    const openai = target.protocol === 'openai';
    const tok = target.sendToken ? token : undefined;
    // Forwarded record headers first: the protocol's own headers (content type, credential) always win.
    const headers = { ...extra, ...(openai ? chatRequestHeaders(tok) : requestHeaders(target.version, tok)) };
    try {
      const reply = await this.o.post(target.url, headers, JSON.stringify(body), timeoutMs);
      const out = openai ? interpretChatResponse(reply.status, reply.text, reply.retryAfter) : interpretResponse(target.version, reply.status, reply.text, rpcId, reply.retryAfter);
      return { out: redact(out, tok), status: reply.status, fate: exchangeFate({ status: reply.status, out }) };
    } catch (err) {
      // An error that is not the edge's own says nothing about the wire: the body may have left.
      const thrown = err instanceof HttpError ? err : { code: 'network', sent: true, message: (err as Error)?.message ?? String(err) };
      const fate = exchangeFate({ thrown });
      if (thrown.code === 'timeout' && timeoutMs < target.timeoutMs) return { out: failure('transient', 'deadline', 'request cut short by the invocation deadline'), fate };
      return { out: failure(thrown.code === 'reply_too_large' ? 'permanent' : 'transient', thrown.code, thrown.message), fate };
    }
  }

  /**
   * The token for the next request. After a refusal of the cached value (`reread`), the secret is read again
   * unless it was read after the refusal and during this invocation: a rotated secret is picked up by the next
   * invocation at the latest, and a refused one costs one read per invocation, not one per record.
   */
  private async token(gate: CredentialGate, reread: boolean, signal: AbortSignal | undefined, invocationStart: number | undefined): Promise<string | undefined> {
    const current = await this.o.tokens.get({ signal });
    if (!reread || current === undefined || this.o.tokens.fixed) return current;
    const at = gate.refusedAt(current);
    if (at === undefined) return current;
    return this.o.tokens.get({ fresherThan: Math.max(at, invocationStart ?? this.now() - REREAD_REFUSED_MS), signal });
  }

  /**
   * Never throws: whatever goes wrong becomes this record's result. `gate` is the credential's memory in this
   * container; `signal` fires at the invocation's deadline and ends any wait (token read, credential trial);
   * `invocationStart` bounds the re-reads of a refused token to one per invocation.
   */
  async deliver(
    msg: OutgoingMessage,
    target: Target,
    deadline: number,
    slot: Slot,
    gate: CredentialGate,
    guard: SendGuard = ALWAYS,
    signal?: AbortSignal,
    invocationStart?: number,
  ): Promise<DeliveryResult> {
    const t: Tally = { attempts: 0, retries: 0 };
    const result: ResultFn = (status, extra = {}) => ({
      status,
      attempts: t.attempts,
      retries: t.retries,
      ...(t.firstSend !== undefined ? { latencyMs: this.now() - t.firstSend } : {}),
      ...extra,
    });
    let res: DeliveryResult;
    try {
      res = await this.run(msg, target, deadline, slot, gate, guard, signal, invocationStart, t, result);
    } catch (err) {
      res = result('transient', { code: 'internal_error', message: `delivery failed unexpectedly: ${(err as Error)?.message ?? String(err)}` });
    }
    // Told before the result is handed back, so that no request of its partition starts meanwhile.
    if (res.status !== 'delivered' && res.status !== 'permanent' && res.status !== 'held' && res.status !== 'task') guard.failing();
    return res;
  }

  private async run(
    msg: OutgoingMessage,
    target: Target,
    deadline: number,
    slot: Slot,
    gate: CredentialGate,
    guard: SendGuard,
    signal: AbortSignal | undefined,
    invocationStart: number | undefined,
    t: Tally,
    result: ResultFn,
  ): Promise<DeliveryResult> {
    const body = target.protocol === 'openai' ? chatCompletionBody(target.chat ?? { model: '' }, msg) : sendMessageBody(target.version, msg, target.taskMode === true);
    const limiter = this.o.limits?.for(target.limitKey ?? target.url, target.limits);
    const breakers = this.o.breakers;
    let reread = false;
    const outOfTime = () => result('deadline', { code: 'deadline', message: 'not enough time left in this invocation' });

    for (;;) {
      if (deadline - this.now() < this.o.minRequestMs || signal?.aborted) return outOfTime();
      let token: string | undefined;
      if (target.sendToken) {
        try {
          token = await this.token(gate, reread, signal, invocationStart);
        } catch (err) {
          const code = (err as { code?: unknown }).code === 'token_invalid' ? 'token_invalid' : 'token_unavailable';
          return result('transient', { code, message: `token unavailable: ${(err as Error).message}` });
        }
      }
      const value = token ?? '';
      if (gate.refusedAt(value) !== undefined) {
        // Refused in this container (now or in an earlier invocation): re-read the secret once, else report.
        if (target.sendToken && !this.o.tokens.fixed && !reread) {
          reread = true;
          continue;
        }
        return result('auth', { code: 'auth_refused', message: 'the agent refused this credential: not sent again until it changes or AUTH_COOLDOWN_SECONDS have passed' });
      }
      const permit = await gate.acquire(value, signal);
      if (permit === 'aborted') return outOfTime();
      if (permit === 'refused') continue;
      const finalAuth = !target.sendToken || this.o.tokens.fixed || reread;

      let delay = 0;
      let fate = 'answered' as ExchangeFate;
      let outcome: AgentAnswer;
      // A per-target limit is waited for before the global slot, so a busy agent never holds a slot others could use.
      let limit: Release | 'aborted' | undefined;
      try {
        limit = limiter && (await limiter.acquire(signal));
        if (limit === 'aborted') return outOfTime();
        outcome = await slot(async () => {
          // The slot may have been queued: re-check the deadline and the guard now.
          if (deadline - this.now() < this.o.minRequestMs) return failure('transient', 'deadline', 'not enough time left in this invocation');
          if (!guard.mayStart()) return HELD;
          if (gate.refusedAt(value) !== undefined) return STALE;
          const admission = breakers?.admit(target.url);
          if (admission?.kind === 'open') {
            guard.failing();
            return failure('transient', 'circuit_open', `not sent: the circuit of this target is open (${admission.reason}) until ${new Date(admission.until).toISOString()}`);
          }
          t.firstSend ??= this.now();
          t.attempts++;
          const ex = await this.exchange(target, body, msg.rpcId, token, deadline, msg.headers);
          const { out, status } = ex;
          fate = ex.fate;
          // Settled before the slot is released: a request queued for it must see a refusal at once.
          permit.release(verdictOf(out, status));
          if (breakers) settleCircuit(breakers, target.url, out);
          if (out.kind === 'failure' && out.failure === 'budget') guard.failing();
          if (out.kind === 'failure') {
            // Decided inside the slot, so that a final failure is known before the slot goes to the next request.
            if (fate === 'unknown') guard.failing();
            else if (out.failure === 'transient') {
              delay = this.backoffMs(t.retries, out.retryAfterMs);
              if (t.retries >= this.o.maxRetries || this.now() + delay + this.o.minRequestMs > deadline) guard.failing();
            }
            if (out.failure === 'auth' && finalAuth) guard.failing();
          }
          return out;
        });
      } finally {
        permit.release('unknown');
        if (typeof limit === 'function') limit();
      }

      if (outcome === HELD) return result('held', { code: 'not_sent', message: 'not sent: its partition failed below it' });
      if (outcome === STALE) continue;
      if (outcome.kind === 'success') return result('delivered', { reply: outcome.reply, taskId: outcome.taskId, contextId: outcome.contextId });
      if (outcome.kind === 'pending' && target.taskMode) return result('task', { taskId: outcome.taskId, contextId: outcome.contextId });
      if (outcome.kind === 'pending') {
        // The task exists and runs on: a poll that ends without its verdict leaves the outcome unknown.
        const polled = await this.poll(target, msg, outcome.taskId, deadline, slot, gate, signal, result, t);
        return polled.status === 'delivered' || polled.status === 'permanent' ? polled : { ...polled, status: 'unknown' };
      }
      // Never retried: a second request could run the agent a second time.
      if (fate === 'unknown') return result('unknown', { code: outcome.code, message: `${outcome.message} (sent, outcome unknown: not retried)` });
      if (outcome.code === 'deadline') return result('deadline', { code: outcome.code, message: outcome.message });
      // Reported at once: an open circuit or a spent budget is not retried record by record.
      if (outcome.failure === 'budget' || outcome.code === 'circuit_open') return result('transient', { code: outcome.code, message: outcome.message });
      if (outcome.failure === 'auth') {
        // The gate now holds the refusal: the next turn re-reads the secret (once) or reports the record.
        if (finalAuth) return result('auth', { code: outcome.code, message: outcome.message });
        continue;
      }
      if (outcome.failure === 'permanent') return result('permanent', { code: outcome.code, message: outcome.message, ...(outcome.task && { taskId: outcome.task.taskId, task: outcome.task }) });
      if (t.retries >= this.o.maxRetries) return result('transient', { code: outcome.code, message: outcome.message });
      if (this.now() + delay + this.o.minRequestMs > deadline) {
        return result('transient', { code: outcome.code, message: `${outcome.message} (no time left to retry)` });
      }
      await this.sleep(delay);
      t.retries++;
    }
  }

  /**
   * Task mode: polls a task this or an earlier invocation started, until it settles or `deadline` (which the
   * caller bounds by the task's own time limit). Never sends the message again; never throws.
   */
  async resumeTask(msg: OutgoingMessage, target: Target, taskId: string, deadline: number, slot: Slot, gate: CredentialGate, signal?: AbortSignal): Promise<DeliveryResult> {
    const t: Tally = { attempts: 0, retries: 0, firstSend: this.now() };
    const result: ResultFn = (status, extra = {}) => ({ status, attempts: t.attempts, retries: t.retries, latencyMs: this.now() - (t.firstSend ?? 0), ...extra });
    try {
      // The route's timeout is the task's limit, already in `deadline`: polls are not cut shorter here.
      return await this.poll({ ...target, timeoutMs: Math.max(target.timeoutMs, deadline - this.now()) }, msg, taskId, deadline, slot, gate, signal, result, t);
    } catch (err) {
      return result('transient', { code: 'internal_error', message: `polling failed unexpectedly: ${(err as Error)?.message ?? String(err)}`, taskId });
    }
  }

  /**
   * `tasks/cancel` (0.3) or `CancelTask` (1.0), one request, best effort: bounded by `deadline` and the route's
   * timeout, outside the concurrency slots (it frees the agent rather than loading it). Never throws.
   */
  async cancelTask(target: Target, rpcId: string, taskId: string, deadline: number, signal?: AbortSignal, headers?: Record<string, string>): Promise<AgentAnswer> {
    if (deadline - this.now() < this.o.minRequestMs || signal?.aborted) return failure('transient', 'deadline', 'no time left to cancel');
    let token: string | undefined;
    try {
      if (target.sendToken) token = await this.o.tokens.get({ signal });
    } catch (err) {
      return failure('transient', 'token_unavailable', (err as Error).message);
    }
    return (await this.exchange(target, cancelTaskBody(target.version, rpcId, taskId), rpcId, token, deadline, headers)).out;
  }

  /** A task still submitted/working: poll it with growing pauses, bounded by the route timeout and the deadline. */
  private async poll(
    target: Target,
    msg: OutgoingMessage,
    taskId: string,
    deadline: number,
    slot: Slot,
    gate: CredentialGate,
    signal: AbortSignal | undefined,
    result: ResultFn,
    t: Tally,
  ): Promise<DeliveryResult> {
    const giveUpAt = Math.min(deadline, this.now() + target.timeoutMs);
    let pause = this.o.pollInitialMs ?? 250;
    let failures = 0;
    let seq = 0;
    const unfinished = (when: string) => {
      const byDeadline = giveUpAt === deadline;
      return result(byDeadline ? 'deadline' : 'transient', {
        code: byDeadline ? 'deadline' : 'task_timeout',
        message: `task ${taskId} still unfinished ${byDeadline ? 'at the invocation deadline' : when}`,
        taskId,
      });
    };
    for (;;) {
      if (this.now() + pause + this.o.minRequestMs > giveUpAt || signal?.aborted) return unfinished(`after ${target.timeoutMs} ms`);
      await this.sleep(pause);
      pause = Math.min(pause * 1.5, this.o.pollMaxMs ?? 5000);
      const rpcId = `${msg.rpcId}:get:${++seq}`;
      let token: string | undefined;
      if (target.sendToken) {
        try {
          token = await this.o.tokens.get({ signal });
        } catch (err) {
          return result('transient', { code: 'token_unavailable', message: `token unavailable while polling task ${taskId}: ${(err as Error).message}`, taskId });
        }
      }
      const value = token ?? '';
      const permit = gate.refusedAt(value) !== undefined ? 'refused' : await gate.acquire(value, signal);
      if (permit === 'aborted') return unfinished('when the time ran out');
      if (permit === 'refused') return result('auth', { code: 'auth_refused', message: `the agent refused this credential while task ${taskId} ran`, taskId });
      let outcome: AgentAnswer;
      const limiter = this.o.limits?.for(target.limitKey ?? target.url, target.limits);
      let limit: Release | 'aborted' | undefined;
      try {
        limit = limiter && (await limiter.acquire(signal));
        if (limit === 'aborted') return unfinished('when the time ran out');
        outcome = await slot(async () => {
          // Queued for the slot or paused under load: the time may have run out meanwhile.
          if (giveUpAt - this.now() < this.o.minRequestMs) return failure('transient', 'deadline', 'no time left to poll');
          if (gate.refusedAt(value) !== undefined) return STALE;
          t.attempts++;
          const { out, status } = await this.exchange(target, getTaskBody(target.version, rpcId, taskId), rpcId, token, giveUpAt, msg.headers);
          // Settled before the slot is released: a request queued for it must see a refusal at once.
          permit.release(verdictOf(out, status));
          return out;
        });
      } finally {
        permit.release('unknown');
        if (typeof limit === 'function') limit();
      }
      if (outcome.kind === 'failure' && outcome.code === 'deadline') return unfinished('when the time ran out');
      if (outcome === STALE) return result('auth', { code: 'auth_refused', message: `the agent refused this credential while task ${taskId} ran`, taskId });
      if (outcome.kind === 'success') return result('delivered', { reply: outcome.reply, taskId, contextId: outcome.contextId });
      if (outcome.kind === 'pending') {
        failures = 0;
        continue;
      }
      if (outcome.failure === 'permanent' || outcome.failure === 'auth') {
        return result(outcome.failure, { code: outcome.code, message: outcome.message, taskId, ...(outcome.task && { task: outcome.task }) });
      }
      if (++failures > this.o.maxRetries) return result('transient', { code: outcome.code, message: outcome.message, taskId });
    }
  }
}
