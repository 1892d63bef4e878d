// The agent side of the bench: sim/archestra.ts's CLI in its own process (plain node with tsx's loader, no
// npx wrapper, so the pid is the server's own and SIGTERM reaches it), started fresh for every measured run
// so its statistics (requests, concurrency seen) belong to that run alone.
import { spawn, execFileSync, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import type { SimStats } from '../sim/archestra';

export const ROOT = path.resolve(__dirname, '..');

/** The sim's own counters, printed by its CLI with --stats when it stops. */
export type AgentStats = SimStats;

export interface Agent {
  url: string;
  port: number;
  agentId: string;
  pid: number;
  /** CPU time (user + system) the agent process used so far, ms; undefined off Linux. */
  cpuMs(): number | undefined;
  /** SIGTERM; resolves with the request statistics the sim prints on the way out. */
  stop(): Promise<AgentStats>;
}

export interface AgentOptions {
  latencyMs: number;
  token: string;
}

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, after the parenthesised command name). */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU ticks from /proc/stat: busy (all but idle and iowait) and total; undefined off Linux. */
export function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number); // user nice system idle iowait irq softirq steal guest guest_nice
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - v[3] - v[4], total };
  } catch {
    return undefined;
  }
}

export async function startAgent(o: AgentOptions): Promise<Agent> {
  const args = ['--import', 'tsx', 'sim/archestra.ts', '--port', '0', '--latency', String(o.latencyMs), '--token', o.token, '--stats', '--max-recorded', '0'];
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const lines = createInterface({ input: child.stdout });
  let onStats: ((s: AgentStats) => void) | undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const ready = await new Promise<{ url: string; port: number; agentId: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent not ready within 30 s\n${stderr}`)), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before it was ready\n${stderr}`));
    });
    lines.on('line', (line) => {
      let msg: { url?: string; port?: number; agentId?: string; stats?: AgentStats };
      try {
        msg = JSON.parse(line);
      } catch {
        return;
      }
      if (msg.stats) onStats?.(msg.stats);
      else if (msg.url) {
        clearTimeout(timer);
        resolve(msg as { url: string; port: number; agentId: string });
      }
    });
  });
  const stats = new Promise<AgentStats>((resolve) => (onStats = resolve));

  return {
    ...ready,
    pid: child.pid!,
    cpuMs: () => procCpuMs(child.pid!),
    async stop() {
      child.kill('SIGTERM');
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`agent did not stop within 10 s\n${stderr}`)), 10_000).unref());
      const s = await Promise.race([stats, timeout]);
      await Promise.race([exited, timeout]);
      return s;
    },
  };
}
