// What each record ended as: its RecordOutcome (the log line, the metrics, the CLI), read off its settled state.
import { travellingHeaders } from '../headers';
import type { RecordOutcome } from '../outcome';
import type { Poison, SettledState } from './record-state';

export function outcomeOf(s: SettledState): RecordOutcome {
  if ('poison' in s) return poisonOutcome(s);
  const r = s.record;
  const res = s.result;
  const route = s.plan?.route;
  const traceparent = r.headers.traceparent !== undefined && route ? travellingHeaders(r, route).traceparent : undefined;
  return {
    partitionKey: r.partitionKey,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    route: route?.name ?? null,
    agentId: route?.agentId ?? null,
    status: s.stage,
    ...(s.code !== undefined ? { code: s.code } : {}),
    ...(s.message !== undefined ? { message: s.message } : {}),
    attempts: res?.attempts ?? 0,
    retries: res?.retries ?? 0,
    ...(res?.latencyMs !== undefined ? { latencyMs: res.latencyMs } : {}),
    ...(res?.reply !== undefined ? { reply: res.reply } : {}),
    // The record's valid W3C trace context: its log line carries it so a trace crosses the bridge.
    ...(traceparent ? { traceparent } : {}),
    ...(s.replyTo !== undefined ? { replyTo: s.replyTo } : {}),
    ...(s.replyWriteFailed ? { replyWriteFailed: true } : {}),
    ...(s.errorsTo !== undefined ? { errorsTo: s.errorsTo } : {}),
    ...(res?.taskId !== undefined ? { taskId: res.taskId } : {}),
    ...(s.missingFields ? { missingFields: s.missingFields } : {}),
  };
}

function poisonOutcome(p: Poison & { stage: RecordOutcome['status'] }): RecordOutcome {
  return {
    partitionKey: p.poison.partitionKey,
    topic: p.poison.topic,
    partition: p.poison.partition,
    offset: p.poison.offset,
    route: null,
    agentId: null,
    status: p.stage,
    code: p.code,
    message: p.message,
    attempts: 0,
    retries: 0,
  };
}
