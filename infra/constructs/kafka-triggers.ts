// The MSK triggers: an event source mapping subscribes to exactly one topic, so one
// ManagedKafkaEventSource per topic, all on the same function, each with its own consumer group
// (Lambda requires the group to be unique per mapping).
import { Duration, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { ManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { BridgeConfig, MskCluster } from '../context';

export interface KafkaTriggersProps {
  readonly config: BridgeConfig;
  readonly function: lambda.Function;
  readonly role: iam.IRole;
  /** Where Lambda records (as metadata) the batches it gave up on. */
  readonly onFailure: lambda.IEventSourceDlq;
}

export interface KafkaTrigger {
  readonly topic: string;
  readonly consumerGroupId: string;
  /** The mapping's UUID (a token): the EventSourceMappingUUID metric dimension. */
  readonly eventSourceMappingId: string;
}

export class KafkaTriggers extends Construct {
  readonly triggers: KafkaTrigger[];

  constructor(scope: Construct, id: string, props: KafkaTriggersProps) {
    super(scope, id);
    const { config } = props;
    const auth = config.kafkaAuth;
    const scramSecret =
      auth.kind === 'scram' ? secretsmanager.Secret.fromSecretCompleteArn(this, 'KafkaScramSecret', auth.secretArn) : undefined;

    this.triggers = config.topics.map((topic) => {
      const consumerGroupId = config.consumerGroupIds[topic];
      const source = new ManagedKafkaEventSource({
        clusterArn: config.cluster.arn,
        topic,
        consumerGroupId,
        secret: scramSecret, // present: SASL/SCRAM-512; absent: IAM authentication
        startingPosition: lambda.StartingPosition[config.startingPosition],
        batchSize: config.batchSize,
        maxBatchingWindow:
          config.maxBatchingWindowSeconds === undefined ? undefined : Duration.seconds(config.maxBatchingWindowSeconds),
        // Partial batch responses, retry controls and bisection only work in provisioned mode.
        provisionedPollerConfig: { minimumPollers: config.provisionedPollers.min, maximumPollers: config.provisionedPollers.max },
        reportBatchItemFailures: true,
        retryAttempts: config.retryAttempts,
        maxRecordAge: config.maxRecordAgeSeconds === undefined ? undefined : Duration.seconds(config.maxRecordAgeSeconds),
        bisectBatchOnError: config.bisectBatchOnError,
        onFailure: props.onFailure,
        metricsConfig: {
          metrics: [lambda.MetricType.EVENT_COUNT, lambda.MetricType.ERROR_COUNT, lambda.MetricType.KAFKA_METRICS],
        },
      });
      props.function.addEventSource(source);
      return { topic, consumerGroupId, eventSourceMappingId: source.eventSourceMappingId };
    });

    if (auth.kind === 'iam') grantKafkaClusterAccess(props.role, config.cluster, this.triggers);
    if (auth.kind === 'scram' && auth.kmsKeyArn) {
      // MSK requires SCRAM secrets to be encrypted with a customer managed key; the poller decrypts
      // the secret with the function's role, through Secrets Manager only.
      props.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptKafkaScramSecret',
          actions: ['kms:Decrypt'],
          resources: [auth.kmsKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${config.cluster.region}.amazonaws.com` } },
        }),
      );
    }

    // ManagedKafkaEventSource attaches AWSLambdaMSKExecutionRole to the function's role.
    Validations.of(props.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]',
      reason:
        'Attached by ManagedKafkaEventSource: it is the AWS-maintained policy the MSK event poller needs (DescribeClusterV2, ' +
        'GetBootstrapBrokers and the ec2 network-interface actions to reach the cluster VPC, which cannot be resource-scoped). ' +
        'Topic and group access is granted separately, per ARN.',
    });
  }
}

/** IAM access control for MSK: connect to the cluster, read exactly these topics, use exactly these groups. */
function grantKafkaClusterAccess(role: iam.IRole, cluster: MskCluster, triggers: readonly KafkaTrigger[]): void {
  const base = `arn:${cluster.partition}:kafka:${cluster.region}:${cluster.account}`;
  const suffix = `${cluster.name}/${cluster.uuid}`;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'MskConnect',
      actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
      resources: [`${base}:cluster/${suffix}`],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'MskReadTopics',
      actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
      resources: triggers.map((t) => `${base}:topic/${suffix}/${t.topic}`),
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'MskConsumerGroups',
      actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
      resources: triggers.map((t) => `${base}:group/${suffix}/${t.consumerGroupId}`),
    }),
  );
}
