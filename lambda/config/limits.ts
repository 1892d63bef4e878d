// The handler's ranges and defaults for the settings a deployment can also set (CDK context knobs): the
// cold-start check (settings.ts) and the synth check (infra/context.ts) read them here, so they cannot drift.

/** How records of one batch may overlap: per partition, per key within a partition, or not at all. */
export const ORDERINGS = ['partition', 'key', 'none'] as const;
export type Ordering = (typeof ORDERINGS)[number];
export const DEFAULT_ORDERING: Ordering = 'key';

/** Whole-number settings: inclusive range and default. */
export const LIMITS = {
  maxConcurrency: { min: 1, max: 1000, default: 10 },
  maxRetries: { min: 0, max: 20, default: 3 },
  logReplyChars: { min: 0, max: 1_000_000, default: 500 },
  maxTextBytes: { min: 1, max: 64 * 1024 * 1024, default: 256 * 1024 },
  idempotencyTtlSeconds: { min: 60, max: 366 * 24 * 3600, default: 24 * 3600 },
  /** After a send whose outcome is unknown, the claim is leased for the route's timeout plus this. */
  unknownOutcomeMarginSeconds: { min: 0, max: 24 * 3600, default: 60 },
  /** How long a key's conversation (the agent's contextId) is kept after its last record. */
  conversationTtlSeconds: { min: 60, max: 366 * 24 * 3600, default: 7 * 24 * 3600 },
} as const;

/** Seconds: RETRY_DELAY may be 0, REQUEST_TIMEOUT must be greater than 0. */
export const RETRY_DELAY_DEFAULT_SECONDS = 1;
export const REQUEST_TIMEOUT_DEFAULT_SECONDS = 60;
