// The dashboard construct on its own, without route names: per-route graphs fall back to a
// SEARCH over the route dimension, so a route the stack was not told about still shows up.
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { LATENCY_STATS, Observability, ROUTE_METRICS } from '../../infra/constructs/observability';
import { dashboardBody } from './helpers';

test('without route names, per-route graphs SEARCH the route dimension of the service', () => {
  const stack = new Stack(new App(), 'S', { env: { region: 'us-east-1', account: '123456789012' } });
  new Observability(stack, 'O', {
    function: lambda.Function.fromFunctionArn(stack, 'Fn', 'arn:aws:lambda:us-east-1:123456789012:function:bridge'),
    poisonQueue: sqs.Queue.fromQueueArn(stack, 'P', 'arn:aws:sqs:us-east-1:123456789012:poison'),
    onFailureQueue: sqs.Queue.fromQueueArn(stack, 'F', 'arn:aws:sqs:us-east-1:123456789012:on-failure'),
    triggers: [{ topic: 'orders', consumerGroupId: 'g', eventSourceMappingId: 'uuid-1' }],
    serviceName: 'svc',
    metricsNamespace: 'Acme/Bridge',
    offsetLagThreshold: 10,
    dashboardName: 'd',
  });
  const widgets = dashboardBody(Template.fromStack(stack)).widgets;
  const expression = (title: string) => {
    const metrics = widgets.find((w) => w.properties.title === title)!.properties.metrics as Array<[{ expression: string }]>;
    expect(metrics).toHaveLength(1);
    return metrics[0][0].expression;
  };
  for (const m of ROUTE_METRICS) {
    expect(expression(`${m} per route`)).toBe(`SEARCH('{"Acme/Bridge",route,service} MetricName="${m}" service="svc"', 'Sum', 60)`);
  }
  // The records a stopped target (open circuit, spent budget) had reported unsent, per route.
  expect(expression('Circuit open: records not sent, per route')).toBe(`SEARCH('{"Acme/Bridge",route,service} MetricName="RecordsCircuitOpen" service="svc"', 'Sum', 60)`);
  expect(expression('Budget exhausted: records not sent, per route')).toBe(`SEARCH('{"Acme/Bridge",route,service} MetricName="RecordsBudgetStopped" service="svc"', 'Sum', 60)`);
  for (const stat of LATENCY_STATS) {
    expect(expression(`A2A latency ${stat} per route (ms)`)).toBe(
      `SEARCH('{"Acme/Bridge",route,service} MetricName="A2ALatency" service="svc"', '${stat}', 60)`,
    );
  }
});

// The dashboard's per-route graphs chart what the handler really emits per route: a tombstone on a
// route is counted with the {service, route} dimensions (the EMF Powertools writes), which is what
// the "TombstonesSkipped per route" graph reads.
test('the handler emits TombstonesSkipped with the route dimension, as the per-route graph expects', async () => {
  const { logAndMeasure } = await import('../../lambda/batch-log');
  const { powertoolsMetrics } = await import('../../lambda/observe');
  const written: string[] = [];
  const out = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  try {
    logAndMeasure(
      [{ topic: 'customer.profiles', partition: 0, offset: 7, route: 'profiles', status: 'tombstone' } as never],
      new Map(),
      1,
      null,
      { log, metrics: powertoolsMetrics, logReplyChars: 10 },
    );
  } finally {
    out.mockRestore();
  }
  const emf = written
    .join('')
    .split('\n')
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const perRoute = emf.find((l) => l.route === 'profiles');
  expect(perRoute).toMatchObject({ TombstonesSkipped: 1, route: 'profiles' });
  const dims = (perRoute!._aws as { CloudWatchMetrics: Array<{ Dimensions: string[][] }> }).CloudWatchMetrics[0].Dimensions[0];
  expect([...dims].sort()).toEqual(['route', 'service']);
  expect(ROUTE_METRICS).toContain('TombstonesSkipped');
});

test('a record reported because its circuit is open is counted as RecordsCircuitOpen, total and per route', async () => {
  const { logAndMeasure } = await import('../../lambda/batch-log');
  const adds: Array<[Record<string, number>, Map<string, { counts: Record<string, number> }>]> = [];
  const log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
  logAndMeasure(
    [
      { topic: 't', partition: 0, offset: 1, route: 'r', status: 'failed', code: 'circuit_open', attempts: 0, retries: 0 } as never,
      { topic: 't', partition: 1, offset: 1, route: 'r', status: 'failed', code: 'budget_exhausted', attempts: 1, retries: 0 } as never,
    ],
    new Map(),
    1,
    null,
    { log, metrics: { add: (t, p) => adds.push([t as Record<string, number>, p as never]) }, logReplyChars: 10 },
  );
  expect(adds[0][0]).toMatchObject({ RecordsFailed: 2, RecordsCircuitOpen: 1, RecordsBudgetStopped: 1 });
  expect(adds[0][1].get('r')!.counts).toMatchObject({ RecordsCircuitOpen: 1, RecordsBudgetStopped: 1 });
});
