// Which reliability profile runs: `fast` inside `npm test` (a few dozen batches, well under a minute) or
// `full` from `npm run reliability` (RELIABILITY_PROFILE=full: at least 1,000 batches under every ORDERING
// mode). The seed is fixed unless RELIABILITY_SEED overrides it, so CI runs are reproducible.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type ProfileName = 'fast' | 'medium' | 'full' | 'redelivery';

export interface Profile {
  name: ProfileName;
  seed: number;
  /** Generated batches per ORDERING mode against the sim with the in-memory (fault-injecting) DLQ. */
  batchesPerMode: number;
  /** Generated batches (over all modes) whose dead letters go to a real SQS queue on moto_server. */
  motoBatches: number;
  /** Runs of the smaller property tests (hostile input, body safety, truncation). */
  propertyRuns: number;
  /** Shrink a counterexample (slow with real I/O) instead of reporting the first failure as found. */
  shrink: boolean;
  /**
   * The redelivery profile: every batch with the idempotency store, redelivered until settled, of at most this many
   * records (1,020 batches of up to 200 each, redelivered, would take hours on the shared 2-core machine).
   */
  storeOnly?: { maxRecords: number };
}

const DEFAULT_SEED = 20250117;

export function profile(env: NodeJS.ProcessEnv = process.env): Profile {
  const p = env.RELIABILITY_PROFILE;
  const name: ProfileName = p === 'full' || p === 'medium' || p === 'redelivery' ? p : 'fast';
  const seedText = env.RELIABILITY_SEED;
  const seed = seedText !== undefined && seedText !== '' ? Number(seedText) : DEFAULT_SEED;
  if (!Number.isSafeInteger(seed)) throw new Error(`RELIABILITY_SEED must be an integer, got ${seedText}`);
  const shrink = env.RELIABILITY_SHRINK === '1' || env.RELIABILITY_SHRINK === 'true';
  // medium: when the full profile (about 30 min with the AWS peers) does not fit.
  if (name === 'full') return { name, seed, batchesPerMode: 400, motoBatches: 24, propertyRuns: 300, shrink };
  if (name === 'redelivery') return { name, seed, batchesPerMode: 340, motoBatches: 0, propertyRuns: 40, shrink, storeOnly: { maxRecords: 12 } };
  if (name === 'medium') return { name, seed, batchesPerMode: 120, motoBatches: 12, propertyRuns: 100, shrink };
  return { name, seed, batchesPerMode: 24, motoBatches: 6, propertyRuns: 40, shrink };
}

/**
 * Figures a test file hands to scripts/reliability.ts: written as RELIABILITY_OUT/<name>.json when that
 * directory is set (the script sets it), otherwise dropped (plain `npm test`).
 */
export function writeFigures(name: string, figures: unknown, env: NodeJS.ProcessEnv = process.env): void {
  const dir = env.RELIABILITY_OUT;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(figures, null, 2)}\n`);
}
