// The result type of `npm run doctor`'s checks and how they are printed: one line per check, a summary, and
// an exit status that is non-zero when anything would fail in production.

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** What was checked, e.g. `route "orders": agent card`. */
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a warn or a fail. */
  fix?: string;
}

export const STATUS_LABEL: Record<CheckStatus, string> = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: 'skip' };

export function summarize(checks: readonly Check[]): Record<CheckStatus, number> {
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skip: 0 };
  for (const c of checks) counts[c.status]++;
  return counts;
}

/** 0 nothing would fail; 1 something would fail in production. Warnings alone keep 0. */
export const exitStatus = (checks: readonly Check[]): 0 | 1 => (checks.some((c) => c.status === 'fail') ? 1 : 0);

export function formatCheck(c: Check): string {
  const head = `${STATUS_LABEL[c.status].padEnd(4)}  ${c.name}: ${c.detail}`;
  return c.fix && (c.status === 'fail' || c.status === 'warn') ? `${head}\n      fix: ${c.fix}` : head;
}

export function formatSummary(checks: readonly Check[]): string {
  const n = summarize(checks);
  const verdict = n.fail ? 'would fail in production' : n.warn ? 'ready, with warnings' : 'ready';
  return `${checks.length} checks: ${n.ok} ok, ${n.warn} warnings, ${n.fail} failed, ${n.skip} skipped · ${verdict}`;
}
