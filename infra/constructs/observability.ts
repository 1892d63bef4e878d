// What operators look at: one CloudWatch dashboard (the handler's EMF metrics, Lambda, OffsetLag,
// both queues) and the alarms that page them, through one SNS topic.
import { Duration, Stack } from 'aws-cdk-lib';
import * as cw from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { COUNTERS, LATENCY_METRIC, ROUTE_COUNTERS } from '../../lambda/metric-names';
import type { KafkaTrigger } from './kafka-triggers';

export interface ObservabilityProps {
  readonly function: lambda.IFunction;
  readonly poisonQueue: sqs.IQueue;
  readonly onFailureQueue: sqs.IQueue;
  readonly triggers: readonly KafkaTrigger[];
  /** Route names from the routes file; absent: per-route graphs use SEARCH over the route dimension. */
  readonly routeNames?: readonly string[];
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly offsetLagThreshold: number;
  readonly alarmEmail?: string;
  readonly dashboardName: string;
}

const GRAPH_PERIOD = Duration.minutes(1);
const ALARM_PERIOD = Duration.minutes(5);

/** The handler's totals (dimension {service}) and per-route counters (dimensions {service, route}). */
export const TOTAL_METRICS = COUNTERS;
export const ROUTE_METRICS = ROUTE_COUNTERS;
export const LATENCY_STATS = ['p50', 'p90', 'p99'] as const;

export class Observability extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cw.Dashboard;
  readonly alarms: Record<'poisonQueueNotEmpty' | 'onFailureQueueNotEmpty' | 'functionErrors' | 'offsetLag' | 'throttles', cw.Alarm>;

  constructor(scope: Construct, id: string, private readonly props: ObservabilityProps) {
    super(scope, id);
    const fn = props.function;

    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: `${props.dashboardName} alarms`, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(props.alarmEmail));

    // Function-level OffsetLag (dimension FunctionName): the worst lag over all of the function's mappings.
    const offsetLag = new cw.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OffsetLag',
      dimensionsMap: { FunctionName: fn.functionName },
      statistic: cw.Stats.MAXIMUM,
      period: ALARM_PERIOD,
    });

    const queueDepth = (q: sqs.IQueue, period: Duration) =>
      q.metricApproximateNumberOfMessagesVisible({ statistic: cw.Stats.MAXIMUM, period });
    const queueAge = (q: sqs.IQueue, period: Duration) =>
      q.metricApproximateAgeOfOldestMessage({ statistic: cw.Stats.MAXIMUM, period });

    const stackName = Stack.of(this).stackName;
    const alarm = (id: string, description: string, metric: cw.IMetric, threshold: number, evaluationPeriods = 1) => {
      const a = new cw.Alarm(this, id, {
        alarmName: `${stackName}-${id}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator:
          threshold === 1 ? cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD : cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
      a.addOkAction(new cwActions.SnsAction(this.alarmTopic));
      return a;
    };

    this.alarms = {
      poisonQueueNotEmpty: alarm(
        'PoisonQueueNotEmpty',
        'Records were dead-lettered by the bridge (poison records, oversize texts, rejected by the agent). ' +
          'Inspect the messages in the poison-record queue, fix the cause, then re-publish or delete them.',
        queueDepth(props.poisonQueue, ALARM_PERIOD),
        1,
      ),
      onFailureQueueNotEmpty: alarm(
        'OnFailureQueueNotEmpty',
        'Lambda gave up on a batch (retries or record age exhausted). The on-failure queue holds metadata only ' +
          '(topic, partition, offsets): replay those offsets from Kafka.',
        queueDepth(props.onFailureQueue, ALARM_PERIOD),
        1,
      ),
      functionErrors: alarm(
        'FunctionErrors',
        'The bridge function failed whole invocations (crash, timeout, configuration error): Lambda retries the batch. See its logs.',
        fn.metricErrors({ statistic: cw.Stats.SUM, period: ALARM_PERIOD }),
        1,
      ),
      offsetLag: alarm(
        'OffsetLag',
        `Consumer offset lag stayed above ${props.offsetLagThreshold} records for 15 minutes: the bridge is not keeping up ` +
          '(raise provisionedPollers/maxConcurrency, or check the agent latency on the dashboard).',
        offsetLag,
        props.offsetLagThreshold,
        3,
      ),
      throttles: alarm(
        'Throttles',
        'Invocations of the bridge function were throttled (reserved or account concurrency reached).',
        fn.metricThrottles({ statistic: cw.Stats.SUM, period: ALARM_PERIOD }),
        1,
      ),
    };

    this.dashboard = new cw.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.hours(3),
    });
    const topics = props.triggers.map((t) => `\`${t.topic}\``).join(', ');
    this.dashboard.addWidgets(
      new cw.TextWidget({
        width: 12,
        height: 4,
        markdown: [
          `# Kafka to A2A bridge (${props.serviceName})`,
          `Topics: ${topics}. Handler metrics: namespace \`${props.metricsNamespace}\`.`,
          'Poison-record queue: the records the bridge gave up on, with the error. On-failure queue: batches Lambda gave up on, ' +
            '**metadata only** (topic, partition, offsets), replay them from Kafka.',
        ].join('\n\n'),
      }),
      new cw.AlarmStatusWidget({ title: 'Alarms', width: 12, height: 4, alarms: Object.values(this.alarms) }),
    );
    this.dashboard.addWidgets(
      this.graph('Records (all routes)', TOTAL_METRICS.map((m) => this.total(m)), 16),
      new cw.SingleValueWidget({
        title: 'Records in the time range',
        width: 8,
        height: 6,
        metrics: ['RecordsReceived', 'RecordsDelivered', 'RecordsDeadLettered', 'RecordsUnrouted', 'RecordsFailed'].map((m) =>
          this.total(m),
        ),
        setPeriodToTimeRange: true,
      }),
    );
    this.dashboard.addWidgets(
      ...ROUTE_METRICS.map((m) => this.graph(`${m} per route`, this.perRoute(m, cw.Stats.SUM), 8)),
    );
    this.dashboard.addWidgets(
      ...LATENCY_STATS.map((stat) =>
        this.graph(`A2A latency ${stat} per route (ms)`, this.perRoute(LATENCY_METRIC, stat), 8, { label: 'ms', showUnits: false }),
      ),
    );
    this.dashboard.addWidgets(
      this.graph('Lambda invocations, errors, throttles', [
        fn.metricInvocations({ period: GRAPH_PERIOD }),
        fn.metricErrors({ period: GRAPH_PERIOD }),
        fn.metricThrottles({ period: GRAPH_PERIOD }),
      ]),
      this.graph(
        'Lambda duration (ms)',
        [cw.Stats.p(50), cw.Stats.p(99), cw.Stats.MAXIMUM].map((statistic) =>
          fn.metricDuration({ statistic, period: GRAPH_PERIOD, label: statistic }),
        ),
      ),
      this.graph('Lambda concurrent executions', [
        fn.metric('ConcurrentExecutions', { statistic: cw.Stats.MAXIMUM, period: GRAPH_PERIOD }),
      ]),
    );
    this.dashboard.addWidgets(
      this.graph(
        'OffsetLag per topic (records)',
        [
          offsetLag.with({ period: GRAPH_PERIOD, label: 'all topics (function)' }),
          ...props.triggers.map(
            (t) =>
              // Per mapping: the EventSourceMappingUUID dimension (KafkaMetrics enabled on each mapping).
              new cw.MathExpression({
                expression: `SEARCH('Namespace="AWS/Lambda" MetricName="OffsetLag" EventSourceMappingUUID="${t.eventSourceMappingId}"', 'Maximum', 60)`,
                label: t.topic,
                period: GRAPH_PERIOD,
              }),
          ),
        ],
        24,
        undefined,
        [{ value: props.offsetLagThreshold, label: 'alarm threshold', color: cw.Color.RED }],
      ),
    );
    const bothQueues = (metric: (q: sqs.IQueue, period: Duration) => cw.Metric) => [
      metric(props.poisonQueue, GRAPH_PERIOD).with({ label: 'poison-record queue' }),
      metric(props.onFailureQueue, GRAPH_PERIOD).with({ label: 'on-failure queue (metadata)' }),
    ];
    this.dashboard.addWidgets(
      this.graph('Queue depth (messages visible)', bothQueues(queueDepth), 12),
      this.graph('Age of oldest message (s)', bothQueues(queueAge), 12),
    );
  }

  private total(metricName: string): cw.Metric {
    return new cw.Metric({
      namespace: this.props.metricsNamespace,
      metricName,
      dimensionsMap: { service: this.props.serviceName },
      statistic: cw.Stats.SUM,
      period: GRAPH_PERIOD,
      label: metricName,
    });
  }

  /** One line per route from the routes file, or a SEARCH over the route dimension without one. */
  private perRoute(metricName: string, statistic: string): cw.IMetric[] {
    const { routeNames, metricsNamespace, serviceName } = this.props;
    if (routeNames && routeNames.length) {
      return routeNames.map(
        (route) =>
          new cw.Metric({
            namespace: metricsNamespace,
            metricName,
            dimensionsMap: { service: serviceName, route },
            statistic,
            period: GRAPH_PERIOD,
            label: route,
          }),
      );
    }
    const search = `{"${metricsNamespace}",route,service} MetricName="${metricName}" service="${serviceName}"`;
    return [
      new cw.MathExpression({
        expression: `SEARCH('${search}', '${statistic}', ${GRAPH_PERIOD.toSeconds()})`,
        label: '',
        period: GRAPH_PERIOD,
      }),
    ];
  }

  private graph(
    title: string,
    metrics: cw.IMetric[],
    width = 8,
    leftYAxis?: cw.YAxisProps,
    leftAnnotations?: cw.HorizontalAnnotation[],
  ): cw.GraphWidget {
    return new cw.GraphWidget({ title, left: metrics, width, height: 6, leftYAxis, leftAnnotations });
  }
}
