// infra/app.ts as `cdk synth` runs it: a configuration mistake (any ConfigError, whichever construct throws
// it) is printed alone, without a stack trace, and the process exits 1.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLUSTER_ARN, FIXTURES, ROUTES } from './helpers';

describe('infra/app.ts run as the CDK app', () => {
  const synthApp = (context: Record<string, string>) => {
    const dir = mkdtempSync(join(tmpdir(), 'app-'));
    return spawnSync(process.execPath, [require.resolve('tsx/cli'), 'infra/app.ts'], {
      cwd: join(__dirname, '..', '..'),
      encoding: 'utf8',
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: dir },
      timeout: 120_000,
    });
  };

  test.each([
    ['an invalid knob (ContextError)', { mskClusterArn: 'not-an-arn', routesFile: ROUTES }, /mskClusterArn/],
    [
      'a reply topic that is also consumed (ReplyDestinationsError, thrown while the stack is built)',
      { mskClusterArn: CLUSTER_ARN, topics: 'orders,orders.decisions', routesFile: join(FIXTURES, 'routes-replies.json'), archestraUrl: 'https://archestra.example.com' },
      /reply topic "orders.decisions" is also a consumed topic/,
    ],
  ])('%s is printed alone, with no stack trace, and exits 1', (_label, context, message) => {
    const res = synthApp(context);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.status).toBe(1);
  }, 130_000);
});
