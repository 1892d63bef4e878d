// The MSK triggers: an event source mapping subscribes to exactly one topic, so one mapping per
// topic, all on the same function, each with its own consumer group (Lambda requires the group to be
// unique per mapping), all in one poller group.
//
// lambda.EventSourceMapping rather than ManagedKafkaEventSource: the latter attaches the AWS-managed
// AWSLambdaMSKExecutionRole (logs, kafka and ec2 actions on "*") and kafka:ListScramSecrets to the
// role, which we cannot take back. The construct IDs are the ones ManagedKafkaEventSource used, so a
// deployed stack keeps its mappings (a new logical ID would create a second mapping for the same
// function, cluster and topic, which Lambda refuses).
import { Duration, Names, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import type { BridgeConfig, MskCluster } from '../context';

export interface KafkaTriggersProps {
  readonly config: BridgeConfig;
  readonly function: lambda.Function;
  readonly role: iam.IRole;
  /** Where Lambda writes the batches it gave up on. */
  readonly onFailure: lambda.IEventSourceDlq;
}

export interface KafkaTrigger {
  readonly topic: string;
  readonly consumerGroupId: string;
  /** The mapping's UUID (a token): the EventSourceMappingUUID metric dimension. */
  readonly eventSourceMappingId: string;
}

/**
 * The network-interface actions Lambda's Kafka pollers use to reach the cluster's subnets. EC2 does
 * not support resource-level permissions for the Describe* actions, and the ENIs do not exist yet when
 * CreateNetworkInterface is authorised, so they are granted on "*".
 */
export const POLLER_NETWORK_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeVpcs',
  'ec2:DeleteNetworkInterface',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
] as const;

/** The metric groups every mapping emits: EventCount, ErrorCount and KafkaMetrics (lag). */
export const MAPPING_METRICS = [lambda.MetricType.EVENT_COUNT, lambda.MetricType.ERROR_COUNT, lambda.MetricType.KAFKA_METRICS];

export class KafkaTriggers extends Construct {
  readonly triggers: KafkaTrigger[];
  /** The PollerGroupName shared by all of this stack's mappings. */
  readonly pollerGroupName: string;

  constructor(scope: Construct, id: string, props: KafkaTriggersProps) {
    super(scope, id);
    const { config, function: fn } = props;
    const auth = config.kafkaAuth;
    this.pollerGroupName = `${config.stackName}-pollers`;

    this.triggers = config.topics.map((topic) => {
      const consumerGroupId = config.consumerGroupIds[topic];
      const mapping = new lambda.EventSourceMapping(fn, `KafkaEventSource:${Names.nodeUniqueId(fn.node)}${topic}`, {
        target: fn,
        eventSourceArn: config.cluster.arn,
        kafkaTopic: topic,
        kafkaConsumerGroupId: consumerGroupId,
        // Created disabled while the token secret holds its placeholder: see the `enabled` knob.
        enabled: config.enabled,
        sourceAccessConfigurations:
          auth.kind === 'scram' ? [{ type: lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH, uri: auth.secretArn }] : undefined,
        startingPosition: lambda.StartingPosition[config.startingPosition],
        batchSize: config.batchSize,
        maxBatchingWindow:
          config.maxBatchingWindowSeconds === undefined ? undefined : Duration.seconds(config.maxBatchingWindowSeconds),
        // Partial batch responses, retry controls and bisection only work in provisioned mode. One
        // poller group: the stack's mappings share event poller capacity instead of one set each.
        provisionedPollerConfig: {
          minimumPollers: config.provisionedPollers.min,
          maximumPollers: config.provisionedPollers.max,
          pollerGroupName: this.pollerGroupName,
        },
        reportBatchItemFailures: true,
        retryAttempts: config.retryAttempts,
        maxRecordAge: config.maxRecordAgeSeconds === undefined ? undefined : Duration.seconds(config.maxRecordAgeSeconds),
        bisectBatchOnError: config.bisectBatchOnError,
        onFailure: props.onFailure,
        supportS3OnFailureDestination: true,
        metricsConfig: { metrics: MAPPING_METRICS },
      });
      return { topic, consumerGroupId, eventSourceMappingId: mapping.eventSourceMappingId };
    });

    grantPollerAccess(props.role, config.cluster);
    if (auth.kind === 'iam') grantKafkaClusterAccess(props.role, config.cluster, this.triggers);
    if (auth.kind === 'scram') {
      // The poller reads the SASL/SCRAM credentials with the function's role.
      props.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadKafkaScramSecret',
          actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          resources: [auth.secretArn],
        }),
      );
    }
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
    if (config.onFailure.kind === 'kafka' && auth.kind === 'iam') {
      // Lambda produces the failed records to this topic of the same cluster, with the function's role.
      props.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'MskWriteOnFailureTopic',
          actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
          resources: [`${clusterBase(config.cluster)}:topic/${clusterSuffix(config.cluster)}/${config.onFailure.topic}`],
        }),
      );
    }
  }
}

/** What the MSK poller needs before any Kafka protocol: find the brokers, and ENIs in the cluster's subnets. */
function grantPollerAccess(role: iam.IRole, cluster: MskCluster): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'MskBootstrap',
      // DescribeClusterV2 (not DescribeCluster): it also works for MSK Serverless.
      actions: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
      resources: [cluster.arn],
    }),
  );
  role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'KafkaPollerNetworkInterfaces', actions: [...POLLER_NETWORK_ACTIONS], resources: ['*'] }));
  Validations.of(role).acknowledge({
    id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
    reason:
      'Only the statements KafkaPollerNetworkInterfaces (and VpcNetworkInterfaces when the function runs in a VPC) use "*": ' +
      'they hold EC2 Describe* and network-interface actions, which do not support resource-level permissions; Lambda uses ' +
      'them to place the Kafka pollers (and the function) in their subnets.',
  });
}

const clusterBase = (c: MskCluster) => `arn:${c.partition}:kafka:${c.region}:${c.account}`;
const clusterSuffix = (c: MskCluster) => `${c.name}/${c.uuid}`;

/** IAM access control for MSK: connect to the cluster, read exactly these topics, use exactly these groups. */
function grantKafkaClusterAccess(role: iam.IRole, cluster: MskCluster, triggers: readonly KafkaTrigger[]): void {
  const base = clusterBase(cluster);
  const suffix = clusterSuffix(cluster);
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
