// One invocation, one way through: decode -> route -> render -> deliver -> dead-letter -> report. Each stage is its
// own module; this folder only sequences them and keeps every record accounted for. A record's status is decided in
// record-state.ts (its states, the legal moves, every decision) and nowhere else. The steps: deliver-all.ts (the
// shared state, run.ts, and every chain), chain.ts (a chain's records in turn), prepare.ts (route and render),
// send.ts (claim, send, reply, settle the claim), letter-step.ts (a record's dead letter), letters.ts (the writer),
// outcomes.ts (what each record ended as); the partition bookkeeping is lambda/partition-state.ts.
import { setMaxListeners } from 'node:events';
import { decodeEvent } from '../decode';
import { logAndMeasure } from '../batch-log';
import { batchResponse, failureOffsets } from '../report';
import type { BatchResult, InvocationInfo, PipelineDeps } from './types';
import { type LooseTrack, move, poisonState, settled, type Track, withoutToken } from './record-state';
import { deliverAll } from './deliver-all';
import { outcomeOf } from './outcomes';
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
  const tracks: Track[] = batch.records.map((record) => ({ at: record, state: { stage: 'pending', record } }));
  // Undecodable records take their place in their chain; only those without an offset stand apart.
  const loose: LooseTrack[] = [];
  for (const p of batch.poison) {
    if (p.offset === null) loose.push({ state: poisonState(p) });
    else tracks.push({ at: { partitionKey: p.partitionKey, offset: p.offset, keyB64: rawKey(p.raw) }, state: poisonState(p) });
  }

  // Dead-letter writes (and idempotency completes and releases) may use the safety margin, but never the last
  // moments before Lambda's own timeout. Every AWS call carries one of these two signals.
  const writeBy = started + info.remainingMs - Math.min(250, deps.safetyMarginMs / 2);
  const signals = { startedAt: started, writeByMs: writeBy, deadline: AbortSignal.timeout(Math.max(0, deadline - now())), writeBy: AbortSignal.timeout(Math.max(0, writeBy - now())) };
  // Every record's waits and AWS calls listen to these two: the default limit of 10 listeners would warn.
  setMaxListeners(0, signals.deadline, signals.writeBy);

  const needsToken = tracks.length > 0 && [...deps.plans.values()].some((p) => p.target.sendToken);
  let tokenError: { code: 'token_invalid' | 'token_unavailable'; message: string } | undefined;
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
    for (const t of [...tracks, ...loose]) move(t, withoutToken(t.state, tokenError.code, tokenError.message));
  } else {
    const letters = new LetterWriter(deps, batch.source, info, writeBy);
    const bootstrapServers = (event as { bootstrapServers?: unknown } | null)?.bootstrapServers;
    await deliverAll(tracks, loose, deadline, letters, deps, signals, typeof bootstrapServers === 'string' ? bootstrapServers : undefined);
  }

  const ends = [...tracks, ...loose].map((t) => ({ t, end: settled(t.state) }));
  const offsets = failureOffsets(
    ends.filter(({ end }) => end.stage === 'failed').map(({ t }) => ('at' in t ? t.at : reportableOffset(t.state.poison, tracks))),
  );
  const outcomes = ends.map(({ end }) => outcomeOf(end));
  const durationMs = now() - started;
  logAndMeasure(outcomes, offsets, durationMs, info.requestId, deps);
  return { response: batchResponse(offsets), outcomes, durationMs };
}

/** The raw entry's base64 key, when it has one: an undecodable record keeps its key's place in `key` ordering. */
function rawKey(raw: unknown): string | null {
  const key = raw && typeof raw === 'object' ? (raw as { key?: unknown }).key : undefined;
  return typeof key === 'string' ? key : null;
}

export type { Idempotency } from '../ports';
export type { KeptTask } from '../deliver/task-mode';
export type { FinalStatus, RecordOutcome } from '../outcome';

export type { BatchResult, InvocationInfo, PipelineDeps, RoutePlan } from './types';
