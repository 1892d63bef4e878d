// When to try again: the retry and poll pauses, pure (the clock and the dice are the caller's).

/**
 * The pause before retry number `retry` (0 for the first): exponential with up to one `retryDelayMs` of jitter;
 * the server's Retry-After wins when it gave one.
 * @param random - a draw in [0, 1)
 */
export function retryBackoffMs(retryDelayMs: number, retry: number, random: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined) return retryAfterMs;
  return Math.round(retryDelayMs * 2 ** retry + random * retryDelayMs);
}

/** @default 250 ms, the first pause before polling a task. */
export const POLL_INITIAL_MS = 250;
/** @default 5 s, the longest pause between polls. */
export const POLL_MAX_MS = 5000;

/** The pause after `pause` while a task runs on: 1.5 times longer, up to `maxMs`. */
export function nextPollPause(pause: number, maxMs: number = POLL_MAX_MS): number {
  return Math.min(pause * 1.5, maxMs);
}
