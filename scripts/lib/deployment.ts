// `npm run doctor -- --stack NAME`: reads a deployed stack with the operator's AWS credentials (read-only
// calls only): the bridge function's settings, its queues' depths, and each Kafka event source mapping's
// state and lag. The token secret is checked by checkToken through the function's own settings.
import { CloudFormationClient, DescribeStackResourcesCommand, type StackResource } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import {
  type EventSourceMappingConfiguration,
  type FunctionConfiguration,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Check } from './checks';
import type { Env } from './doctor';

export interface AwsClients {
  cfn: CloudFormationClient;
  lambda: LambdaClient;
  sqs: SQSClient;
  cloudwatch: CloudWatchClient;
}

/**
 * Clients from the standard AWS configuration (profile, region, AWS_ENDPOINT_URL), with bounded waits. SQS
 * calls go to the configured endpoint, not to the host in the queue URL: the stack's queues are in its region.
 */
export function awsClients(): AwsClients {
  const config = { maxAttempts: 2, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000, throwOnRequestTimeout: true } };
  return { cfn: new CloudFormationClient(config), lambda: new LambdaClient(config), sqs: new SQSClient({ ...config, useQueueUrlAsEndpoint: false }), cloudwatch: new CloudWatchClient(config) };
}

export interface Deployment {
  checks: Check[];
  /** The bridge function's environment, when found: the settings doctor validates next. */
  env?: Env;
  functionName?: string;
}

const errorText = (e: unknown) => `${(e as Error).name}: ${(e as Error).message}`;
/** The bridge is the function that reads routes (CDK adds helper functions of its own to a stack). */
const isBridge = (env: Env) => env.ROUTES_CONFIG !== undefined || env.ROUTES_CONFIG_FILE !== undefined;

export async function checkDeployment(stack: string, aws: AwsClients, o: { now?: () => number } = {}): Promise<Deployment> {
  const checks: Check[] = [];
  let resources: StackResource[];
  try {
    resources = (await aws.cfn.send(new DescribeStackResourcesCommand({ StackName: stack }))).StackResources ?? [];
  } catch (e) {
    checks.push({ name: `stack ${stack}`, status: 'fail', detail: `cannot read it: ${errorText(e)}`, fix: 'check the stack name, the region (AWS_REGION) and your credentials' });
    return { checks };
  }
  const physical = (type: string) => resources.filter((r) => r.ResourceType === type && r.PhysicalResourceId).map((r) => r.PhysicalResourceId!);
  checks.push({ name: `stack ${stack}`, status: 'ok', detail: `${resources.length} resources` });

  let env: Env | undefined;
  let functionName: string | undefined;
  for (const name of physical('AWS::Lambda::Function')) {
    let cfg: FunctionConfiguration;
    try {
      cfg = await aws.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name }));
    } catch (e) {
      checks.push({ name: `function ${name}`, status: 'fail', detail: `cannot read its configuration: ${errorText(e)}` });
      continue;
    }
    const vars: Env = cfg.Environment?.Variables ?? {};
    if (!isBridge(vars)) continue;
    env = vars;
    functionName = name;
    const state = cfg.State ?? 'unknown';
    const bad = state === 'Failed' || cfg.LastUpdateStatus === 'Failed';
    checks.push({
      name: `function ${name}`,
      status: bad ? 'fail' : state === 'Active' ? 'ok' : 'warn',
      detail: `${state}, ${cfg.Runtime ?? 'runtime unknown'}, timeout ${cfg.Timeout ?? '?'} s${cfg.StateReason ? ` (${cfg.StateReason})` : ''}`,
    });
    break;
  }
  if (!env) {
    checks.push({ name: 'bridge function', status: 'fail', detail: `no function in stack ${stack} has ROUTES_CONFIG or ROUTES_CONFIG_FILE`, fix: 'is this the bridge\'s stack?' });
    return { checks };
  }

  for (const url of physical('AWS::SQS::Queue')) {
    const role = url === env.DLQ_URL ? 'poison queue' : 'on-failure queue';
    try {
      const a = (await aws.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }))).Attributes ?? {};
      const waiting = Number(a.ApproximateNumberOfMessages ?? 0);
      const inFlight = Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
      const total = waiting + inFlight;
      const fix = role === 'poison queue' ? 'fix the cause, then npm run redrive' : 'these batches were skipped by Lambda: recover them with npm run replay';
      checks.push({
        name: `${role} ${url.split('/').pop()}`,
        status: total > 0 ? 'warn' : 'ok',
        detail: total > 0 ? `${waiting} messages waiting, ${inFlight} in flight` : 'empty',
        ...(total > 0 ? { fix } : {}),
      });
    } catch (e) {
      checks.push({ name: `${role} ${url.split('/').pop()}`, status: 'fail', detail: `cannot read it: ${errorText(e)}` });
    }
  }

  let mappings: EventSourceMappingConfiguration[];
  try {
    mappings = (await aws.lambda.send(new ListEventSourceMappingsCommand({ FunctionName: functionName }))).EventSourceMappings ?? [];
  } catch (e) {
    checks.push({ name: 'event source mappings', status: 'fail', detail: `cannot list them: ${errorText(e)}` });
    return { checks, env, functionName };
  }
  if (mappings.length === 0) checks.push({ name: 'event source mappings', status: 'fail', detail: `function ${functionName} has none: nothing feeds it` });
  for (const m of mappings) {
    const topics = m.Topics?.join(', ') ?? m.EventSourceArn ?? '?';
    const name = `mapping ${m.UUID} (${topics})`;
    const state = m.State ?? 'unknown';
    const problem = /PROBLEM/i.test(m.LastProcessingResult ?? '');
    const reason = [m.StateTransitionReason, m.LastProcessingResult].filter(Boolean).join('; ');
    if (problem) checks.push({ name, status: 'fail', detail: `${state}: ${reason}`, fix: 'the mapping cannot poll: check the cluster\'s networking, auth and the function\'s permissions' });
    else if (state === 'Enabled') checks.push({ name, status: 'ok', detail: `Enabled${reason ? ` (${reason})` : ''}` });
    else if (state === 'Disabled') checks.push({ name, status: 'warn', detail: 'Disabled: no record is consumed', fix: 'once every other check is ok, enable it (README step 6; docs/DEPLOYMENT.md, First deploy)' });
    else checks.push({ name, status: 'warn', detail: `${state}${reason ? ` (${reason})` : ''}` });
  }
  checks.push(await lagCheck(aws, functionName!, o.now ?? Date.now));
  return { checks, env, functionName };
}

/** The function's OffsetLag (AWS/Lambda, the records its mappings have yet to read), maximum of the last 15 minutes. */
async function lagCheck(aws: AwsClients, functionName: string, now: () => number): Promise<Check> {
  const name = 'offset lag (last 15 min)';
  try {
    const res = await aws.cloudwatch.send(
      new GetMetricStatisticsCommand({
        Namespace: 'AWS/Lambda',
        MetricName: 'OffsetLag',
        Dimensions: [{ Name: 'FunctionName', Value: functionName }],
        StartTime: new Date(now() - 15 * 60_000),
        EndTime: new Date(now() + 60_000), // the current, still-open minute included
        Period: 60,
        Statistics: ['Maximum'],
      }),
    );
    const points = (res.Datapoints ?? []).filter((d) => d.Timestamp).sort((a, b) => a.Timestamp!.getTime() - b.Timestamp!.getTime());
    if (points.length === 0) return { name, status: 'skip', detail: 'no data (no enabled mapping, or nothing published yet)' };
    const last = points[points.length - 1].Maximum ?? 0;
    const max = Math.max(...points.map((p) => p.Maximum ?? 0));
    return { name, status: 'ok', detail: `latest ${last}, maximum ${max} records` };
  } catch (e) {
    return { name, status: 'skip', detail: `cannot read it: ${errorText(e)}` };
  }
}
