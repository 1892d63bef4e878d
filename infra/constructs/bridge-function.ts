// The bridge Lambda: lambda/handler.ts bundled locally with esbuild (the options of `npm run build`,
// scripts/bundle-options.mjs), Node.js 22 on ARM64, its own log group and a role that starts empty:
// every permission is added by the construct that needs it.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import lazy from '../../scripts/lazy-modules.json';
import { parseRoutesText } from '../../lambda/config/routes';
import { schemaFiles } from '../../lambda/schema/load';
import { acknowledgeNetworkInterfaces } from './network-interfaces';
import { acknowledgeNag } from './nag';

export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');
export const HANDLER_ENTRY = path.join(PROJECT_ROOT, 'lambda', 'handler.ts');
/** Where the routes file lands in the deployment package (LAMBDA_TASK_ROOT is /var/task). */
export const ROUTES_FILE_IN_PACKAGE = '/var/task/routes.json';

/** Mirrors scripts/bundle-options.mjs (ESM, so not importable here); the lazy modules come from the one list both read. */
export const BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node20',
  format: OutputFormat.CJS,
  esbuildArgs: { '--legal-comments': 'none' },
  logLevel: LogLevel.WARNING,
  /** Built apart into node_modules/<name>/index.js of the package (scripts/bundle-lazy.mjs), each read at its first use. */
  externalModules: [...lazy.schema, ...lazy.kafkaReply, ...lazy.awsSdk],
} as const;

export interface BridgeFunctionProps {
  /**
   * The handler variables the deployment knobs set (ARCHESTRA_URL, ORDERING, POWERTOOLS_*, ...), already
   * checked against the handler's cold-start validation (infra/context.ts readConfig).
   */
  readonly environment: Readonly<Record<string, string>>;
  /** The routes JSON file: shipped in the package (ROUTES_CONFIG_FILE) with the schema files it names. */
  readonly routesFile: string;
  /** The consumed topics, named in the function's description. */
  readonly topics: readonly string[];
  readonly memorySize: number;
  readonly timeoutSeconds: number;
  /** @default no reserved concurrency */
  readonly reservedConcurrency?: number;
  /** One of the retention periods CloudWatch Logs accepts. */
  readonly logRetentionDays: number;
  /** Runs the function in these subnets. @default not in a VPC */
  readonly vpc?: FunctionVpc;
  /** The poison-record queue (DLQ_URL). */
  readonly deadLetterQueueUrl: string;
  /** The Archestra token secret (ARCHESTRA_TOKEN_SECRET_ARN). */
  readonly archestraTokenSecretArn: string;
}

export interface FunctionVpc {
  readonly vpcId: string;
  readonly subnetIds: readonly string[];
  /** @default a new group with no inbound and all outbound */
  readonly securityGroupIds?: readonly string[];
}

export class BridgeFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BridgeFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetentionDays as logs.RetentionDays,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Kafka to A2A bridge function: logs, its queues, its secrets and its MSK topics only',
    });
    // Instead of AWSLambdaBasicExecutionRole (logs:* on every log group): this log group only.
    this.logGroup.grantWrite(this.role);

    const environment: Record<string, string> = {
      ARCHESTRA_TOKEN_SECRET_ARN: props.archestraTokenSecretArn,
      DLQ_URL: props.deadLetterQueueUrl,
      ...props.environment,
      NODE_OPTIONS: '--enable-source-maps',
      // The routes file ships inside the deployment package (copied next to the bundle), so it is
      // not bound by the 4 KB environment limit and changes to it redeploy the code.
      ROUTES_CONFIG_FILE: ROUTES_FILE_IN_PACKAGE,
    };

    const routesFile = props.routesFile;
    const network = props.vpc && this.network(props.vpc);
    const routes = parseRoutesText(readFileSync(routesFile, 'utf8'));
    const schemas = schemaFiles(routes).map((f): [string, string] => [path.resolve(path.dirname(routesFile), f), f]);

    this.function = new NodejsFunction(this, 'Handler', {
      entry: HANDLER_ENTRY,
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      description: `Kafka (MSK) to A2A agents bridge (${props.topics.join(', ')})`.slice(0, 256), // Lambda's limit
      memorySize: props.memorySize,
      timeout: Duration.seconds(props.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrency,
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
        commandHooks: copyIntoPackage([[routesFile, path.basename(ROUTES_FILE_IN_PACKAGE)], ...schemas], [
          ...(schemas.length > 0 ? ['avsc', 'protobufjs'] : []),
          ...(routes.some((r) => r.reply?.kind === 'kafka') ? ['kafkajs', 'aws-msk-iam-sasl-signer-js'] : []),
          '@aws-sdk/client-secrets-manager',
          '@aws-sdk/client-sqs',
          '@aws-sdk/client-sns',
          '@aws-sdk/client-eventbridge',
        ]),
      },
    });
    acknowledgeNag(
      this.function,
      'AwsSolutions-L1',
      'Pinned to nodejs22.x although a newer Node.js runtime exists: the bundle targets node20 and the test suite runs ' +
      'on Node 20, never on the newer runtime, so moving to it is a change to test and review, not an automatic upgrade.',
    );
  }

  /** For the constructs that add a resource the handler uses (the idempotency table, reply settings). */
  addEnvironment(key: string, value: string): void {
    this.function.addEnvironment(key, value);
  }

  private network(vpcConfig: FunctionVpc) {
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
