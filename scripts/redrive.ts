// npm run redrive -- --queue URL [filters] [--dry-run]: puts dead-lettered records back through the bridge
// once their cause is fixed. Same routes, same pipeline, same idempotency store as the function; a message is
// deleted only after its record is settled again. See docs/OPERATIONS.md.
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { Partitioners } from 'kafkajs';
import { HELP_OPTION, helpShown, parseFlags, runCli, UsageError } from './lib/cli';
import { createKafka, describeKafkaError, KAFKA_PARSE_OPTIONS, KAFKA_USAGE, KAFKA_ERRORS, kafkaConnection, KafkaRunError, type KafkaConnection } from './lib/kafka';
import { countsText, dryRunText, formatMs, outcomeTable } from './lib/output';
import { eventsOf, holdsReply, isSettled, kafkaCopy, matches, readLetters, settledMessages, uniqueRecords, UNDECODABLE, type Filter, type Letter, type QueueMessage } from './lib/redrive';
import { toKafkaEvent } from './lib/msk-event';
import { addCounts, countOutcomes, createLocalBridge, DEFAULT_TIMEOUT_SECONDS, dryRun, invoke, orderOutcomes, type Counts } from './lib/run-batch';
import type { RecordOutcome } from '../lambda/outcome';
import { colorEnabled, painter } from './lib/table';

const USAGE = `usage: npm run redrive -- --queue URL [options]

Reads the bridge's poison queue (SQS), joins letters that were split into chunks, selects the ones asked
for, and sends their records through the same pipeline as the function: the same routes, the same
idempotency store (IDEMPOTENCY_TABLE: a record delivered already is not sent again) and, for records that
fail again, the same dead-letter queue (DLQ_URL, default: the queue read). A message is deleted only after
its record is settled (delivered, duplicate, tombstone, or dead-lettered again as a new message); the
rest become visible again. Undecodable records are left alone unless --class undecodable asks for them.

The records go to the real agents: ARCHESTRA_URL and the token (ARCHESTRA_TOKEN or
ARCHESTRA_TOKEN_SECRET_ARN) are read from the environment, like the function's settings.

With --to-topic the records are not sent to agents but published again, byte for byte (key, value,
headers), to a Kafka topic (the original topic, or a retry topic the bridge consumes; it must exist unless
the cluster creates topics on first use); each message is deleted once the brokers acknowledged its record
(acks from all in-sync replicas).

options:
  --queue URL          the poison queue (required)
  --routes FILE        routes file (default: ROUTES_CONFIG / ROUTES_CONFIG_FILE)
  --route NAME         only letters of this route (repeatable)
  --topic NAME         only records of this topic (repeatable)
  --class NAME         only this error class, e.g. agent_error, timeout, undecodable (repeatable)
  --since ISO-TIME     only letters dead-lettered at or after this time
  --until ISO-TIME     only letters dead-lettered at or before this time
  --partition N        only records of this partition
  --offsets FROM-TO    only records in this offset range (inclusive)
  --max N              read at most N messages (default 1000)
  --to-topic TOPIC     publish the records to this Kafka topic instead of sending them to agents
  --dry-run            show what would be redriven and the prompt each would get; send and delete nothing
  --timeout SECONDS    time the run may take, as a function timeout (default ${DEFAULT_TIMEOUT_SECONDS})
  --json               one JSON document on stdout
  -h, --help

${KAFKA_USAGE}

exit status: 0 every selected record settled without a new dead letter, 1 some failed again (still in the
queue, or dead-lettered again), 2 usage or configuration error`;

const ISO = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

function parse(argv: string[]) {
  const args = parseFlags({
    args: argv,
    options: {
      queue: { type: 'string' },
      routes: { type: 'string' },
      route: { type: 'string', multiple: true },
      topic: { type: 'string', multiple: true },
      class: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      partition: { type: 'string' },
      offsets: { type: 'string' },
      max: { type: 'string' },
      'dry-run': { type: 'boolean' },
      'to-topic': { type: 'string' },
      ...KAFKA_PARSE_OPTIONS,
      timeout: { type: 'string' },
      json: { type: 'boolean' },
      ...HELP_OPTION,
    },
  });
  const v = args.values;
  const filter: Filter = { routes: v.route, topics: v.topic, classes: v.class };
  for (const k of ['since', 'until'] as const) {
    const t = v[k];
    if (t === undefined) continue;
    if (!ISO.test(t) || Number.isNaN(Date.parse(t))) throw new UsageError(`--${k} needs an ISO time such as 2025-01-12T10:00:00Z, got "${t}"`);
    filter[k] = new Date(t).toISOString();
  }
  if (v.partition !== undefined) {
    if (!/^\d+$/.test(v.partition)) throw new UsageError(`--partition needs a partition number, got "${v.partition}"`);
    filter.partition = Number(v.partition);
  }
  if (v.offsets !== undefined) {
    const m = /^(\d+)-(\d+)$/.exec(v.offsets);
    if (!m || Number(m[1]) > Number(m[2])) throw new UsageError(`--offsets needs FROM-TO with FROM <= TO, got "${v.offsets}"`);
    filter.offsets = [Number(m[1]), Number(m[2])];
  }
  const max = v.max === undefined ? 1000 : Number(v.max);
  if (!Number.isInteger(max) || max < 1) throw new UsageError(`--max needs a positive whole number, got "${v.max}"`);
  const timeout = v.timeout === undefined ? DEFAULT_TIMEOUT_SECONDS : Number(v.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 900) throw new UsageError(`--timeout needs seconds between 0 and 900, got "${v.timeout}"`);
  return { v, filter, max, timeout };
}

/** Receives up to `max` messages, hidden from other readers for `holdSeconds`. */
async function receiveAll(sqs: SQSClient, queueUrl: string, max: number, holdSeconds: number): Promise<QueueMessage[]> {
  const out: QueueMessage[] = [];
  let empty = 0;
  while (out.length < max && empty < 2) {
    const res = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: Math.min(10, max - out.length), VisibilityTimeout: holdSeconds, WaitTimeSeconds: 1 }),
    );
    const got = res.Messages ?? [];
    // Short reads sample a subset of SQS's servers: an empty answer is believed only twice in a row.
    empty = got.length === 0 ? empty + 1 : 0;
    for (const m of got) if (m.MessageId && m.ReceiptHandle && m.Body !== undefined) out.push({ messageId: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body });
  }
  return out;
}

async function inTens(messages: readonly QueueMessage[], call: (group: QueueMessage[]) => Promise<{ Failed?: unknown[] }>): Promise<number> {
  let failed = 0;
  for (let i = 0; i < messages.length; i += 10) failed += (await call(messages.slice(i, i + 10))).Failed?.length ?? 0;
  return failed;
}

const deleteAll = (sqs: SQSClient, queueUrl: string, ms: readonly QueueMessage[]) =>
  inTens(ms, (g) => sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: g.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.receiptHandle })) })));
const releaseAll = (sqs: SQSClient, queueUrl: string, ms: readonly QueueMessage[]) =>
  inTens(ms, (g) =>
    sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: g.map((m, i) => ({ Id: `r${i}`, ReceiptHandle: m.receiptHandle, VisibilityTimeout: 0 })) })),
  );

async function main(argv: string[]): Promise<number> {
  const { v, filter, max, timeout } = parse(argv);
  if (helpShown(v, USAGE)) return 0;
  if (!v.queue) throw new UsageError('--queue URL is required (the poison queue: the stack output PoisonRecordQueueUrl)');
  const queueUrl = v.queue;
  const json = v.json === true;
  const dry = v['dry-run'] === true;
  const paint = painter(!json && colorEnabled(process.stdout));
  const info = (line: string) => (json ? process.stderr.write(`${line}\n`) : process.stdout.write(`${line}\n`));

  const toTopic = v['to-topic'];
  if (toTopic !== undefined && !/^[A-Za-z0-9._-]{1,249}$/.test(toTopic)) throw new UsageError(`--to-topic needs a Kafka topic name, got "${toTopic}"`);
  const kafka = toTopic === undefined ? undefined : kafkaConnection(v, process.env, 'kafka-a2a-bridge-redrive');
  const env = { ...process.env, DLQ_URL: process.env.DLQ_URL ?? queueUrl };
  // The local bridge answers with an embedded agent when ARCHESTRA_URL is unset: fine for a demo, never for
  // records taken out of a production queue. Republishing to Kafka needs no bridge at all.
  const bridge = toTopic === undefined ? await createLocalBridge({ routesFile: v.routes, env, noAgent: true }) : undefined;
  try {
    if (bridge?.embedded && bridge.settings.routes.some((r) => !r.url) && !dry) {
      throw new UsageError('redrive sends to the real agents: set ARCHESTRA_URL and the token (ARCHESTRA_TOKEN or ARCHESTRA_TOKEN_SECRET_ARN)');
    }
    const sqs = new SQSClient({ maxAttempts: 3, useQueueUrlAsEndpoint: false, requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000, throwOnRequestTimeout: true } });
    try {
      const messages = await receiveAll(sqs, queueUrl, max, Math.ceil(timeout) + 120);
      const { letters, unusable } = readLetters(messages);
      const selected = letters.filter((l) => matches(l, filter));
      const skipped = letters.filter((l) => !matches(l, filter));
      const records = uniqueRecords(selected);
      const skippedUndecodable = skipped.filter((l) => l.body.error.class === UNDECODABLE && !filter.classes).length;
      info(paint('dim', `queue   ${queueUrl}: ${messages.length} messages, ${letters.length} letters, ${selected.length} selected (${records.size} records)`));
      for (const u of unusable) info(paint('yellow', `left    ${u.messages.length} message(s): ${u.reason}`));
      if (skippedUndecodable) info(paint('dim', `left    ${skippedUndecodable} undecodable letter(s): pass --class undecodable to redrive them`));
      const replies = letters.filter(holdsReply).length;
      if (replies) info(paint('yellow', `left    ${replies} letter(s) holding an agent's reply that could not be written: redriving would run the agent again; deliver the envelope in their "reply" field instead`));

      if (toTopic !== undefined) return await republish({ sqs, queueUrl, messages, records, topic: toTopic, conn: kafka!, dry, json, info });
      if (!bridge) throw new Error('unreachable: no bridge without --to-topic');
      const events = eventsOf(records).map((g) => toKafkaEvent({ Messages: g.bodies.map((b) => ({ Body: JSON.stringify(b) })) }).event);
      if (dry) {
        const rows = events.flatMap((e) => dryRun(bridge, e, bridge.embedded));
        await releaseAll(sqs, queueUrl, messages);
        if (json) process.stdout.write(`${JSON.stringify({ dryRun: true, queue: queueUrl, messages: messages.length, letters: letters.length, unusable, records: rows }, null, 2)}\n`);
        else {
          info('');
          info(dryRunText(rows, paint));
          info('nothing was deleted: every message is visible again');
        }
        return 0;
      }

      const outcomes: RecordOutcome[] = [];
      let counts: Counts = countOutcomes([]);
      let ms = 0;
      for (const event of events) {
        const { result } = await invoke(bridge, event, { timeoutSeconds: timeout });
        const ordered = orderOutcomes(event, result.outcomes);
        outcomes.push(...ordered);
        counts = addCounts(counts, countOutcomes(ordered));
        ms += result.durationMs;
      }
      const toDelete = settledMessages(records, outcomes);
      const deleting = new Set(toDelete.map((m) => m.messageId));
      const toRelease = messages.filter((m) => !deleting.has(m.messageId));
      const notDeleted = await deleteAll(sqs, queueUrl, toDelete);
      await releaseAll(sqs, queueUrl, toRelease);
      const again = outcomes.filter((o) => !isSettled(o) || o.status === 'dead_lettered');

      if (json) {
        process.stdout.write(
          `${JSON.stringify({ ok: again.length === 0, queue: queueUrl, messages: messages.length, letters: letters.length, unusable, counts, records: outcomes, deleted: toDelete.length - notDeleted, left: toRelease.length + notDeleted }, null, 2)}\n`,
        );
      } else {
        if (outcomes.length) {
          info('');
          info(outcomeTable(outcomes, paint, process.stdout.columns ?? 160));
        }
        info('');
        info(`${outcomes.length} record(s) redriven in ${formatMs(ms)}: ${countsText(counts)}`);
        info(`deleted ${toDelete.length - notDeleted} message(s); ${toRelease.length + notDeleted} left in the queue${notDeleted ? ` (${notDeleted} could not be deleted and will be read again)` : ''}`);
        if (again.length) info(paint('red', `${again.length} record(s) failed again: ${[...new Set(again.map((o) => o.code ?? o.status))].join(', ')}`));
      }
      return again.length ? 1 : 0;
    } finally {
      sqs.destroy();
    }
  } finally {
    await bridge?.close();
  }
}

interface Republish {
  sqs: SQSClient;
  queueUrl: string;
  messages: QueueMessage[];
  records: Map<string, Letter[]>;
  topic: string;
  conn: KafkaConnection;
  dry: boolean;
  json: boolean;
  info: (line: string) => void;
}

/** Publishes each selected record again, byte for byte, and deletes its messages once the brokers have it. */
async function republish(o: Republish): Promise<number> {
  const copies = [...o.records].map(([id, letters]) => ({ id, letters, copy: kafkaCopy(letters[0].body) }));
  const rows: Array<{ id: string; status: 'published' | 'would_publish' | 'left'; reason?: string }> = [];
  const toDelete: QueueMessage[] = [];
  if (!o.dry && copies.some((c) => !('error' in c.copy))) {
    const producer = createKafka(o.conn).producer({ createPartitioner: Partitioners.DefaultPartitioner, maxInFlightRequests: 1 });
    try {
      await producer.connect();
      // One record at a time, in the order read: each message is deleted only for a record the brokers acknowledged.
      for (const c of copies) {
        if ('error' in c.copy) continue;
        const headers = Object.fromEntries(Object.entries(c.copy.headers).map(([k, v]) => [k, v.length === 1 ? v[0] : v]));
        await producer.send({ topic: o.topic, acks: -1, messages: [{ key: c.copy.key, value: c.copy.value, headers }] });
        toDelete.push(...c.letters.flatMap((l) => l.messages));
        rows.push({ id: c.id, status: 'published' });
      }
    } catch (e) {
      throw new KafkaRunError(`${describeKafkaError(e, o.conn)} (${rows.length} record(s) published before it, their messages deleted)`);
    } finally {
      const deleting = new Set(toDelete.map((m) => m.messageId));
      await deleteAll(o.sqs, o.queueUrl, toDelete);
      await releaseAll(o.sqs, o.queueUrl, o.messages.filter((m) => !deleting.has(m.messageId)));
      await producer.disconnect().catch(() => undefined);
    }
  } else await releaseAll(o.sqs, o.queueUrl, o.messages);
  for (const c of copies) {
    if ('error' in c.copy) rows.push({ id: c.id, status: 'left', reason: c.copy.error });
    else if (o.dry) rows.push({ id: c.id, status: 'would_publish' });
  }
  const left = rows.filter((r) => r.status === 'left').length;
  if (o.json) process.stdout.write(`${JSON.stringify({ ok: left === 0, dryRun: o.dry, queue: o.queueUrl, topic: o.topic, records: rows, deleted: toDelete.length }, null, 2)}\n`);
  else {
    for (const r of rows) o.info(`${r.id}  ${r.status}${r.reason ? `: ${r.reason}` : ''}`);
    o.info(o.dry ? `dry run: ${rows.length - left} record(s) would be published to ${o.topic}; nothing published, nothing deleted` : `${rows.length - left} record(s) published to ${o.topic}; deleted ${toDelete.length} message(s)`);
  }
  return left ? 1 : 0;
}

runCli(() => main(process.argv.slice(2)), { name: 'redrive', usage: USAGE, known: KAFKA_ERRORS });
