// The two queues where records end up when they cannot be delivered:
// - poisonQueue: the handler sends each record it gives up on (the record itself plus the error), DLQ_URL.
// - onFailureQueue: the event source mapping's on-failure destination. Lambda writes only metadata
//   there (topic, partition, offsets, batch size, error), never the records: replay from Kafka.
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag';

const RETENTION = Duration.days(14); // the SQS maximum: operators get two weeks to drain

export interface DeadLetterQueuesProps {
  /** Keep the poison-record queue (the only full copy of dead-lettered records) when the stack is deleted. */
  readonly retainPoisonQueue: boolean;
  /** Create the on-failure queue (the mapping's destination is SQS). */
  readonly onFailureQueue: boolean;
}

export class DeadLetterQueues extends Construct {
  readonly poisonQueue: sqs.Queue;
  readonly onFailureQueue?: sqs.Queue;

  constructor(scope: Construct, id: string, props: DeadLetterQueuesProps) {
    super(scope, id);
    this.poisonQueue = terminalQueue(this, 'PoisonRecordQueue', props.retainPoisonQueue ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY);
    // Metadata only (offsets to replay from Kafka): nothing to keep once the stack is gone.
    if (props.onFailureQueue) this.onFailureQueue = terminalQueue(this, 'OnFailureQueue', RemovalPolicy.DESTROY);
  }

  /** sqs:SendMessage on the poison queue and nothing else (no receive, no delete, no other queue). */
  grantSendToPoisonQueue(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['sqs:SendMessage'], resourceArns: [this.poisonQueue.queueArn] });
  }

  /** The mapping's on-failure destination, granting only sqs:SendMessage (CDK's SqsDlq also grants GetQueue*). */
  onFailureDestination(): lambda.IEventSourceDlq {
    const queue = this.onFailureQueue;
    if (!queue) throw new Error('no on-failure queue: the on-failure destination is not SQS');
    return {
      bind(_mapping, target) {
        iam.Grant.addToPrincipal({ grantee: target, actions: ['sqs:SendMessage'], resourceArns: [queue.queueArn] });
        return { destination: queue.queueArn };
      },
    };
  }
}

function terminalQueue(scope: Construct, id: string, removalPolicy: RemovalPolicy): sqs.Queue {
  const queue = new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: RETENTION,
    removalPolicy,
  });
  acknowledgeNag(
    queue,
    'AwsSolutions-SQS3',
    'This queue is itself the terminal dead-letter store of the bridge; a DLQ behind it would only move the same ' +
    'messages again. Operators drain it by hand and the "not empty" alarm pages them.',
  );
  return queue;
}
