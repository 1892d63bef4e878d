// Observability edge: Powertools Logger (JSON lines) and Metrics (EMF). Totals carry only the service
// dimension; per-route figures go in one EMF blob per route so the dashboard can chart each route.
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { COUNTERS, LATENCY_METRIC, type Counter } from './metric-names';
import type { MetricsSink } from './ports';
export type { Log, MetricsSink } from './ports';

export const SERVICE = process.env.POWERTOOLS_SERVICE_NAME || 'kafka-a2a-bridge';
export const NAMESPACE = process.env.POWERTOOLS_METRICS_NAMESPACE || 'KafkaA2ABridge';

export const logger = new Logger({ serviceName: SERVICE });
export const metrics = new Metrics({ namespace: NAMESPACE, serviceName: SERVICE });

export { COUNTERS, type Counter };

const routeMetrics = new Map<string, Metrics>();

export const powertoolsMetrics: MetricsSink = {
  add(counts, perRoute) {
    for (const name of COUNTERS) {
      const n = counts[name];
      if (n) metrics.addMetric(name, MetricUnit.Count, n);
    }
    for (const [route, figures] of perRoute) {
      let m = routeMetrics.get(route);
      if (!m) {
        m = new Metrics({ namespace: NAMESPACE, serviceName: SERVICE, defaultDimensions: { route } });
        routeMetrics.set(route, m);
      }
      for (const name of COUNTERS) {
        const n = figures.counts[name];
        if (n) m.addMetric(name, MetricUnit.Count, n);
      }
      for (const ms of figures.latenciesMs) m.addMetric(LATENCY_METRIC, MetricUnit.Milliseconds, ms);
      // Powertools flushes by itself at 100 values of one metric: publishing an empty store would only warn.
      if (m.hasStoredMetrics()) m.publishStoredMetrics();
    }
  },
};
