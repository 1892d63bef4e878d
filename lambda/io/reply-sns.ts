// SNS edge of the reply stage: one Publish per reply, correlation headers as message attributes.
import type { SNSClient } from '@aws-sdk/client-sns';
import { describeDestination } from '../reply/destination';
import type { ReplyEdge } from '../ports';
import { attributes, dedupId } from './reply-sqs';

export function createSnsReplyEdge(o: { client?: SNSClient } = {}): ReplyEdge {
  let sdk: Promise<typeof import('@aws-sdk/client-sns')> | undefined;
  const clients = new Map<string, SNSClient>();
  return {
    maxBytes: 256 * 1024,
    async write(dest, m, signal) {
      if (dest.kind !== 'sns') throw new Error(`not an SNS destination: ${describeDestination(dest)}`);
      const { SNSClient, PublishCommand } = await (sdk ??= import('@aws-sdk/client-sns'));
      let client = o.client ?? clients.get(dest.region);
      if (!client) clients.set(dest.region, (client = new SNSClient({ region: dest.region, maxAttempts: 3 })));
      const fifo = dest.name.endsWith('.fifo');
      const res = await client.send(
        new PublishCommand({
          TopicArn: dest.arn,
          Message: m.body,
          MessageAttributes: attributes(m.headers),
          ...(fifo ? { MessageGroupId: m.keyB64 ?? m.id.replace(/#.*$/, ''), MessageDeduplicationId: dedupId(m.id) } : {}),
        }),
        { abortSignal: signal },
      );
      return `${dest.arn} (message ${res.MessageId})`;
    },
  };
}
