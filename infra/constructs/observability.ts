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
import { COUNTERS, LATENCY_METRIC, ROUTE_COUNTERS, TARGET_STOP_COUNTERS } from '../../lambda/metric-names';
import type { KafkaTrigger } from './kafka-triggers';

export interface ObservabilityProps {
  readonly function: lambda.IFunction;
  readonly poisonQueue: sqs.IQueue;
  /** The SQS on-failure destination; absent when the destination is S3 or Kafka. */
  readonly onFailureQueue?: sqs.IQueue;
  /** Where the mapping's on-failure destination is, for the dashboard's text. */
  readonly onFailureDescription?: string;
  readonly triggers: readonly KafkaTrigger[];
  /** The mappings' schema registry (schemaRegistryUri), when one is configured. */
  readonly schemaRegistry?: string;
  /** Route names from the routes file; absent: per-route graphs use SEARCH over the route dimension. */
  readonly routeNames?: readonly string[];
  readonly serviceName: string;
  readonly metricsNamespace: string;
  readonly offsetLagThreshold: number;
  readonly alarmEmail?: string;
  readonly dashboardName: string;
  /** Some route writes replies (lambda/reply): alarm on reply writes that failed. */
  readonly replies?: boolean;
}

const GRAPH_PERIOD = Duration.minutes(1);
const ALARM_PERIOD = Duration.minutes(5);

/** The handler's totals (dimension {service}) and per-route counters (dimensions {service, route}). */
export const TOTAL_METRICS = COUNTERS;
// The handler emits every counter a routed record can reach per route (lambda/observe.ts), tombstones included.
export const ROUTE_METRICS = [...ROUTE_COUNTERS, 'TombstonesSkipped'] as const;

/** Per-mapping alarms on the mapping's own metrics (AWS/Lambda, dimension EventSourceMappingUUID). */
export const MAPPING_ALARM_METRICS = {
  Dropped: 'DroppedEventCount',
  DestinationDeliveryErrors: 'OnFailureDestinationDeliveryErrorCount',
  PollingErrors: 'PollingErrorCount',
} as const;
/** A mapping is stalled when this many 5-minute periods in a row show lag and no commit, or no polling at all. */
export const STALL_PERIODS = 2;
/** Records a mapping delivered to its on-failure destination (AWS/Lambda, dimension EventSourceMappingUUID). */
export const ON_FAILURE_RECORDS = 'OnFailureDestinationDeliveredEventCount';
/** The KafkaMetrics lag metrics charted per mapping. */
export const MAPPING_LAG_METRICS = ['MaxOffsetLag', 'SumOffsetLag'] as const;
export const LATENCY_STATS = ['p50', 'p90', 'p99'] as const;

export class Observability extends Construct {
  readonly alarmTopic: sns.Topic;
  readonly dashboard: cw.Dashboard;
  readonly alarms: Partial<Record<'poisonQueueNotEmpty' | 'onFailureQueueNotEmpty' | 'functionErrors' | 'offsetLag' | 'throttles' | 'replyWriteFailures', cw.Alarm>>;
  /** Per topic: the mapping's Dropped, DestinationDeliveryErrors, PollingErrors and Stalled alarms. */
  readonly mappingAlarms: Record<string, Record<keyof typeof MAPPING_ALARM_METRICS | 'Stalled', cw.Alarm>>;
  /** With a schema registry, per topic: records Lambda sent to the on-failure destination (schema failures among them). */
  readonly registryAlarms: Record<string, cw.Alarm>;

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
    const alarm = (
      id: string,
      description: string,
      metric: cw.IMetric,
      threshold: number,
      evaluationPeriods = 1,
      // Missing data is "nothing happened" for counters emitted only when something happens.
      treatMissingData = cw.TreatMissingData.NOT_BREACHING,
    ) => {
      const a = new cw.Alarm(this, id, {
        alarmName: `${stackName}-${id}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm: evaluationPeriods,
        comparisonOperator:
          threshold === 1 ? cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD : cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData,
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
      ...(props.onFailureQueue && {
        onFailureQueueNotEmpty: alarm(
          'OnFailureQueueNotEmpty',
          'Lambda gave up on a batch (retries or record age exhausted). The on-failure queue holds metadata only ' +
            '(topic, partition, offsets): replay those offsets from Kafka.',
          queueDepth(props.onFailureQueue, ALARM_PERIOD),
          1,
        ),
      }),
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
      ...(props.replies && {
        replyWriteFailures: alarm(
          'ReplyWriteFailures',
          'Agent replies could not be written to their destination (ReplyWriteFailures per route on the dashboard). ' +
            'With the idempotency table they are kept and rewritten on redelivery; without it they are in the poison-record ' +
            'queue (kind reply_unwritten). Check the destination and the function role.',
          this.total('ReplyWriteFailures').with({ period: ALARM_PERIOD }),
          1,
        ),
      }),
    };

    const mappingMetric = (t: KafkaTrigger, metricName: string, statistic: string, period = ALARM_PERIOD) =>
      new cw.Metric({
        namespace: 'AWS/Lambda',
        metricName,
        dimensionsMap: { EventSourceMappingUUID: t.eventSourceMappingId },
        statistic,
        period,
      });
    const destination = props.onFailureDescription ?? 'the on-failure destination';
    this.mappingAlarms = Object.fromEntries(
      props.triggers.map((t) => {
        const id = (name: string) => `${t.topic}-${name}`;
        const alarms = {
          Dropped: alarm(
            id('Dropped'),
            `Lambda dropped records of topic ${t.topic}: retries or record age exhausted, and not delivered to ${destination}. ` +
              'They are in no queue: find the offsets Lambda moved past (the function logs of the failing batches) and replay them from Kafka.',
            mappingMetric(t, MAPPING_ALARM_METRICS.Dropped, cw.Stats.SUM),
            1,
          ),
          DestinationDeliveryErrors: alarm(
            id('DestinationDeliveryErrors'),
            `Lambda could not write a failed batch of topic ${t.topic} to ${destination} (permissions, network route from the ` +
              "cluster's subnets, or size). Those records are dropped: replay them from Kafka and fix the destination.",
            mappingMetric(t, MAPPING_ALARM_METRICS.DestinationDeliveryErrors, cw.Stats.SUM),
            1,
          ),
          PollingErrors: alarm(
            id('PollingErrors'),
            `The mapping of topic ${t.topic} failed to poll the cluster (authentication, authorisation or network). ` +
              "Check the mapping's state in the Lambda console and the cluster's security group and auth port.",
            mappingMetric(t, MAPPING_ALARM_METRICS.PollingErrors, cw.Stats.SUM),
            1,
          ),
          Stalled: alarm(
            id('Stalled'),
            `The mapping of topic ${t.topic} is not consuming: for ${STALL_PERIODS * 5} minutes it either emitted no metrics at all ` +
              '(disabled, failed state, deleted) or had offset lag and committed nothing. Check its state and the function errors.',
            new cw.MathExpression({
              // A healthy mapping emits PolledEventCount every poll, 0 when the topic is idle; a dead one emits
              // nothing, so the expression has no data and the alarm treats missing data as breaching.
              expression: 'IF(FILL(polled, -1) < 0 OR (FILL(lag, 0) > 0 AND FILL(committed, 0) <= 0), 1, 0)',
              usingMetrics: {
                polled: mappingMetric(t, 'PolledEventCount', cw.Stats.SUM),
                lag: mappingMetric(t, 'MaxOffsetLag', cw.Stats.MAXIMUM),
                committed: mappingMetric(t, 'CommittedEventCount', cw.Stats.SUM),
              },
              period: ALARM_PERIOD,
              label: `stalled ${t.topic}`,
            }),
            1,
            STALL_PERIODS,
            // Disabled mappings included: a deploy that leaves them disabled is paged, not silent.
            cw.TreatMissingData.BREACHING,
          ),
        };
        return [t.topic, alarms];
      }),
    );
    // With a registry, records that fail validation or deserialization (SCHEMA_NOT_FOUND, DESERIALIZATION_ERROR)
    // never reach the function: Lambda sends them to the on-failure destination, counted per mapping.
    this.registryAlarms = props.schemaRegistry
      ? Object.fromEntries(
          props.triggers.map((t) => [
            t.topic,
            alarm(
              `${t.topic}-OnFailureRecords`,
              `Lambda sent records of topic ${t.topic} to ${destination} instead of the function: retries or record age ` +
                `exhausted, or records the schema registry (${props.schemaRegistry}) could not validate or deserialize ` +
                '(SCHEMA_NOT_FOUND, DESERIALIZATION_ERROR). Read them there, fix the producer or the schema, and replay from Kafka.',
              mappingMetric(t, ON_FAILURE_RECORDS, cw.Stats.SUM),
              1,
            ),
          ]),
        )
      : {};

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
          `Poison-record queue: the records the bridge gave up on, with the error. Batches Lambda gave up on go to ${destination}.`,
        ].join('\n\n'),
      }),
      new cw.AlarmStatusWidget({
        title: 'Alarms',
        width: 12,
        height: 4,
        alarms: [...Object.values(this.alarms), ...Object.values(this.mappingAlarms).flatMap((a) => Object.values(a))],
      }),
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
    // A target whose circuit is open (or whose budget is spent) has its records reported unsent: one graph each, per route.
    this.dashboard.addWidgets(
      ...TARGET_STOP_COUNTERS.map((m) => this.graph(`${m === 'RecordsCircuitOpen' ? 'Circuit open' : 'Budget exhausted'}: records not sent, per route`, this.perRoute(m, cw.Stats.SUM), 12)),
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
      this.graph('OffsetLag, all topics (records)', [offsetLag.with({ period: GRAPH_PERIOD, label: 'all topics (function)' })], 8, undefined, [
        { value: props.offsetLagThreshold, label: 'alarm threshold', color: cw.Color.RED },
      ]),
      // The KafkaMetrics group of each mapping (dimension EventSourceMappingUUID), one line per topic.
      ...MAPPING_LAG_METRICS.map((name) =>
        this.graph(
          `${name} per mapping (records)`,
          props.triggers.map((t) => mappingMetric(t, name, cw.Stats.MAXIMUM, GRAPH_PERIOD).with({ label: t.topic })),
          8,
        ),
      ),
    );
    const onFailureQueue = props.onFailureQueue;
    const bothQueues = (metric: (q: sqs.IQueue, period: Duration) => cw.Metric) => [
      metric(props.poisonQueue, GRAPH_PERIOD).with({ label: 'poison-record queue' }),
      ...(onFailureQueue ? [metric(onFailureQueue, GRAPH_PERIOD).with({ label: 'on-failure queue (metadata)' })] : []),
    ];
    this.dashboard.addWidgets(
      this.graph('Queue depth (messages visible)', bothQueues(queueDepth), 12),
      this.graph('Age of oldest message (s)', bothQueues(queueAge), 12),
    );
    if (props.schemaRegistry) {
      this.dashboard.addWidgets(
        this.graph(
          `Records sent to ${destination}, schema failures included (per mapping)`,
          props.triggers.map((t) => mappingMetric(t, ON_FAILURE_RECORDS, cw.Stats.SUM, GRAPH_PERIOD).with({ label: t.topic })),
          12,
        ),
        this.graph(
          'Records dropped (per mapping)',
          props.triggers.map((t) => mappingMetric(t, MAPPING_ALARM_METRICS.Dropped, cw.Stats.SUM, GRAPH_PERIOD).with({ label: t.topic })),
          12,
        ),
      );
    }
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
    if (routeNames?.length) {
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
