// One invocation, one way through: decode -> route -> render -> deliver -> dead-letter -> report.
// Each stage is its own module; this file only sequences them and keeps every record accounted for.
import type { Route } from './config/routes';
import { decodeEvent, type KafkaRecord, type PoisonRecord } from './decode';
import type { DeadLetter, DeadLetterSink } from './dead-letter';
import { AuthGate, type AgentClient, type DeliveryResult, type Target, type TokenSource } from './deliver/agent-client';
import { messageIds } from './deliver/ids';
import type { Counter, Log, MetricsSink } from './observe';
import { batchResponse, failureOffsets, type KafkaBatchResponse } from './report';
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
  /** Set for an undecodable record: `record` then only carries its coordinates (and raw key) for ordering. */
  poison?: PoisonRecord;
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

function poisonInChain(p: PoisonRecord): Item {
  const raw = (p.raw && typeof p.raw === 'object' ? p.raw : {}) as { key?: unknown };
  return {
    poison: p,
    stage: 'dead_letter',
    code: 'poison',
    message: p.reason,
    record: {
      partitionKey: p.partitionKey,
      topic: p.topic ?? '',
      partition: p.partition ?? -1,
      offset: p.offset as number,
      timestamp: null,
      timestampType: null,
      keyB64: typeof raw.key === 'string' ? raw.key : null,
      valueB64: null,
      key: null,
      value: null,
      json: undefined,
      headers: {},
      rawHeaders: [],
    },
  };
}

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
  // Undecodable records take their place in their chain; only those without an offset stand apart.
  for (const p of batch.poison) if (p.offset !== null) items.push(poisonInChain(p));
  const poison: PoisonItem[] = batch.poison
    .filter((p) => p.offset === null)
    .map((p) => ({ poison: p, stage: 'dead_letter', code: 'poison', message: p.reason }));

  const needsToken = items.some((i) => i.stage === 'send' && i.plan!.target.sendToken);
  let tokenError: string | undefined;
  if (needsToken) {
    try {
      // Bounded by the deadline: a token store that never answers must not hold the batch past it.
      await withDeadline(deps.tokens.get(), deadline - now(), 'reading the token');
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
    // Dead-letter writes may use the safety margin, but never the last moments before Lambda's own timeout.
    const writeBy = started + info.remainingMs - Math.min(250, deps.safetyMarginMs / 2);
    const letters = new LetterWriter(deps, batch.source, info, writeBy);
    await deliverAll(items, poison, deadline, letters, deps);
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

/** Rejects when `ms` pass first; the underlying call is abandoned, not awaited. */
function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than the time left in this invocation`)), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/**
 * Lowest failed offset so far per partition. A record above it comes back with its partition: it is
 * neither dead-lettered now (it would be twice) nor, without an idempotency store, sent (it would run twice).
 */
class PartitionFailures {
  private readonly lowest = new Map<string, number>();
  mark(partitionKey: string, offset: number): void {
    if (offset < (this.lowest.get(partitionKey) ?? Infinity)) this.lowest.set(partitionKey, offset);
  }
  below(partitionKey: string, offset: number): number | undefined {
    const at = this.lowest.get(partitionKey);
    return at !== undefined && at < offset ? at : undefined;
  }
}

/**
 * Per partition, the offsets still in play (to be sent or dead-lettered). A dead letter is written only
 * once everything below it in its partition is settled: if one of those fails, the letter's record comes
 * back with its partition and must not already sit in the queue.
 */
class Settlement {
  private readonly parts = new Map<string, { offsets: number[]; done: Set<number>; next: number; waiters: Array<{ offset: number; wake: () => void }> }>();

  constructor(items: readonly Item[]) {
    for (const i of items) {
      if (i.stage !== 'send' && i.stage !== 'dead_letter') continue;
      const pk = i.record.partitionKey;
      let part = this.parts.get(pk);
      if (!part) this.parts.set(pk, (part = { offsets: [], done: new Set(), next: 0, waiters: [] }));
      part.offsets.push(i.record.offset);
    }
    for (const part of this.parts.values()) part.offsets.sort((a, b) => a - b);
  }

  private lowest(part: { offsets: number[]; next: number }): number {
    return part.next < part.offsets.length ? part.offsets[part.next] : Infinity;
  }

  settle(pk: string, offset: number): void {
    const part = this.parts.get(pk);
    if (!part || part.done.has(offset)) return;
    part.done.add(offset);
    while (part.next < part.offsets.length && part.done.has(part.offsets[part.next])) part.next++;
    const low = this.lowest(part);
    part.waiters = part.waiters.filter((w) => (w.offset <= low ? (w.wake(), false) : true));
  }

  /** Resolves when every offset below this one in its partition is settled. */
  below(pk: string, offset: number): Promise<void> {
    const part = this.parts.get(pk);
    if (!part || this.lowest(part) >= offset) return Promise.resolve();
    return new Promise((wake) => part.waiters.push({ offset, wake }));
  }
}

async function deliverAll(items: Item[], poison: PoisonItem[], deadline: number, letters: LetterWriter, deps: PipelineDeps): Promise<void> {
  const failures = new PartitionFailures();
  const hold = !deps.idempotency;

  // Undecodable records without an offset cannot be ordered: written first, reported through their
  // partition's lowest offset if the write fails.
  for (const { target, ok } of await letters.write(poison.map((p, i) => ({ target: p, letter: poisonLetter(p.poison, i, letters) })))) {
    if (ok) target.stage = 'dead_lettered';
    else Object.assign(target, { stage: 'failed', message: `${target.message} (dead-letter write failed: reported instead)` });
  }

  const slots = new PrioritySlots(deps.maxConcurrency);
  const auth = new AuthGate();
  const settlement = new Settlement(items);

  const runChain = async (chain: Item[]) => {
    let stopped: Item | undefined;
    const stop = (item: Item) => {
      stopped = item;
      failures.mark(item.record.partitionKey, item.record.offset);
    };
    for (let i = 0; i < chain.length; i++) {
      const item = chain[i];
      const r = item.record;
      const inPlay = item.stage === 'send' || item.stage === 'dead_letter';
      if (item.stage === 'send') {
        const failedAt = failures.below(r.partitionKey, r.offset);
        if (stopped || (hold && failedAt !== undefined)) {
          Object.assign(item, {
            stage: 'failed',
            code: 'not_sent',
            message: stopped ? `held behind offset ${stopped.record.offset} of the same chain` : `partition resumes from offset ${failedAt}`,
          });
        } else {
          await send(item, chain.length - i);
          if ((item.stage as Stage) === 'failed') stop(item);
        }
      }
      if (item.stage === 'dead_letter') {
        if (!stopped) await settlement.below(r.partitionKey, r.offset);
        const failedAt = failures.below(r.partitionKey, r.offset);
        if (stopped || failedAt !== undefined) {
          Object.assign(item, { stage: 'failed', message: `${item.message} (left for redelivery: partition resumes below it)` });
        } else {
          // Written before the chain moves on: should the write fail, nothing after it has been sent meanwhile.
          const letter = item.poison ? poisonLetter(item.poison, i, letters) : recordLetter(item, letters);
          const [{ ok }] = await letters.write([{ target: item, letter }]);
          if (ok) item.stage = 'dead_lettered';
          else {
            Object.assign(item, { stage: 'failed', message: `${item.message} (dead-letter write failed: reported instead)` });
            stop(item);
          }
        }
      }
      if (inPlay) settlement.settle(r.partitionKey, r.offset);
    }
  };

  const send = async (item: Item, remaining: number) => {
    const r = item.record;
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
        return;
      }
      if (claim === 'in_progress') {
        Object.assign(item, { stage: 'failed', code: 'in_progress', message: item.message ?? 'another invocation is delivering this record' });
        return;
      }
    }
    const guard = {
      mayStart: () => !(!deps.idempotency && failures.below(r.partitionKey, r.offset) !== undefined),
      failing: () => failures.mark(r.partitionKey, r.offset),
    };
    const res = await deps.client.deliver(msg, item.plan!.target, deadline, (fn) => slots.run(remaining, fn), auth, guard);
    deps.onDelivered?.();
    item.result = res;
    item.code = res.code;
    item.message = res.message;
    item.stage = res.status === 'delivered' ? 'delivered' : res.status === 'permanent' ? 'dead_letter' : 'failed';
    if (deps.idempotency) {
      try {
        if (res.status === 'delivered') await deps.idempotency.complete(key);
        else await deps.idempotency.release(key);
      } catch (err) {
        // The claim expires by itself; a delivered record stays delivered.
        deps.log.warn('idempotency update failed', { key, error: (err as Error).message });
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

/** Writes dead letters through the sink (or reports them when there is none), bounded in time. */
class LetterWriter {
  readonly at = new Date().toISOString();
  private warned = false;

  constructor(
    private readonly deps: PipelineDeps,
    readonly source: string,
    readonly info: InvocationInfo,
    private readonly writeBy: number,
  ) {}

  async write<T>(entries: Array<{ target: T; letter: DeadLetter }>): Promise<Array<{ target: T; ok: boolean }>> {
    if (entries.length === 0) return [];
    let failed: Set<string>;
    if (!this.deps.deadLetters) {
      if (!this.warned) this.deps.log.error('no DLQ_URL configured: records that need dead-lettering are reported for redelivery instead');
      this.warned = true;
      failed = new Set(entries.map((e) => e.letter.id));
    } else {
      failed = await this.deps.deadLetters.send(
        entries.map((e) => e.letter),
        this.writeBy,
      );
    }
    return entries.map(({ target, letter }) => ({ target, ok: !failed.has(letter.id) }));
  }
}

function recordLetter(item: Item, w: LetterWriter): DeadLetter {
  const r = item.record;
  return {
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
      deadLetteredAt: w.at,
      eventSource: w.source,
      requestId: w.info.requestId,
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
  };
}

function poisonLetter(p: PoisonRecord, i: number, w: LetterWriter): DeadLetter {
  const raw = p.raw;
  return {
    id: id(p, i),
    partitionKey: p.partitionKey,
    offset: p.offset,
    body: {
      version: 1,
      kind: 'poison',
      error: { class: 'undecodable', message: p.reason },
      attempts: 0,
      route: null,
      agentId: null,
      deadLetteredAt: w.at,
      eventSource: w.source,
      requestId: w.info.requestId,
      record: {
        ...(raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { raw }),
        topic: p.topic,
        partition: p.partition,
        offset: p.offset,
      },
    },
  };
}

function itemOutcome(i: Item): RecordOutcome {
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
