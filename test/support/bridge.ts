// Builds the real pipeline for tests (settings from an env object, as the Lambda would) and captures
// what it logs and measures, so tests can assert on it and on the absence of secrets in it.
import { composeBridge, type EdgeOverrides } from '../../lambda/compose';
import { loadSettings } from '../../lambda/config/settings';
import type { Log, MetricsSink } from '../../lambda/observe';
import { processBatch, type BatchResult, type PipelineDeps } from '../../lambda/pipeline';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  [k: string]: unknown;
}

export interface Captured {
  logs: LogLine[];
  metrics: Array<{ totals: Record<string, number>; perRoute: Record<string, { counts: Record<string, number>; latenciesMs: number[] }> }>;
}

export function captureLog(into: LogLine[]): Log {
  const at = (level: LogLine['level']) => (message: unknown, ...extra: unknown[]) => {
    into.push(Object.assign({ level, message: String(message) }, ...extra.filter((e) => e && typeof e === 'object')));
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } as unknown as Log;
}

export function captureMetrics(into: Captured['metrics']): MetricsSink {
  return {
    add(totals, perRoute) {
      into.push({
        totals: totals as Record<string, number>,
        perRoute: Object.fromEntries([...perRoute].map(([k, v]) => [k, { counts: v.counts as Record<string, number>, latenciesMs: v.latenciesMs }])),
      });
    },
  };
}

export interface TestBridge extends Captured {
  deps: PipelineDeps;
  run(event: unknown, remainingMs?: number): Promise<BatchResult>;
}

/** Fast retries by default: tests exercise the retry logic, not the wall clock. */
export function makeBridge(env: Record<string, string | undefined>, overrides: EdgeOverrides = {}): TestBridge {
  const settings = loadSettings({ RETRY_DELAY: '0.01', SAFETY_MARGIN_SECONDS: '0.5', MIN_REQUEST_SECONDS: '0.05', ...env });
  const logs: LogLine[] = [];
  const metrics: Captured['metrics'] = [];
  const deps = composeBridge(settings, { log: captureLog(logs), metrics: captureMetrics(metrics), ...overrides });
  return {
    deps,
    logs,
    metrics,
    run: (event, remainingMs = 60_000) => processBatch(event, { requestId: 'test-request', remainingMs }, deps),
  };
}

export const totals = (b: Captured) => b.metrics.reduce<Record<string, number>>((acc, m) => {
  for (const [k, v] of Object.entries(m.totals)) acc[k] = (acc[k] ?? 0) + v;
  return acc;
}, {});
