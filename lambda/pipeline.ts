// One invocation, one way through: decode -> route -> render -> deliver -> dead-letter -> report.
// Each stage is its own module; this file only sequences them and keeps every record accounted for.
import type { Route } from './config/routes';
import { decodeEvent, type KafkaRecord, type PoisonRecord } from './decode';
import type { DeadLetter, DeadLetterSink } from './dead-letter';
import { AuthGate, type AgentClient, type DeliveryResult, type Target, type TokenSource } from './deliver/agent-client';
import { messageIds } from './deliver/ids';
import type { Counter, Log, MetricsSink } from './observe';
import { batchResponse, coveredByReport, failureOffsets, type KafkaBatchResponse } from './report';
import type { Renderer } from './render';
import type { RouteFn } from './route';
import { buildChains, PrioritySlots, type Ordering } from './schedule';

export interface RoutePlan {
  route: Route;
  render: Renderer;
  target: Target;
}

/** Optional idempotency store (see idempotency.ts): claims a record before sending it. */
export interface Idempotency {
  /**
   * 'claimed' = send it; 'completed' = already delivered; 'in_progress' = another invocation holds it.
   * The claim lapses at holdUntilMs (this invocation's deadline) if it is never completed or released.
   */
  claim(key: string, holdUntilMs: number): Promise<'claimed' | 'completed' | 'in_progress'>;
  complete(key: string): Promise<void>;
  release(key: string): Promise<void>;
}

export interface PipelineDeps {
  router: RouteFn;
  plans: ReadonlyMap<string, RoutePlan>;
  client: AgentClient;
  tokens: TokenSource;
  deadLetters?: DeadLetterSink;
  idempotency?: Idempotency;
  ordering: Ordering;
  maxConcurrency: number;
  safetyMarginMs: number;
  logReplyChars: number;
  log: Log;
  metrics: MetricsSink;
  now?: () => number;
  /** Called when the agent client is done with a record (delivered or not): progress for the local CLI. */
  onDelivered?: () => void;
}

export interface InvocationInfo {
  requestId: string | null;
  /** context.getRemainingTimeInMillis() at the start of the invocation. */
  remainingMs: number;
}

export type FinalStatus = 'delivered' | 'dead_lettered' | 'unrouted' | 'tombstone' | 'duplicate' | 'failed';

export interface RecordOutcome {
  partitionKey: string;
  topic: string | null;
  partition: number | null;
  offset: number | null;
  route: string | null;
  agentId: string | null;
  status: FinalStatus;
  code?: string;
  message?: string;
  attempts: number;
  retries: number;
  latencyMs?: number;
  reply?: string;
}

export interface BatchResult {
  response: KafkaBatchResponse;
  outcomes: RecordOutcome[];
  durationMs: number;
}

type Stage = FinalStatus | 'send' | 'dead_letter';

interface Item {
  record: KafkaRecord;
  plan?: RoutePlan;
  text?: string;
  stage: Stage;
  code?: string;
  message?: string;
  result?: DeliveryResult;
}

interface PoisonItem {
  poison: PoisonRecord;
  stage: Stage;
  code?: string;
  message?: string;
}

const id = (r: { partitionKey: string; offset: number | null }, i?: number) => `${r.partitionKey}@${r.offset ?? `?${i}`}`;

function routeAndRender(record: KafkaRecord, deps: PipelineDeps): Item {
  const route = deps.router(record);
  if (!route) return { record, stage: 'unrouted', code: 'unrouted', message: 'no route matches' };
  const plan = deps.plans.get(route.name)!;
  if (record.value === null && route.template === undefined) {
    return { record, plan, stage: 'tombstone', code: 'tombstone', message: 'tombstone with no template: nothing to send' };
  }
  const rendered = plan.render(record);
  if (!rendered.ok) return { record, plan, stage: 'dead_letter', code: 'render_failed', message: rendered.reason };
  return { record, plan, text: rendered.text, stage: 'send' };
}

function toMessage(item: Item) {
  const r = item.record;
  const route = item.plan!.route;
  return {
    ...messageIds(r, route.name),
    text: item.text!,
    metadata: {
      kafka: { topic: r.topic, partition: r.partition, offset: r.offset, key: r.key, timestamp: r.timestamp },
      route: route.name,
    },
  };
}

export async function processBatch(event: unknown, info: InvocationInfo, deps: PipelineDeps): Promise<BatchResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const deadline = started + info.remainingMs - deps.safetyMarginMs;
  const batch = decodeEvent(event);
  const items = batch.records.map((r) => {
    try {
      return routeAndRender(r, deps);
    } catch (err) {
      // Route and render are pure and total by design; should one still throw, that record is poison, not the batch.
      return { record: r, stage: 'dead_letter', code: 'render_failed', message: `cannot route or render: ${(err as Error).message}` } as Item;
    }
  });
  const poison: PoisonItem[] = batch.poison.map((p) => ({ poison: p, stage: 'dead_letter', code: 'poison', message: p.reason }));

  const needsToken = items.some((i) => i.stage === 'send' && i.plan!.target.sendToken);
  let tokenError: string | undefined;
  if (needsToken) {
    try {
      await deps.tokens.get();
    } catch (err) {
      tokenError = (err as Error).message;
    }
  }

  if (tokenError !== undefined) {
    // Without credentials nothing can be judged: report everything for redelivery, dead-letter nothing.
    deps.log.error('token unavailable: reporting the whole batch for redelivery', { error: tokenError });
    for (const x of [...items, ...poison]) {
      x.stage = 'failed';
      x.code = 'token_unavailable';
      x.message = tokenError;
    }
  } else {
    await deliverAll(items, deadline, deps);
    await deadLetterAll(items, poison, batch.source, info, deps);
  }

  const offsets = failureOffsets([
    ...items.filter((i) => i.stage === 'failed').map((i) => i.record),
    ...poison.filter((p) => p.stage === 'failed').map((p) => reportableOffset(p.poison, items, poison)),
  ]);
  const outcomes = [...items.map((i) => itemOutcome(i)), ...poison.map((p) => poisonOutcome(p))];
  const durationMs = now() - started;
  observe(outcomes, offsets, durationMs, info, deps);
  return { response: batchResponse(offsets), outcomes, durationMs };
}

async function deliverAll(items: Item[], deadline: number, deps: PipelineDeps): Promise<void> {
  const slots = new PrioritySlots(deps.maxConcurrency);
  const auth = new AuthGate();
  // Lowest transient failure so far per partition. Without an idempotency store, a record above it is
  // not sent: Lambda will redeliver it anyway, and sending it now would make the agent run it twice.
  const partitionFailure = new Map<string, number>();
  const hold = !deps.idempotency;

  const runChain = async (chain: Item[]) => {
    let stopped: Item | undefined;
    for (let i = 0; i < chain.length; i++) {
      const item = chain[i];
      if (item.stage !== 'send') continue;
      const r = item.record;
      if (stopped) {
        Object.assign(item, { stage: 'failed', code: 'not_sent', message: `held behind offset ${stopped.record.offset} of the same chain` });
        continue;
      }
      const failedAt = partitionFailure.get(r.partitionKey);
      if (hold && failedAt !== undefined && failedAt < r.offset) {
        Object.assign(item, { stage: 'failed', code: 'not_sent', message: `partition resumes from offset ${failedAt}` });
        continue;
      }
      const plan = item.plan!;
      const remaining = chain.length - i;
      const msg = toMessage(item);
      const key = msg.rpcId.slice('kafka:'.length);

      if (deps.idempotency) {
        let claim: 'claimed' | 'completed' | 'in_progress';
        try {
          claim = await deps.idempotency.claim(key, deadline + deps.safetyMarginMs);
        } catch (err) {
          claim = 'in_progress';
          item.message = `idempotency store unavailable: ${(err as Error).message}`;
        }
        if (claim === 'completed') {
          Object.assign(item, { stage: 'duplicate', code: 'duplicate', message: 'already delivered by an earlier invocation' });
          continue;
        }
        if (claim === 'in_progress') {
          Object.assign(item, { stage: 'failed', code: 'in_progress', message: item.message ?? 'another invocation is delivering this record' });
          stopped = item;
          continue;
        }
      }

      const res = await deps.client.deliver(msg, plan.target, deadline, (fn) => slots.run(remaining, fn), auth);
      deps.onDelivered?.();
      item.result = res;
      item.code = res.code;
      item.message = res.message;
      if (res.status === 'delivered') item.stage = 'delivered';
      else if (res.status === 'permanent') item.stage = 'dead_letter';
      else {
        item.stage = 'failed';
        stopped = item;
        if (r.offset < (partitionFailure.get(r.partitionKey) ?? Infinity)) partitionFailure.set(r.partitionKey, r.offset);
      }
      if (deps.idempotency) {
        try {
          if (res.status === 'delivered') await deps.idempotency.complete(key);
          else await deps.idempotency.release(key);
        } catch (err) {
          // The claim expires by itself; a delivered record stays delivered.
          deps.log.warn('idempotency update failed', { key, error: (err as Error).message });
        }
      }
    }
  };

  await Promise.all(buildChains(items, deps.ordering).map(runChain));
}

/** A poison record without an offset can only be reported through its partition's lowest known offset. */
function reportableOffset(p: PoisonRecord, items: Item[], poison: PoisonItem[]): { partitionKey: string; offset: number } {
  if (p.offset !== null) return { partitionKey: p.partitionKey, offset: p.offset };
  const known = [
    ...items.filter((i) => i.record.partitionKey === p.partitionKey).map((i) => i.record.offset),
    ...poison.filter((q) => q.poison.partitionKey === p.partitionKey && q.poison.offset !== null).map((q) => q.poison.offset as number),
  ];
  if (known.length === 0) {
    // No identifier of this batch can name the record: failing the invocation makes Lambda retry it whole.
    throw new Error(`record in ${p.partitionKey} could not be dead-lettered and has no offset to report`);
  }
  return { partitionKey: p.partitionKey, offset: Math.min(...known) };
}

async function deadLetterAll(items: Item[], poison: PoisonItem[], source: string, info: InvocationInfo, deps: PipelineDeps) {
  const offsets = failureOffsets(items.filter((i) => i.stage === 'failed').map((i) => i.record));
  const letters: Array<{ letter: DeadLetter; target: Item | PoisonItem }> = [];
  const at = new Date().toISOString();
  items.forEach((item) => {
    if (item.stage !== 'dead_letter') return;
    if (coveredByReport(offsets, item.record)) {
      // Lambda redelivers it with its partition; dead-lettering it now would dead-letter it twice.
      Object.assign(item, { stage: 'failed', message: `${item.message} (left for redelivery: partition resumes below it)` });
      return;
    }
    const r = item.record;
    letters.push({
      target: item,
      letter: {
        id: id(r),
        partitionKey: r.partitionKey,
        offset: r.offset,
        body: {
          version: 1,
          kind: item.code === 'render_failed' ? 'poison' : 'permanent_failure',
          error: { class: item.code ?? 'unknown', message: item.message ?? '' },
          attempts: item.result?.attempts ?? 0,
          route: item.plan?.route.name ?? null,
          agentId: item.plan?.route.agentId ?? null,
          deadLetteredAt: at,
          eventSource: source,
          requestId: info.requestId,
          record: {
            topic: r.topic,
            partition: r.partition,
            offset: r.offset,
            timestamp: r.timestamp,
            timestampType: r.timestampType,
            key: r.keyB64,
            value: r.valueB64,
            headers: r.rawHeaders,
          },
        },
      },
    });
  });
  poison.forEach((p, i) => {
    if (coveredByReport(offsets, p.poison)) {
      Object.assign(p, { stage: 'failed', message: `${p.message} (left for redelivery: partition resumes below it)` });
      return;
    }
    const raw = p.poison.raw;
    letters.push({
      target: p,
      letter: {
        id: id(p.poison, i),
        partitionKey: p.poison.partitionKey,
        offset: p.poison.offset,
        body: {
          version: 1,
          kind: 'poison',
          error: { class: 'undecodable', message: p.poison.reason },
          attempts: 0,
          route: null,
          agentId: null,
          deadLetteredAt: at,
          eventSource: source,
          requestId: info.requestId,
          record: {
            ...(raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { raw }),
            topic: p.poison.topic,
            partition: p.poison.partition,
            offset: p.poison.offset,
          },
        },
      },
    });
  });
  if (letters.length === 0) return;
  let failed: Set<string>;
  if (!deps.deadLetters) {
    deps.log.error('no DLQ_URL configured: records that need dead-lettering are reported for redelivery instead', { count: letters.length });
    failed = new Set(letters.map((l) => l.letter.id));
  } else {
    failed = await deps.deadLetters.send(letters.map((l) => l.letter));
  }
  for (const { letter, target } of letters) {
    if (failed.has(letter.id)) {
      Object.assign(target, { stage: 'failed', message: `${target.message} (dead-letter write failed: reported instead)`, code: target.code });
    } else {
      target.stage = 'dead_lettered';
    }
  }
}

function itemOutcome(i: Item): RecordOutcome {
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
  };
}

function poisonOutcome(p: PoisonItem): RecordOutcome {
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

const STATUS_COUNTER: Record<FinalStatus, Counter> = {
  delivered: 'RecordsDelivered',
  dead_lettered: 'RecordsDeadLettered',
  unrouted: 'RecordsUnrouted',
  tombstone: 'TombstonesSkipped',
  duplicate: 'DuplicatesSkipped',
  failed: 'RecordsFailed',
};

function observe(outcomes: RecordOutcome[], offsets: Map<string, number>, durationMs: number, info: InvocationInfo, deps: PipelineDeps) {
  const totals: Partial<Record<Counter, number>> = { RecordsReceived: outcomes.length };
  const perRoute = new Map<string, { counts: Partial<Record<Counter, number>>; latenciesMs: number[] }>();
  const bump = (c: Partial<Record<Counter, number>>, k: Counter, n = 1) => (c[k] = (c[k] ?? 0) + n);
  for (const o of outcomes) {
    const counter = STATUS_COUNTER[o.status];
    bump(totals, counter);
    if (o.retries) bump(totals, 'RecordsRetried', o.retries);
    if (o.route) {
      let r = perRoute.get(o.route);
      if (!r) perRoute.set(o.route, (r = { counts: {}, latenciesMs: [] }));
      bump(r.counts, counter);
      if (o.retries) bump(r.counts, 'RecordsRetried', o.retries);
      if (o.status === 'delivered' && o.latencyMs !== undefined) r.latenciesMs.push(o.latencyMs);
    }
    const fields = {
      topic: o.topic,
      partition: o.partition,
      offset: o.offset,
      route: o.route,
      agentId: o.agentId,
      outcome: o.status,
      ...(o.code ? { code: o.code } : {}),
      ...(o.message ? { reason: o.message } : {}),
      ...(o.attempts ? { attempts: o.attempts } : {}),
      ...(o.latencyMs !== undefined ? { latencyMs: o.latencyMs } : {}),
      ...(o.reply !== undefined ? { reply: o.reply.slice(0, deps.logReplyChars) } : {}),
    };
    if (o.status === 'dead_lettered') deps.log.error('record dead-lettered', fields);
    else if (o.status === 'failed') deps.log.warn('record reported for redelivery', fields);
    else deps.log.info(`record ${o.status}`, fields);
  }
  deps.metrics.add(totals, perRoute);
  deps.log.info('batch summary', {
    requestId: info.requestId,
    records: outcomes.length,
    delivered: totals.RecordsDelivered ?? 0,
    deadLettered: totals.RecordsDeadLettered ?? 0,
    unrouted: totals.RecordsUnrouted ?? 0,
    tombstones: totals.TombstonesSkipped ?? 0,
    duplicates: totals.DuplicatesSkipped ?? 0,
    failed: totals.RecordsFailed ?? 0,
    retries: totals.RecordsRetried ?? 0,
    reportedPartitions: Object.fromEntries(offsets),
    durationMs,
  });
}
