// A ready record's send: claim it in the idempotency store, continue its key's conversation, send it (or poll the
// task an earlier invocation started), write its reply, and settle the claim. Each step's fact goes to
// record-state.ts, which decides the record's next state.
import { afterDelivery, applyStep } from '../claim-settle';
import { contextFor, conversationKey, rememberContext } from '../conversation';
import { recordLetter } from '../dead-letter';
import type { DeliveryResult, Target } from '../deliver/agent-client';
import { deliveryKey } from '../deliver/ids';
import { cancelAbandoned, runTaskRecord, type KeptTask, type TaskRun } from '../deliver/task-mode';
import type { Destination } from '../reply/destination';
import type { ReplyResult, ReplyStage } from '../reply/stage';
import { toMessage } from './prepare';
import {
  afterClaim,
  afterReply,
  afterSend,
  type ClaimAnswer,
  type Delivered,
  keptReplyLettered,
  leased,
  move,
  REPLY_DESTINATION_REMOVED,
  type Ready,
  replyLettered,
  replyUnprepared,
  type Track,
} from './record-state';
import type { Run } from './run';
import type { PipelineDeps } from './types';

/** The gate of the credential a target is sent with: the Archestra token, or none (one gate per foreign origin). */
export function gateOf(deps: PipelineDeps, target: Target) {
  return target.sendToken ? deps.gates.for('archestra-token') : deps.gates.for(`none ${new URL(target.url).origin}`, false);
}

/**
 * Sends one ready record, moving its track to the state each step decides.
 * @param remaining - records left in its chain, this one included: the scheduler serves the longest chain first
 */
export async function sendRecord(run: Run, track: Track, s: Ready, remaining: number): Promise<void> {
  const { deps, signals, now } = run;
  const r = s.record;
  const route = s.plan.route;
  const key = deliveryKey(r, route.name);
  const store = deps.idempotency;
  const dest = route.reply;
  // Built before the claim: nothing that could throw stands between a claim and its send.
  const msg = toMessage(s);
  let kept: KeptTask | undefined;
  if (store) {
    let claim: ClaimAnswer;
    let storeError: string | undefined;
    try {
      claim = await run.storeSlots.run(remaining, async () =>
        // A claim with no time left to send would only block the record's redelivery until it lapses.
        run.deadline - now() < (deps.minRequestMs ?? 0) || signals.deadline.aborted ? 'no_time' : store.claim(key, run.deadline + deps.safetyMarginMs, signals.deadline),
      );
    } catch (err) {
      claim = 'in_progress';
      storeError = `idempotency store unavailable: ${signals.deadline.aborted ? 'no answer before the deadline' : (err as Error).message}`;
    }
    const settledByClaim = afterClaim(s, claim, key, storeError);
    if (settledByClaim) return void move(track, settledByClaim);
    if (typeof claim === 'object' && 'task' in claim) {
      kept = claim.task; // task mode: an earlier invocation started the task; poll it, never send again.
    } else if (typeof claim === 'object' && 'replyPending' in claim) {
      // An earlier invocation kept this record's reply: write it, do not call the agent.
      if (!dest || !deps.replies) {
        // The route lost its destination since: the kept reply goes to the dead-letter queue rather than nowhere.
        const why = { kind: 'reply_unwritten' as const, class: 'reply_destination_removed', message: REPLY_DESTINATION_REMOVED, attempts: 0 };
        const [{ ok }] = await run.letters.write([{ target: track, letter: recordLetter(r, why, route, run.letters.ctx, JSON.parse(claim.replyPending)) }]);
        if (ok) await store.replyWritten?.(key, signals.writeBy).catch(() => undefined);
        return void move(track, keptReplyLettered(s, ok));
      }
      const res = await deps.replies.rewrite(dest, claim.replyPending, r, route, run.deadline, store, key, run.bootstrapServers, signals.writeBy);
      return void move(track, afterReply(s, res, 'rewritten from the idempotency store; the agent was not called again'));
    }
  }
  const guard = {
    mayStart: () => !(!deps.idempotency && run.failures.below(r.partitionKey, r.offset) !== undefined),
    failing: () => run.failures.mark(r.partitionKey, r.offset),
  };
  // Conversations per key: continue the key's conversation with the agent.
  const convKey = route.conversation && store ? conversationKey(r, route.name) : undefined;
  if (convKey && store) {
    try {
      const contextId = await contextFor(store, convKey, signals.deadline);
      if (contextId !== undefined) msg.contextId = contextId;
    } catch (err) {
      deps.log.warn('conversation not read: the record starts a new one', { key: convKey, error: (err as Error).message });
    }
  }
  const target = s.url ? { ...s.plan.target, url: s.url } : s.plan.target;
  const slot = <T>(fn: () => Promise<T>) => run.slots.run(remaining, fn);
  const giveUp = { msg, target, onGiveUp: route.onGiveUp, writeBy: signals.writeBy, writeByMs: signals.writeByMs };
  let taskRun: TaskRun | undefined;
  let res: DeliveryResult;
  if (route.mode === 'task' || kept) {
    // Task mode: lambda/deliver/task-mode.ts decides; the pipeline only records the verdict.
    taskRun = await runTaskRecord(
      { ...giveUp, key, kept, deadline: run.deadline, holdUntilMs: run.deadline + deps.safetyMarginMs, slot, gate: gateOf(deps, target), guard, signal: signals.deadline, invocationStart: signals.startedAt },
      { client: deps.client, store, log: deps.log, now },
    );
    res = taskRun.result;
  } else {
    res = await deps.client.deliver({ msg, target, deadline: run.deadline, slot, gate: gateOf(deps, target), guard, signal: signals.deadline, invocationStart: signals.startedAt });
    await cancelAbandoned(res, giveUp, { client: deps.client, log: deps.log, now });
  }
  deps.onDelivered?.();
  const awaiting = taskRun?.settled === 'awaiting_input' ? { toReply: !!(dest && deps.replies) } : undefined;
  const sent = move(track, afterSend(s, res, store ? key : undefined, awaiting));
  if (awaiting && !awaiting.toReply) return; // the letter step writes it, then completes the claim
  if (convKey && store && (res.status === 'delivered' || awaiting)) {
    await rememberContext(store, convKey, res.contextId ?? res.task?.contextId, deps.conversationTtlSeconds ?? 7 * 24 * 3600, signals.writeBy).catch((err: Error) =>
      deps.log.warn("conversation not kept: the key's next record starts a new one", { key: convKey, error: err.message }),
    );
  }
  if (taskRun?.settled === 'resume') return; // the claim holds the task: the redelivery polls it
  if (sent.stage === 'delivered' && dest && deps.replies) {
    // The record is delivered only once its reply is written.
    const rep = await writeReply(run, track, sent, res, key, dest, deps.replies);
    if (rep === 'kept') return; // the store holds the reply (REPLY_PENDING): neither complete nor release
    if (rep === 'rerun') {
      await store?.release(key, signals.writeBy).catch(() => undefined);
      return;
    }
  }
  if (store) {
    // Task mode: a task waiting for input whose envelope was written is settled like a delivery.
    const status = awaiting && track.state.stage === 'delivered' ? 'delivered' : res.status;
    const next = afterDelivery(status, now(), target.timeoutMs, deps.unknownOutcomeMarginMs ?? 0);
    // Only an unknown outcome is leased, and it left the record failed by the send itself (no reply was written).
    if (next.kind === 'lease' && store.lease && sent.stage === 'failed') move(track, leased(sent, next.untilMs));
    // A permanent verdict is settled with its dead letter (letter-step.ts). A complete, lease or release that
    // fails leaves the claim to lapse at the deadline; a delivered record stays delivered.
    if (next.kind !== 'await_letter') await run.storeSlots.run(remaining, () => applyStep(store, key, next, signals.writeBy, (m, f) => deps.log.warn(m, f)));
  }
}

/** Writes a delivered record's reply; when that fails, keeps it in the store or dead-letters it with the record. */
async function writeReply(run: Run, track: Track, s: Delivered, res: DeliveryResult, key: string, dest: Destination, replies: ReplyStage): Promise<'kept' | 'rerun' | 'done'> {
  const route = s.plan.route;
  let result: ReplyResult;
  try {
    const waiting = s.awaitingInput ? { state: 'awaiting_input' as const, approvalRequests: res.task?.approvalRequests ?? [] } : {};
    const prepared = replies.prepare(dest, s.record, route, { text: res.reply ?? res.message ?? '', taskId: res.taskId, attempts: res.attempts, latencyMs: res.latencyMs, ...waiting }, run.bootstrapServers);
    result = await replies.write(prepared, run.deadline, run.deps.idempotency, key, run.signals.writeBy);
  } catch (err) {
    move(track, replyUnprepared(s, (err as Error).message));
    return 'rerun';
  }
  if (result.outcome === 'unkept') {
    // Overflow: the dead-letter queue keeps the answer with the record, so the agent is not run again.
    const letter = recordLetter(s.record, { kind: 'reply_unwritten', class: 'reply_write_failed', message: result.error, attempts: res.attempts }, route, run.letters.ctx, result.envelope);
    const [{ ok }] = await run.letters.write([{ target: track, letter }]);
    move(track, replyLettered(s, ok, result.error));
    return ok ? 'done' : 'rerun';
  }
  move(track, afterReply(s, result));
  return result.outcome === 'kept' ? 'kept' : 'done';
}
