// The programs the suite runs that npm cannot install: Python's moto_server and cfn-lint, and kcat (whose
// librdkafka mock cluster is the tests' Kafka broker). Checked once before
// the run so that a machine without them gets one plain message naming what is missing and how to install it,
// instead of only the failures of the suites that need them.
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

export interface Prerequisite {
  /** The command as the tests spawn it. */
  command: string;
  /** Which suites need it. */
  neededBy: string;
  install: string;
}

export function prerequisites(env: NodeJS.ProcessEnv = process.env): Prerequisite[] {
  return [
    {
      command: env.MOTO_SERVER ?? 'moto_server',
      neededBy: 'SQS, SNS, EventBridge and Secrets Manager tests (integration/aws, integration/replies-aws, reliability/aws-faults, reliability/no-loss, peers)',
      install: 'pip install "moto[server]" (or set MOTO_SERVER to its path)',
    },
    {
      command: env.KCAT ?? 'kcat',
      neededBy: 'the Kafka tests against its mock cluster (kafka/, kafka/replies skips without it)',
      install: 'apt-get install kcat (Debian/Ubuntu; brew install kcat on macOS), or set KCAT to its path',
    },
    {
      command: 'cfn-lint',
      neededBy: 'the synthesized-template lint (infra/cfn-lint)',
      install: 'pip install cfn-lint',
    },
  ];
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when `command` (a name or a path) resolves to an executable file through `PATH`. */
export function onPath(command: string, path = process.env.PATH ?? ''): boolean {
  if (command.includes('/')) return executable(isAbsolute(command) ? command : join(process.cwd(), command));
  return path.split(delimiter).some((dir) => dir !== '' && executable(join(dir, command)));
}

export function missingPrerequisites(env: NodeJS.ProcessEnv = process.env): Prerequisite[] {
  return prerequisites(env).filter((p) => !onPath(p.command, env.PATH));
}

export function describeMissing(missing: Prerequisite[]): string {
  return [
    `npm test: ${missing.length} test prerequisite(s) not found on PATH; the suites that need them will fail:`,
    ...missing.map((p) => `  - ${p.command}: needed by ${p.neededBy}. Install: ${p.install}`),
    'Everything else the tests need is installed by npm ci (see docs/CONTRIBUTING.md, "Running the tests").',
  ].join('\n');
}
