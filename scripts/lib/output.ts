// What `npm run invoke` and `npm start` print for people: the per-record table, the summary line, the
// Lambda response, and the dry-run listing.
import type { FinalStatus, RecordOutcome } from '../../lambda/pipeline';
import type { KafkaBatchResponse } from '../../lambda/report';
import type { Counts, DryRow } from './run-batch';
import { recordId } from './run-batch';
import { clip, renderTable, type Cell, type Color, type Column, type Paint } from './table';

const STATUS_COLOR: Record<FinalStatus, Color> = {
  delivered: 'green',
  dead_lettered: 'magenta',
  tombstone: 'yellow',
  unrouted: 'yellow',
  duplicate: 'yellow',
  failed: 'red',
};

export const shortId = (id: string | null) => (id === null ? '-' : id.length > 10 ? `${id.slice(0, 8)}…` : id);

export function formatMs(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

const firstLine = (s: string) => s.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';

/** The reply's first line for a delivered record; why, for any other. */
function detail(o: RecordOutcome): Cell {
  if (o.status === 'delivered') return { text: firstLine(o.reply ?? '') };
  const why = o.message ?? '';
  const code = o.code && !why.startsWith(o.code) && o.code !== o.status ? `${o.code}: ` : '';
  return { text: `${code}${firstLine(why)}`, color: o.status === 'failed' ? 'red' : 'dim' };
}

export function outcomeTable(outcomes: readonly RecordOutcome[], paint: Paint, width: number): string {
  const rows = outcomes.map((o) => {
    const retried = o.retries ? ` (${o.retries} ${o.retries === 1 ? 'retry' : 'retries'})` : '';
    return [
      recordId(o),
      o.route ?? '-',
      shortId(o.agentId),
      { text: `${o.status}${retried}`, color: STATUS_COLOR[o.status] },
      formatMs(o.latencyMs),
      detail(o),
    ];
  });
  const columns: Column[] = [
    { header: 'RECORD', max: 48 },
    { header: 'ROUTE', max: 24 },
    { header: 'AGENT', max: 12 },
    { header: 'OUTCOME', max: 26 },
    { header: 'LATENCY', align: 'right' },
    { header: 'REPLY / REASON', flex: true, min: 24 },
  ];
  const wide = renderTable(columns, rows, { paint, width });
  const fixed = renderTable(columns.slice(0, -1), rows.map((r) => r.slice(0, -1)), { paint, width });
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the colour codes whose width is zero
  const room = width - Math.max(...fixed.split('\n').map((l) => [...l.replace(/\x1b\[[0-9;]*m/g, '')].length)) - 2;
  if (room >= 40) return wide;
  // A narrow terminal: the reply goes on its own line under its record rather than in a sliver of a column.
  const lines = fixed.split('\n');
  const out = lines.slice(0, 2);
  rows.forEach((r, i) => {
    const d = r[5] as Cell;
    out.push(lines[i + 2]);
    if (d.text) out.push(paint(d.color ?? 'dim', `  \u21b3 ${clip(d.text.split(/\r?\n/)[0], Math.max(20, width - 4))}`));
  });
  return out.join('\n');
}

const LABEL: Record<FinalStatus, string> = {
  delivered: 'delivered',
  dead_lettered: 'dead-lettered',
  tombstone: 'tombstone skipped',
  unrouted: 'unrouted',
  duplicate: 'duplicate skipped',
  failed: 'failed',
};

export const total = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);

/** "8 records in 41 ms: 7 delivered, 1 dead-lettered, 0 failed" */
export function countsText(c: Counts): string {
  const parts = (Object.keys(LABEL) as FinalStatus[]).filter((k) => k === 'failed' || c[k] > 0).map((k) => `${c[k]} ${LABEL[k]}`);
  return parts.join(', ');
}

export function summaryLine(c: Counts, durationMs: number, response: KafkaBatchResponse, paint: Paint): string {
  const n = total(c);
  const head = `${n} record${n === 1 ? '' : 's'} in ${formatMs(durationMs)}: ${countsText(c)}`;
  const failures = response.batchItemFailures;
  if (failures.length === 0 && allDeadLettered(c)) {
    return `${head} ${paint('dim', '·')} ${paint('red', 'every record was dead-lettered: none reached its agent (Lambda would not redeliver them)')}`;
  }
  if (failures.length === 0) return `${head} ${paint('dim', '·')} ${paint('green', 'batch OK: nothing for Lambda to redeliver')}`;
  const where = failures.map((f) => `${f.itemIdentifier.partition} from offset ${f.itemIdentifier.offset}`).join(', ');
  return `${head} ${paint('dim', '·')} ${paint('red', `batch FAILED: Lambda redelivers ${where}`)}`;
}

/** Records were sent or tried, and every one of them ended in the dead-letter queue. */
export const allDeadLettered = (c: Counts) => c.dead_lettered > 0 && c.delivered === 0 && c.failed === 0;

/** What a run whose records all failed the same way most likely needs, in one line; undefined otherwise. */
export function diagnosis(outcomes: readonly RecordOutcome[], url: string | undefined): string | undefined {
  const tried = outcomes.filter((o) => o.status === 'failed' || o.status === 'dead_lettered' || o.status === 'delivered');
  if (!tried.length || tried.some((o) => o.status === 'delivered')) return undefined;
  const why = (o: RecordOutcome) => `${o.code ?? ''}|${firstLine(o.message ?? '')}`;
  // Records held behind a failed one in their partition (not_sent) failed for the same reason.
  const causes = tried.filter((o) => o.code !== 'not_sent');
  if (!causes.length || new Set(causes.map(why)).size !== 1) return undefined;
  const { code = '', message = '' } = causes[0];
  const where = url ?? 'the agent';
  const all = tried.length === 1 ? 'the only record' : `all ${tried.length} records`;
  if (/ECONNREFUSED/.test(message)) return `${all}: connection refused by ${where}: is ARCHESTRA_URL right, is the platform up?`;
  if (/ENOTFOUND|EAI_AGAIN/.test(message)) return `${all}: the host of ${where} was not found: is ARCHESTRA_URL spelled right (and reachable from here)?`;
  if (/^http_40[13]$|^auth_/.test(code)) return `${all}: ${where} refused the token (${code}): is ARCHESTRA_TOKEN an API key of this Archestra, or the secret's value the right one?`;
  if (code === 'http_404' || /not found/i.test(message)) return `${all}: agent not found at ${where} (${firstLine(message)}): is each route's prompt_id the id of an agent on this platform?`;
  if (/ETIMEDOUT|timed? ?out/i.test(message)) return `${all}: no answer in time from ${where}: is it reachable from here, or does the agent need a longer REQUEST_TIMEOUT?`;
  return `${all} failed the same way: ${code ? `${code}: ` : ''}${firstLine(message)}`;
}

const placeholders = (names: readonly string[]) => `${names.length === 1 ? 'placeholder' : 'placeholders'} ${names.map((n) => `{${n}}`).join(', ')}`;

const MISSING_FIX = 'check the field names in the route\'s transform_template, or set "on_missing": "fail" to dead-letter such records';

/** The records sent with unfilled placeholders, one line each, then the fix; empty when there were none. */
export function missingFieldsText(outcomes: readonly RecordOutcome[], paint: Paint): string[] {
  const flagged = outcomes.filter((o) => o.missingFields);
  if (!flagged.length) return [];
  return [
    ...flagged.map((o) => paint('yellow', `unfilled: ${recordId(o)} (route ${o.route}) was sent with ${placeholders(o.missingFields!)} unfilled`)),
    paint('yellow', `${flagged.length} record${flagged.length === 1 ? '' : 's'} sent with unfilled placeholders: ${MISSING_FIX}`),
  ];
}

export function responseBlock(response: KafkaBatchResponse, paint: Paint): string {
  return `${paint('bold', 'Lambda response')}\n${JSON.stringify(response, null, 2)}`;
}

export function dryRunText(rows: readonly DryRow[], paint: Paint): string {
  const out: string[] = [];
  for (const r of rows) {
    const target = r.route ? `${paint('cyan', r.route)} -> agent ${r.agentId}` : paint('yellow', 'no route');
    const action =
      r.action === 'send' ? paint('green', 'would send') : r.action === 'dead_letter' ? paint('magenta', 'would dead-letter') : paint('yellow', `would skip (${r.action})`);
    out.push(`${paint('bold', r.id)}  ${target}  ${action}`);
    if (r.url && r.action === 'send') out.push(paint('dim', `    POST ${r.url}`));
    if (r.prompt !== undefined) out.push(...r.prompt.split(/\r?\n/).map((l) => `    | ${l}`));
    if (r.missing) out.push(paint('yellow', `    ! ${placeholders(r.missing)} without a value in this record: the prompt would be sent incomplete`));
    if (r.reason) out.push(paint('dim', `    ${r.reason}`));
  }
  const sends = rows.filter((r) => r.action === 'send').length;
  out.push('', `${rows.length} record${rows.length === 1 ? '' : 's'}: ${sends} would be sent, ${rows.length - sends} not (dry run: nothing was sent)`);
  const incomplete = rows.filter((r) => r.missing).length;
  if (incomplete) out.push(paint('yellow', `${incomplete} of them with unfilled placeholders (marked !): ${MISSING_FIX}`));
  return out.join('\n');
}
