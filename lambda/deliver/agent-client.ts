// Deliver stage: one record's message to its agent, with retries, Retry-After, task polling,
// the token refresh on auth failure, and the invocation's deadline. The HTTP call itself is injected.
import { HttpError, type HttpPost } from '../io/http';
import {
  failure,
  getTaskBody,
  interpretResponse,
  requestHeaders,
  sendMessageBody,
  type A2AVersion,
  type Outcome,
  type OutgoingMessage,
} from './a2a-protocol';

export interface Target {
  url: string;
  version: A2AVersion;
  timeoutMs: number;
  /** Only Archestra's own origin receives the bearer token; a route's foreign `url` never sees it. */
  sendToken: boolean;
}

export type DeliveryStatus =
  | 'delivered'
  /** Will never succeed: dead-letter it. */
  | 'permanent'
  /** May succeed later: report it to Lambda. */
  | 'transient'
  /** Credentials refused: report it, and nothing more is sent in this invocation. */
  | 'auth'
  /** Not attempted or cut short because the invocation's time ran out: report it. */
  | 'deadline'
  /** Not sent because the caller's guard said no (its partition failed below it): report it. */
  | 'held';

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
}

export interface TokenSource {
  /** `refresh` bypasses the cache: used once after the agent refuses the cached token. */
  get(refresh?: boolean): Promise<string | undefined>;
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

/**
 * Shared by every record of one invocation. After an auth failure the token is re-read once, and all
 * other sends wait until one request has tried it: Archestra blocks an IP after 10 failed auths a minute.
 */
export class AuthGate {
  blocked = false;
  generation = 0;
  private probe?: Promise<void>;

  async ready(): Promise<boolean> {
    while (this.probe) await this.probe;
    return !this.blocked;
  }

  /** True when a request queued with the token of `generation` must not go out as it is. */
  stale(generation: number): boolean {
    return this.blocked || this.probe !== undefined || generation !== this.generation;
  }

  /** Starts the refresh-and-probe if this failure is the first with the current token. */
  begin(generation: number): (() => void) | undefined {
    if (this.blocked || this.probe || generation !== this.generation) return undefined;
    let done!: () => void;
    this.probe = new Promise<void>((resolve) => (done = resolve));
    this.generation++;
    return () => {
      this.probe = undefined;
      done();
    };
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Agent-supplied text (replies, error messages) goes to logs and the dead-letter queue: an endpoint that
 * echoes the Authorization header must not be able to put the token there.
 */
function redact(out: Outcome, token: string | undefined): Outcome {
  if (!token) return out;
  const clean = (t: string) => (t.includes(token) ? t.split(token).join('[redacted]') : t);
  if (out.kind === 'success') return { ...out, reply: clean(out.reply) };
  if (out.kind === 'failure') return { ...out, message: clean(out.message) };
  return out;
}

/** Marks a send the guard refused inside the slot. */
const HELD = failure('transient', 'held', 'held');

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

  private async exchange(target: Target, body: unknown, rpcId: string, token: string | undefined, deadline: number): Promise<Outcome> {
    const left = deadline - this.now();
    const timeoutMs = Math.min(target.timeoutMs, left);
    try {
      const reply = await this.o.post(target.url, requestHeaders(target.version, target.sendToken ? token : undefined), JSON.stringify(body), timeoutMs);
      return redact(interpretResponse(target.version, reply.status, reply.text, rpcId, reply.retryAfter), target.sendToken ? token : undefined);
    } catch (err) {
      if (err instanceof HttpError) {
        if (err.code === 'timeout' && timeoutMs < target.timeoutMs) return failure('transient', 'deadline', 'request cut short by the invocation deadline');
        return failure(err.code === 'reply_too_large' ? 'permanent' : 'transient', err.code, err.message);
      }
      return failure('transient', 'network', (err as Error).message);
    }
  }

  async deliver(msg: OutgoingMessage, target: Target, deadline: number, slot: Slot, auth: AuthGate, guard: SendGuard = ALWAYS): Promise<DeliveryResult> {
    let attempts = 0;
    let retries = 0;
    let authRetried = false;
    let firstSend: number | undefined;
    const result = (status: DeliveryStatus, extra: Partial<DeliveryResult> = {}): DeliveryResult => ({
      status,
      attempts,
      retries,
      ...(firstSend !== undefined ? { latencyMs: this.now() - firstSend } : {}),
      ...extra,
    });
    const body = sendMessageBody(target.version, msg);

    for (;;) {
      if (!(await auth.ready())) return result('auth', { code: 'auth_blocked', message: 'sending stopped after the agent refused the refreshed token' });
      if (deadline - this.now() < this.o.minRequestMs) return result('deadline', { code: 'deadline', message: 'not enough time left in this invocation' });
      const generation = auth.generation;
      const token = target.sendToken ? await this.o.tokens.get() : undefined;
      let finishProbe: (() => void) | undefined;
      let delay = 0;
      const outcome = await slot(async () => {
        // The slot may have been queued: re-check the deadline, the guard and the token's standing now.
        if (deadline - this.now() < this.o.minRequestMs) {
          guard.failing();
          return failure('transient', 'deadline', 'not enough time left in this invocation');
        }
        if (!guard.mayStart()) return HELD;
        if (auth.stale(generation)) return undefined;
        firstSend ??= this.now();
        attempts++;
        const out = await this.exchange(target, body, msg.rpcId, token, deadline);
        if (out.kind === 'failure') {
          // Claim the probe before the slot is released, so no queued request goes out with the refused token.
          if (out.failure === 'auth' && !authRetried) finishProbe = auth.begin(generation);
          // Decide on a retry here too, so that a final failure is known before the slot goes to the next request.
          if (out.failure === 'transient' || out.failure === 'retry-then-permanent') {
            delay = this.backoffMs(retries, out.retryAfterMs);
            const final = retries >= this.o.maxRetries || this.now() + delay + this.o.minRequestMs > deadline;
            if (final && out.failure === 'transient') guard.failing();
          }
          if (out.failure === 'auth' && authRetried) guard.failing();
        }
        return out;
      });

      if (outcome === undefined) continue; // the token changed or is in doubt while queued: wait for the verdict
      if (outcome === HELD) return result('held', { code: 'not_sent', message: 'not sent: its partition failed below it' });
      if (outcome.kind === 'success') return result('delivered', { reply: outcome.reply, taskId: outcome.taskId });
      if (outcome.kind === 'pending') return this.poll(target, msg, outcome.taskId, deadline, slot, result, () => attempts++);
      if (outcome.code === 'deadline') return result('deadline', { code: outcome.code, message: outcome.message });

      if (outcome.failure === 'auth') {
        if (authRetried) {
          auth.blocked = true;
          return result('auth', { code: outcome.code, message: outcome.message });
        }
        authRetried = true;
        if (finishProbe) {
          // This request is the probe: refresh the token, retry once; everyone else waits for the verdict.
          try {
            await this.o.tokens.get(true);
            const probe = await this.retryAfterRefresh(target, body, msg.rpcId, deadline, slot, () => attempts++);
            if (probe.kind === 'failure' && probe.failure === 'auth') auth.blocked = true;
            if (probe.kind === 'success') return result('delivered', { reply: probe.reply, taskId: probe.taskId });
            if (probe.kind === 'pending') return this.poll(target, msg, probe.taskId, deadline, slot, result, () => attempts++);
            if (probe.failure === 'auth') return result('auth', { code: probe.code, message: probe.message });
            if (probe.failure === 'permanent') return result('permanent', { code: probe.code, message: probe.message });
            return result('transient', { code: probe.code, message: probe.message });
          } catch (err) {
            auth.blocked = true;
            return result('auth', { code: 'token_unavailable', message: `token could not be re-read: ${(err as Error).message}` });
          } finally {
            finishProbe();
          }
        }
        continue; // another request is probing (or has): wait for it, then try once with the new token
      }

      if (outcome.failure === 'permanent') return result('permanent', { code: outcome.code, message: outcome.message });
      if (retries >= this.o.maxRetries) {
        return result(outcome.failure === 'retry-then-permanent' ? 'permanent' : 'transient', { code: outcome.code, message: outcome.message });
      }
      if (this.now() + delay + this.o.minRequestMs > deadline) {
        return result('transient', { code: outcome.code, message: `${outcome.message} (no time left to retry)` });
      }
      await this.sleep(delay);
      retries++;
    }
  }

  private async retryAfterRefresh(target: Target, body: unknown, rpcId: string, deadline: number, slot: Slot, count: () => void): Promise<Outcome> {
    const token = await this.o.tokens.get();
    return slot(async () => {
      count();
      return this.exchange(target, body, rpcId, token, deadline);
    });
  }

  /** A task still submitted/working: poll it with growing pauses, bounded by the route timeout and the deadline. */
  private async poll(
    target: Target,
    msg: OutgoingMessage,
    taskId: string,
    deadline: number,
    slot: Slot,
    result: (s: DeliveryStatus, extra?: Partial<DeliveryResult>) => DeliveryResult,
    count: () => void,
  ): Promise<DeliveryResult> {
    const giveUpAt = Math.min(deadline, this.now() + target.timeoutMs);
    let pause = this.o.pollInitialMs ?? 250;
    let failures = 0;
    let seq = 0;
    for (;;) {
      if (this.now() + pause + this.o.minRequestMs > giveUpAt) {
        const byDeadline = giveUpAt === deadline;
        return result(byDeadline ? 'deadline' : 'transient', {
          code: byDeadline ? 'deadline' : 'task_timeout',
          message: `task ${taskId} still unfinished ${byDeadline ? 'at the invocation deadline' : `after ${target.timeoutMs} ms`}`,
          taskId,
        });
      }
      await this.sleep(pause);
      pause = Math.min(pause * 1.5, this.o.pollMaxMs ?? 5000);
      const rpcId = `${msg.rpcId}:get:${++seq}`;
      const token = target.sendToken ? await this.o.tokens.get() : undefined;
      const outcome = await slot(async () => {
        // Queued for the slot or paused under load: the time may have run out meanwhile.
        if (giveUpAt - this.now() < this.o.minRequestMs) return failure('transient', 'deadline', 'no time left to poll');
        count();
        return this.exchange(target, getTaskBody(target.version, rpcId, taskId), rpcId, token, giveUpAt);
      });
      if (outcome.kind === 'failure' && outcome.code === 'deadline') {
        const byDeadline = giveUpAt === deadline;
        return result(byDeadline ? 'deadline' : 'transient', { code: byDeadline ? 'deadline' : 'task_timeout', message: `task ${taskId} still unfinished when the time ran out`, taskId });
      }
      if (outcome.kind === 'success') return result('delivered', { reply: outcome.reply, taskId });
      if (outcome.kind === 'pending') {
        failures = 0;
        continue;
      }
      if (outcome.failure === 'permanent' || outcome.failure === 'auth') {
        return result(outcome.failure, { code: outcome.code, message: outcome.message, taskId });
      }
      if (++failures > this.o.maxRetries) return result('transient', { code: outcome.code, message: outcome.message, taskId });
    }
  }
}
