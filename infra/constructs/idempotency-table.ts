// The idempotency store's table: a redelivered record is claimed here before it is sent, so the agent
// never runs it twice. Item shape and access pattern are lambda/io/dynamo-idempotency.ts's.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag';

export interface IdempotencyTableProps {
  readonly pointInTimeRecovery: boolean;
  /** Keep the table when the stack is deleted. */
  readonly retain: boolean;
}

export class IdempotencyTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string, props: IdempotencyTableProps) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      // On-demand: the load follows Kafka's, bursty and unknown in advance.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: props.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // Retained by default (retainOnDelete): deleting the stack deletes no data; remove a retained table by hand.
      removalPolicy: props.retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    if (!props.pointInTimeRecovery) {
      acknowledgeNag(
        this.table,
        'AwsSolutions-DDB3',
        'Point-in-time recovery was turned off with the pointInTimeRecovery knob. The table holds only delivery marks that ' +
        'expire after IDEMPOTENCY_TTL_SECONDS: losing them can cause a duplicate agent run on redelivery, never a lost record.',
      );
    }
  }

  /** Exactly the four item operations the store performs, on this table only. */
  grantStore(role: iam.IGrantable): void {
    this.table.grant(role, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  }
}
