// Flag parsers the Kafka tools (consume, replay) share.
import { UsageError } from './cli';

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
