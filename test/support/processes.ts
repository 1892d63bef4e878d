// The peers that run as child processes (moto_server, kcat's mock Kafka cluster): each in its own process
// group, so a stop reaches the program behind any wrapper script (a pyenv shim may fork the interpreter), and
// killed with the test process if that exits abruptly, so none outlives its test file.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || hasExited(child)) return;
  try {
    process.kill(-child.pid, signal); // negative pid: the whole group
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** `command` in a process group of its own, tracked until stopGroup or forget. */
export function spawnGroup(command: string, args: readonly string[], options: Omit<SpawnOptions, 'detached'>): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  return child;
}

/** Stops tracking a child that could not start (it is gone already). */
export function forget(child: ChildProcess): void {
  live.delete(child);
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM to the group, SIGKILL if it is still there 5 s later; resolves once it has exited (or 10 s passed). */
export async function stopGroup(child: ChildProcess): Promise<void> {
  killGroup(child, 'SIGTERM');
  if (!(await waitExit(child, 5000))) {
    killGroup(child, 'SIGKILL');
    await waitExit(child, 5000);
  }
  live.delete(child);
}
