// The idempotency store's table: a redelivered record is claimed here before it is sent, so the agent
// never runs it twice. Item shape and access pattern are lambda/io/dynamo-idempotency.ts's.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export class IdempotencyTable extends Construct {
  readonly table: dynamodb.Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: 'id', type: dynamodb.AttributeType.STRING },
      // On-demand: the load follows Kafka's, bursty and unknown in advance.
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: 'expiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      // Only delivery marks live here, each expiring within a day by default: nothing worth retaining.
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  /** Exactly the four item operations the store performs, on this table only. */
  grantStore(role: iam.IGrantable): void {
    this.table.grant(role, 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem');
  }
}
