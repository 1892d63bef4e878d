// Local runs show where each reply went: without --live-replies, one JSON file per reply in a local folder,
// holding the same envelope a real destination receives.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplyEnvelope } from '../lambda/reply/envelope';
import { tsx } from './support/cli';

jest.setTimeout(60_000);

test('npm run invoke writes the reply of a route with a reply destination to the local folder and says so', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'replies-cli-'));
  const replies = join(tmp, 'replies');
  const r = await tsx('scripts/invoke.ts', ['events/customer-support.json', '--json', '--dlq-dir', join(tmp, 'dlq'), '--reply-dir', replies]);
  expect(r.code).toBe(0);
  const doc = JSON.parse(r.stdout) as { records: Array<{ reply: string; replyTo: string; offset: number }>; replies: Array<{ route: string; to: string }> };
  const files = readdirSync(replies);
  expect(files).toEqual(['billing-ticket-replies_customer.events-0-1041#support-billing.json']);
  expect(doc.replies).toEqual([
    { topic: 'customer.events', partition: 0, offset: 1041, route: 'support-billing', to: `arn:aws:sqs:us-east-1:123456789012:billing-ticket-replies -> ${join(replies, files[0])}` },
  ]);
  const env = JSON.parse(readFileSync(join(replies, files[0]), 'utf8')) as ReplyEnvelope;
  expect(env).toMatchObject({ specversion: '1.0', id: 'customer.events-0-1041#support-billing', data: { route: 'support-billing', record: { offset: 1041, key: 'CUST-001' } } });
  expect(env.data.reply.text).toBe(doc.records[0].reply);

  const table = await tsx('scripts/invoke.ts', ['events/customer-support.json', '--dlq-dir', join(tmp, 'dlq'), '--reply-dir', replies]);
  expect(table.stdout).toContain(`replies ${replies}/ (local directory, one JSON file per reply; --live-replies writes to the routes' destinations)`);
  expect(table.stdout).toContain(`reply written: customer.events-0@1041 -> arn:aws:sqs:us-east-1:123456789012:billing-ticket-replies -> ${join(replies, files[0])}`);
});
