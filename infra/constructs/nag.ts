// cdk-nag's AwsSolutions pack reports every finding until it is acknowledged with its rule id and a reason;
// the reason is what a reviewer reads in the synth report, so every acknowledgement must carry one.
import { Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/** Accepts the AwsSolutions rule `rule` (e.g. `AwsSolutions-S1`, or `AwsSolutions-IAM5[Resource::...]`) on `scope`. */
export function acknowledgeNag(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${rule}`, reason });
}
