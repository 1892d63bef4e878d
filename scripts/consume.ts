// npm run consume -- --brokers HOST:PORT --topic T [options]: a local stand-in for the MSK event source mapping.
// A consumer group reads the topics, batches become Lambda Kafka events, the handler runs in-process (the
// pipeline `npm run invoke` runs) and its partial-batch answer is honoured as Lambda honours it. See
// docs/OPERATIONS.md.
import { SQSClient } from '@aws-sdk/client-sqs';
import { SettingsError } from '../lambda/config/settings';
import { HELP_OPTION, helpShown, parseFlags, runCli } from './lib/cli';
import type { RecordOutcome } from '../lambda/pipeline';
import { consume, sqsOnFailure, type BatchReport, type ConsumeSummary } from './lib/consumer';
import { createKafka, describeKafkaError, KAFKA_PARSE_OPTIONS, KAFKA_USAGE, KAFKA_ERRORS, kafkaConnection, KafkaRunError, type KafkaConnection } from './lib/kafka';
import { DEFAULT_CLUSTER_ARN } from './lib/msk-event';
import { countsText, formatMs, outcomeTable, summaryLine } from './lib/output';
import { addCounts, countOutcomes, createLocalBridge, DEFAULT_FUNCTION_NAME, DEFAULT_TIMEOUT_SECONDS, display, invoke, LOCAL_BRIDGE_OPTIONS, orderOutcomes, UsageError, type Counts } from './lib/run-batch';
import { colorEnabled, painter } from './lib/table';
import { intFlag, secondsFlag } from './lib/tool-bridge';

const DEFAULT_GROUP = 'kafka-a2a-bridge-local';

const USAGE = `usage: npm run consume -- --brokers HOST:PORT,... --topic TOPIC [--topic TOPIC ...] [options]

A local stand-in for the MSK event source mapping: joins a consumer group, gathers records into batches as
the mapping does, runs the Lambda handler in-process on each batch (the pipeline of npm run invoke, against
the embedded agent or ARCHESTRA_URL) and honours its partial-batch answer: a reported partition is read again
from the reported offset, offsets are committed only up to what is settled, and an invocation that throws
is retried whole. Runs until Ctrl-C, --max-batches or --idle-exit.

options:
  --topic NAME              topic to consume (repeatable; also positional)
  --group ID                consumer group (default ${DEFAULT_GROUP})
  --starting-position P     LATEST (default, as deployed) or TRIM_HORIZON: where a group without offsets starts
  --batch-size N            records per invocation, 1 to 10000 (default 100)
  --batching-window SECONDS gather records this long before invoking, 0 to 300 (default 0.5)
  --retry-attempts N        retries of a batch whose invocation throws, then it is given up (-1: forever, default)
  --on-failure-queue URL    SQS queue for the KafkaBatchInfo of a batch given up on (as the mapping's destination)
  --max-batches N           stop after N invocations
  --idle-exit SECONDS       stop when no record arrived for this long
  --self-managed            SelfManagedKafka events instead of aws:kafka
  --cluster-arn ARN         eventSourceArn of the aws:kafka events (default a local placeholder)
  --routes FILE             routes file (default: ROUTES_CONFIG / ROUTES_CONFIG_FILE, else events/routes.json)
  --timeout SECONDS         function timeout each invocation's context counts down from (default ${DEFAULT_TIMEOUT_SECONDS})
  --dlq-dir DIR             where dead letters go when DLQ_URL is not set (default .dlq)
  --agent-latency MS        the embedded agent's answer delay (default 0)
  --json                    one JSON document per line on stdout: each invocation, then a summary
  --verbose                 the handler's and the Kafka client's JSON log lines, on stderr
  -h, --help

${KAFKA_USAGE}

exit status: 0 stopped with every consumed record settled, 1 records left for redelivery (a reported
partition, or an invocation that threw) or a Kafka error, 2 usage or configuration error`;

interface Detail {
  requestId: string;
  outcomes: RecordOutcome[];
  deadLetters: string[];
}

async function main(argv: string[]): Promise<number> {
  const args = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      ...KAFKA_PARSE_OPTIONS,
      topic: { type: 'string', multiple: true },
      group: { type: 'string' },
      'starting-position': { type: 'string' },
      'batch-size': { type: 'string' },
      'batching-window': { type: 'string' },
      'retry-attempts': { type: 'string' },
      'on-failure-queue': { type: 'string' },
      'max-batches': { type: 'string' },
      'idle-exit': { type: 'string' },
      'self-managed': { type: 'boolean' },
      'cluster-arn': { type: 'string' },
      'agent-latency': { type: 'string' },
      ...LOCAL_BRIDGE_OPTIONS,
      ...HELP_OPTION,
    },
  });
  const v = args.values;
  if (helpShown(v, USAGE)) return 0;
  const topics = [...(v.topic ?? []), ...args.positionals];
  if (topics.length === 0) throw new UsageError('give at least one --topic');
  const position = (v['starting-position'] ?? 'LATEST').toUpperCase();
  if (position !== 'LATEST' && position !== 'TRIM_HORIZON') throw new UsageError(`--starting-position is LATEST or TRIM_HORIZON, got "${v['starting-position']}"`);
  const batchSize = intFlag('--batch-size', v['batch-size'], { min: 1, max: 10000 }) ?? 100;
  const windowS = secondsFlag('--batching-window', v['batching-window'], { min: 0, max: 300 }) ?? 0.5;
  const retryAttempts = intFlag('--retry-attempts', v['retry-attempts'], { min: -1, max: 10000 }) ?? -1;
  const maxBatches = intFlag('--max-batches', v['max-batches'], { min: 1 });
  const idleS = secondsFlag('--idle-exit', v['idle-exit'], { min: 0.1, max: 86400 });
  const timeoutSeconds = secondsFlag('--timeout', v.timeout, { min: 1, max: 900 }) ?? DEFAULT_TIMEOUT_SECONDS;
  const agentLatencyMs = intFlag('--agent-latency', v['agent-latency'], { min: 0 }) ?? 0;
  const conn: KafkaConnection = kafkaConnection(v, process.env, 'kafka-a2a-bridge-consume');

  const json = v.json === true;
  const out = process.stdout;
  const paint = painter(!json && colorEnabled(out));
  const say = (line: string) => (json ? process.stderr.write(`${line}\n`) : out.write(`${line}\n`));
  const emit = (doc: object) => out.write(`${JSON.stringify(doc)}\n`);

  const bridge = await createLocalBridge({ routesFile: v.routes, dlqDir: v['dlq-dir'], verbose: v.verbose, agentLatencyMs });
  const sqs = v['on-failure-queue'] ? new SQSClient({}) : undefined;
  const abort = new AbortController();
  const stop = () => {
    if (abort.signal.aborted) process.exit(130); // a second Ctrl-C: leave now
    say(paint('dim', 'stopping after the current invocation (Ctrl-C again to leave at once)'));
    abort.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let totals: Counts = { delivered: 0, dead_lettered: 0, tombstone: 0, unrouted: 0, duplicate: 0, failed: 0 };
  try {
    for (const w of bridge.warnings) process.stderr.write(`warning: ${w}\n`);
    if (!json) {
      for (const line of bridge.describe()) say(paint('dim', line));
      say(paint('dim', `kafka   ${conn.brokers.join(',')} (auth ${conn.auth}, ${conn.tls ? 'TLS' : 'plaintext'}), group ${v.group ?? DEFAULT_GROUP}, topics ${topics.join(', ')}`));
      say(paint('dim', `batches up to ${batchSize} records, window ${windowS} s, ${position === 'LATEST' ? 'new records only (LATEST) for a new group' : 'from the oldest record (TRIM_HORIZON) for a new group'}`));
    }
    const kafka = createKafka(conn, v.verbose ? { log: (l) => process.stderr.write(`${l}\n`) } : {});
    const region = process.env.AWS_REGION ?? 'us-east-1';
    const functionArn = `arn:aws:lambda:${region}:123456789012:function:${DEFAULT_FUNCTION_NAME}`;

    const onBatch = (r: BatchReport<Detail>) => {
      const outcomes = r.detail?.outcomes ?? [];
      if (outcomes.length) totals = addCounts(totals, countOutcomes(outcomes));
      const where = r.partitions.map((p) => `${p.partition}@${p.first}${p.last > p.first ? `..${p.last}` : ''}`).join(', ');
      const committed = Object.entries(r.committed).map(([tp, o]) => `${tp} -> ${o}`);
      const resume = Object.entries(r.resumeFrom).map(([tp, o]) => `${tp} from ${o}`);
      if (json) {
        emit({
          type: 'invocation',
          invocation: r.invocation,
          attempt: r.attempt,
          requestId: r.detail?.requestId ?? null,
          records: r.records,
          payloadBytes: r.payloadBytes,
          partitions: r.partitions,
          durationMs: r.durationMs,
          ...(r.response ? { response: r.response, counts: countOutcomes(outcomes), outcomes } : { error: r.error }),
          committed: r.committed,
          resumeFrom: r.resumeFrom,
          ...(r.gaveUp ? { onFailure: r.gaveUp } : {}),
          ...(r.commitError ? { commitError: r.commitError } : {}),
          deadLetters: r.detail?.deadLetters ?? [],
        });
        return;
      }
      say('');
      say(paint('bold', `━━ invocation ${r.invocation}${r.attempt > 1 ? ` (attempt ${r.attempt})` : ''} · ${r.records} record${r.records === 1 ? '' : 's'}: ${where}`));
      if (r.response) {
        say(outcomeTable(outcomes, paint, out.columns ?? 160));
        say(summaryLine(countOutcomes(outcomes), r.durationMs, r.response, paint));
        for (const f of r.detail?.deadLetters ?? []) say(paint('dim', `dead letter written: ${display(f)}`));
      } else {
        say(paint('red', `the invocation failed after ${formatMs(r.durationMs)}; Lambda retries the whole batch: ${r.error}`));
      }
      if (r.gaveUp) say(paint('magenta', `retries exhausted: the batch is skipped and its KafkaBatchInfo ${sqs ? `sent to ${v['on-failure-queue']}` : 'printed (no --on-failure-queue)'}`));
      if (r.gaveUp && !sqs) say(JSON.stringify(r.gaveUp));
      if (committed.length) say(paint('dim', `committed ${committed.join(', ')}`));
      if (resume.length) say(paint('yellow', `read again: ${resume.join(', ')}`));
      if (r.commitError) say(paint('red', `commit failed (${r.commitError}): these records will be read again`));
    };

    const onFailure = sqs ? sqsOnFailure(sqs, v['on-failure-queue']!) : undefined;

    let summary: ConsumeSummary;
    try {
      summary = await consume<Detail>({
        kafka,
        topics,
        groupId: v.group ?? DEFAULT_GROUP,
        startingPosition: position,
        batchSize,
        batchingWindowMs: windowS * 1000,
        source: v['self-managed'] ? 'self-managed' : 'msk',
        eventSourceArn: v['self-managed'] ? undefined : v['cluster-arn'] ?? DEFAULT_CLUSTER_ARN,
        bootstrapServers: conn.brokers.join(','),
        retryAttempts,
        functionArn,
        maxBatches,
        idleExitMs: idleS === undefined ? undefined : idleS * 1000,
        signal: abort.signal,
        onJoin: (assigned) => (json ? undefined : say(paint('dim', `joined group ${v.group ?? DEFAULT_GROUP}: ${assigned.length} partition${assigned.length === 1 ? '' : 's'} (${assigned.join(', ')})`))),
        onBatch,
        onFailure,
        invoke: async (event) => {
          const before = bridge.dlq?.files.length ?? 0;
          const { context, result } = await invoke(bridge, event, { timeoutSeconds, functionName: DEFAULT_FUNCTION_NAME });
          return {
            response: result.response,
            detail: { requestId: context.awsRequestId, outcomes: orderOutcomes(event, result.outcomes), deadLetters: bridge.dlq?.files.slice(before) ?? [] },
          };
        },
      });
    } catch (e) {
      if (e instanceof UsageError || e instanceof SettingsError) throw e;
      throw new KafkaRunError(describeKafkaError(e, conn));
    }
    const left = Object.entries(summary.outstanding).map(([tp, o]) => `${tp} from ${o}`);
    const ok = left.length === 0 && !summary.interrupted;
    const why = summary.stoppedBy === 'idle' ? `no record for ${idleS} s` : summary.stoppedBy === 'max-batches' ? `${maxBatches} invocation${maxBatches === 1 ? '' : 's'}` : 'interrupted';
    if (json) {
      emit({ type: 'summary', ok, ...summary, counts: totals });
    } else {
      say('');
      say(paint('bold', `━━ stopped (${why}): ${summary.invocations} invocation${summary.invocations === 1 ? '' : 's'}, ${summary.records} records in ${summary.batches} batch${summary.batches === 1 ? '' : 'es'}: ${countsText(totals)}`));
      const committed = Object.entries(summary.committed).map(([tp, o]) => `${tp} -> ${o}`);
      if (committed.length) say(`committed offsets: ${committed.join(', ')}`);
      if (summary.gaveUp) say(paint('magenta', `${summary.gaveUp} batch${summary.gaveUp === 1 ? '' : 'es'} given up after the retries (see npm run replay)`));
      if (left.length) say(paint('red', `left for redelivery: ${left.join(', ')}`));
      if (summary.interrupted) say(paint('red', 'stopped while a failed invocation waited for its retry: that batch is read again next time'));
      if (ok) say(paint('green', 'every consumed record is settled'));
    }
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    sqs?.destroy();
    await bridge.close();
  }
}

runCli(() => main(process.argv.slice(2)), { name: 'consume', usage: USAGE, known: KAFKA_ERRORS });
