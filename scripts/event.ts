// npm run event -- [options] [message ...]: builds a Lambda Kafka event (MSK or self-managed) from plain
// messages and writes it as JSON. See docs/LOCAL_INVOKE.md.
import { HELP_OPTION, helpShown, parseFlags, readInput, runCli, UsageError } from './lib/cli';
import { writeFileSync } from 'node:fs';
import { getPath, splitPath } from '../lambda/json-path';
import { buildMskEvent, formatEvent, type KafkaMessage, type MskEvent, type MskEventOptions } from './lib/msk-event';

const USAGE = `usage: npm run event -- [options] [message ...]

Builds a Lambda Kafka event from messages: the arguments, else --file (JSONL), else stdin (one message per
line; a whole input that is one multi-line JSON document is one message). Writes JSON to stdout or --out.

options:
  --topic NAME          topic (default events)
  --partition N         partition (default 0)
  --partitions N        spread over N partitions: by key like Kafka's default partitioner, else round-robin
  --key KEY             key of every message
  --key-field PATH      key from each JSON message's field (e.g. customer_id or customer.id)
  --header NAME=VALUE   header on every message (repeatable)
  --offset N            first offset of each partition (default 0)
  --timestamp TIME      first record's timestamp, ISO 8601 or epoch ms (default now); +1 ms per record
  --self-managed        eventSource SelfManagedKafka instead of aws:kafka
  --bootstrap-servers S bootstrapServers of the event
  --envelope            each message is {"value", "key", "headers", "topic", "partition", "offset", "timestamp"}
                        (value null: a tombstone; valueBase64: raw bytes, even invalid ones)
  --file FILE           read messages from a JSONL file (- for stdin)
  --append EVENT.json   add the messages to an existing event (offsets continue after its records)
  --out FILE            write to FILE instead of stdout
  --compact             one line of JSON
  -h, --help

examples:
  npm run event -- --topic orders.events --key ORD-123 '{"order_id":"ORD-123","event_type":"shipped"}' > order.json
  cat messages.jsonl | npm run --silent event -- --topic customer.events --key-field customer_id --partitions 3`;


function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} needs an integer >= ${min}, got "${v}"`);
  return n;
}

/** One message per non-empty line, unless the whole text is a single JSON document spanning lines. */
export function splitMessages(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.includes('\n')) {
    try {
      return [JSON.stringify(JSON.parse(trimmed))];
    } catch {
      /* not one document: JSONL */
    }
  }
  return text.split(/\r?\n/).filter((l) => l.trim() !== '');
}

function fromEnvelope(line: string, i: number): KafkaMessage {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch (e) {
    throw new UsageError(`message ${i + 1}: --envelope needs a JSON object per line: ${(e as Error).message}`);
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError(`message ${i + 1}: --envelope needs a JSON object per line`);
  const e = o as Record<string, unknown>;
  if (!('value' in e) && typeof e.valueBase64 !== 'string') throw new UsageError(`message ${i + 1}: envelope has no "value" (null for a tombstone) or "valueBase64"`);
  const headers = e.headers;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null || Array.isArray(headers))) {
    throw new UsageError(`message ${i + 1}: envelope "headers" must be an object of name: text`);
  }
  return {
    value: (e.value ?? null) as KafkaMessage['value'],
    ...(typeof e.valueBase64 === 'string' ? { rawValue: e.valueBase64 } : {}),
    ...(e.key !== undefined ? { key: e.key === null ? null : String(e.key) } : {}),
    ...(headers ? { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, String(v)])) } : {}),
    ...(typeof e.topic === 'string' ? { topic: e.topic } : {}),
    ...(typeof e.partition === 'number' ? { partition: e.partition } : {}),
    ...(typeof e.offset === 'number' ? { offset: e.offset } : {}),
    ...(typeof e.timestamp === 'number' || typeof e.timestamp === 'string' ? { timestamp: e.timestamp } : {}),
  };
}

function main(argv: string[]): number {
  const args = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      topic: { type: 'string' },
      partition: { type: 'string' },
      partitions: { type: 'string' },
      key: { type: 'string' },
      'key-field': { type: 'string' },
      header: { type: 'string', multiple: true },
      offset: { type: 'string' },
      timestamp: { type: 'string' },
      'self-managed': { type: 'boolean' },
      'bootstrap-servers': { type: 'string' },
      envelope: { type: 'boolean' },
      file: { type: 'string' },
      append: { type: 'string' },
      out: { type: 'string' },
      compact: { type: 'boolean' },
      ...HELP_OPTION,
    },
  });
  const v = args.values;
  if (helpShown(v, USAGE)) return 0;
  if (v.partition !== undefined && v.partitions !== undefined) throw new UsageError('give --partition or --partitions, not both');
  if (v.key !== undefined && v['key-field'] !== undefined) throw new UsageError('give --key or --key-field, not both');

  let lines: string[];
  if (args.positionals.length) {
    if (v.file !== undefined) throw new UsageError('give messages as arguments or with --file, not both');
    lines = args.positionals;
  } else if (v.file !== undefined) {
    lines = splitMessages(readInput(v.file, '--file', 'check the path; --file reads one message per line (JSONL)'));
  } else {
    if (process.stdin.isTTY) throw new UsageError('no messages: give them as arguments, with --file, or on stdin');
    lines = splitMessages(readInput('-', 'the input'));
  }
  if (lines.length === 0) throw new UsageError('no messages in the input');

  const headers: Array<[string, string]> = (v.header ?? []).map((h) => {
    const eq = h.indexOf('=');
    if (eq <= 0) throw new UsageError(`--header needs NAME=VALUE, got "${h}"`);
    return [h.slice(0, eq), h.slice(eq + 1)];
  });

  let messages: KafkaMessage[] = v.envelope ? lines.map(fromEnvelope) : lines.map((value) => ({ value }));
  const keyField = v['key-field'];
  if (keyField !== undefined) {
    const path = splitPath(keyField);
    messages = messages.map((m, i) => {
      if (m.key !== undefined) return m;
      let json: unknown = m.value;
      if (typeof json === 'string') {
        try {
          json = JSON.parse(json);
        } catch {
          throw new UsageError(`message ${i + 1}: --key-field needs JSON messages`);
        }
      }
      const k = getPath(json, path);
      if (k === undefined || k === null) throw new UsageError(`message ${i + 1}: has no field "${keyField}" for its key`);
      return { ...m, key: typeof k === 'string' ? k : JSON.stringify(k) };
    });
  }

  let base: MskEvent | undefined;
  if (v.append !== undefined) {
    const text = readInput(v.append, '--append');
    try {
      base = JSON.parse(text) as MskEvent;
    } catch (e) {
      throw new UsageError(`--append ${v.append} is not JSON: ${(e as Error).message}`, 'give an event file that npm run event wrote');
    }
    if (!base || typeof base.records !== 'object') throw new UsageError(`--append ${v.append}: not a Kafka event (no "records")`);
  }

  const options: MskEventOptions = {
    topic: v.topic,
    partition: int('--partition', v.partition, 0),
    partitions: int('--partitions', v.partitions, 1),
    key: v.key,
    headers,
    startOffset: int('--offset', v.offset, 0),
    timestamp: v.timestamp,
    source: v['self-managed'] ? 'self-managed' : undefined,
    bootstrapServers: v['bootstrap-servers'],
    base,
  };
  let event: MskEvent;
  try {
    event = buildMskEvent(messages, options);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const text = v.compact ? `${JSON.stringify(event)}\n` : `${formatEvent(event)}\n`;
  if (v.out !== undefined) {
    writeFileSync(v.out, text);
    const n = messages.length;
    process.stderr.write(`wrote ${v.out}: ${n} message${n === 1 ? '' : 's'} into ${Object.keys(event.records).join(', ')}\n`);
  } else process.stdout.write(text);
  return 0;
}

if (require.main === module) runCli(async () => main(process.argv.slice(2)), { name: 'event', usage: USAGE });
