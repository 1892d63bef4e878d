// The dashboard construct on its own, without route names: per-route graphs fall back to a
// SEARCH over the route dimension, so routes added later still show up.
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
  for (const stat of LATENCY_STATS) {
    expect(expression(`A2A latency ${stat} per route (ms)`)).toBe(
      `SEARCH('{"Acme/Bridge",route,service} MetricName="A2ALatency" service="svc"', '${stat}', 60)`,
    );
  }
});
