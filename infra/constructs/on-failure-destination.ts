// The mapping's on-failure destination, where Lambda writes a batch it gave up on (retries or record
// age exhausted). Three choices, each with exactly the permissions Lambda needs to write there:
// - sqs (default): the DeadLetterQueues' on-failure queue; metadata only (topic, partition, offsets).
// - s3: a bucket created here; the whole invocation payload (the records, base64) plus the metadata.
// - kafka://topic: a topic of the same cluster; the records themselves (same key, value and headers).
import { type CfnElement, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { KafkaDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { OnFailureDestination as Choice } from '../context';
import { acknowledgeNag } from './nag';

export interface OnFailureDestinationProps {
  readonly choice: Choice;
  /** The SQS destination, when the choice is sqs. */
  readonly sqs?: lambda.IEventSourceDlq;
  /** Keep the S3 bucket (full payloads) when the stack is deleted. */
  readonly retain: boolean;
}

export class OnFailureDestination extends Construct {
  readonly destination: lambda.IEventSourceDlq;
  readonly bucket?: s3.Bucket;
  /** For the dashboard and outputs: where to look. */
  readonly description: string;

  constructor(scope: Construct, id: string, props: OnFailureDestinationProps) {
    super(scope, id);
    const { choice } = props;
    if (choice.kind === 'sqs') {
      if (!props.sqs) throw new Error('onFailureDestination sqs needs the on-failure queue');
      this.destination = props.sqs;
      this.description = 'the on-failure queue (metadata only)';
    } else if (choice.kind === 'kafka') {
      // KafkaDlq grants nothing: the topic's write permission is granted with the cluster's (kafka-triggers.ts).
      this.destination = new KafkaDlq(choice.topic);
      this.description = `the Kafka topic ${choice.topic} (the records themselves)`;
    } else {
      const bucket = new s3.Bucket(this, 'Bucket', {
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      });
      acknowledgeNag(
        bucket,
        'AwsSolutions-S1',
        'Server access logs would need a second bucket only for logs. Objects here are written only by Lambda for this ' +
        "stack's mappings, and each write is counted by the mappings' OnFailureDestinationDeliveredEventCount metric.",
      );
      this.bucket = bucket;
      this.description = 'the on-failure bucket (whole invocation payloads)';
      this.destination = {
        bind(_mapping, target) {
          // Exactly what Lambda documents for an S3 destination (S3OnFailureDestination grants read and delete too).
          iam.Grant.addToPrincipal({ grantee: target, actions: ['s3:PutObject'], resourceArns: [bucket.arnForObjects('*')] });
          if (target.role) {
            acknowledgeNag(
              target.role,
              `AwsSolutions-IAM5[Resource::<${Stack.of(bucket).getLogicalId(bucket.node.defaultChild as CfnElement)}.Arn>/*]`,
              'Lambda names each failed-batch object itself, so s3:PutObject is granted on the objects of this one bucket, ' +
              'which the stack creates for that purpose only.',
            );
          }
          iam.Grant.addToPrincipal({ grantee: target, actions: ['s3:ListBucket'], resourceArns: [bucket.bucketArn] });
          return { destination: bucket.bucketArn };
        },
      };
    }
  }
}
