// One invocation, one way through: decode -> route -> render -> deliver -> dead-letter -> report. Each stage is its
// own module; this folder only sequences them and keeps every record accounted for: types.ts (the shapes),
// prepare.ts (route and render in a record's turn), deliver-all.ts (the chains, the claim and the send), letters.ts
// (the dead-letter writer), outcomes.ts (what each record ended as), item.ts (the one transition between stages);
// the partition bookkeeping is lambda/partition-state.ts, a record's final status lambda/fate.ts.
import { setMaxListeners } from 'node:events';
import { decodeEvent } from '../decode';
import { logAndMeasure } from '../batch-log';
import { batchResponse, failureOffsets } from '../report';
import type { BatchResult, InvocationInfo, Item, PipelineDeps, PoisonItem } from './types';
import { poisonInChain } from './prepare';
import { transition } from './item';
import { deliverAll } from './deliver-all';
import { itemOutcome, poisonOutcome } from './outcomes';
import { LetterWriter, reportableOffset } from './letters';

/**
 * Runs one Lambda invocation's batch: decode, route, render, deliver, dead-letter, report. Never throws for a
 * record: each one ends with a final status, and those not settled are named in the partial-batch response.
 * @param event - the MSK (or self-managed Kafka) event, unvalidated; one of the wrong shape throws an EventShapeError (the whole invocation fails)
 * @param info - the request id and the time left (context.getRemainingTimeInMillis())
 * @param deps - the stages and edges, from `composeBridge`
 * @returns the response for Lambda and one outcome per record
 * @example
 * const deps = composeBridge(loadSettings());
 * const { response } = await processBatch(event, { requestId: ctx.awsRequestId, remainingMs: ctx.getRemainingTimeInMillis() }, deps);
 */
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

  // Dead-letter writes (and idempotency completes and releases) may use the safety margin, but never the last
  // moments before Lambda's own timeout. Every AWS call carries one of these two signals.
  const writeBy = started + info.remainingMs - Math.min(250, deps.safetyMarginMs / 2);
  const signals = { startedAt: started, writeByMs: writeBy, deadline: AbortSignal.timeout(Math.max(0, deadline - now())), writeBy: AbortSignal.timeout(Math.max(0, writeBy - now())) };
  // Every record's waits and AWS calls listen to these two: the default limit of 10 listeners would warn.
  setMaxListeners(0, signals.deadline, signals.writeBy);

  const needsToken = items.length > 0 && [...deps.plans.values()].some((p) => p.target.sendToken);
  let tokenError: { code: string; message: string } | undefined;
  if (needsToken) {
    try {
      // Bounded by the deadline: a token store that never answers must not hold the batch past it.
      await deps.tokens.get({ signal: signals.deadline });
    } catch (err) {
      const code = (err as { code?: unknown }).code === 'token_invalid' ? 'token_invalid' : 'token_unavailable';
      tokenError = { code, message: (err as Error).message };
    }
  }

  if (tokenError !== undefined) {
    // Without credentials nothing can be judged: report everything for redelivery, dead-letter nothing.
    const what = tokenError.code === 'token_invalid' ? 'configuration error: the token secret holds no usable token' : 'token unavailable';
    deps.log.error(`${what}: reporting the whole batch for redelivery`, { code: tokenError.code, error: tokenError.message });
    for (const x of [...items, ...poison]) transition<Item | PoisonItem>(x, 'failed', { code: tokenError.code, message: tokenError.message });
  } else {
    const letters = new LetterWriter(deps, batch.source, info, writeBy);
    const bootstrapServers = (event as { bootstrapServers?: unknown } | null)?.bootstrapServers;
    await deliverAll(items, poison, deadline, letters, deps, signals, typeof bootstrapServers === 'string' ? bootstrapServers : undefined);
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

export type { Idempotency } from '../ports';
export type { KeptTask } from '../deliver/task-mode';
export type { FinalStatus, RecordOutcome } from '../outcome';

export type { BatchResult, InvocationInfo, PipelineDeps, RoutePlan } from './types';
