// The Archestra API token lives in Secrets Manager, never in the template or the environment:
// the function reads it at cold start via ARCHESTRA_TOKEN_SECRET_ARN.
import { SecretValue } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeNag } from './nag';

/** The value a created secret starts with; the handler cannot authenticate until an operator replaces it. */
export const TOKEN_PLACEHOLDER = 'REPLACE_ME: put the Archestra API token here (see the stack output SetArchestraTokenCommand)';

// A complete secret ARN ends with the 6-character suffix Secrets Manager appends to the name.
const COMPLETE_ARN = /:secret:.+-[A-Za-z0-9]{6}$/;

export interface ArchestraTokenProps {
  /** An existing secret to import; when absent a new one is created with a placeholder value. */
  readonly secretArn?: string;
}

export class ArchestraToken extends Construct {
  readonly secret: secretsmanager.ISecret;
  /** True when this stack created the secret (so an operator must set its value). */
  readonly created: boolean;
  private readonly policyArn: string;

  constructor(scope: Construct, id: string, props: ArchestraTokenProps = {}) {
    super(scope, id);
    const arn = props.secretArn;
    if (arn) {
      this.created = false;
      if (COMPLETE_ARN.test(arn)) {
        this.secret = secretsmanager.Secret.fromSecretCompleteArn(this, 'Imported', arn);
        this.policyArn = arn;
      } else {
        // A partial ARN (name without the suffix) only matches in IAM with the suffix wildcard.
        this.secret = secretsmanager.Secret.fromSecretPartialArn(this, 'Imported', arn);
        this.policyArn = `${arn}-??????`;
      }
    } else {
      this.created = true;
      const secret = new secretsmanager.Secret(this, 'Secret', {
        description: 'Archestra API token used by the Kafka to A2A bridge (set it after the first deploy)',
        // Not a secret: a marker the operator overwrites; a generated value would look like a real token.
        secretStringValue: SecretValue.unsafePlainText(TOKEN_PLACEHOLDER),
      });
      acknowledgeNag(
        secret,
        'AwsSolutions-SMG4',
        'The token is issued by Archestra, not by AWS: Secrets Manager cannot rotate it without an Archestra-side ' +
        'rotation function. Operators rotate it in Archestra and put the new value here.',
      );
      this.secret = secret;
      this.policyArn = secret.secretArn;
    }
  }

  get secretArn(): string {
    return this.secret.secretArn;
  }

  /** secretsmanager:GetSecretValue on this secret only (no DescribeSecret, no other secret). */
  grantGetSecretValue(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({ grantee, actions: ['secretsmanager:GetSecretValue'], resourceArns: [this.policyArn] });
  }
}
