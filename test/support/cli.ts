// Runs one of the project's commands as a child process, the way a person runs it from a fresh shell: none
// of the bridge's settings or AWS variables inherited (only what the test passes), no colour.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '..', '..');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a fresh shell plus `extra`. The AWS SDK's Node-version notice stays silenced. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const k of Object.keys(env)) {
    if (/^(ARCHESTRA_|DLQ_|ROUTES_CONFIG|IDEMPOTENCY_|MAX_RETRIES|RETRY_DELAY|FORCE_COLOR|npm_|AWS_(?!SDK_JS_))/.test(k)) delete env[k];
  }
  return { ...env, ...extra };
}

export function run(cmd: string, args: string[], o: { env?: Record<string, string>; input?: string } = {}): Promise<Run> {
  return new Promise((done, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: cleanEnv(o.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(o.input ?? '');
  });
}

/** A script through tsx, as `npm run` does, without npm's own start-up time. */
export const tsx = (script: string, args: string[], o?: { env?: Record<string, string>; input?: string }) =>
  run(process.execPath, ['--import', 'tsx', script, ...args], o);
