// Deliver stage: one record's message to its agent, with retries, Retry-After, task polling, the credential gate
// and token re-read on auth failure, and the invocation's deadline. The exchange itself is lambda/deliver/exchange.ts,
// the pauses backoff.ts, task polling task-polling.ts, the types delivery-types.ts. The HTTP call is injected.
// Over 200 lines: one send-and-retry loop (`run`) whose steps share the credential and the slot of one attempt.
import type { Release } from './agent-limits';
import { cancelTaskBody, failure, sendMessageBody, type AgentAnswer, type OutgoingMessage } from './a2a-protocol';
import { retryBackoffMs } from './backoff';
import type { CredentialGate } from './credential-gate';
import type { ClientOptions, DeliverRequest, DeliveryResult, ResultFn, SendGuard, Slot, Tally, Target } from './delivery-types';
import { exchange, HELD, STALE, settleCircuit, verdictOf, type ExchangeIo } from './exchange';
import type { ExchangeFate } from './exchange-outcome';
import { chatCompletionBody } from './openai-protocol';
import { pollTask, type PollContext } from './task-polling';
export type { DeliveryStatus } from '../fate';
export type { TokenReadOptions, TokenSource } from '../ports';
export type { ClientOptions, DeliverRequest, DeliveryResult, SendGuard, Slot, Target } from './delivery-types';

const ALWAYS: SendGuard = { mayStart: () => true, failing: () => undefined };

/** Without the invocation's start: while a value stays refused, the secret is read again at most this often. */
const REREAD_REFUSED_MS = 1_000;

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class AgentClient {
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly io: ExchangeIo;
  private readonly polling: PollContext;

  constructor(private readonly o: ClientOptions) {
    this.now = o.now ?? Date.now;
    this.sleep = o.sleep ?? defaultSleep;
    this.random = o.random ?? Math.random;
    this.io = { post: o.post, now: this.now };
    this.polling = { o, io: this.io, now: this.now, sleep: this.sleep };
  }

  /** Exponential backoff with jitter; Retry-After wins when the server gives it (lambda/deliver/backoff.ts). */
  backoffMs(retry: number, retryAfterMs?: number): number {
    return retryBackoffMs(this.o.retryDelayMs, retry, this.random(), retryAfterMs);
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
   * One record's delivery. Never throws: whatever goes wrong becomes this record's result.
   * @example
   * const res = await client.deliver({ msg, target, deadline, slot: (fn) => fn(), gate });
   */
  async deliver(req: DeliverRequest): Promise<DeliveryResult> {
    const { msg, target, deadline, slot, gate, guard = ALWAYS, signal, invocationStart } = req;
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
          const ex = await exchange(this.io, target, body, msg.rpcId, token, deadline, msg.headers);
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
        const polled = await pollTask(this.polling, target, msg, outcome.taskId, deadline, slot, gate, signal, result, t);
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
      return await pollTask(this.polling, { ...target, timeoutMs: Math.max(target.timeoutMs, deadline - this.now()) }, msg, taskId, deadline, slot, gate, signal, result, t);
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
    return (await exchange(this.io, target, cancelTaskBody(target.version, rpcId, taskId), rpcId, token, deadline, headers)).out;
  }
}
