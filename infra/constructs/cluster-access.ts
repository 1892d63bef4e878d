// Lambda's MSK pollers run in the cluster's subnets with the cluster's security groups, so those groups
// must let their own members in on the broker port the mapping authenticates on. With the
// clusterSecurityGroupId knob the stack adds that self-referencing inbound rule to the (imported) group.
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import type { KafkaAuth } from '../context';

/** MSK's in-VPC broker ports per authentication: IAM 9098, SASL/SCRAM 9096, TLS (mTLS) 9094. */
export const BROKER_PORT: Record<KafkaAuth['kind'], number> = { iam: 9098, scram: 9096, mtls: 9094 };

export interface ClusterAccessProps {
  readonly securityGroupId: string;
  readonly auth: KafkaAuth['kind'];
}

export class ClusterAccess extends Construct {
  readonly port: number;

  constructor(scope: Construct, id: string, props: ClusterAccessProps) {
    super(scope, id);
    this.port = BROKER_PORT[props.auth];
    const group = ec2.SecurityGroup.fromSecurityGroupId(this, 'ClusterSecurityGroup', props.securityGroupId, { mutable: true });
    group.addIngressRule(group, ec2.Port.tcp(this.port), `Lambda Kafka pollers to the brokers (${{ iam: 'IAM', scram: 'SASL/SCRAM', mtls: 'mTLS' }[props.auth]})`);
  }
}
