// npm run doctor -- [--routes FILE] [--stack NAME] [--json]: checks a configuration, or a deployed stack,
// before it meets production traffic. Never sends a message to an agent. See docs/OPERATIONS.md.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { HELP_OPTION, helpShown, parseFlags, runCli, UsageError } from './lib/cli';
import { exitStatus, formatCheck, formatSummary, summarize, type Check } from './lib/checks';
import { awsClients, checkDeployment } from './lib/deployment';
import { checkAgents, checkConfig, checkToken, type Env } from './lib/doctor';

const USAGE = `usage: npm run doctor -- [options]

Validates the settings and routes exactly as the function does at cold start, reads the Archestra token
(never printed), and fetches each route's agent card (Archestra: with the token; 401 means the token,
404 the agent id). It sends no message to any agent and stops trying the token after its first refusal
(Archestra locks an IP out after 10 failed authentications a minute).

With --stack it first reads the deployed stack with your AWS credentials (read-only): the function's
settings (which the checks above then use), its queues' depths, each event source mapping's state and
the function's offset lag.

options:
  --routes FILE      routes file (default: ROUTES_CONFIG / ROUTES_CONFIG_FILE; with --stack the deployed
                     function's ROUTES_CONFIG, else this file is needed: the function's routes file is in
                     its package)
  --stack NAME       a deployed stack to read (AWS_REGION / AWS_PROFILE as for the AWS CLI)
  --timeout SECONDS  time allowed for each agent card (default 10)
  --json             one JSON document on stdout
  -h, --help

exit status: 0 nothing would fail (warnings allowed), 1 something would fail in production, 2 usage error`;

async function main(argv: string[]): Promise<number> {
  const args = parseFlags({
    args: argv,
    options: { routes: { type: 'string' }, stack: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' }, ...HELP_OPTION },
  });
  const v = args.values;
  if (helpShown(v, USAGE)) return 0;
  const timeoutS = v.timeout === undefined ? 10 : Number(v.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw new UsageError(`--timeout needs a positive number of seconds, got "${v.timeout}"`);
  if (v.routes !== undefined && !existsSync(v.routes)) throw new UsageError(`routes file not found: ${v.routes}`, 'check the path; events/routes.json is the sample to start from');

  const json = v.json === true;
  const checks: Check[] = [];
  const show = (cs: Check[]) => {
    checks.push(...cs);
    if (!json) for (const c of cs) process.stdout.write(`${formatCheck(c)}\n`);
  };

  let env: Env = { ...process.env };
  let where = 'this shell\'s environment';
  if (v.stack) {
    const deployment = await checkDeployment(v.stack, awsClients());
    show(deployment.checks);
    if (!deployment.env) return finish(checks, json);
    env = { ...deployment.env, AWS_REGION: process.env.AWS_REGION, AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL };
    where = `function ${deployment.functionName}`;
    if (v.routes === undefined && env.ROUTES_CONFIG === undefined && env.ROUTES_CONFIG_FILE && !existsSync(env.ROUTES_CONFIG_FILE)) {
      show([{ name: `settings (${where})`, status: 'fail', detail: `the routes are in the function's package (${env.ROUTES_CONFIG_FILE})`, fix: 'pass the routes file you deployed: --routes routes.json' }]);
      return finish(checks, json);
    }
  }
  if (v.routes !== undefined) {
    delete env.ROUTES_CONFIG;
    env.ROUTES_CONFIG_FILE = resolve(v.routes);
  }
  const config = checkConfig(env, where);
  show(config.checks);
  if (config.settings) {
    const token = await checkToken(config.settings);
    if (token) show([token.check]);
    show(await checkAgents(config.settings, token?.token, { timeoutMs: timeoutS * 1000 }));
  }
  return finish(checks, json);
}

function finish(checks: Check[], json: boolean): number {
  const code = exitStatus(checks);
  if (json) process.stdout.write(`${JSON.stringify({ ok: code === 0, summary: summarize(checks), checks }, null, 2)}\n`);
  else process.stdout.write(`\n${formatSummary(checks)}\n`);
  return code;
}

runCli(() => main(process.argv.slice(2)), { name: 'doctor', usage: USAGE });
