// Starts a real moto_server (the Python AWS mock, `pip install "moto[server]"`) for SQS / Secrets Manager /
// DynamoDB calls made by the bridge in tests. One server per call; stop() ends its whole process group and
// waits for it (./processes), so no Python process outlives the test file.
import type { ChildProcess } from 'node:child_process';
import { freePort } from './ports';
import { forget, hasExited, spawnGroup, stopGroup } from './processes';

export interface MotoServer {
  /** e.g. http://127.0.0.1:PORT, for an AWS SDK client's `endpoint`. */
  endpoint: string;
  port: number;
  /** Ready-made AWS SDK v3 client config: endpoint, us-east-1, dummy static credentials. */
  clientConfig: {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  };
  /** Drops all state (POST /moto-api/reset), cheaper than a restart between tests. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartMotoOptions {
  /** Executable name or path. Default: $MOTO_SERVER or `moto_server` on PATH. */
  command?: string;
  /** Per-attempt time to answer HTTP. Default 30 s (a cold Python import of moto can take several seconds). */
  readyTimeoutMs?: number;
  /** Attempts when the chosen port is taken between probe and bind. Default 5. */
  attempts?: number;
}

const HOST = '127.0.0.1';
const OUTPUT_TAIL = 4096;

class MotoMissingError extends Error {}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status < 500;
  } catch {
    return false;
  }
}

async function attempt(command: string, port: number, readyTimeoutMs: number): Promise<ChildProcess> {
  const child = spawnGroup(command, ['-H', HOST, '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let output = '';
  const collect = (b: Buffer) => {
    output = (output + b.toString()).slice(-OUTPUT_TAIL);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (e) => (spawnError = e));

  const url = `http://${HOST}:${port}/moto-api/`;
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (spawnError) {
      forget(child);
      if (spawnError.code === 'ENOENT') {
        throw new MotoMissingError(
          `moto_server not found (tried "${command}"): install it with \`pip install "moto[server]"\` or set MOTO_SERVER to its path`,
        );
      }
      throw new Error(`could not start ${command}: ${spawnError.message}`);
    }
    if (hasExited(child)) {
      forget(child);
      const err = new Error(`moto_server exited (${child.exitCode ?? child.signalCode}) before answering on port ${port}:\n${output.trim()}`);
      (err as NodeJS.ErrnoException).code = /address already in use|errno 98|eaddrinuse/i.test(output) ? 'EADDRINUSE' : undefined;
      throw err;
    }
    if (await answers(url)) {
      // Still ours? Someone else may own the port if moto lost the bind race and is exiting.
      await sleep(20);
      if (!hasExited(child)) return child;
    } else {
      await sleep(100);
    }
  }
  await stopGroup(child);
  throw new Error(`moto_server did not answer on ${url} within ${readyTimeoutMs} ms:\n${output.trim()}`);
}

export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  const command = opts.command ?? process.env.MOTO_SERVER ?? 'moto_server';
  const attempts = opts.attempts ?? 5;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    const port = await freePort(HOST);
    let child: ChildProcess;
    try {
      child = await attempt(command, port, readyTimeoutMs);
    } catch (e) {
      if (e instanceof MotoMissingError) throw e;
      lastError = e;
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
      throw e;
    }
    const endpoint = `http://${HOST}:${port}`;
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      port,
      clientConfig: { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } },
      async reset() {
        const res = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
      },
      stop() {
        stopping ??= stopGroup(child);
        return stopping;
      },
    };
  }
  throw new Error(`moto_server could not bind a free port after ${attempts} attempts: ${String(lastError)}`);
}

/**
 * The variables under which the AWS SDK clients the bridge builds itself reach `moto`, as they would in a user's
 * shell: its endpoint for every service (or only the one `endpointVariable` names, e.g. AWS_ENDPOINT_URL_SQS),
 * a region and placeholder credentials.
 */
export function motoEnv(moto: Pick<MotoServer, 'endpoint'>, endpointVariable = 'AWS_ENDPOINT_URL'): Record<string, string> {
  return { [endpointVariable]: moto.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
}
