// What each item ended as: its RecordOutcome (the log line, the metrics, the CLI).
import { travellingHeaders } from '../headers';
import type { FinalStatus } from '../fate';
import type { RecordOutcome } from '../outcome';
import type { Item, PoisonItem } from './types';

export function itemOutcome(i: Item): RecordOutcome {
  if (i.poison) return poisonOutcome({ poison: i.poison, stage: i.stage, code: i.code, message: i.message });
  const r = i.record;
  const res = i.result;
  return {
    partitionKey: r.partitionKey,
    topic: r.topic,
    partition: r.partition,
    offset: r.offset,
    route: i.plan?.route.name ?? null,
    agentId: i.plan?.route.agentId ?? null,
    status: i.stage as FinalStatus,
    ...(i.code !== undefined ? { code: i.code } : {}),
    ...(i.message !== undefined ? { message: i.message } : {}),
    attempts: res?.attempts ?? 0,
    retries: res?.retries ?? 0,
    ...(res?.latencyMs !== undefined ? { latencyMs: res.latencyMs } : {}),
    ...(res?.reply !== undefined ? { reply: res.reply } : {}),
    ...(r.headers.traceparent !== undefined && i.plan ? traceOf(i) : {}),
    ...(i.replyTo !== undefined ? { replyTo: i.replyTo } : {}),
    ...(i.replyWriteFailed ? { replyWriteFailed: true } : {}),
    ...(i.errorsTo !== undefined ? { errorsTo: i.errorsTo } : {}),
    ...(res?.taskId !== undefined ? { taskId: res.taskId } : {}),
    ...(i.missingFields ? { missingFields: i.missingFields } : {}),
  };
}

/** The record's valid W3C trace context, for its log line. */
export function traceOf(i: Item): { traceparent?: string } {
  const tp = travellingHeaders(i.record, i.plan!.route).traceparent;
  return tp ? { traceparent: tp } : {};
}

export function poisonOutcome(p: PoisonItem): RecordOutcome {
  return {
    partitionKey: p.poison.partitionKey,
    topic: p.poison.topic,
    partition: p.poison.partition,
    offset: p.poison.offset,
    route: null,
    agentId: null,
    status: p.stage as FinalStatus,
    code: p.code,
    message: p.message,
    attempts: 0,
    retries: 0,
  };
}


