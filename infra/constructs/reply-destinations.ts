// The routes file decides the reply grants, at synth: each destination a route names gets exactly the action
// that writes to it, on its own ARN. A reply topic the bridge also consumes is refused (every reply would be
// routed back to an agent: a loop).
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import type { Route } from '../../lambda/config/routes';
import type { Destination } from '../../lambda/reply/destination';
import type { BridgeConfig } from '../context';
import { ReplyDestinationsError, replyDestinations, replyProblems } from '../routes-file';

/** `topics` (a reply topic among them is a loop), `cluster` and `kafkaAuth` (how kafka:// replies connect), `routesFile` (named in errors). */
export interface ReplyDestinationsProps extends Pick<BridgeConfig, 'topics' | 'cluster' | 'kafkaAuth' | 'routesFile'> {
  /** The parsed routes: their `reply` and `errors` destinations are granted. */
  readonly routes: readonly Route[];
  /** The function's role: each destination's write action is added to it. */
  readonly role: iam.IRole;
  /** Sets a handler variable (REPLY_KAFKA_AUTH, REPLY_KAFKA_SECRET_ARN) on the function. */
  readonly addEnvironment: (key: string, value: string) => void;
}

export { ReplyDestinationsError };

export class ReplyDestinations extends Construct {
  /** The distinct destinations the routes name (reply and errors), in the order of the routes file. */
  readonly destinations: Destination[];

  constructor(scope: Construct, id: string, props: ReplyDestinationsProps) {
    super(scope, id);
    const { routes, role } = props;
    this.destinations = replyDestinations(routes);
    const kafka = this.destinations.flatMap((d) => (d.kind === 'kafka' ? [d] : []));
    // readDeployment reports these with every other problem; checked again for a stack built from a hand-made config.
    const problems = replyProblems(routes, { topics: props.topics, msk: props.cluster !== undefined, kafkaAuth: props.kafkaAuth.kind });
    if (problems.length) throw new ReplyDestinationsError(`routesFile ${props.routesFile}:\n  - ${problems.join('\n  - ')}`);

    const grant = (sid: string, actions: string[], resources: string[]) => {
      if (resources.length) role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions, resources }));
    };
    const arns = (kind: Destination['kind']) => this.destinations.flatMap((d) => (d.kind === kind && d.kind !== 'kafka' ? [d.arn] : []));
    grant('ReplySqs', ['sqs:SendMessage', 'sqs:GetQueueUrl'], arns('sqs'));
    grant('ReplySns', ['sns:Publish'], arns('sns'));
    grant('ReplyEventBridge', ['events:PutEvents'], arns('eventbridge'));

    const cluster = props.cluster;
    if (kafka.length && cluster) {
      const auth = props.kafkaAuth;
      if (auth.kind === 'iam') {
        const base = `arn:${cluster.partition}:kafka:${cluster.region}:${cluster.account}`;
        const suffix = `${cluster.name}/${cluster.uuid}`;
        // kafka-cluster:Connect on the cluster is granted with the triggers (same role, same cluster).
        grant('ReplyKafkaTopics', ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'], kafka.map((d) => `${base}:topic/${suffix}/${d.topic}`));
        props.addEnvironment('REPLY_KAFKA_AUTH', 'iam');
      } else if (auth.kind === 'scram') {
        // The mapping's own SCRAM secret (AmazonMSK_...), which its triggers already let this role read.
        props.addEnvironment('REPLY_KAFKA_AUTH', auth.mechanism === 'SASL_SCRAM_256' ? 'scram-sha-256' : 'scram-sha-512');
        props.addEnvironment('REPLY_KAFKA_SECRET_ARN', auth.secretArn);
      }
    }
  }
}
