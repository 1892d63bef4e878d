// One invocation, one way through: decode -> route -> render -> deliver -> dead-letter -> report.
// Each stage is its own module; this file only sequences them and keeps every record accounted for.
import type { Route } from './config/routes';
import { decodeEvent, type KafkaRecord, type PoisonRecord } from './decode';
import { poisonLetter, recordLetter, type DeadLetter, type DeadLetterSink, type LetterContext } from './dead-letter';
import { AuthGate, type AgentClient, type DeliveryResult, type Target, type TokenSource } from './deliver/agent-client';
import { deliveryKey, messageIds } from './deliver/ids';
import { logAndMeasure } from './batch-log';
import type { Log, MetricsSink } from './observe';
import type { FinalStatus, RecordOutcome } from './outcome';
import { batchResponse, failureOffsets, type KafkaBatchResponse } from './report';
import type { Renderer } from './render';
import type { RecordRouter } from './route';
import { PartitionFailures, Settlement } from './partition-state';
import { buildChains, PrioritySlots, type Ordering } from './schedule';
import type { ReplyResult, ReplyStage } from './reply/stage';

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
  claim(key: string, holdUntilMs: number): Promise<'claimed' | 'completed' | 'in_progress' | { replyPending: string }>;
  complete(key: string): Promise<void>;
  release(key: string): Promise<void>;
  /** Reply stage (lambda/reply/stage.ts): the agent answered, its reply is unwritten; keep it for the redelivery. */
  keepReply?(key: string, reply: string): Promise<void>;
  /** The kept reply was written: the record is completed. */
  replyWritten?(key: string): Promise<void>;
}

export interface PipelineDeps {
  router: RecordRouter;
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
  /** Writes agents' replies for routes with a `reply` destination (lambda/reply). */
  replies?: ReplyStage;
  /** Called when the agent client is done with a record (delivered or not): progress for the local CLI. */
  onDelivered?: () => void;
}

export interface InvocationInfo {
  requestId: string | null;
  /** context.getRemainingTimeInMillis() at the start of the invocation. */
  remainingMs: number;
}

export type { FinalStatus, RecordOutcome } from './outcome';

export interface BatchResult {
  response: KafkaBatchResponse;
  outcomes: RecordOutcome[];
  durationMs: number;
}

/** `pending`: decoded, not yet routed and rendered (that happens in its chain, just before it is needed). */
type Stage = FinalStatus | 'pending' | 'send' | 'dead_letter';

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
  replyTo?: string;
  replyWriteFailed?: boolean;
  errorsTo?: string;
}

interface PoisonItem {
  poison: PoisonRecord;
  stage: Stage;
  code?: string;
  message?: string;
}

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

/** Route and render are pure and total by design; should one still throw, that record is poison, not the batch. */
function prepare(record: KafkaRecord, deps: PipelineDeps): Item {
  try {
    return routeAndRender(record, deps);
  } catch (err) {
    return { record, stage: 'dead_letter', code: 'render_failed', message: `cannot route or render: ${(err as Error).message}` };
  }
}

function routeAndRender(decoded: KafkaRecord, deps: PipelineDeps): Item {
  const routed = deps.router(decoded);
  if (!routed.route) {
    const u = routed.unreadable;
    if (u) return { record: decoded, stage: 'dead_letter', code: u.code, message: u.reason };
    return { record: decoded, stage: 'unrouted', code: 'unrouted', message: 'no route matches' };
  }
  const { route, record } = routed;
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
  // Routing and rendering wait for each record's turn in its chain, so the first requests leave before the
  // whole batch is prepared (the preparation then overlaps the agents' answers).
  const items: Item[] = batch.records.map((record) => ({ record, stage: 'pending' }));
  // Undecodable records take their place in their chain; only those without an offset stand apart.
  for (const p of batch.poison) if (p.offset !== null) items.push(poisonInChain(p));
  const poison: PoisonItem[] = batch.poison
    .filter((p) => p.offset === null)
    .map((p) => ({ poison: p, stage: 'dead_letter', code: 'poison', message: p.reason }));

  const needsToken = items.length > 0 && [...deps.plans.values()].some((p) => p.target.sendToken);
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
    const bootstrapServers = (event as { bootstrapServers?: unknown } | null)?.bootstrapServers;
    await deliverAll(items, poison, deadline, letters, deps, typeof bootstrapServers === 'string' ? bootstrapServers : undefined);
  }

  const offsets = failureOffsets([
    ...items.filter((i) => i.stage === 'failed').map((i) => i.record),
    ...poison.filter((p) => p.stage === 'failed').map((p) => reportableOffset(p.poison, items, poison)),
  ]);
  const outcomes = [...items.map((i) => itemOutcome(i)), ...poison.map((p) => poisonOutcome(p))];
  const durationMs = now() - started;
  logAndMeasure(outcomes, offsets, durationMs, info.requestId, deps);
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

async function deliverAll(
  items: Item[],
  poison: PoisonItem[],
  deadline: number,
  letters: LetterWriter,
  deps: PipelineDeps,
  bootstrapServers?: string,
): Promise<void> {
  const failures = new PartitionFailures();
  const hold = !deps.idempotency;

  // Undecodable records without an offset cannot be ordered: written first, reported through their
  // partition's lowest offset if the write fails.
  for (const { target, ok } of await letters.write(poison.map((p, i) => ({ target: p, letter: poisonLetter(p.poison, i, letters.ctx) })))) {
    if (ok) target.stage = 'dead_lettered';
    else Object.assign(target, { stage: 'failed', message: `${target.message} (dead-letter write failed: reported instead)` });
  }

  // One of them unwritten is reported through its partition's lowest offset, so the whole partition comes back:
  // nothing of it may be dead-lettered now, nor (without an idempotency store) sent, or it would be twice.
  const resumesWhole = new Set(poison.filter((p) => p.stage === 'failed').map((p) => p.poison.partitionKey));

  const slots = new PrioritySlots(deps.maxConcurrency);
  const auth = new AuthGate();
  const settlement = new Settlement(items.map((i) => i.record));

  const runChain = async (chain: Item[], index: number) => {
    // Chains beyond the concurrency limit could not send yet anyway: they step aside for one turn of the
    // event loop, so the first requests are on the wire while the rest of the batch is prepared.
    if (index >= deps.maxConcurrency) await new Promise<void>((resume) => setImmediate(resume));
    let stopped: Item | undefined;
    const stop = (item: Item) => {
      stopped = item;
      failures.mark(item.record.partitionKey, item.record.offset);
    };
    for (let i = 0; i < chain.length; i++) {
      const item = chain[i];
      const r = item.record;
      if (item.stage === 'pending') Object.assign(item, prepare(r, deps));
      if (resumesWhole.has(r.partitionKey)) {
        const why = 'partition resumes from its lowest offset (a record without an offset could not be dead-lettered)';
        if (item.stage === 'dead_letter') Object.assign(item, { stage: 'failed', message: `${item.message} (left for redelivery: ${why})` });
        else if (item.stage === 'send' && hold) Object.assign(item, { stage: 'failed', code: 'not_sent', message: why });
      }
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
          const letter = item.poison
            ? poisonLetter(item.poison, i, letters.ctx)
            : recordLetter(
                r,
                letterReason(item),
                item.plan?.route,
                letters.ctx,
              );
          const [{ ok }] = await letters.write([{ target: item, letter }]);
          if (ok) {
            item.stage = 'dead_lettered';
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
            Object.assign(item, { stage: 'failed', message: `${item.message} (dead-letter write failed: reported instead)` });
            stop(item);
          }
        }
      }
      settlement.settle(r.partitionKey, r.offset);
    }
  };

  const send = async (item: Item, remaining: number) => {
    const r = item.record;
    const msg = toMessage(item);
    const key = deliveryKey(r, item.plan!.route.name);
    const dest = item.plan!.route.reply;
    if (deps.idempotency) {
      let claim: Awaited<ReturnType<Idempotency['claim']>>;
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
      if (typeof claim === 'object') {
        // --- reply stage (issue 14): an earlier invocation kept this record's reply; write it, do not call the agent.
        if (!dest || !deps.replies) {
          // The route lost its destination since: the kept reply goes to the dead-letter queue rather than nowhere.
          const why = { kind: 'reply_unwritten' as const, class: 'reply_destination_removed', message: 'a kept reply whose route has no reply destination any more', attempts: 0 };
          const [{ ok }] = await letters.write([{ target: item, letter: recordLetter(r, why, item.plan!.route, letters.ctx, JSON.parse(claim.replyPending)) }]);
          if (ok) await deps.idempotency.replyWritten?.(key).catch(() => undefined);
          Object.assign(item, { stage: ok ? 'dead_lettered' : 'failed', code: 'reply_destination_removed', message: why.message });
          return;
        }
        const res = await deps.replies.rewrite(dest, claim.replyPending, r, item.plan!.route, deadline, deps.idempotency, key, bootstrapServers);
        applyReply(item, res, 'rewritten from the idempotency store; the agent was not called again');
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
    if (res.status === 'delivered' && dest && deps.replies) {
      // --- reply stage (issue 14): the record is delivered only once its reply is written.
      const rep = await writeReply(item, res, key, dest, bootstrapServers);
      if (rep === 'kept') return; // the store holds the reply (REPLY_PENDING): neither complete nor release
      if (rep === 'rerun') {
        await deps.idempotency?.release(key).catch(() => undefined);
        return;
      }
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
  };

  /** Writes a delivered record's reply; when that fails, keeps it in the store or dead-letters it with the record. */
  const writeReply = async (item: Item, res: DeliveryResult, key: string, dest: NonNullable<RoutePlan['route']['reply']>, bootstrap?: string) => {
    const route = item.plan!.route;
    let result: ReplyResult;
    try {
      const prepared = deps.replies!.prepare(dest, item.record, route, { text: res.reply ?? '', taskId: res.taskId, attempts: res.attempts, latencyMs: res.latencyMs }, bootstrap);
      result = await deps.replies!.write(prepared, deadline, deps.idempotency, key);
    } catch (err) {
      result = { outcome: 'kept', error: `reply could not be prepared: ${(err as Error).message}` };
      Object.assign(item, { stage: 'failed', code: 'reply_write_failed', message: result.error, replyWriteFailed: true });
      return 'rerun' as const;
    }
    if (result.outcome === 'unkept') {
      // Overflow: the dead-letter queue keeps the answer with the record, so the agent is not run again.
      const letter = recordLetter(item.record, { kind: 'reply_unwritten', class: 'reply_write_failed', message: result.error, attempts: res.attempts }, route, letters.ctx, result.envelope);
      const [{ ok }] = await letters.write([{ target: item, letter }]);
      Object.assign(item, { code: 'reply_write_failed', replyWriteFailed: true });
      if (ok) {
        Object.assign(item, { stage: 'dead_lettered', message: `${result.error}; the reply is in the dead-letter queue` });
        return 'done' as const;
      }
      Object.assign(item, { stage: 'failed', message: `${result.error}; the dead-letter write failed too: the record runs again on redelivery` });
      return 'rerun' as const;
    }
    applyReply(item, result, undefined);
    return result.outcome === 'kept' ? ('kept' as const) : ('done' as const);
  };

  await Promise.all(buildChains(items, deps.ordering).map((chain, index) => runChain(chain, index)));
}

function applyReply(item: Item, res: ReplyResult, note: string | undefined): void {
  if (res.outcome === 'written') {
    item.stage = 'delivered';
    item.replyTo = res.where;
    if (note) Object.assign(item, { code: 'reply_rewritten', message: `reply ${note}` });
  } else {
    Object.assign(item, { stage: 'failed', code: 'reply_write_failed', message: `${res.error}; the reply is kept and written on redelivery`, replyWriteFailed: true });
  }
}

/** Records the bridge cannot read or render are poison; an agent's refusal is a permanent failure. */
function letterReason(item: Item) {
  const code = item.code ?? 'unknown';
  return {
    kind: code === 'render_failed' || code === 'poison' || code === 'schema_error' ? ('poison' as const) : ('permanent_failure' as const),
    class: code === 'poison' ? 'undecodable' : code,
    message: item.message ?? '',
    attempts: item.result?.attempts ?? 0,
  };
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
  readonly ctx: LetterContext;
  private warned = false;

  constructor(
    private readonly deps: PipelineDeps,
    source: string,
    info: InvocationInfo,
    private readonly writeBy: number,
  ) {
    this.ctx = { at: new Date().toISOString(), source, requestId: info.requestId };
  }

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
    ...(i.replyTo !== undefined ? { replyTo: i.replyTo } : {}),
    ...(i.replyWriteFailed ? { replyWriteFailed: true } : {}),
    ...(i.errorsTo !== undefined ? { errorsTo: i.errorsTo } : {}),
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

