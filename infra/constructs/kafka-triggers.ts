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
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import {
  AuthenticationMethod,
  ConfluentSchemaRegistry,
  GlueSchemaRegistry,
  SelfManagedKafkaEventSource,
  type SelfManagedKafkaEventSourceProps,
} from 'aws-cdk-lib/aws-lambda-event-sources';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { BridgeConfig, MskCluster, SchemaRegistry } from '../context';
import { acknowledgeNetworkInterfaces } from './network-interfaces';
import { acknowledgeNag } from './nag';

/** The mapping knobs (infra/knobs.ts), as readConfig returns them. */
export type MappingSettings = Pick<
  BridgeConfig,
  | 'cluster'
  | 'selfManaged'
  | 'region'
  | 'topics'
  | 'consumerGroupIds'
  | 'kafkaAuth'
  | 'enabled'
  | 'startingPosition'
  | 'batchSize'
  | 'maxBatchingWindowSeconds'
  | 'retryAttempts'
  | 'maxRecordAgeSeconds'
  | 'bisectBatchOnError'
  | 'provisionedPollers'
  | 'schemaRegistry'
>;

export interface KafkaTriggersProps extends MappingSettings {
  /** The PollerGroupName all the mappings share. */
  readonly pollerGroupName: string;
  /** A topic of the same MSK cluster that Lambda writes failed records to: granted to the role with IAM auth. */
  readonly onFailureTopic?: string;
  /** The function every mapping invokes. */
  readonly function: lambda.Function;
  /** The function's role: the pollers' cluster, network and secret permissions are added to it. */
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
    const { function: fn } = props;
    const auth = props.kafkaAuth;
    this.pollerGroupName = props.pollerGroupName;
    this.triggers = [];

    const registry = props.schemaRegistry && this.schemaRegistry(props.schemaRegistry, props.role);
    const common = (topic: string) => ({
      kafkaConsumerGroupId: props.consumerGroupIds[topic],
      // Created disabled while the token secret holds its placeholder: see the `enabled` knob.
      enabled: props.enabled,
      startingPosition: lambda.StartingPosition[props.startingPosition],
      batchSize: props.batchSize,
      maxBatchingWindow: props.maxBatchingWindowSeconds === undefined ? undefined : Duration.seconds(props.maxBatchingWindowSeconds),
      // Partial batch responses, retry controls and bisection only work in provisioned mode. One
      // poller group: the stack's mappings share event poller capacity instead of one set each.
      provisionedPollerConfig: {
        minimumPollers: props.provisionedPollers.min,
        maximumPollers: props.provisionedPollers.max,
        pollerGroupName: this.pollerGroupName,
      },
      reportBatchItemFailures: true,
      retryAttempts: props.retryAttempts,
      maxRecordAge: props.maxRecordAgeSeconds === undefined ? undefined : Duration.seconds(props.maxRecordAgeSeconds),
      bisectBatchOnError: props.bisectBatchOnError,
      onFailure: props.onFailure,
      metricsConfig: { metrics: MAPPING_METRICS },
      // Every mapping validates (and with JSON, deserializes) through the same registry.
      ...(registry && { schemaRegistryConfig: registry }),
    });

    const cluster = props.cluster;
    if (cluster) {
      this.triggers = props.topics.map((topic) => {
        const mapping = new lambda.EventSourceMapping(fn, `KafkaEventSource:${Names.nodeUniqueId(fn.node)}${topic}`, {
          ...common(topic),
          target: fn,
          eventSourceArn: cluster.arn,
          kafkaTopic: topic,
          sourceAccessConfigurations:
            auth.kind === 'scram' ? [{ type: lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH, uri: auth.secretArn }] : undefined,
          supportS3OnFailureDestination: true,
        });
        return { topic, consumerGroupId: props.consumerGroupIds[topic], eventSourceMappingId: mapping.eventSourceMappingId };
      });
      grantPollerAccess(props.role, cluster);
      if (auth.kind === 'iam') grantKafkaClusterAccess(props.role, cluster, this.triggers);
      if (props.onFailureTopic && auth.kind === 'iam') {
        // Lambda produces the failed records to this topic of the same cluster, with the function's role.
        props.role.addToPrincipalPolicy(
          new iam.PolicyStatement({
            sid: 'MskWriteOnFailureTopic',
            actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
            resources: [`${clusterBase(cluster)}:topic/${clusterSuffix(cluster)}/${props.onFailureTopic}`],
          }),
        );
      }
    } else {
      this.triggers = this.selfManaged(fn, props.role, props, common);
    }

    if (auth.kind !== 'iam' && !props.selfManaged) {
      // The poller reads the SASL/SCRAM credentials with the function's role (SelfManagedKafkaEventSource grants its own).
      props.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'ReadKafkaScramSecret',
          actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'],
          resources: [auth.secretArn],
        }),
      );
    }
    if (auth.kind !== 'iam' && auth.kmsKeyArn) {
      // MSK requires SCRAM secrets to be encrypted with a customer managed key; the poller decrypts
      // the secret with the function's role, through Secrets Manager only.
      props.role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          sid: 'DecryptKafkaScramSecret',
          actions: ['kms:Decrypt'],
          resources: [auth.kmsKeyArn],
          conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${props.region}.amazonaws.com` } },
        }),
      );
    }
  }

  /**
   * The CDK's GlueSchemaRegistry grants glue:GetRegistry on the registry and glue:GetSchemaVersion on it and
   * its schemas; ConfluentSchemaRegistry grants read on the auth secret only. A Confluent registry without
   * auth needs no permission, and CDK has no class for it: the same configuration without AccessConfigs.
   */
  private schemaRegistry(r: SchemaRegistry, role: iam.IRole): lambda.ISchemaRegistry {
    const eventRecordFormat = r.recordFormat === 'SOURCE' ? lambda.EventRecordFormat.SOURCE : lambda.EventRecordFormat.JSON;
    const schemaValidationConfigs = r.validate.map((a) => ({
      attribute: a === 'KEY' ? lambda.KafkaSchemaValidationAttribute.KEY : lambda.KafkaSchemaValidationAttribute.VALUE,
    }));
    if (r.kind === 'glue') {
      const name = r.arn.split(':registry/')[1];
      acknowledgeNag(
        role,
        `AwsSolutions-IAM5[Resource::["arn:\${AWS::Partition}:glue:\${AWS::Region}:\${AWS::AccountId}:schema/\${registryName}/*",{"registryName":"${name}"}]]`,
        'glue:GetSchemaVersion on the schemas of the one registry schemaRegistryUri names (GlueSchemaRegistry): the mapping ' +
        'looks up whichever schema version a record was written with, and those versions are not known at deploy time.',
      );
      return new GlueSchemaRegistry({ schemaRegistryArn: r.arn, eventRecordFormat, schemaValidationConfigs });
    }
    if (r.auth) {
      return new ConfluentSchemaRegistry({
        schemaRegistryUri: r.url,
        eventRecordFormat,
        schemaValidationConfigs,
        authenticationType:
          r.auth.type === 'BASIC_AUTH' ? lambda.KafkaSchemaRegistryAccessConfigType.BASIC_AUTH : lambda.KafkaSchemaRegistryAccessConfigType.CLIENT_CERTIFICATE_TLS_AUTH,
        secret: secretsmanager.Secret.fromSecretCompleteArn(this, 'SchemaRegistrySecret', r.auth.secretArn),
      });
    }
    return { bind: () => ({ schemaRegistryUri: r.url, eventRecordFormat, schemaValidationConfigs }) };
  }

  /** Self-managed Kafka: SelfManagedKafkaEventSource, with SASL/SCRAM or mTLS and the pollers' VPC settings. */
  private selfManaged(
    fn: lambda.Function,
    role: iam.IRole,
    config: MappingSettings,
    common: (topic: string) => Record<string, unknown>,
  ): KafkaTrigger[] {
    const sm = config.selfManaged!;
    const auth = config.kafkaAuth;
    const secret = auth.kind === 'iam' ? undefined : secretsmanager.Secret.fromSecretCompleteArn(this, 'KafkaSecret', auth.secretArn);
    const rootCa = sm.rootCaSecretArn ? secretsmanager.Secret.fromSecretCompleteArn(this, 'KafkaRootCa', sm.rootCaSecretArn) : undefined;
    const vpc = sm.vpc && {
      vpc: ec2.Vpc.fromVpcAttributes(this, 'KafkaVpc', { vpcId: sm.vpc.vpcId, availabilityZones: ['unused'] }),
      vpcSubnets: {
        subnets: sm.vpc.subnetIds.map((id, i) => {
          const subnet = ec2.Subnet.fromSubnetId(this, `KafkaSubnet${i}`, id);
          Validations.of(subnet).acknowledge({
            id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
            reason: 'Only the subnet ID is needed to place the Kafka pollers; nothing here reads its route table.',
          });
          return subnet;
        }),
      },
      securityGroup: ec2.SecurityGroup.fromSecurityGroupId(this, 'KafkaSecurityGroup', sm.vpc.securityGroupId),
    };
    const triggers = config.topics.map((topic) => {
      const before = new Set(fn.node.children);
      const { kafkaConsumerGroupId, ...rest } = common(topic) as { kafkaConsumerGroupId: string } & Record<string, unknown>;
      fn.addEventSource(
        new SelfManagedKafkaEventSource({
          ...(rest as Omit<SelfManagedKafkaEventSourceProps, 'topic' | 'bootstrapServers'>),
          bootstrapServers: sm.bootstrapServers,
          topic,
          consumerGroupId: kafkaConsumerGroupId,
          secret,
          authenticationMethod:
            auth.kind === 'mtls'
              ? AuthenticationMethod.CLIENT_CERTIFICATE_TLS_AUTH
              : auth.kind === 'scram' && auth.mechanism === 'SASL_SCRAM_256'
                ? AuthenticationMethod.SASL_SCRAM_256_AUTH
                : AuthenticationMethod.SASL_SCRAM_512_AUTH,
          rootCACertificate: rootCa,
          ...vpc,
        }),
      );
      // SelfManagedKafkaEventSource does not expose its mapping: it is the one child the call added.
      const mapping = fn.node.children.find((c): c is lambda.EventSourceMapping => !before.has(c) && c instanceof lambda.EventSourceMapping);
      if (!mapping) throw new Error(`no event source mapping was created for topic ${topic}`);
      return { topic, consumerGroupId: kafkaConsumerGroupId, eventSourceMappingId: mapping.eventSourceMappingId };
    });
    if (rootCa) {
      // The pollers read the private CA to verify the brokers' certificates (not granted by the event source).
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ sid: 'ReadKafkaRootCa', actions: ['secretsmanager:GetSecretValue'], resources: [sm.rootCaSecretArn!] }),
      );
    }
    if (vpc) {
      role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'KafkaPollerNetworkInterfaces', actions: [...POLLER_NETWORK_ACTIONS], resources: ['*'] }));
      acknowledgeNetworkInterfaces(role);
    }
    return triggers;
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
  acknowledgeNetworkInterfaces(role);
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
