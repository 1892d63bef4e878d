// The project's Kafka client (scripts/lib/kafka.ts) and the test broker (test/support/kafka-mock.ts): settings
// validated all at once, MSK IAM's signed token, SCRAM and TLS options, a produce/consume round trip through a
// consumer group against kcat's mock cluster, and a harness that leaves no process behind.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Partitioners } from 'kafkajs';
import { createKafka, describeKafkaError, kafkaConfig, kafkaConnection, KafkaConfigError, mskIamTokenProvider } from '../../scripts/lib/kafka';
import { KcatMissingError, MOCK_TOPIC_PARTITIONS, startKafkaMock } from '../support/kafka-mock';

jest.setTimeout(60_000);

describe('kafkaConnection', () => {
  test('plaintext by default, TLS by default for iam and scram, flags over the environment', () => {
    expect(kafkaConnection({ brokers: 'a:9092,b:9092' }, {})).toMatchObject({ brokers: ['a:9092', 'b:9092'], auth: 'none', tls: false });
    expect(kafkaConnection({}, { KAFKA_BROKERS: 'b-1.x:9098', KAFKA_AUTH: 'iam', AWS_REGION: 'eu-west-1' })).toMatchObject({ auth: 'iam', tls: true, region: 'eu-west-1' });
    expect(kafkaConnection({ brokers: 'c:1' }, { KAFKA_BROKERS: 'b:2' }).brokers).toEqual(['c:1']);
    const scram = kafkaConnection({ brokers: 'b:9096', auth: 'scram-sha-512' }, { KAFKA_USERNAME: 'alice', KAFKA_PASSWORD: 's3cret' });
    expect(scram).toMatchObject({ tls: true, username: 'alice' });
    expect(kafkaConfig(scram)).toMatchObject({ ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'alice', password: 's3cret' } });
    expect(kafkaConfig(kafkaConnection({ brokers: 'b:9092', 'no-tls': true, auth: 'scram-sha-256' }, { KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'p' })).ssl).toBe(false);
  });

  test('every problem is named at once, without the password', () => {
    let err: KafkaConfigError | undefined;
    try {
      kafkaConnection({ brokers: 'nohost,h:99999', auth: 'iam', 'no-tls': true }, {});
    } catch (e) {
      err = e as KafkaConfigError;
    }
    expect(err).toBeInstanceOf(KafkaConfigError);
    expect(err!.problems).toEqual([
      'broker "nohost" is not host:port',
      'broker "h:99999" is not host:port',
      "--auth iam needs the cluster's region: --region or AWS_REGION",
      '--auth iam needs TLS: MSK serves IAM authentication on its TLS listener (port 9098) only',
    ]);
    expect(() => kafkaConnection({}, {})).toThrow('no Kafka brokers: give --brokers host:port,... or set KAFKA_BROKERS');
    expect(() => kafkaConnection({ brokers: 'b:1', auth: 'kerberos' }, {})).toThrow(/--auth must be one of none, iam, scram-sha-512, scram-sha-256/);
    expect(() => kafkaConnection({ brokers: 'b:1', auth: 'scram-sha-512' }, { KAFKA_USERNAME: 'u' })).toThrow(/needs KAFKA_USERNAME and KAFKA_PASSWORD/);
    expect(() => kafkaConnection({ brokers: 'b:1', ca: '/nonexistent/ca.pem', tls: true }, {})).toThrow(/cannot read the CA file \/nonexistent\/ca\.pem: ENOENT/);
    const scram = kafkaConnection({ brokers: 'b:9096', auth: 'scram-sha-512' }, { KAFKA_USERNAME: 'alice', KAFKA_PASSWORD: 'hunter2-secret' });
    const text = describeKafkaError(Object.assign(new Error('SASL SCRAM SHA512 authentication failed'), { name: 'KafkaJSSASLAuthenticationError' }), scram);
    expect(text).toBe('Kafka refused the credentials at b:9096 (auth scram-sha-512, TLS): SASL SCRAM SHA512 authentication failed');
    expect(text).not.toContain('hunter2');
  });

  test('MSK IAM: the OAUTHBEARER token is a SigV4-signed kafka-cluster:Connect request for the region, never the secret key', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIAEXAMPLEKEY123456', AWS_SECRET_ACCESS_KEY: 'example-secret-key-do-not-log', AWS_SESSION_TOKEN: '' });
    delete process.env.AWS_PROFILE;
    try {
      const conn = kafkaConnection({ brokers: 'b-1.orders.abc.kafka.eu-west-1.amazonaws.com:9098', auth: 'iam', region: 'eu-west-1' }, {});
      const config = kafkaConfig(conn);
      expect(config.ssl).toBe(true);
      expect(config.sasl?.mechanism).toBe('oauthbearer');
      const { value } = await mskIamTokenProvider('eu-west-1')();
      const url = new URL(Buffer.from(value, 'base64url').toString('utf8'));
      expect(url.host).toBe('kafka.eu-west-1.amazonaws.com');
      expect(url.searchParams.get('Action')).toBe('kafka-cluster:Connect');
      expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
      expect(url.searchParams.get('X-Amz-Credential')).toMatch(/^AKIAEXAMPLEKEY123456\/\d{8}\/eu-west-1\/kafka-cluster\/aws4_request$/);
      expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
      expect(value).not.toContain('example-secret-key');
    } finally {
      process.env = saved;
    }
  });
});

describe('the kcat mock cluster', () => {
  test('serves produce and a consumer group with commits, and stop() ends kcat', async () => {
    const mock = await startKafkaMock({ brokers: 3 });
    try {
      expect(mock.brokers).toHaveLength(3);
      for (const b of mock.brokers) expect(b).toMatch(/^127\.0\.0\.1:\d+$/);
      const kafka = createKafka(kafkaConnection({ brokers: mock.bootstrap }, {}));
      const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
      await producer.connect();
      await producer.send({ topic: 'roundtrip', messages: [{ partition: 2, key: 'k', value: 'hello', headers: { h: 'v' } }] });
      await producer.disconnect();
      const admin = kafka.admin();
      await admin.connect();
      const offsets = await admin.fetchTopicOffsets('roundtrip');
      expect(offsets).toHaveLength(MOCK_TOPIC_PARTITIONS);
      const consumer = kafka.consumer({ groupId: 'roundtrip-group', maxWaitTimeInMs: 200 });
      await consumer.connect();
      await consumer.subscribe({ topic: 'roundtrip', fromBeginning: true });
      const got = await new Promise<{ value: string; header: string; partition: number }>((resolvePromise) => {
        void consumer.run({
          autoCommit: false,
          eachMessage: async ({ message, partition }) => {
            await consumer.commitOffsets([{ topic: 'roundtrip', partition, offset: String(Number(message.offset) + 1) }]);
            resolvePromise({ value: message.value!.toString(), header: String(message.headers!.h), partition });
          },
        });
      });
      expect(got).toEqual({ value: 'hello', header: 'v', partition: 2 });
      await consumer.disconnect();
      const [committed] = await admin.fetchOffsets({ groupId: 'roundtrip-group', topics: ['roundtrip'] });
      expect(committed.partitions.find((p) => p.partition === 2)!.offset).toBe('1');
      await admin.disconnect();
    } finally {
      await mock.stop();
    }
    expect(() => process.kill(mock.pid, 0)).toThrow(/ESRCH/);
  });

  test('SCRAM against a listener without SASL (the mock\'s) is named as such, not as a vague failure', async () => {
    const mock = await startKafkaMock({ brokers: 1 });
    try {
      const conn = kafkaConnection({ brokers: mock.bootstrap, auth: 'scram-sha-512', 'no-tls': true }, { KAFKA_USERNAME: 'alice', KAFKA_PASSWORD: 'hunter2-secret' });
      const producer = createKafka(conn, { retries: 0 }).producer({ createPartitioner: Partitioners.DefaultPartitioner });
      const err = await producer.connect().then(() => undefined, (e: unknown) => e);
      await producer.disconnect().catch(() => undefined);
      const text = describeKafkaError(err, conn);
      expect(text).toBe(`the brokers at ${mock.bootstrap} (auth scram-sha-512, plaintext) do not offer SASL authentication on this port (MSK listens with SCRAM on 9096 and IAM on 9098): The Kafka server does not support the requested API version`);
      expect(text).not.toContain('hunter2');
    } finally {
      await mock.stop();
    }
  });

  test('a missing kcat says how to install it', async () => {
    const err = await startKafkaMock({ command: '/nonexistent/kcat' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KcatMissingError);
    expect((err as Error).message).toMatch(/kcat not found \(tried "\/nonexistent\/kcat"\): install it with `apt-get install kcat`/);
  });
});

test('the Kafka client stays out of the function\'s start: only the reply edge loads kafkajs, lazily, and nothing imports the tools', () => {
  const files = (dir: string): string[] => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
  const lambda = files(resolve(__dirname, '..', '..', 'lambda'));
  expect(lambda.length).toBeGreaterThan(10);
  for (const f of lambda) {
    const text = readFileSync(f, 'utf8').replace(/^import type .*$/gm, '');
    expect([f, /from '(kafkajs|aws-msk-iam-sasl-signer-js|\.\.\/+scripts)/.test(text)]).toEqual([f, false]);
    if (!f.endsWith(join('io', 'reply-kafka.ts'))) expect([f, /import\('(kafkajs|aws-msk-iam-sasl-signer-js)'\)/.test(text)]).toEqual([f, false]);
  }
});
