// Every chain of the batch, run under the concurrency slots: claim, send, settle the claim, write the reply and the
// dead letters, in each record's turn. Over 200 lines: one closure over the invocation's shared state (chains,
// partition failures, letters, signals), which its nested runChain and send both read and write.
import { poisonLetter, recordLetter } from '../dead-letter';
import type { DeliveryResult, Target } from '../deliver/agent-client';
import { deliveryKey } from '../deliver/ids';
import type { Stage } from '../fate';
import { PartitionFailures, Settlement } from '../partition-state';
import { buildChains, PrioritySlots } from '../schedule';
import type { ReplyResult } from '../reply/stage';
import { afterDelivery, afterLetter, applyStep } from '../claim-settle';
import { cancelAbandoned, runTaskRecord, type KeptTask, type TaskRun } from '../deliver/task-mode';
import { contextFor, conversationKey, rememberContext } from '../conversation';
import type { Idempotency } from '../ports';
import type { Item, PipelineDeps, PoisonItem, RoutePlan } from './types';
import { prepare, toMessage } from './prepare';
import { type LetterWriter, letterReason } from './letters';
import { applyReply, settleSend, transition } from './item';

/** The gate of the credential a target is sent with: the Archestra token, or none (one gate per foreign origin). */
export function gateOf(deps: PipelineDeps, target: Target) {
  return target.sendToken ? deps.gates.for('archestra-token') : deps.gates.for(`none ${new URL(target.url).origin}`, false);
}

export interface ChainState {
  /** The record whose failure stopped the chain: everything after it is left for redelivery. */
  stopped?: Item;
}

export interface Signals {
  startedAt: number;
  /** When `writeBy` fires (epoch ms). */
  writeByMs: number;
  /** Fires at the delivery deadline: claims, token reads, waits for a credential's trial. */
  deadline: AbortSignal;
  /** Fires just before Lambda's own timeout: completes and releases of claims. */
  writeBy: AbortSignal;
}

export async function deliverAll(
  items: Item[],
  poison: PoisonItem[],
  deadline: number,
  letters: LetterWriter,
  deps: PipelineDeps,
  signals: Signals,
  bootstrapServers?: string,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const failures = new PartitionFailures();
  const hold = !deps.idempotency;

  // Undecodable records without an offset cannot be ordered: written first, reported through their
  // partition's lowest offset if the write fails.
  for (const { target, ok } of await letters.write(poison.map((p, i) => ({ target: p, letter: poisonLetter(p.poison, i, letters.ctx) })))) {
    if (ok) transition(target, 'dead_lettered');
    else transition(target, 'failed', { message: `${target.message} (dead-letter write failed: reported instead)` });
  }

  // One of them unwritten is reported through its partition's lowest offset, so the whole partition comes back:
  // nothing of it may be dead-lettered now, nor (without an idempotency store) sent, or it would be twice.
  const resumesWhole = new Set(poison.filter((p) => p.stage === 'failed').map((p) => p.poison.partitionKey));

  const slots = new PrioritySlots(deps.maxConcurrency);
  // Idempotency calls have a limit of their own: with ORDERING=none a whole batch would otherwise claim at once.
  const storeSlots = new PrioritySlots(deps.maxConcurrency);
  const settlement = new Settlement(items.map((i) => i.record));

  const runChain = async (chain: Item[], index: number) => {
    // Chains beyond the concurrency limit could not send yet anyway: they step aside for one turn of the
    // event loop, so the first requests are on the wire while the rest of the batch is prepared.
    if (index >= deps.maxConcurrency) await new Promise<void>((resume) => setImmediate(resume));
    const st: ChainState = {};
    const stop = (item: Item) => {
      st.stopped = item;
      failures.mark(item.record.partitionKey, item.record.offset);
    };
    for (let i = 0; i < chain.length; i++) {
      const item = chain[i];
      const r = item.record;
      try {
        await step(item, i, chain.length, st, stop);
      } catch (err) {
        // A defect must not crash the invocation while other chains still send: this record is reported.
        deps.log.error('unexpected error while handling a record: reported for redelivery', { topic: r.topic, partition: r.partition, offset: r.offset, error: (err as Error)?.message });
        if (item.stage !== 'delivered' && item.stage !== 'dead_lettered') {
          transition(item, 'failed', { code: 'internal_error', message: `unexpected error: ${(err as Error)?.message ?? String(err)}` });
          stop(item);
        }
      }
      settlement.settle(r.partitionKey, r.offset);
    }
  };

  const step = async (item: Item, i: number, chainLength: number, st: ChainState, stop: (item: Item) => void) => {
    const r = item.record;
    if (item.stage === 'pending') {
      const { stage, ...prepared } = prepare(r, deps);
      transition(item, stage, prepared);
    }
    // A partition that comes back whole (an offset-less record's letter failed) dead-letters nothing now, before
    // or after a send, and sends nothing unless the idempotency store would catch the redelivery.
    const resumes = resumesWhole.has(r.partitionKey) ? 'partition resumes from its lowest offset (a record without an offset could not be dead-lettered)' : undefined;
    if (resumes && item.stage === 'send' && hold) transition(item, 'failed', { code: 'not_sent', message: resumes });
    if (item.stage === 'send') {
      const failedAt = failures.below(r.partitionKey, r.offset);
      if (st.stopped || (hold && failedAt !== undefined)) {
        transition(item, 'failed', {
          code: 'not_sent',
          message: st.stopped ? `held behind offset ${st.stopped.record.offset} of the same chain` : `partition resumes from offset ${failedAt}`,
        });
      } else {
        await send(item, chainLength - i);
        // send() moved the stage (through transition), which TypeScript's narrowing to 'send' does not see.
        if ((item.stage as Stage) === 'failed') stop(item);
      }
    }
    if (item.stage === 'dead_letter' && resumes) {
      await settleVerdict(item, false);
      transition(item, 'failed', { message: `${item.message} (left for redelivery: ${resumes})` });
    }
    if (item.stage === 'dead_letter') {
      if (!st.stopped) await settlement.below(r.partitionKey, r.offset);
      const failedAt = failures.below(r.partitionKey, r.offset);
      if (st.stopped || failedAt !== undefined) {
        await settleVerdict(item, false);
        transition(item, 'failed', { message: `${item.message} (left for redelivery: partition resumes below it)` });
      } else {
        // Written before the chain moves on: should the write fail, nothing after it has been sent meanwhile.
        const letter = item.poison
          ? poisonLetter(item.poison, i, letters.ctx)
          : recordLetter(r, letterReason(item), item.plan?.route, letters.ctx, undefined, item.awaitingInput ? item.result?.task : undefined);
        const [{ ok }] = await letters.write([{ target: item, letter }]);
        await settleVerdict(item, ok);
        if (ok && item.awaitingInput) {
          // Task mode: the letter holds the task id and its approval requests; the record is settled
          // (status dead_lettered, code awaiting_input).
          transition(item, 'dead_lettered');
          const key = deliveryKey(r, item.plan!.route.name);
          await deps.idempotency?.complete(key, signals.writeBy).catch((err: Error) => deps.log.warn('idempotency update failed', { key, error: err.message }));
        } else if (ok) {
          transition(item, 'dead_lettered');
          // --- reply stage (issue 14): announce it on the route's errors destination (best effort).
          const route = item.plan?.route;
          if (route?.errors && deps.replies && !item.poison) {
            const why = letterReason(item);
            const res = await deps.replies.announce(route.errors, r, route, { class: why.class, message: why.message }, why.attempts, deadline, bootstrapServers);
            if (res.where) item.errorsTo = res.where;
            else {
              item.replyWriteFailed = true;
              deps.log.warn('error announcement not written (the record is in the dead-letter queue)', { topic: r.topic, partition: r.partition, offset: r.offset, error: res.error });
            }
          }
        } else {
          transition(item, 'failed', { message: `${item.message} (dead-letter write failed: reported instead)` });
          stop(item);
        }
      }
    }
  };

  /** A permanent verdict's claim once its letter is written or left for the redelivery (lambda/claim-settle.ts). */
  const settleVerdict = async (item: Item, written: boolean) => {
    const store = deps.idempotency;
    const key = item.claimKey;
    // A task waiting for input keeps its task claim: the redelivery polls it again rather than reading a verdict.
    if (!store || key === undefined || item.awaitingInput || (!item.remembered && item.result?.status !== 'permanent')) return;
    const why = letterReason(item);
    const verdict = item.remembered ?? { class: why.class, code: item.code ?? why.class, message: why.message, attempts: why.attempts };
    await applyStep(store, key, afterLetter(written, verdict, !!item.remembered), signals.writeBy, (m, f) => deps.log.warn(m, f));
  };

  const send = async (item: Item, remaining: number) => {
    const r = item.record;
    const msg = toMessage(item);
    const key = deliveryKey(r, item.plan!.route.name);
    const store = deps.idempotency;
    const dest = item.plan!.route.reply;
    let kept: KeptTask | undefined;
    if (store) {
      let claim: Awaited<ReturnType<Idempotency['claim']>> | 'no_time';
      try {
        claim = await storeSlots.run(remaining, async () =>
          // A claim with no time left to send would only block the record's redelivery until it lapses.
          deadline - now() < (deps.minRequestMs ?? 0) || signals.deadline.aborted ? 'no_time' : store.claim(key, deadline + deps.safetyMarginMs, signals.deadline),
        );
      } catch (err) {
        claim = 'in_progress';
        item.message = `idempotency store unavailable: ${signals.deadline.aborted ? 'no answer before the deadline' : (err as Error).message}`;
      }
      if (claim === 'no_time') {
        transition(item, 'failed', { code: 'deadline', message: 'not enough time left in this invocation' });
        return;
      }
      if (claim === 'completed') {
        transition(item, 'duplicate', { code: 'duplicate', message: 'already delivered by an earlier invocation' });
        return;
      }
      if (claim === 'in_progress') {
        transition(item, 'failed', { code: 'in_progress', message: item.message ?? 'another invocation is delivering this record' });
        return;
      }
      if (typeof claim === 'object' && 'verdict' in claim) {
        // Issue 13: an earlier invocation's permanent verdict; dead-lettered from it, the agent is not run again.
        transition(item, 'dead_letter', { code: claim.verdict.code, message: claim.verdict.message, remembered: claim.verdict, claimKey: key });
        return;
      }
      if (typeof claim === 'object' && 'task' in claim) {
        kept = claim.task; // task mode: an earlier invocation started the task; poll it, never send again.
      } else if (typeof claim === 'object') {
        // --- reply stage (issue 14): an earlier invocation kept this record's reply; write it, do not call the agent.
        if (!dest || !deps.replies) {
          // The route lost its destination since: the kept reply goes to the dead-letter queue rather than nowhere.
          const why = { kind: 'reply_unwritten' as const, class: 'reply_destination_removed', message: 'a kept reply whose route has no reply destination any more', attempts: 0 };
          const [{ ok }] = await letters.write([{ target: item, letter: recordLetter(r, why, item.plan!.route, letters.ctx, JSON.parse(claim.replyPending)) }]);
          if (ok) await store.replyWritten?.(key, signals.writeBy).catch(() => undefined);
          transition(item, ok ? 'dead_lettered' : 'failed', { code: 'reply_destination_removed', message: why.message });
          return;
        }
        const res = await deps.replies.rewrite(dest, claim.replyPending, r, item.plan!.route, deadline, store, key, bootstrapServers, signals.writeBy);
        applyReply(item, res, 'rewritten from the idempotency store; the agent was not called again');
        return;
      }
    }
    if (store) item.claimKey = key;
    const guard = {
      mayStart: () => !(!deps.idempotency && failures.below(r.partitionKey, r.offset) !== undefined),
      failing: () => failures.mark(r.partitionKey, r.offset),
    };
    const route = item.plan!.route;
    // --- conversations per key (issue 13): continue the key's conversation with the agent.
    const convKey = route.conversation && store ? conversationKey(r, route.name) : undefined;
    if (convKey) {
      try {
        const contextId = await contextFor(store!, convKey, signals.deadline);
        if (contextId !== undefined) msg.contextId = contextId;
      } catch (err) {
        deps.log.warn('conversation not read: the record starts a new one', { key: convKey, error: (err as Error).message });
      }
    }
    const target = item.url ? { ...item.plan!.target, url: item.url } : item.plan!.target;
    const slot = <T>(fn: () => Promise<T>) => slots.run(remaining, fn);
    const giveUp = { msg, target, onGiveUp: route.onGiveUp, writeBy: signals.writeBy, writeByMs: signals.writeByMs };
    let run: TaskRun | undefined;
    let res: DeliveryResult;
    if (route.mode === 'task' || kept) {
      // --- task mode (issue 13): lambda/deliver/task-mode.ts decides; the pipeline only records the verdict.
      run = await runTaskRecord(
        { ...giveUp, key, kept, deadline, holdUntilMs: deadline + deps.safetyMarginMs, slot, gate: gateOf(deps, target), guard, signal: signals.deadline, invocationStart: signals.startedAt },
        { client: deps.client, store, log: deps.log, now },
      );
      res = run.result;
    } else {
      res = await deps.client.deliver({ msg, target, deadline, slot, gate: gateOf(deps, target), guard, signal: signals.deadline, invocationStart: signals.startedAt });
      await cancelAbandoned(res, giveUp, { client: deps.client, log: deps.log, now });
    }
    deps.onDelivered?.();
    const awaiting = run?.settled === 'awaiting_input' ? { toReply: !!(dest && deps.replies) } : undefined;
    settleSend(item, res, awaiting);
    if (awaiting && !awaiting.toReply) return; // the dead-letter step writes it, then completes the claim
    if (convKey && (res.status === 'delivered' || run?.settled === 'awaiting_input')) {
      await rememberContext(store!, convKey, res.contextId ?? res.task?.contextId, deps.conversationTtlSeconds ?? 7 * 24 * 3600, signals.writeBy).catch((err: Error) =>
        deps.log.warn('conversation not kept: the key\'s next record starts a new one', { key: convKey, error: err.message }),
      );
    }
    if (run?.settled === 'resume') return; // the claim holds the task: the redelivery polls it
    if (item.stage === 'delivered' && dest && deps.replies) {
      // --- reply stage (issue 14): the record is delivered only once its reply is written.
      const rep = await writeReply(item, res, key, dest, bootstrapServers);
      if (rep === 'kept') return; // the store holds the reply (REPLY_PENDING): neither complete nor release
      if (rep === 'rerun') {
        await store?.release(key, signals.writeBy).catch(() => undefined);
        return;
      }
    }
    if (store) {
      // Task mode: a task waiting for input whose envelope was written is settled like a delivery.
      const status = item.awaitingInput && item.stage === 'delivered' ? 'delivered' : res.status;
      const next = afterDelivery(status, now(), target.timeoutMs, deps.unknownOutcomeMarginMs ?? 0);
      if (next.kind === 'lease' && store.lease) item.message = `${item.message}; not sent again before ${new Date(next.untilMs).toISOString()}`;
      // A permanent verdict is settled with its dead letter (settleVerdict). A complete, lease or release that
      // fails leaves the claim to lapse at the deadline; a delivered record stays delivered.
      if (next.kind !== 'await_letter') await storeSlots.run(remaining, () => applyStep(store, key, next, signals.writeBy, (m, f) => deps.log.warn(m, f)));
    }
  };

  /** Writes a delivered record's reply; when that fails, keeps it in the store or dead-letters it with the record. */
  const writeReply = async (item: Item, res: DeliveryResult, key: string, dest: NonNullable<RoutePlan['route']['reply']>, bootstrap?: string) => {
    const route = item.plan!.route;
    let result: ReplyResult;
    try {
      const waiting = item.awaitingInput ? { state: 'awaiting_input' as const, approvalRequests: res.task?.approvalRequests ?? [] } : {};
      const prepared = deps.replies!.prepare(dest, item.record, route, { text: res.reply ?? res.message ?? '', taskId: res.taskId, attempts: res.attempts, latencyMs: res.latencyMs, ...waiting }, bootstrap);
      result = await deps.replies!.write(prepared, deadline, deps.idempotency, key, signals.writeBy);
    } catch (err) {
      transition(item, 'failed', { code: 'reply_write_failed', message: `reply could not be prepared: ${(err as Error).message}`, replyWriteFailed: true });
      return 'rerun' as const;
    }
    if (result.outcome === 'unkept') {
      // Overflow: the dead-letter queue keeps the answer with the record, so the agent is not run again.
      const letter = recordLetter(item.record, { kind: 'reply_unwritten', class: 'reply_write_failed', message: result.error, attempts: res.attempts }, route, letters.ctx, result.envelope);
      const [{ ok }] = await letters.write([{ target: item, letter }]);
      const unwritten = { code: 'reply_write_failed', replyWriteFailed: true };
      if (ok) {
        transition(item, 'dead_lettered', { ...unwritten, message: `${result.error}; the reply is in the dead-letter queue` });
        return 'done' as const;
      }
      transition(item, 'failed', { ...unwritten, message: `${result.error}; the dead-letter write failed too: the record runs again on redelivery` });
      return 'rerun' as const;
    }
    applyReply(item, result, undefined);
    return result.outcome === 'kept' ? ('kept' as const) : ('done' as const);
  };

  // Settled, not all: every chain has ended (no request can leave after the handler returned) before this resolves.
  await Promise.allSettled(buildChains(items, deps.ordering).map((chain, index) => runChain(chain, index)));
}
