// SQS edge of the reply stage. The queue is named by ARN in the routes file; its URL is asked of SQS once
// (GetQueueUrl works the same against AWS and local endpoints) and kept for the container's life.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { describeDestination } from '../reply/destination';
import type { ReplyEdge } from '../ports';

export function createSqsReplyEdge(o: { client?: SQSClient } = {}): ReplyEdge {
  let sdk: Promise<typeof import('@aws-sdk/client-sqs')> | undefined;
  const clients = new Map<string, SQSClient>();
  const urls = new Map<string, string>();
  return {
    maxBytes: 256 * 1024,
    async write(dest, m, signal) {
      if (dest.kind !== 'sqs') throw new Error(`not an SQS destination: ${describeDestination(dest)}`);
      const { SQSClient, GetQueueUrlCommand, SendMessageCommand } = await (sdk ??= import('@aws-sdk/client-sqs'));
      let client = o.client ?? clients.get(dest.region);
      if (!client) clients.set(dest.region, (client = new SQSClient({ region: dest.region, maxAttempts: 3 })));
      let url = urls.get(dest.arn);
      if (!url) {
        const res = await client.send(new GetQueueUrlCommand({ QueueName: dest.name, QueueOwnerAWSAccountId: dest.account }), { abortSignal: signal });
        url = res.QueueUrl!;
        urls.set(dest.arn, url);
      }
      const fifo = dest.name.endsWith('.fifo');
      const res = await client.send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: m.body,
          MessageAttributes: attributes(m.headers),
          ...(fifo ? { MessageGroupId: m.keyB64 ?? m.id.replace(/#.*$/, ''), MessageDeduplicationId: dedupId(m.id) } : {}),
        }),
        { abortSignal: signal },
      );
      return `${dest.arn} (message ${res.MessageId})`;
    },
  };
}

/** String attributes (SQS and SNS share the shape); at most 10, which the correlation headers stay under. */
export function attributes(h: Record<string, string>): Record<string, { DataType: 'String'; StringValue: string }> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k, { DataType: 'String', StringValue: v }]));
}

/** FIFO deduplication ids are at most 128 characters of a restricted set: hash anything longer or stranger. */
export function dedupId(id: string): string {
  if (/^[\x21-\x7e]{1,128}$/.test(id)) return id;
  return require('node:crypto').createHash('sha256').update(id).digest('hex');
}
