// Task mode (route `mode: "task"`, A2A 1.0): the message is sent once with `returnImmediately`, the task id is
// kept with the record's idempotency claim, and the task is polled until it settles. An invocation that ends
// first reports the record; its redelivery takes the claim over and polls the same task, so an agent run of
// any length survives Lambda's timeout without a second run. What the bridge gives up on it cancels (unless
// the route says `on_give_up: "leave"`). Which verdict becomes which record status: settle() below.
import type { Log } from '../ports';
import type { AgentClient, DeliveryResult, SendGuard, Slot, Target } from './agent-client';
import type { OutgoingMessage } from './a2a-protocol';
import type { CredentialGate } from './credential-gate';
import type { KeptTask } from '../ports';
export type { KeptTask } from '../ports';

/** The part of the idempotency store task mode needs (the `Idempotency` port of lambda/ports.ts). */
export interface TaskStore {
  keepTask?(key: string, task: KeptTask, signal?: AbortSignal): Promise<void>;
}

export interface TaskRun {
  /** `awaiting_input`: the task waits for a person (input-required); the record is settled with it. */
  result: DeliveryResult;
  settled: 'delivered' | 'awaiting_input' | 'dead_letter' | 'resume' | 'report';
  /** What the give-up cancel did, when one was sent. */
  cancel?: 'canceled' | 'failed';
}

export interface TaskRecord {
  msg: OutgoingMessage;
  target: Target;
  /** The record's idempotency key. */
  key: string;
  /** The task an earlier invocation started (its claim returned `{ task }`): polled, not sent. */
  kept?: KeptTask;
  deadline: number;
  /** The claim's hold (this invocation's deadline plus its margin). */
  holdUntilMs: number;
  slot: Slot;
  gate: CredentialGate;
  guard?: SendGuard;
  signal?: AbortSignal;
  /** Fires just before Lambda's own timeout: store writes and the cancel are bounded by it. */
  writeBy?: AbortSignal;
  writeByMs: number;
  invocationStart?: number;
  onGiveUp: 'cancel' | 'leave';
}

export interface TaskModeDeps {
  client: AgentClient;
  store?: TaskStore;
  log: Log;
  now?: () => number;
}

/** A verdict the task itself gave: it has ended, there is nothing to cancel. */
const TASK_ENDED = /^task_(failed|rejected|canceled|auth-required)$/;

export async function runTaskRecord(r: TaskRecord, d: TaskModeDeps): Promise<TaskRun> {
  const now = d.now ?? Date.now;
  const target: Target = { ...r.target, taskMode: true };
  let task = r.kept;
  let resumable = task !== undefined;
  if (!task) {
    const sent = await d.client.deliver({ msg: r.msg, target, deadline: r.deadline, slot: r.slot, gate: r.gate, guard: r.guard, signal: r.signal, invocationStart: r.invocationStart });
    // Answered at once (a message, or a task already settled), or failed before any task existed.
    if (sent.status !== 'task' || sent.taskId === undefined) return settle(sent, undefined, false, r, d, target);
    task = { taskId: sent.taskId, url: target.url, startedAt: now(), holdUntilMs: r.holdUntilMs };
    if (d.store?.keepTask) {
      try {
        await d.store.keepTask(r.key, task, r.writeBy);
        resumable = true;
      } catch (err) {
        d.log.warn('task id not kept: this invocation cannot hand the task to the redelivery', { key: r.key, taskId: task.taskId, error: (err as Error).message });
      }
    }
  }
  // The route's timeout is the task's limit, counted from its creation and across invocations.
  const limitAt = task.startedAt + r.target.timeoutMs;
  const polled = await d.client.resumeTask(r.msg, { ...target, url: task.url }, task.taskId, Math.min(r.deadline, limitAt), r.slot, r.gate, r.signal);
  // Bounded by the task's limit rather than the invocation's deadline: an unfinished answer means the limit passed.
  const limited = limitAt <= r.deadline;
  return settle(polled, task, resumable && !limited, r, d, { ...target, url: task.url }, limited);
}

async function settle(res: DeliveryResult, task: KeptTask | undefined, resumable: boolean, r: TaskRecord, d: TaskModeDeps, target: Target, timedOut = false): Promise<TaskRun> {
  if (res.status === 'delivered') return { result: res, settled: 'delivered' };
  if (res.status === 'permanent' && res.code === 'task_input-required') return { result: res, settled: 'awaiting_input' };
  const taskId = task?.taskId ?? res.taskId;
  if (taskId === undefined || (res.status === 'permanent' && TASK_ENDED.test(res.code ?? ''))) {
    return { result: res, settled: res.status === 'permanent' ? 'dead_letter' : 'report' };
  }
  if (res.status === 'permanent') {
    // A poll's permanent verdict (an unreadable answer, an unknown task): the bridge gives up on a task that may run on.
    return { result: res, settled: 'dead_letter', ...(await giveUp(target, taskId, r, d)) };
  }
  if (timedOut) {
    const cancel = await giveUp(target, taskId, r, d);
    const limit = `the route's timeout (${Math.round(r.target.timeoutMs / 1000)} s) since the task started`;
    return { result: { ...res, status: 'permanent', code: 'task_timeout', message: `task ${taskId} still unfinished after ${limit}` }, settled: 'dead_letter', ...cancel };
  }
  if (resumable) {
    // This invocation is done with it: the hold ends now, so the redelivery takes it over at once.
    await d.store?.keepTask?.(r.key, { ...task!, holdUntilMs: (d.now ?? Date.now)() }, r.writeBy).catch(() => undefined);
    return { result: { ...res, code: 'task_pending', message: `task ${taskId} still running: the redelivery polls it (${res.message ?? res.code})` }, settled: 'resume' };
  }
  // Nothing to resume from (no idempotency store, or the task id could not be kept): the redelivery sends again.
  return { result: res, settled: 'report', ...(await giveUp(target, taskId, r, d)) };
}

/** Best effort, bounded by the write deadline: a cancel that fails leaves the task to the agent. */
type GiveUpInfo = Pick<TaskRecord, 'msg' | 'onGiveUp' | 'writeBy' | 'writeByMs'>;

async function giveUp(target: Target, taskId: string, r: GiveUpInfo, d: TaskModeDeps): Promise<Pick<TaskRun, 'cancel'>> {
  if (r.onGiveUp === 'leave') return {};
  const out = await d.client.cancelTask(target, `${r.msg.rpcId}:cancel`, taskId, r.writeByMs, r.writeBy, r.msg.headers);
  // The canceled Task comes back (classified as task_canceled); -32002: it had ended meanwhile.
  const ok = out.kind === 'failure' && (out.code === 'task_canceled' || out.code === 'jsonrpc_-32002');
  if (!ok) d.log.warn('task not cancelled', { taskId, error: out.kind === 'failure' ? `${out.code}: ${out.message}` : out.kind });
  return { cancel: ok ? 'canceled' : 'failed' };
}

/**
 * Message mode: the agent answered with a task the client polled until the route's timeout or the deadline.
 * The bridge stops waiting for it there, so it cancels it (unless `on_give_up: "leave"`). Undefined: nothing to cancel.
 */
export async function cancelAbandoned(res: DeliveryResult, r: Pick<TaskRecord, 'msg' | 'target' | 'onGiveUp' | 'writeBy' | 'writeByMs'>, d: TaskModeDeps): Promise<TaskRun['cancel']> {
  if (res.taskId === undefined || (res.code !== 'task_timeout' && res.code !== 'deadline')) return undefined;
  return (await giveUp(r.target, res.taskId, r, d)).cancel;
}
