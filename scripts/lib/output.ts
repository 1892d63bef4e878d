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
  if (failures.length === 0) return `${head} ${paint('dim', '·')} ${paint('green', 'batch OK: nothing for Lambda to redeliver')}`;
  const where = failures.map((f) => `${f.itemIdentifier.partition} from offset ${f.itemIdentifier.offset}`).join(', ');
  return `${head} ${paint('dim', '·')} ${paint('red', `batch FAILED: Lambda redelivers ${where}`)}`;
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
    if (r.reason) out.push(paint('dim', `    ${r.reason}`));
  }
  const sends = rows.filter((r) => r.action === 'send').length;
  out.push('', `${rows.length} record${rows.length === 1 ? '' : 's'}: ${sends} would be sent, ${rows.length - sends} not (dry run: nothing was sent)`);
  return out.join('\n');
}
