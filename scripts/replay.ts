// npm run replay -- --queue URL [options]: recovers the batches Lambda gave up on. The event source mapping's
// on-failure queue holds only their coordinates (KafkaBatchInfo); replay fetches exactly those records from
// Kafka, runs them through the pipeline `npm run invoke` runs, and deletes a message once all its records are
// settled. See docs/OPERATIONS.md.
import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { HELP_OPTION, helpShown, parseFlags, readInput, runCli } from './lib/cli';
import { decodeEvent } from '../lambda/decode';
import type { RecordOutcome } from '../lambda/pipeline';
import { eventOf, type ConsumedRecord } from './lib/consumer';
import { createKafka, describeKafkaError, KAFKA_PARSE_OPTIONS, KAFKA_USAGE, KAFKA_ERRORS, kafkaConnection, KafkaRunError } from './lib/kafka';
import { countsText, dryRunText, outcomeTable, summaryLine } from './lib/output';
import { fetchRanges, matchesFilter, NotBatchInfoError, parseBatchInfo, type BatchInfo, type FetchResult, type RecordFilter } from './lib/replay';
import { addCounts, countOutcomes, createLocalBridge, DEFAULT_TIMEOUT_SECONDS, display, dryRun, invoke, LOCAL_BRIDGE_OPTIONS, orderOutcomes, UsageError, type Counts, type DryRow } from './lib/run-batch';
import { colorEnabled, painter } from './lib/table';
import { intFlag, secondsFlag } from './lib/tool-bridge';

const USAGE = `usage: npm run replay -- (--queue URL | --file FILE) [options]

Recovers the batches Lambda gave up on. The MSK event source mapping's on-failure queue holds only their
coordinates (KafkaBatchInfo: topic, partition, first and last offsets); replay fetches exactly those records
from Kafka and runs them through the Lambda handler's pipeline in-process (the pipeline of npm run invoke,
against the embedded agent or ARCHESTRA_URL, with IDEMPOTENCY_TABLE when set). A queue message is deleted
only once every record it names is settled (delivered, dead-lettered, or skipped by design).

options:
  --queue URL               the on-failure queue (SQS); its messages are read, and deleted once settled
  --file FILE               one on-failure message body, or \`aws sqs receive-message\` output; nothing is deleted
  --max-messages N          read at most N messages (default 100)
  --visibility-timeout S    seconds the messages stay hidden from other readers during the run (default 300);
                            kept messages are made visible again when the run ends
  --topic NAME              only records of this topic (repeatable)
  --route NAME              only records the routes send to this route (repeatable)
  --from-offset N           only records at or above this offset
  --to-offset N             only records at or below this offset
  --since TIME              only records with a Kafka timestamp at or after TIME (ISO 8601 or epoch ms)
  --until TIME              only records with a Kafka timestamp at or before TIME
  --dry-run                 fetch the records and show each one's route and prompt; send and delete nothing
  --fetch-timeout SECONDS   how long to wait for Kafka to return the records (default 30)
  --routes FILE             routes file (default: ROUTES_CONFIG / ROUTES_CONFIG_FILE, else events/routes.json)
  --timeout SECONDS         function timeout each invocation's context counts down from (default ${DEFAULT_TIMEOUT_SECONDS})
  --dlq-dir DIR             where dead letters go when DLQ_URL is not set (default .dlq)
  --json                    one JSON document on stdout
  --verbose                 the handler's and the Kafka client's JSON log lines, on stderr
  -h, --help

${KAFKA_USAGE}
  Without --brokers and KAFKA_BROKERS, the bootstrapServers recorded in the first message are used.

exit status: 0 every selected record settled, 1 records failed again or could not be fetched (their
messages are kept), 2 usage or configuration error`;

interface Message {
  /** SQS MessageId, or "file". */
  id: string;
  receiptHandle?: string;
  info?: BatchInfo;
  /** Why the body is not a batch info (the message is then left alone). */
  invalid?: string;
}

function timeFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(ms)) throw new UsageError(`${flag} needs an ISO 8601 time or epoch milliseconds, got "${v}"`);
  return ms;
}

function readFileMessages(path: string): Message[] {
  const text = readInput(path, '--file');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} is not JSON: ${(e as Error).message}`);
  }
  const list = (doc as { Messages?: Array<{ MessageId?: string; Body?: string }> }).Messages;
  const bodies = Array.isArray(list) ? list.map((m, i) => ({ id: m.MessageId ?? `message ${i}`, body: m.Body ?? '' })) : [{ id: 'file', body: text }];
  return bodies.map(({ id, body }) => toMessage(id, body));
}

function toMessage(id: string, body: string, receiptHandle?: string): Message {
  try {
    return { id, receiptHandle, info: parseBatchInfo(body) };
  } catch (e) {
    if (e instanceof NotBatchInfoError) return { id, receiptHandle, invalid: e.message };
    throw e;
  }
}

async function receiveAll(sqs: SQSClient, queueUrl: string, max: number, visibility: number): Promise<Message[]> {
  const out: Message[] = [];
  while (out.length < max) {
    const res = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(10, max - out.length), VisibilityTimeout: visibility, WaitTimeSeconds: 1 }),
    );
    const msgs = res.Messages ?? [];
    if (msgs.length === 0) break;
    for (const m of msgs) out.push(toMessage(m.MessageId ?? '?', m.Body ?? '', m.ReceiptHandle));
  }
  return out;
}

interface MessageResult {
  id: string;
  condition?: string;
  ranges: string[];
  fetched: number;
  selected: number;
  filteredOut: number;
  missing: FetchResult['missing'];
  outcomes?: RecordOutcome[];
  dryRun?: DryRow[];
  response?: { batchItemFailures: Array<{ itemIdentifier: { partition: string; offset: number } }> };
  error?: string;
  /** Deleted from the queue, or why it was kept. */
  deleted: boolean;
  kept?: string;
}

async function main(argv: string[]): Promise<number> {
  const args = parseFlags({
    args: argv,
    allowPositionals: false,
    options: {
      ...KAFKA_PARSE_OPTIONS,
      queue: { type: 'string' },
      file: { type: 'string' },
      'max-messages': { type: 'string' },
      'visibility-timeout': { type: 'string' },
      topic: { type: 'string', multiple: true },
      route: { type: 'string', multiple: true },
      'from-offset': { type: 'string' },
      'to-offset': { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'fetch-timeout': { type: 'string' },
      ...LOCAL_BRIDGE_OPTIONS,
      ...HELP_OPTION,
    },
  });
  const v = args.values;
  if (helpShown(v, USAGE)) return 0;
  if (!v.queue === !v.file) throw new UsageError('give the on-failure queue (--queue URL) or a file (--file FILE), one of them');
  const maxMessages = intFlag('--max-messages', v['max-messages'], { min: 1, max: 10000 }) ?? 100;
  const visibility = intFlag('--visibility-timeout', v['visibility-timeout'], { min: 0, max: 43200 }) ?? 300;
  const fetchTimeout = secondsFlag('--fetch-timeout', v['fetch-timeout'], { min: 1, max: 3600 }) ?? 30;
  const timeoutSeconds = secondsFlag('--timeout', v.timeout, { min: 1, max: 900 }) ?? DEFAULT_TIMEOUT_SECONDS;
  const filter: RecordFilter = {
    topics: v.topic,
    fromOffset: intFlag('--from-offset', v['from-offset'], { min: 0 }),
    toOffset: intFlag('--to-offset', v['to-offset'], { min: 0 }),
    since: timeFlag('--since', v.since),
    until: timeFlag('--until', v.until),
  };
  const routeFilter = v.route?.length ? new Set(v.route) : undefined;
  const dry = v['dry-run'] === true;
  const json = v.json === true;
  const out = process.stdout;
  const paint = painter(!json && colorEnabled(out));
  const say = (line: string) => (json ? process.stderr.write(`${line}\n`) : out.write(`${line}\n`));

  const bridge = await createLocalBridge({ routesFile: v.routes, dlqDir: v['dlq-dir'], verbose: v.verbose, noAgent: dry });
  const sqs = v.queue ? new SQSClient({}) : undefined;
  try {
    for (const w of bridge.warnings) process.stderr.write(`warning: ${w}\n`);
    if (routeFilter) {
      const unknown = [...routeFilter].filter((r) => !bridge.settings.routes.some((x) => x.name === r));
      if (unknown.length) throw new UsageError(`--route names no route of ${bridge.routesSource}: ${unknown.join(', ')}`);
    }
    const messages = sqs ? await receiveAll(sqs, v.queue!, maxMessages, visibility) : readFileMessages(v.file!);
    const valid = messages.filter((m) => m.info);
    const brokersDefault = valid.find((m) => m.info?.bootstrapServers)?.info?.bootstrapServers;
    const brokersGiven = v.brokers ?? (process.env.KAFKA_BROKERS || undefined) ?? brokersDefault;
    // With nothing to fetch (an empty queue), Kafka is not needed, so its settings are not either.
    const conn =
      valid.length || brokersGiven
        ? kafkaConnection({ ...v, brokers: v.brokers ?? (process.env.KAFKA_BROKERS ? undefined : brokersDefault) }, process.env, 'kafka-a2a-bridge-replay')
        : undefined;
    if (!json) {
      if (!dry) for (const line of bridge.describe()) say(paint('dim', line));
      else say(paint('dim', `routes  ${bridge.routesSource} (${bridge.settings.routes.length} routes)`));
      say(paint('dim', `queue   ${v.queue ?? display(v.file!)}: ${messages.length} message${messages.length === 1 ? '' : 's'} read${sqs ? `, hidden for ${visibility} s` : ''}`));
      if (conn) say(paint('dim', `kafka   ${conn.brokers.join(',')} (auth ${conn.auth}, ${conn.tls ? 'TLS' : 'plaintext'})`));
    }

    let fetched: FetchResult = { records: [], missing: [] };
    if (valid.length && conn) {
      const kafka = createKafka(conn, v.verbose ? { log: (l) => process.stderr.write(`${l}\n`) } : {});
      try {
        fetched = await fetchRanges(kafka, valid.flatMap((m) => m.info!.ranges), { timeoutMs: fetchTimeout * 1000 });
      } catch (e) {
        throw new KafkaRunError(describeKafkaError(e, conn));
      }
    }

    let totals: Counts = { delivered: 0, dead_lettered: 0, tombstone: 0, unrouted: 0, duplicate: 0, failed: 0 };
    const results: MessageResult[] = [];
    const reasons = new Map<string, number>();
    for (const m of messages) {
      if (!m.info) {
        results.push({ id: m.id, ranges: [], fetched: 0, selected: 0, filteredOut: 0, missing: [], deleted: false, kept: m.invalid });
        if (!json) say(`\n${paint('bold', `━━ message ${m.id}`)}\n${paint('yellow', `skipped: ${m.invalid}`)}`);
        continue;
      }
      const info = m.info;
      const inRange = (r: ConsumedRecord) => info.ranges.some((x) => x.topic === r.topic && x.partition === r.partition && r.offset >= x.first && r.offset <= x.last);
      const mine = fetched.records.filter(inRange);
      const missing = fetched.missing.filter((x) => info.ranges.some((r) => r.partitionKey === x.partitionKey && x.from <= r.last && x.to >= r.first));
      let selected = mine.filter((r) => matchesFilter(r, filter));
      // An MSK mapping records its cluster's ARN; a self-managed one has none.
      const source = info.eventSourceArn?.startsWith('arn:aws:kafka:') ? 'msk' : 'self-managed';
      const eventOpts = { source, eventSourceArn: source === 'msk' ? info.eventSourceArn : undefined, bootstrapServers: info.bootstrapServers ?? conn!.brokers.join(',') } as const;
      if (routeFilter && selected.length) {
        const routed = new Set(
          decodeEvent(eventOf(selected, eventOpts))
            .records.filter((r) => routeFilter.has(bridge.deps.router(r).route?.name ?? ''))
            .map((r) => `${r.partitionKey}@${r.offset}`),
        );
        selected = selected.filter((r) => routed.has(`${r.topic}-${r.partition}@${r.offset}`));
      }
      const res: MessageResult = {
        id: m.id,
        ...(info.condition ? { condition: info.condition } : {}),
        ranges: info.ranges.map((r) => `${r.partitionKey}@${r.first}..${r.last}`),
        fetched: mine.length,
        selected: selected.length,
        filteredOut: mine.length - selected.length,
        missing,
        deleted: false,
      };
      results.push(res);
      if (!json) say(`\n${paint('bold', `━━ message ${m.id}${info.condition ? ` (${info.condition})` : ''}: ${res.ranges.join(', ')} · ${mine.length} record${mine.length === 1 ? '' : 's'} fetched, ${selected.length} selected`)}`);
      for (const x of missing) if (!json) say(paint('red', `missing ${x.partitionKey}@${x.from}..${x.to}: ${x.why}`));

      if (selected.length) {
        const event = eventOf(selected, eventOpts);
        if (dry) {
          res.dryRun = dryRun(bridge, event, bridge.embedded);
          if (!json) say(dryRunText(res.dryRun, paint));
        } else {
          try {
            const before = bridge.dlq?.files.length ?? 0;
            const { result } = await invoke(bridge, event, { timeoutSeconds });
            res.outcomes = orderOutcomes(event, result.outcomes);
            res.response = result.response;
            const counts = countOutcomes(res.outcomes);
            totals = addCounts(totals, counts);
            for (const o of res.outcomes) if (o.status === 'failed') reasons.set(`${o.code ?? 'failed'}: ${o.message ?? ''}`.slice(0, 160), (reasons.get(`${o.code ?? 'failed'}: ${o.message ?? ''}`.slice(0, 160)) ?? 0) + 1);
            if (!json) {
              say(outcomeTable(res.outcomes, paint, out.columns ?? 160));
              say(summaryLine(counts, result.durationMs, result.response, paint));
              for (const f of bridge.dlq?.files.slice(before) ?? []) say(paint('dim', `dead letter written: ${display(f)}`));
            }
          } catch (e) {
            res.error = (e as Error).message;
            if (!json) say(paint('red', `the invocation failed: ${res.error}`));
          }
        }
      }
      const failedAgain = (res.response?.batchItemFailures.length ?? 0) > 0 || res.error !== undefined;
      res.kept = dry
        ? 'dry run'
        : missing.length
          ? 'records could not be fetched'
          : failedAgain
            ? 'records failed again'
            : res.filteredOut
              ? `${res.filteredOut} record${res.filteredOut === 1 ? '' : 's'} left out by the filters`
              : !m.receiptHandle
                ? 'read from a file'
                : undefined;
      if (res.kept === undefined && sqs) {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: v.queue!, ReceiptHandle: m.receiptHandle! }));
        res.deleted = true;
        delete res.kept;
      }
      if (!json) say(res.deleted ? paint('green', `message ${m.id} deleted: every record settled`) : paint(res.kept === 'dry run' || res.kept === 'read from a file' ? 'dim' : 'yellow', `message ${m.id} kept: ${res.kept}`));
    }

    // Kept messages become visible again at once, so a second run (or another reader) sees them now.
    if (sqs) {
      for (const m of messages) {
        if (!m.receiptHandle || results.find((r) => r.id === m.id)?.deleted) continue;
        await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: v.queue!, ReceiptHandle: m.receiptHandle, VisibilityTimeout: 0 })).catch(() => undefined);
      }
    }
    const missingAll = results.flatMap((r) => r.missing);
    const failedRecords = totals.failed + results.filter((r) => r.error).reduce((n, r) => n + r.selected, 0);
    const ok = missingAll.length === 0 && failedRecords === 0 && results.every((r) => !r.error);
    const deleted = results.filter((r) => r.deleted).length;
    if (json) {
      out.write(`${JSON.stringify({ ok, dryRun: dry, queue: v.queue ?? null, messages: results, counts: totals, failedAgain: Object.fromEntries(reasons), deleted }, null, 2)}\n`);
    } else {
      const recs = results.reduce((n, r) => n + r.selected, 0);
      say('');
      say(
        paint(
          'bold',
          dry
            ? `━━ dry run: ${messages.length} message${messages.length === 1 ? '' : 's'}, ${recs} record${recs === 1 ? '' : 's'} selected; nothing sent, nothing deleted`
            : `━━ ${messages.length} message${messages.length === 1 ? '' : 's'}, ${recs} record${recs === 1 ? '' : 's'} replayed: ${countsText(totals)} · ${deleted} message${deleted === 1 ? '' : 's'} deleted, ${messages.length - deleted} kept`,
        ),
      );
      for (const [why, n] of reasons) say(paint('red', `failed again (${n}): ${why}`));
    }
    return dry ? (missingAll.length ? 1 : 0) : ok ? 0 : 1;
  } finally {
    sqs?.destroy();
    await bridge.close();
  }
}

runCli(() => main(process.argv.slice(2)), { name: 'replay', usage: USAGE, known: KAFKA_ERRORS });
