// A real Kafka protocol broker for tests: librdkafka's mock cluster, hosted by Debian's `kcat`
// (`apt-get install kcat`). `kcat -X test.mock.num.brokers=N -d mock -C -b x:1 -t anchor` starts N in-process
// brokers on 127.0.0.1, prints their `bootstrap.servers=...` on stderr and serves until it is stopped. The mock
// speaks the wire protocol (metadata, produce, fetch, list offsets, consumer groups with commits), creates a
// topic on first use with 4 partitions, and keeps everything in memory. stop() ends the whole process group.
import { forget, spawnGroup, stopGroup } from './processes';

export interface KafkaMock {
  /** e.g. ["127.0.0.1:41563", ...] */
  brokers: string[];
  /** The same, comma-separated, as a bootstrap.servers / --brokers value. */
  bootstrap: string;
  /** kcat's pid, which is also its process group. */
  pid: number;
  stop(): Promise<void>;
}

/** Partitions of a topic the mock creates on first use (librdkafka's mock default). */
export const MOCK_TOPIC_PARTITIONS = 4;

export const KCAT_INSTALL = 'install it with `apt-get install kcat` (Debian/Ubuntu; `brew install kcat` on macOS), or set KCAT to its path';

export class KcatMissingError extends Error {}

const OUTPUT_TAIL = 4096;
export async function startKafkaMock(o: { brokers?: number; command?: string; readyTimeoutMs?: number } = {}): Promise<KafkaMock> {
  const command = o.command ?? process.env.KCAT ?? 'kcat';
  const n = o.brokers ?? 3;
  const child = spawnGroup(command, ['-X', `test.mock.num.brokers=${n}`, '-d', 'mock', '-C', '-b', 'x:1', '-t', 'anchor', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  const bootstrap = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`kcat printed no bootstrap.servers within ${o.readyTimeoutMs ?? 15_000} ms:\n${output.trim()}`)), o.readyTimeoutMs ?? 15_000);
    const fail = (e: Error) => {
      clearTimeout(timer);
      void stopGroup(child).then(() => reject(e));
    };
    // The debug output never stops (-d mock logs every request): it is read for as long as kcat runs, or
    // kcat would block on a full pipe; only a tail is kept, for error messages. So a test that holds a mock
    // must not block its event loop for long (spawnSync, busy loops): the brokers would stall meanwhile.
    let found = false;
    child.stderr!.on('data', (d: Buffer) => {
      const text = output + d.toString();
      output = text.slice(-OUTPUT_TAIL);
      if (found) return;
      // Searched before the tail is cut: a busy machine hands over the start-up output in large chunks.
      const m = /bootstrap\.servers=(\S+)/.exec(text);
      if (m) {
        found = true;
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      forget(child);
      reject(e.code === 'ENOENT' ? new KcatMissingError(`kcat not found (tried "${command}"): ${KCAT_INSTALL}. The Kafka tests run against its mock cluster.`) : e);
    });
    child.once('exit', (code, signal) => fail(new Error(`kcat exited (${code ?? signal}) before printing bootstrap.servers:\n${output.trim()}`)));
  });
  child.removeAllListeners('exit');
  let stopping: Promise<void> | undefined;
  return {
    brokers: bootstrap.split(','),
    bootstrap,
    pid: child.pid!,
    stop() {
      stopping ??= stopGroup(child);
      return stopping;
    },
  };
}
