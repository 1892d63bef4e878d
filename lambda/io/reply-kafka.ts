// Kafka edge of the reply stage: kafkajs (chosen by measurement, docs/BENCHMARKS.md), loaded at the first
// kafka:// reply only and built into its own file of the package (scripts/bundle-lazy.mjs). One producer per
// cluster per container, kept across invocations. MSK IAM through aws-msk-iam-sasl-signer-js, SASL/SCRAM with
// credentials from a Secrets Manager secret, TLS by default whenever there is authentication.
import type { Producer } from 'kafkajs';
import { ConfigError } from '../errors';
import { describeDestination } from '../reply/destination';
import type { ReplyEdge } from '../ports';

export type ReplyKafkaAuth = 'none' | 'iam' | 'scram-sha-512' | 'scram-sha-256';

export interface KafkaReplyOptions {
  /** Overrides the event's bootstrap servers (REPLY_KAFKA_BROKERS). */
  brokers?: string[];
  auth: ReplyKafkaAuth;
  tls: boolean;
  region?: string;
  /** SCRAM: the credentials, read by the caller (e.g. from the AmazonMSK_ secret). */
  scram?: () => Promise<{ username: string; password: string }>;
  clientId?: string;
}

/**
 * The SCRAM credentials in REPLY_KAFKA_SECRET_ARN's secret (MSK's AmazonMSK_ secrets: `{"username", "password"}`).
 * @throws ConfigError naming what is wrong, never quoting the secret: JSON.parse's own message would quote it
 */
export function scramFromSecret(text: string | undefined): { username: string; password: string } {
  let v: { username?: unknown; password?: unknown };
  try {
    v = JSON.parse(text ?? '{}') as typeof v;
  } catch {
    throw new ConfigError('reply_kafka_secret', 'REPLY_KAFKA_SECRET_ARN: the secret is not JSON {"username": ..., "password": ...}');
  }
  if (typeof v?.username !== 'string' || typeof v.password !== 'string' || !v.username || !v.password) {
    throw new ConfigError('reply_kafka_secret', 'REPLY_KAFKA_SECRET_ARN: the secret needs username and password');
  }
  return { username: v.username, password: v.password };
}

export function createKafkaReplyEdge(o: KafkaReplyOptions): ReplyEdge {
  const producers = new Map<string, Promise<Producer>>();

  const producerFor = (brokers: string[]): Promise<Producer> => {
    const id = brokers.join(',');
    let p = producers.get(id);
    if (!p) {
      p = (async () => {
        const { Kafka, logLevel } = await import('kafkajs');
        let sasl: import('kafkajs').SASLOptions | undefined;
        if (o.auth === 'iam') {
          const { generateAuthToken } = await import('aws-msk-iam-sasl-signer-js');
          const region = o.region;
          if (!region) throw new Error('MSK IAM replies need the cluster\'s region: AWS_REGION is not set');
          sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: (await generateAuthToken({ region })).token }) };
        } else if (o.auth !== 'none') {
          const c = await o.scram!();
          sasl = { mechanism: o.auth, username: c.username, password: c.password };
        }
        const kafka = new Kafka({
          clientId: o.clientId ?? 'kafka-a2a-bridge-replies',
          brokers,
          ssl: o.tls,
          ...(sasl ? { sasl } : {}),
          connectionTimeout: 3000,
          retry: { retries: 2, initialRetryTime: 200, maxRetryTime: 1000 },
          logLevel: logLevel.NOTHING,
        });
        // One request in flight: a retried batch can never overtake a later one, so replies of a key stay in order.
        const producer = kafka.producer({ maxInFlightRequests: 1, allowAutoTopicCreation: false });
        await producer.connect();
        return producer;
      })();
      producers.set(id, p);
      // A failed connect is not cached: the next reply tries again.
      p.catch(() => producers.delete(id));
    }
    return p;
  };

  return {
    // Kafka's default max.message.bytes is 1 MB (1048588): leave room for the key and headers.
    maxBytes: 1024 * 1024 - 16 * 1024,
    async write(dest, m, signal) {
      if (dest.kind !== 'kafka') throw new Error(`not a Kafka destination: ${describeDestination(dest)}`);
      const brokers = o.brokers ?? (m.bootstrapServers ?? '').split(',').map((b) => b.trim()).filter(Boolean);
      if (brokers.length === 0) throw new Error('no Kafka brokers for the reply: the event carries none and REPLY_KAFKA_BROKERS is not set');
      signal.throwIfAborted();
      const aborted = new Promise<never>((_, reject) => {
        const fail = () => reject(new Error(`Kafka reply write to ${dest.topic} did not finish before the invocation deadline`));
        if (signal.aborted) fail();
        else signal.addEventListener('abort', fail, { once: true });
      });
      aborted.catch(() => undefined);
      // kafkajs takes no abort signal: the race bounds the wait; its request then ends on its own timeout.
      const producer = await Promise.race([producerFor(brokers), aborted]);
      const [meta] = await Promise.race([
        producer.send({
          topic: dest.topic,
          acks: -1,
          timeout: 5000,
          messages: [{ key: m.keyB64 === null ? null : Buffer.from(m.keyB64, 'base64'), value: m.body, headers: m.headers }],
        }),
        aborted,
      ]);
      return `${dest.uri} (partition ${meta.partition}, offset ${meta.baseOffset ?? meta.offset})`;
    },
  };
}
