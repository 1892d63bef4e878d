// npm start: every sample event in events/ through the real handler pipeline and an embedded A2A agent.
// No AWS account, no Archestra, no Kafka: Kafka records in, routed, rendered, answered, batch response out.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HELP_OPTION, inWords, parseFlags, runCli, UsageError } from './lib/cli';
import { countsText, formatMs, missingFieldsText, outcomeTable, summaryLine, total } from './lib/output';
import { countRecords, NotAnEventError, toKafkaEvent } from './lib/msk-event';
import { addCounts, countOutcomes, createLocalBridge, display, invoke, orderOutcomes, type Counts, type Env } from './lib/run-batch';
import { EVENTS_DIR, SAMPLES } from './lib/samples';
import { colorEnabled, painter } from './lib/table';

/** The demo always runs on the embedded agent, the sample routes and a local DLQ directory. */
const IGNORED_ENV = ['ARCHESTRA_URL', 'ARCHESTRA_TOKEN', 'ARCHESTRA_TOKEN_SECRET_ARN', 'DLQ_URL', 'ROUTES_CONFIG', 'ROUTES_CONFIG_FILE', 'IDEMPOTENCY_TABLE'];

/** The samples, then any other *.json of `dir`; a JSON file there that is no event (a routes copy, notes) is skipped with why. */
function sampleFiles(dir: string): { files: Array<{ file: string; title: string; event: unknown }>; skipped: string[] } {
  const read = (file: string): unknown => JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const files = SAMPLES.map((s) => ({ file: s.file, title: s.title, event: read(s.file) }));
  const skipped: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'routes.json' && !SAMPLES.some((k) => k.file === f)).sort()) {
    let event: unknown;
    try {
      event = read(file);
      if (toKafkaEvent(event).origin !== 'event') throw new NotAnEventError('a dead letter, not an event');
    } catch (e) {
      const why = e instanceof SyntaxError ? `not JSON (${e.message})` : e instanceof NotAnEventError ? 'not a Lambda Kafka event (no "eventSource" and "records")' : inWords(e);
      skipped.push(`${display(join(dir, file))} skipped: ${why}`);
      continue;
    }
    files.push({ file, title: 'your event', event });
  }
  return { files, skipped };
}

async function main(): Promise<number> {
  const { values: v } = parseFlags({
    options: { verbose: { type: 'boolean' }, 'agent-latency': { type: 'string' }, 'dlq-dir': { type: 'string' }, 'reply-dir': { type: 'string' }, 'events-dir': { type: 'string' }, ...HELP_OPTION },
  });
  const latency = v['agent-latency'] === undefined ? 0 : Number(v['agent-latency']);
  if (!Number.isFinite(latency) || latency < 0) throw new UsageError(`--agent-latency needs milliseconds, got "${v['agent-latency']}"`);
  if (v.help) {
    process.stdout.write('usage: npm start [-- --verbose] [-- --agent-latency MS] [-- --dlq-dir DIR] [-- --reply-dir DIR] [-- --events-dir DIR]\n\nRuns every events/*.json (or DIR/*.json, the samples among them) through the bridge and an embedded A2A agent.\n');
    return 0;
  }
  const out = process.stdout;
  const paint = painter(colorEnabled(out));
  const width = out.columns ?? 160;
  const say = (s = '') => out.write(`${s}\n`);

  const env: Env = { ...process.env };
  const ignored = IGNORED_ENV.filter((k) => env[k]);
  for (const k of IGNORED_ENV) delete env[k];

  const bridge = await createLocalBridge({
    env,
    dlqDir: v['dlq-dir'],
    replyDir: v['reply-dir'],
    verbose: v.verbose,
    agentLatencyMs: latency,
  });
  let counts: Counts = { delivered: 0, dead_lettered: 0, tombstone: 0, unrouted: 0, duplicate: 0, failed: 0 };
  let failedBatches = 0;
  let silent = 0;
  let elapsed = 0;
  const eventsDir = v['events-dir'] ?? EVENTS_DIR;
  const { files, skipped } = sampleFiles(eventsDir);
  try {
    say(paint('bold', 'kafka-a2a-bridge demo: Kafka records -> routes -> prompts -> A2A agent -> Lambda batch response'));
    for (const line of bridge.describe()) say(paint('dim', line));
    for (const note of skipped) say(paint('yellow', `note    ${note}`));
    if (ignored.length) say(paint('yellow', `note    ${ignored.join(', ')} ignored by the demo; use npm run invoke for your own setup`));

    for (const [i, s] of files.entries()) {
      const path = join(eventsDir, s.file);
      const event = s.event;
      const n = countRecords(event);
      const source = (event as { eventSource?: string }).eventSource;
      say();
      say(paint('cyan', `━━ ${i + 1}/${files.length}  ${display(path)}: ${s.title} · ${n} record${n === 1 ? '' : 's'}, ${source}`));
      const dlqBefore = bridge.dlq?.files.length ?? 0;
      const { result } = await invoke(bridge, event, { functionName: 'kafka-a2a-bridge-demo' });
      const outcomes = orderOutcomes(event, result.outcomes);
      const c = countOutcomes(outcomes);
      counts = addCounts(counts, c);
      elapsed += result.durationMs;
      if (result.response.batchItemFailures.length) failedBatches++;
      silent += outcomes.filter((o) => o.status === 'delivered' && !o.reply?.trim()).length;
      say(outcomeTable(outcomes, paint, width));
      say(summaryLine(c, result.durationMs, result.response, paint));
      for (const line of missingFieldsText(outcomes, paint)) say(line);
      for (const f of bridge.dlq?.files.slice(dlqBefore) ?? []) say(paint('dim', `dead letter written: ${display(f)}`));
      for (const o of outcomes) if (o.replyTo) say(paint('dim', `reply written: ${o.topic}-${o.partition}@${o.offset} -> ${o.replyTo}`));
      say(`${paint('bold', 'Lambda response')} ${JSON.stringify(result.response)}`);
    }
  } finally {
    await bridge.close();
  }

  const ok = failedBatches === 0 && counts.unrouted === 0 && silent === 0;
  say();
  say(paint('bold', `━━ ${files.length} events, ${total(counts)} records in ${formatMs(elapsed)}: ${countsText(counts)}`));
  if (ok) {
    say(paint('green', `Every sample record was handled: ${counts.delivered} answered by the agent`) +
      (counts.tombstone || counts.dead_lettered
        ? paint('green', `; by design ${[counts.tombstone ? `${counts.tombstone} tombstone skipped (nothing to ask)` : '', counts.dead_lettered ? `${counts.dead_lettered} undecodable record dead-lettered to ${display(bridge.dlq?.dir ?? '.dlq')}/` : ''].filter(Boolean).join(' and ')}.`)
        : '.'));
  } else {
    say(paint('red', `Not every record was handled: ${failedBatches} batch(es) reported failures, ${counts.unrouted} unrouted, ${silent} empty replies.`));
  }
  say();
  say('Next:');
  say('  npm run invoke -- events/mixed-batch.json --dry-run     the prompts each record would send');
  say('  npm run event -- --topic orders.events --out my.json \'{"order_id":"ORD-9","event_type":"paid","customer_email":"ana@example.com","details":"2 items"}\'');
  say('  npm run invoke -- my.json                               your own event, same table');
  say('  docs/LOCAL_INVOKE.md                                     a real Archestra, your routes, replaying dead letters');
  return ok ? 0 : 1;
}

runCli(main, { name: 'demo' });
