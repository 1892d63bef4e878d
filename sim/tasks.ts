// The simulator's task state machine: a scripted task starts submitted, reads working on polls, and settles
// after N polls or M milliseconds (or never); CancelTask moves an unsettled task to canceled. Time-based
// tasks advance on their own clock, so a task "runs for seconds" whether or not anyone polls it.
import { randomUUID } from 'node:crypto';
import type { Reply, SettledTaskState, SimRequest, TaskStateName } from './types';

export interface SimTask {
  id: string;
  contextId: string;
  agentId: string;
  createdAt: number;
  polls: number;
  state: TaskStateName;
  stateAt: number;
  userMessageId: string;
  userText: string;
  replyText: string;
  statusText: string;
  replyIn: 'artifact' | 'status' | 'history';
  finalState: SettledTaskState;
  afterPolls?: number;
  afterMs?: number;
  never: boolean;
  agentMessageId: string;
  artifactId: string;
  approvalRequests?: unknown[];
}

export const SETTLED = new Set<TaskStateName>(['input-required', 'completed', 'canceled', 'failed', 'rejected', 'auth-required']);
/** Terminal in the A2A sense: not even CancelTask moves them (input-required and auth-required are interrupted, not terminal). */
export const TERMINAL = new Set<TaskStateName>(['completed', 'canceled', 'failed', 'rejected']);
const MAX_TASKS = 100_000;

const DEFAULT_STATUS_TEXT: Record<SettledTaskState, string> = {
  completed: '',
  failed: 'The agent failed to process the request',
  rejected: 'The agent declined the task',
  canceled: 'The task was canceled',
  'input-required': 'More input is required to continue',
  'auth-required': 'Authorization is required to continue',
};

export class TaskBook {
  private readonly tasks = new Map<string, SimTask>();

  constructor(private readonly summarize: (text: string) => string) {}

  get(id: string): SimTask | undefined {
    return this.tasks.get(id);
  }

  clear(): void {
    this.tasks.clear();
  }

  /** Moves a task on: a poll counts (`isPoll`), time passes; a due task takes its final state. */
  advance(t: SimTask, isPoll: boolean): void {
    if (isPoll) t.polls++;
    if (SETTLED.has(t.state)) return;
    const due =
      !t.never &&
      ((t.afterPolls !== undefined && t.polls >= t.afterPolls) ||
        (t.afterMs !== undefined && Date.now() - t.createdAt >= t.afterMs));
    const next: TaskStateName = due ? t.finalState : isPoll ? 'working' : t.state;
    if (next !== t.state) {
      t.state = next;
      t.stateAt = Date.now();
    }
  }

  create(rec: SimRequest, r: Extract<Reply, { kind: 'task' }>): SimTask {
    const scheduled = r.never === true || r.afterPolls !== undefined || r.afterMs !== undefined;
    const finalState = r.finalState ?? 'completed';
    const now = Date.now();
    const t: SimTask = {
      id: randomUUID(),
      contextId: rec.contextId ?? randomUUID(),
      agentId: rec.agentId ?? '',
      createdAt: now,
      polls: 0,
      state: scheduled ? (r.initialState ?? 'submitted') : finalState,
      stateAt: now,
      userMessageId: rec.messageId ?? randomUUID(),
      userText: rec.text ?? '',
      replyText: r.text ?? this.summarize(rec.text ?? ''),
      statusText: r.statusText ?? DEFAULT_STATUS_TEXT[finalState],
      replyIn: r.replyIn ?? 'artifact',
      finalState,
      afterPolls: r.afterPolls,
      afterMs: r.afterMs,
      never: r.never === true,
      agentMessageId: randomUUID(),
      artifactId: randomUUID(),
      ...(r.approvalRequests !== undefined && { approvalRequests: r.approvalRequests }),
    };
    this.advance(t, false); // afterPolls: 0 / afterMs: 0 settle at once
    if (this.tasks.size >= MAX_TASKS) this.tasks.delete(this.tasks.keys().next().value as string);
    this.tasks.set(t.id, t);
    return t;
  }

  /** Ends a task that has not settled yet in `state` (the agent finished its run). */
  settle(t: SimTask, state: SettledTaskState): void {
    this.advance(t, false);
    if (SETTLED.has(t.state)) return;
    t.finalState = state;
    t.never = false;
    t.afterMs = 0;
    this.advance(t, false);
  }

  /** 'canceled' when it was still running (or interrupted); 'not_cancelable' once terminal. */
  cancel(t: SimTask): 'canceled' | 'not_cancelable' {
    this.advance(t, false);
    if (TERMINAL.has(t.state)) return 'not_cancelable';
    t.state = 'canceled';
    t.stateAt = Date.now();
    t.statusText = DEFAULT_STATUS_TEXT.canceled;
    return 'canceled';
  }
}
