// The bridge Lambda: lambda/handler.ts bundled locally with esbuild (the options of `npm run build`,
// scripts/bundle-options.mjs), Node.js 22 on ARM64, its own log group and a role that starts empty:
// every permission is added by the construct that needs it.
import { readFileSync } from 'fs';
import * as path from 'path';
import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { loadSettings } from '../../lambda/config/settings';
import { parseRoutesText } from '../../lambda/config/routes';
import { schemaFiles } from '../../lambda/schema/load';
import type { BridgeConfig } from '../context';
import { acknowledgeNetworkInterfaces } from './network-interfaces';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const HANDLER_ENTRY = path.join(PROJECT_ROOT, 'lambda', 'handler.ts');
/** Where the routes file lands in the deployment package (LAMBDA_TASK_ROOT is /var/task). */
export const ROUTES_FILE_IN_PACKAGE = '/var/task/routes.json';

/** Mirrors scripts/bundle-options.mjs (ESM, so not importable here); test/infra checks they agree. */
export const BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node20',
  format: OutputFormat.CJS,
  esbuildArgs: { '--legal-comments': 'none' },
  logLevel: LogLevel.WARNING,
  /** Built apart into node_modules/<name>/index.js of the package (scripts/bundle-lazy.mjs): loaded only by schema routes and kafka:// replies. */
  externalModules: [
    'avsc',
    'protobufjs',
    'kafkajs',
    'aws-msk-iam-sasl-signer-js',
    // Each built apart too and read only at its first call (scripts/bundle-lazy.mjs AWS_SDK_MODULES): cold start.
    '@aws-sdk/client-secrets-manager',
    '@aws-sdk/client-sqs',
    '@aws-sdk/client-sns',
    '@aws-sdk/client-eventbridge',
  ],
} as const;

export interface BridgeFunctionProps {
  readonly config: BridgeConfig;
  readonly deadLetterQueueUrl: string;
  readonly archestraTokenSecretArn: string;
}

export class BridgeFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BridgeFunctionProps) {
    super(scope, id);
    const { config } = props;

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Kafka to A2A bridge function: logs, its queues, its secrets and its MSK topics only',
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): this log group only.
    this.logGroup.grantWrite(this.role);

    const tuning = config.handlerTuning;
    const environment: Record<string, string> = {
      ARCHESTRA_TOKEN_SECRET_ARN: props.archestraTokenSecretArn,
      DLQ_URL: props.deadLetterQueueUrl,
      ORDERING: config.ordering,
      MAX_CONCURRENCY: String(config.maxConcurrency),
      POWERTOOLS_SERVICE_NAME: config.serviceName,
      POWERTOOLS_METRICS_NAMESPACE: config.metricsNamespace,
      POWERTOOLS_LOG_LEVEL: config.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
      // The routes file ships inside the deployment package (copied next to the bundle), so it is
      // not bound by the 4 KB environment limit and changes to it redeploy the code.
      ROUTES_CONFIG_FILE: ROUTES_FILE_IN_PACKAGE,
      ...defined({
        ARCHESTRA_URL: config.archestraUrl,
        ALLOW_INSECURE_HTTP: config.allowInsecureHttp ? 'true' : undefined,
        MAX_RETRIES: tuning.maxRetries,
        RETRY_DELAY: tuning.retryDelay,
        REQUEST_TIMEOUT: tuning.requestTimeout,
        LOG_REPLY_CHARS: tuning.logReplyChars,
        MAX_TEXT_BYTES: tuning.maxTextBytes,
      }),
    };

    assertHandlerAccepts(environment, config.routesFile);

    const network = config.vpc && this.network(config.vpc);
    const routes = parseRoutesText(readFileSync(config.routesFile, 'utf8'));
    const schemas = schemaFiles(routes).map(
      (f): [string, string] => [path.resolve(path.dirname(config.routesFile), f), f],
    );

    this.function = new NodejsFunction(this, 'Handler', {
      entry: HANDLER_ENTRY,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: `Kafka (MSK) to A2A agents bridge (${config.topics.join(', ')})`.slice(0, 256), // Lambda's limit
      memorySize: config.memorySize,
      timeout: Duration.seconds(config.timeoutSeconds),
      reservedConcurrentExecutions: config.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      environment,
      ...network,
      bundling: {
        ...BUNDLING,
        esbuildArgs: { ...BUNDLING.esbuildArgs },
        // Bundle the AWS SDK too, as `npm run build` does: the code runs against the versions it was tested with.
        // Only the Avro/Protobuf and Kafka reply libraries stay out of the main file; copyIntoPackage builds them beside it.
        externalModules: [...BUNDLING.externalModules],
        forceDockerBundling: false,
        // The routes file, and the schema files its routes name at the same paths relative to it (with the
        // Avro/Protobuf libraries, which only those routes load).
        commandHooks: copyIntoPackage([[config.routesFile, path.basename(ROUTES_FILE_IN_PACKAGE)], ...schemas], [
          ...(schemas.length > 0 ? ['avsc', 'protobufjs'] : []),
          ...(routes.some((r) => r.reply?.kind === 'kafka') ? ['kafkajs', 'aws-msk-iam-sasl-signer-js'] : []),
          '@aws-sdk/client-secrets-manager',
          '@aws-sdk/client-sqs',
          '@aws-sdk/client-sns',
          '@aws-sdk/client-eventbridge',
        ]),
      },
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions::AwsSolutions-L1',
      reason:
        'Pinned to nodejs22.x although a newer Node.js runtime exists: the bundle targets node20 and the test suite runs ' +
        'on Node 20, never on the newer runtime, so moving to it is a change to test and review, not an automatic upgrade.',
    });
  }

  /** For constructs added later (e.g. an idempotency table): wire a variable into the function. */
  addEnvironment(key: string, value: string): void {
    this.function.addEnvironment(key, value);
  }

  private network(vpcConfig: NonNullable<BridgeConfig['vpc']>) {
    // fromVpcAttributes, not Vpc.fromLookup: synth must work offline, without AWS credentials. The
    // subnets are given by ID, so the VPC's availability zones are never read (one stand-in suffices).
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', { vpcId: vpcConfig.vpcId, availabilityZones: ['unused'] });
    const subnets = vpcConfig.subnetIds.map((id, i) => {
      const subnet = ec2.Subnet.fromSubnetId(this, `Subnet${i}`, id);
      Validations.of(subnet).acknowledge({
        id: '@aws-cdk/aws-ec2:noSubnetRouteTableId',
        reason: 'Only the subnet ID is needed to place the function; nothing here reads its route table.',
      });
      return subnet;
    });
    const securityGroups = vpcConfig.securityGroupIds
      ? vpcConfig.securityGroupIds.map((id, i) => ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, id))
      : [
          new ec2.SecurityGroup(this, 'SecurityGroup', {
            vpc,
            description: 'Kafka to A2A bridge function: no inbound, outbound to Archestra and AWS APIs',
            allowAllOutbound: true,
          }),
        ];
    // The ENI actions Lambda needs to attach the function to the VPC, inline rather than
    // AWSLambdaVPCAccessExecutionRole, which also grants logs:* on every log group.
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    acknowledgeNetworkInterfaces(this.role);
    return { vpc, vpcSubnets: { subnets }, securityGroups, allowPublicSubnet: false };
  }
}

/**
 * Runs the handler's own cold-start validation (lambda/config/settings.ts) on the environment, so
 * synth fails where the function would fail to start. Deploy-time tokens get stand-in values.
 */
function assertHandlerAccepts(environment: Record<string, string>, routesFile: string): void {
  const concrete = Object.fromEntries(
    Object.entries(environment).map(([k, v]) => [k, Token.isUnresolved(v) ? STAND_INS[k] ?? 'token' : v]),
  );
  loadSettings({ ...concrete, ROUTES_CONFIG_FILE: routesFile });
}

const STAND_INS: Record<string, string> = {
  DLQ_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/stand-in',
  ARCHESTRA_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:stand-in-AbCdEf',
};

function defined(env: Record<string, string | number | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
}

/** esbuild hooks that copy files into the package at a path relative to it (node, not cp), and build the lazy modules. */
function copyIntoPackage(files: ReadonlyArray<[source: string, relative: string]>, lazyModules: readonly string[]) {
  const copy = "const f=require('fs'),p=require('path');f.mkdirSync(p.dirname(process.argv[2]),{recursive:true});f.copyFileSync(process.argv[1],process.argv[2])";
  return {
    beforeBundling: () => [],
    beforeInstall: () => [],
    afterBundling: (_inputDir: string, outputDir: string) => [
      ...files.map(([source, rel]) => `node -e "${copy}" ${JSON.stringify(source)} ${JSON.stringify(path.join(outputDir, rel))}`),
      ...(lazyModules.length
        ? [`node ${JSON.stringify(path.join(PROJECT_ROOT, 'scripts', 'bundle-lazy.mjs'))} ${JSON.stringify(outputDir)} ${lazyModules.join(' ')}`]
        : []),
    ],
  };
}
