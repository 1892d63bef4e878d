// What `npm run consume` and `npm run replay` share: the local bridge as `npm run invoke` builds it, plus the
// idempotency store when IDEMPOTENCY_TABLE is set (as lambda/handler.ts adds it), and small flag parsers.
import { createDynamoIdempotency } from '../../lambda/io/dynamo-idempotency';
import { createLocalBridge, UsageError, type LocalBridge, type LocalBridgeOptions } from './run-batch';

export async function createToolBridge(o: LocalBridgeOptions): Promise<LocalBridge> {
  const bridge = await createLocalBridge(o);
  const s = bridge.settings;
  if (s.idempotencyTable) {
    // Same store and keys as the deployed function: a record it already delivered is skipped, not sent again.
    bridge.deps = { ...bridge.deps, idempotency: createDynamoIdempotency({ table: s.idempotencyTable, ttlSeconds: s.idempotencyTtlSeconds }) };
  }
  return bridge;
}

export function intFlag(flag: string, v: string | undefined, o: { min: number; max?: number }): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < o.min || (o.max !== undefined && n > o.max)) {
    throw new UsageError(`${flag} needs a whole number${o.max !== undefined ? ` from ${o.min} to ${o.max}` : ` of at least ${o.min}`}, got "${v}"`);
  }
  return n;
}

export function secondsFlag(flag: string, v: string | undefined, o: { min: number; max: number }): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < o.min || n > o.max) throw new UsageError(`${flag} needs seconds from ${o.min} to ${o.max}, got "${v}"`);
  return n;
}
