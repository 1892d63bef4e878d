// W4, replies to Kafka: records per second with every agent answer written to a Kafka topic (lambda/reply/*,
// kafkajs against kcat's mock cluster: test/support/kafka-mock.ts), beside the same run without replies.
import { Kafka, logLevel } from 'kafkajs';
import type { Agent } from './agent';
import { bucket, checkAgent, handlerChild, lambdaEnv, log, withAgent, writeEvent, type BatchesReport } from './child';
import type { BenchOptions } from './options';
import { startKafkaMock } from '../test/support/kafka-mock';
import { buildBatches, routesConfig, summarize, type Summary } from './workloads';

export interface W4Row {
  name: string;
  replies: boolean;
  recordsPerS: Summary;
  cpuUsPerRecord: Summary;
  wallMs: Summary;
}

export async function w4(o: BenchOptions): Promise<W4Row[]> {
  const { RUNS, W4 } = o;
  const batches = buildBatches({ ...W4 });
  const files = batches.map((b, i) => writeEvent(`w4-${i}.json`, b));
  const mock = await startKafkaMock({ brokers: 1 });
  const kafka = new Kafka({ brokers: mock.brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const configs = [
    { name: 'no replies', replies: false },
    { name: 'replies to kafka://<topic> (kcat mock cluster)', replies: true },
  ];
  const samples = new Map<string, Array<{ rps: number; cpu: number; wall: number }>>();
  let topics = 0;
  try {
    for (let run = 1; run <= RUNS; run++) {
      for (const c of configs) {
        const what = `W4 ${c.name} run ${run}`;
        const topic = `bench-replies-${++topics}`;
        const env = (agent: Agent) => {
          const routes = JSON.parse(routesConfig(agent.agentId)) as Array<Record<string, unknown>>;
          const extra: Record<string, string> = c.replies ? { ROUTES_CONFIG: JSON.stringify(routes.map((r) => ({ ...r, reply: `kafka://${topic}` }))), REPLY_KAFKA_BROKERS: mock.bootstrap } : {};
          return lambdaEnv(agent, { ordering: 'key', concurrency: W4.concurrency, logLevel: 'INFO', extra });
        };
        const { value, stats } = await withAgent(0, (agent) => handlerChild<BatchesReport>(env(agent), 'batches', files, what));
        checkAgent(stats, W4.records, what);
        if (c.replies) {
          // Every answer must be on the topic: a run that silently dropped replies would measure nothing.
          const written = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
          if (written !== W4.records) throw new Error(`${what}: ${written} replies on ${topic}, expected ${W4.records}`);
        }
        const inv = value.report.invocations;
        const wall = inv.reduce((s, x) => s + x.wallMs, 0);
        const cpu = inv.reduce((s, x) => s + x.cpuUserUs + x.cpuSystemUs, 0) / W4.records;
        bucket(samples, c.name).push({ rps: W4.records / (wall / 1000), cpu, wall });
        log(`${what}: ${(W4.records / (wall / 1000)).toFixed(0)} records/s, ${cpu.toFixed(0)} us/record`);
      }
    }
  } finally {
    await admin.disconnect().catch(() => undefined);
    await mock.stop();
  }
  return configs.map((c) => {
    const s = samples.get(c.name)!;
    return { name: c.name, replies: c.replies, recordsPerS: summarize(s.map((x) => x.rps)), cpuUsPerRecord: summarize(s.map((x) => x.cpu)), wallMs: summarize(s.map((x) => x.wall)) };
  });
}
