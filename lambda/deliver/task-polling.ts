// Polling a task the agent still runs (submitted/working), with growing pauses, under the same slot, per-target
// limit and credential gate as a send.
import { failure, getTaskBody, type AgentAnswer, type OutgoingMessage } from './a2a-protocol';
import type { Release } from './agent-limits';
import { nextPollPause, POLL_INITIAL_MS } from './backoff';
import type { CredentialGate } from './credential-gate';
import type { ClientOptions, DeliveryResult, ResultFn, Slot, Tally, Target } from './delivery-types';
import { exchange, STALE, verdictOf, type ExchangeIo } from './exchange';

/** The agent client's options, clock and edge, as polling needs them. */
export interface PollContext {
  o: ClientOptions;
  io: ExchangeIo;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/** A task still submitted/working: poll it with growing pauses, bounded by the route timeout and the deadline. */
/**
 * Never sends the message again: only `tasks/get` (0.3) or `GetTask` (1.0) until the task settles, the route's
 * timeout or the deadline.
 */
export async function pollTask(
c: PollContext,
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
  const giveUpAt = Math.min(deadline, c.now() + target.timeoutMs);
  let pause = c.o.pollInitialMs ?? POLL_INITIAL_MS;
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
    if (c.now() + pause + c.o.minRequestMs > giveUpAt || signal?.aborted) return unfinished(`after ${target.timeoutMs} ms`);
    await c.sleep(pause);
    pause = nextPollPause(pause, c.o.pollMaxMs);
    const rpcId = `${msg.rpcId}:get:${++seq}`;
    let token: string | undefined;
    if (target.sendToken) {
      try {
        token = await c.o.tokens.get({ signal });
      } catch (err) {
        return result('transient', { code: 'token_unavailable', message: `token unavailable while polling task ${taskId}: ${(err as Error).message}`, taskId });
      }
    }
    const value = token ?? '';
    const permit = gate.refusedAt(value) !== undefined ? 'refused' : await gate.acquire(value, signal);
    if (permit === 'aborted') return unfinished('when the time ran out');
    if (permit === 'refused') return result('auth', { code: 'auth_refused', message: `the agent refused this credential while task ${taskId} ran`, taskId });
    let outcome: AgentAnswer;
    const limiter = c.o.limits?.for(target.limitKey ?? target.url, target.limits);
    let limit: Release | 'aborted' | undefined;
    try {
      limit = limiter && (await limiter.acquire(signal));
      if (limit === 'aborted') return unfinished('when the time ran out');
      outcome = await slot(async () => {
        // Queued for the slot or paused under load: the time may have run out meanwhile.
        if (giveUpAt - c.now() < c.o.minRequestMs) return failure('transient', 'deadline', 'no time left to poll');
        if (gate.refusedAt(value) !== undefined) return STALE;
        t.attempts++;
        const { out, status } = await exchange(c.io, target, getTaskBody(target.version, rpcId, taskId), rpcId, token, giveUpAt, msg.headers);
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
    if (++failures > c.o.maxRetries) return result('transient', { code: outcome.code, message: outcome.message, taskId });
  }
}
