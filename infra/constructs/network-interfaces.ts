// The one cdk-nag acknowledgement for "*" resources on the function role, shared by the two
// constructs that add such a statement (the function in a VPC, and the Kafka pollers).
import type * as iam from 'aws-cdk-lib/aws-iam';
import { acknowledgeNag } from './nag';

export function acknowledgeNetworkInterfaces(role: iam.IRole): void {
  acknowledgeNag(
    role,
    'AwsSolutions-IAM5[Resource::*]',
    'Only the statements KafkaPollerNetworkInterfaces and VpcNetworkInterfaces use "*": they hold EC2 Describe* and ' +
    'network-interface actions, which do not support resource-level permissions; Lambda uses them to place the Kafka ' +
    'pollers and (with vpcId) the function in their subnets.',
  );
}
