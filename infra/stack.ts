// One stack: the queues, the token secret, the function, one Kafka trigger per topic (MSK or
// self-managed) with its on-failure destination, the idempotency table, the reply grants, and the
// dashboard with its alarms. Each construct gets only the settings it reads; one that adds a resource
// the handler uses grants the function's role and sets its variable (bridge.addEnvironment).
import { Annotations, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Route } from '../lambda/config/routes';
import { ArchestraToken } from './constructs/archestra-token';
import { BridgeFunction } from './constructs/bridge-function';
import { ClusterAccess } from './constructs/cluster-access';
import { DeadLetterQueues } from './constructs/dead-letter-queues';
import { IdempotencyTable } from './constructs/idempotency-table';
import { KafkaTriggers, type MappingSettings } from './constructs/kafka-triggers';
import { Observability, STALL_PERIODS } from './constructs/observability';
import { OnFailureDestination } from './constructs/on-failure-destination';
import { ReplyDestinations } from './constructs/reply-destinations';
import type { BridgeConfig } from './context';
import { loadRoutesFile, unroutedTopics } from './routes-file';

export interface KafkaA2ABridgeStackProps extends StackProps {
  readonly config: BridgeConfig;
}

export class KafkaA2ABridgeStack extends Stack {
  readonly config: BridgeConfig;
  readonly routes: Route[];
  readonly queues: DeadLetterQueues;
  readonly token: ArchestraToken;
  readonly bridge: BridgeFunction;
  readonly kafka: KafkaTriggers;
  readonly onFailure: OnFailureDestination;
  readonly observability: Observability;
  readonly idempotency?: IdempotencyTable;
  readonly clusterAccess?: ClusterAccess;
  readonly replies: ReplyDestinations;

  constructor(scope: Construct, id: string, props: KafkaA2ABridgeStackProps) {
    const { config, ...stackProps } = props;
    super(scope, id, {
      description: 'Kafka (Amazon MSK or self-managed) to A2A agents bridge: Kafka triggers, Lambda, dead-letter queues, dashboard and alarms',
      // An event source mapping must live in its cluster's region: deploy there whatever the CLI default is.
      env: { region: config.region },
      ...stackProps,
    });
    this.config = config;
    // Invalid routes fail synth here, with the handler's own messages (route and field named).
    this.routes = loadRoutesFile(config.routesFile);

    this.queues = new DeadLetterQueues(this, 'DeadLetterQueues', {
      retainPoisonQueue: config.retainOnDelete,
      onFailureQueue: config.onFailure.kind === 'sqs',
    });
    this.token = new ArchestraToken(this, 'ArchestraToken', { secretArn: config.archestraTokenSecretArn });
    this.bridge = new BridgeFunction(this, 'Bridge', {
      environment: config.handlerEnvironment,
      routesFile: config.routesFile,
      topics: config.topics,
      memorySize: config.memorySize,
      timeoutSeconds: config.timeoutSeconds,
      reservedConcurrency: config.reservedConcurrency,
      logRetentionDays: config.logRetentionDays,
      vpc: config.vpc,
      deadLetterQueueUrl: this.queues.poisonQueue.queueUrl,
      archestraTokenSecretArn: this.token.secretArn,
    });
    this.queues.grantSendToPoisonQueue(this.bridge.role);
    this.token.grantGetSecretValue(this.bridge.role);
    if (config.idempotency.enabled) {
      this.idempotency = new IdempotencyTable(this, 'Idempotency', {
        pointInTimeRecovery: config.idempotency.pointInTimeRecovery,
        retain: config.retainOnDelete,
      });
      this.idempotency.grantStore(this.bridge.role);
      this.bridge.addEnvironment('IDEMPOTENCY_TABLE', this.idempotency.table.tableName);
      this.bridge.addEnvironment('IDEMPOTENCY_TTL_SECONDS', String(config.idempotency.ttlSeconds));
    }

    this.onFailure = new OnFailureDestination(this, 'OnFailure', {
      choice: config.onFailure,
      sqs: this.queues.onFailureQueue && this.queues.onFailureDestination(),
      retain: config.retainOnDelete,
    });
    this.kafka = new KafkaTriggers(this, 'KafkaTriggers', {
      ...mappingSettings(config),
      pollerGroupName: `${config.stackName}-pollers`,
      onFailureTopic: config.onFailure.kind === 'kafka' ? config.onFailure.topic : undefined,
      function: this.bridge.function,
      role: this.bridge.role,
      onFailure: this.onFailure.destination,
    });

    this.replies = new ReplyDestinations(this, 'Replies', {
      topics: config.topics,
      cluster: config.cluster,
      kafkaAuth: config.kafkaAuth,
      routesFile: config.routesFile,
      routes: this.routes,
      role: this.bridge.role,
      addEnvironment: (k, v) => this.bridge.addEnvironment(k, v),
    });

    if (config.clusterSecurityGroupId) {
      this.clusterAccess = new ClusterAccess(this, 'ClusterAccess', { securityGroupId: config.clusterSecurityGroupId, auth: config.kafkaAuth.kind });
    }

    this.observability = new Observability(this, 'Observability', {
      function: this.bridge.function,
      poisonQueue: this.queues.poisonQueue,
      onFailureQueue: this.queues.onFailureQueue,
      onFailureDescription: this.onFailure.description,
      triggers: this.kafka.triggers,
      schemaRegistry: config.schemaRegistry && (config.schemaRegistry.kind === 'glue' ? config.schemaRegistry.arn : config.schemaRegistry.url),
      routeNames: this.routes.map((r) => r.name),
      serviceName: config.serviceName,
      metricsNamespace: config.metricsNamespace,
      offsetLagThreshold: config.offsetLagThreshold,
      alarmEmail: config.alarmEmail,
      dashboardName: `${this.stackName}-${config.region}`,
      replies: this.replies.destinations.length > 0,
    });

    this.addOutputs();
    this.addWarnings();
  }

  private addOutputs(): void {
    const region = this.config.region;
    new CfnOutput(this, 'FunctionName', { value: this.bridge.function.functionName, description: 'The bridge Lambda function' });
    new CfnOutput(this, 'PoisonRecordQueueUrl', {
      value: this.queues.poisonQueue.queueUrl,
      description: 'Records the bridge gave up on, with the error (DLQ_URL)',
    });
    if (this.queues.onFailureQueue) {
      new CfnOutput(this, 'OnFailureQueueUrl', {
        value: this.queues.onFailureQueue.queueUrl,
        description: 'Batches Lambda gave up on: metadata only (topic, partition, offsets), replay from Kafka',
      });
    }
    if (this.onFailure.bucket) {
      new CfnOutput(this, 'OnFailureBucketName', {
        value: this.onFailure.bucket.bucketName,
        description: 'Batches Lambda gave up on: the whole invocation payload (records base64) with the error',
      });
    }
    new CfnOutput(this, 'ArchestraTokenSecretArn', { value: this.token.secretArn, description: 'The Archestra API token secret' });
    if (this.token.created) {
      new CfnOutput(this, 'SetArchestraTokenCommand', {
        value: `aws secretsmanager put-secret-value --region ${region} --secret-id ${this.token.secretArn} --secret-string file://archestra-token.txt`,
        description: 'The token secret holds a placeholder: write the Archestra API token to archestra-token.txt and run this',
      });
    }
    if (this.idempotency) {
      new CfnOutput(this, 'IdempotencyTableName', { value: this.idempotency.table.tableName, description: 'Delivery marks that stop duplicate agent runs' });
    }
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://${consoleHost(this.config.partition)}/cloudwatch/home?region=${region}#dashboards/dashboard/${this.observability.dashboard.dashboardName}`,
      description: 'The CloudWatch dashboard of the bridge',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.observability.alarmTopic.topicArn,
      description: 'Alarm notifications; subscribe more endpoints here',
    });
  }

  private addWarnings(): void {
    const { config, routes } = this;
    const warn = (id: string, message: string) => Annotations.of(this).addWarningV2(`kafka-a2a-bridge:${id}`, message);
    if (!config.enabled) {
      warn(
        'mappingsDisabled',
        this.token.created
          ? 'The Kafka triggers are created disabled: the Archestra token secret holds a placeholder. Put the token in, check it, ' +
              'then deploy again with -c enabled=true (docs/DEPLOYMENT.md).'
          : 'The Kafka triggers are disabled (enabled=false): nothing is consumed until you deploy with -c enabled=true.',
      );
    }
    if (config.timeoutSeconds > STALL_PERIODS * 300) {
      warn(
        'stallWindow',
        `timeoutSeconds (${config.timeoutSeconds}) is longer than the Stalled alarms' window (${STALL_PERIODS * 5} minutes): ` +
          'one invocation that long, with lag and no commit, turns them red.',
      );
    }
    for (const topic of unroutedTopics(config.topics, routes)) {
      warn('unroutedTopic', `Topic "${topic}" is subscribed but no route's topic_pattern matches it: its records will all be unrouted.`);
    }
    if (config.cluster && config.kafkaAuth.kind === 'scram') {
      const name = config.kafkaAuth.secretArn.split(':secret:')[1] ?? '';
      if (!name.startsWith('AmazonMSK_')) {
        warn('scramSecretName', `kafkaSecretArn: MSK only associates SCRAM secrets whose name starts with "AmazonMSK_" (got "${name}").`);
      }
      if (!config.kafkaAuth.kmsKeyArn) {
        warn(
          'scramSecretKey',
          'kafkaSecretArn without kafkaSecretKmsKeyArn: MSK SCRAM secrets use a customer managed KMS key, which the function role must be allowed to decrypt.',
        );
      }
    }
  }
}

function consoleHost(partition: string): string {
  if (partition === 'aws-cn') return 'console.amazonaws.cn';
  if (partition === 'aws-us-gov') return 'console.amazonaws-us-gov.com';
  return 'console.aws.amazon.com';
}

/** Only the mapping knobs: the triggers get nothing else from the configuration. */
function mappingSettings(c: BridgeConfig): MappingSettings {
  const { cluster, selfManaged, region, topics, consumerGroupIds, kafkaAuth, enabled, startingPosition, batchSize } = c;
  const { maxBatchingWindowSeconds, retryAttempts, maxRecordAgeSeconds, bisectBatchOnError, provisionedPollers, schemaRegistry } = c;
  return {
    ...{ cluster, selfManaged, region, topics, consumerGroupIds, kafkaAuth, enabled, startingPosition, batchSize },
    ...{ maxBatchingWindowSeconds, retryAttempts, maxRecordAgeSeconds, bisectBatchOnError, provisionedPollers, schemaRegistry },
  };
}
