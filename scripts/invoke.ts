// npm run invoke -- <event.json|-> [options]: runs the bridge's handler in-process on one Kafka event, with a
// Lambda-like context, against an embedded A2A agent (no ARCHESTRA_URL) or a real Archestra. See
// docs/LOCAL_INVOKE.md.
import { HELP_OPTION, helpShown, parseFlags, readInput, runCli } from './lib/cli';
import { EventShapeError } from '../lambda/decode';
import { allDeadLettered, diagnosis, dryRunText, missingFieldsText, outcomeTable, responseBlock, summaryLine } from './lib/output';
import { countRecords, NotAnEventError, toKafkaEvent } from './lib/msk-event';
import {
  countOutcomes,
  createLocalBridge,
  DEFAULT_TIMEOUT_SECONDS,
  display,
  dryRun,
  invoke,
  lambdaContext,
  orderOutcomes,
  plannedSends,
  UsageError,
  type Invocation,
  type LocalBridge,
} from './lib/run-batch';
import { colorEnabled, painter, Progress } from './lib/table';

const USAGE = `usage: npm run invoke -- <event.json | -> [options]

Runs the Lambda handler in-process on a Kafka event (MSK or self-managed). Without ARCHESTRA_URL an
embedded A2A agent answers on 127.0.0.1; with ARCHESTRA_URL and ARCHESTRA_TOKEN the real Archestra does.
The input may also be a dead letter (a .dlq/ file or an SQS message body) or \`aws sqs receive-message\`
output: its records are replayed as they were delivered.

options:
  --routes FILE         routes file (default: ROUTES_CONFIG / ROUTES_CONFIG_FILE, else events/routes.json)
  --dry-run             print each record's route and rendered prompt; send nothing
  --timeout SECONDS     function timeout the context counts down from (default ${DEFAULT_TIMEOUT_SECONDS})
  --json                machine-readable output on stdout
  --dlq-dir DIR         where dead letters go when DLQ_URL is not set (default .dlq)
  --reply-dir DIR       where replies of routes with a reply destination go (default .replies)
  --live-replies        write replies to the routes' destinations instead (AWS credentials, REPLY_KAFKA_*)
  --verbose             the handler's JSON log lines and metrics, on stderr
  --agent-latency MS    embedded agent's answer delay (default 0)
  --function-name NAME  context.functionName (default kafka-a2a-bridge-local)
  --no-progress         no progress bar (shown for batches over 50 records)
  -h, --help

exit status: 0 batch OK, 1 the batch reported failures, every record was dead-lettered, or the invocation
failed, 2 usage or configuration error`;

function readEvent(path: string): unknown {
  const text = readInput(path, 'the event', 'check the path, or build an event: npm run event -- --out my.json \'{"your":"message"}\'');
  // `npm run event -- ... > file` also captures npm's "> pkg@version script" banner: skip those lines.
  const body = text.replace(/^(?:\s*\n|> [^\n]*\n)+/, '');
  try {
    return JSON.parse(body);
  } catch (e) {
    throw new UsageError(`the event ${path} is not JSON: ${(e as Error).message}`, 'give a Lambda Kafka event (npm run event builds one) or a dead letter');
  }
}

function positiveNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} needs a positive number, got "${v}"`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const args = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      routes: { type: 'string' },
      'dry-run': { type: 'boolean' },
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      'dlq-dir': { type: 'string' },
      'reply-dir': { type: 'string' },
      'live-replies': { type: 'boolean' },
      verbose: { type: 'boolean' },
      'agent-latency': { type: 'string' },
      'function-name': { type: 'string' },
      'no-progress': { type: 'boolean' },
      ...HELP_OPTION,
    },
  });
  const v = args.values;
  if (helpShown(v, USAGE)) return 0;
  if (args.positionals.length !== 1) {
    throw new UsageError(args.positionals.length ? `give one event file, got ${args.positionals.length}: ${args.positionals.join(' ')}` : 'missing the event file (or - for stdin)', 'npm run invoke -- events/order-shipped.json (a sample event) or your own');
  }
  const eventPath = args.positionals[0];
  const timeoutSeconds = positiveNumber('--timeout', v.timeout) ?? DEFAULT_TIMEOUT_SECONDS;
  if (timeoutSeconds > 900) throw new UsageError('--timeout is at most 900 seconds (the Lambda maximum)');
  const agentLatencyMs = v['agent-latency'] === undefined ? 0 : Number(v['agent-latency']);
  if (!Number.isFinite(agentLatencyMs) || agentLatencyMs < 0) throw new UsageError(`--agent-latency needs milliseconds, got "${v['agent-latency']}"`);

  const input = readEvent(eventPath);
  let converted: ReturnType<typeof toKafkaEvent>;
  try {
    converted = toKafkaEvent(input);
  } catch (e) {
    if (e instanceof NotAnEventError) throw new UsageError(`${eventPath}: ${e.message}`);
    throw e;
  }
  const { event, origin, letters } = converted;
  const json = v.json === true;
  const out = process.stdout;
  const paint = painter(!json && colorEnabled(out));
  const info = (line: string) => (json ? process.stderr.write(`${line}\n`) : out.write(`${line}\n`));

  const bridge: LocalBridge = await createLocalBridge({
    routesFile: v.routes,
    dlqDir: v['dlq-dir'],
    replyDir: v['reply-dir'],
    liveReplies: v['live-replies'],
    verbose: v.verbose,
    agentLatencyMs,
    noAgent: v['dry-run'],
  });
  try {
    for (const w of bridge.warnings) process.stderr.write(`warning: ${w}\n`);
    const source = (event as { eventSource?: unknown } | null)?.eventSource;
    const n = countRecords(event);
    const name = eventPath === '-' ? 'stdin' : display(eventPath);
    const what = origin === 'event' ? name : `${name} (${letters} dead letter${letters === 1 ? '' : 's'}${origin === 'sqs' ? ' from SQS' : ''}, replayed at the original offsets)`;
    const embedded = bridge.embedded;

    if (v['dry-run']) {
      const rows = dryRun(bridge, event, embedded);
      if (json) out.write(`${JSON.stringify({ dryRun: true, event: eventPath, routes: bridge.routesSource, records: rows }, null, 2)}\n`);
      else {
        info(paint('dim', `routes  ${bridge.routesSource} (${bridge.settings.routes.length} routes)`));
        info(paint('dim', `event   ${what}: ${n} record${n === 1 ? '' : 's'} (${String(source)})`));
        info('');
        info(dryRunText(rows, paint));
      }
      return 0;
    }

    if (!json) for (const line of bridge.describe()) info(paint('dim', line));
    const context = lambdaContext(timeoutSeconds, v['function-name']);
    if (!json) {
      info(paint('dim', `event   ${what}: ${n} record${n === 1 ? '' : 's'} (${String(source)}), request ${context.awsRequestId}, timeout ${timeoutSeconds} s`));
      info('');
    }
    const progress = !json && !v['no-progress'] && n > 50 ? new Progress(plannedSends(event, bridge.deps)) : undefined;
    const dlqBefore = bridge.dlq?.files.length ?? 0;

    let result: Invocation['result'];
    try {
      ({ result } = await invoke(bridge, event, { context, onRecordDone: progress && (() => progress.tick()) }));
    } finally {
      progress?.finish();
    }
    const outcomes = orderOutcomes(event, result.outcomes);
    const counts = countOutcomes(outcomes);
    const deadLetters = bridge.dlq?.files.slice(dlqBefore) ?? [];
    const failed = result.response.batchItemFailures.length > 0;
    // Lambda's answer is unchanged (dead letters are settled), but a local run that reached no agent is no success.
    const nothingReached = allDeadLettered(counts);

    if (json) {
      const doc = {
        ok: !failed && !nothingReached,
        diagnosis: diagnosis(outcomes, bridge.settings.archestraUrl) ?? null,
        requestId: context.awsRequestId,
        functionName: context.functionName,
        event: eventPath,
        origin,
        eventSource: source,
        agent: embedded ? { mode: 'embedded', url: bridge.agent?.url } : { mode: 'remote', url: bridge.settings.archestraUrl },
        routes: bridge.routesSource,
        durationMs: result.durationMs,
        counts,
        records: outcomes,
        deadLetters: { dir: bridge.dlq?.dir ?? null, queueUrl: bridge.settings.dlqUrl ?? null, files: deadLetters },
        replies: outcomes.flatMap((o) => (o.replyTo ? [{ topic: o.topic, partition: o.partition, offset: o.offset, route: o.route, to: o.replyTo }] : [])),
        response: result.response,
      };
      out.write(`${JSON.stringify(doc, null, 2)}\n`);
    } else {
      info(outcomeTable(outcomes, paint, out.columns ?? 160));
      info('');
      info(summaryLine(counts, result.durationMs, result.response, paint));
      for (const line of missingFieldsText(outcomes, paint)) info(line);
      const why = diagnosis(outcomes, bridge.settings.archestraUrl);
      if (why) info(paint('red', why));
      for (const f of deadLetters) info(paint('dim', `dead letter written: ${display(f)}`));
      for (const o of outcomes) if (o.replyTo) info(paint('dim', `reply written: ${o.topic}-${o.partition}@${o.offset} -> ${o.replyTo}`));
      info('');
      info(responseBlock(result.response, paint));
    }
    return failed || nothingReached ? 1 : 0;
  } finally {
    await bridge.close();
  }
}

runCli(() => main(process.argv.slice(2)), {
  name: 'invoke',
  usage: USAGE,
  known: [{ error: EventShapeError, words: 'not a Kafka event' }],
  // What Lambda would do too: the invocation fails and the whole batch is retried.
  unexpected: 'the invocation failed (Lambda would retry the whole batch)',
});
