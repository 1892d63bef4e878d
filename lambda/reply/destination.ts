// Where a route's replies go, named in one string the way Lambda names its own destinations. Pure: the CDK
// app parses the same strings at synth to derive the function's grants.

export type Destination =
  | { kind: 'kafka'; topic: string; uri: string }
  | { kind: 'sqs'; arn: string; region: string; account: string; name: string }
  | { kind: 'sns'; arn: string; region: string; account: string; name: string }
  | { kind: 'eventbridge'; arn: string; region: string; account: string; name: string };

// Kafka's own topic name rule: 1-249 of [a-zA-Z0-9._-].
const KAFKA_TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
const ARN = /^arn:(aws[a-z-]*):(sqs|sns|events):([a-z]{2}(?:-[a-z]+)+-\d):(\d{12}):(.+)$/;

/** Parses a destination string; returns an error message instead of throwing, for the routes validator. */
export function parseDestination(text: string): Destination | string {
  if (text.startsWith('kafka://')) {
    const topic = text.slice('kafka://'.length);
    if (!KAFKA_TOPIC.test(topic) || topic === '.' || topic === '..') return `"${text}": kafka://<topic> needs a Kafka topic name (letters, digits, . _ -)`;
    return { kind: 'kafka', topic, uri: text };
  }
  const m = ARN.exec(text);
  if (!m) return `"${text}" is not a destination: give kafka://<topic>, or an SQS queue, SNS topic or EventBridge event bus ARN`;
  const [, , service, region, account, resource] = m;
  if (service === 'sqs' || service === 'sns') {
    if (!/^[A-Za-z0-9_-]{1,80}(\.fifo)?$/.test(resource)) return `"${text}": not a valid ${service.toUpperCase()} name`;
    return { kind: service, arn: text, region, account, name: resource };
  }
  const bus = /^event-bus\/([A-Za-z0-9._\-/]{1,256})$/.exec(resource);
  if (!bus) return `"${text}": an EventBridge destination is an event bus ARN (arn:...:events:<region>:<account>:event-bus/<name>)`;
  return { kind: 'eventbridge', arn: text, region, account, name: bus[1] };
}

/** One line naming a destination, for logs and the local tools. */
export function describeDestination(d: Destination): string {
  return d.kind === 'kafka' ? d.uri : d.arn;
}
