// Every reply write is bounded by the invocation's deadline: a destination that accepts connections and never
// answers (here a TCP server that stays silent, standing in for Kafka brokers) cannot hold the batch past it.
import { createServer, type Server, type Socket } from 'node:net';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { makeBridge } from '../support/bridge';
import { mskEvent } from '../support/kafka';

jest.setTimeout(30_000);
const AGENT = '99999999-9999-4999-8999-999999999999';
const TOKEN = 'tok-replies-deadline-7a3f';
let sim: ArchestraSim;
let silent: Server;
const sockets = new Set<Socket>();
let port = 0;

beforeAll(async () => {
  sim = await startArchestraSim({ tokens: [TOKEN] });
  silent = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
  port = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([sim.close(), new Promise((r) => silent.close(r))]);
});

test('a Kafka reply destination that never answers: the write gives up at the deadline and the record is reported', async () => {
  const b = makeBridge({
    ARCHESTRA_URL: sim.url,
    ARCHESTRA_TOKEN: TOKEN,
    ROUTES_CONFIG: JSON.stringify([{ name: 'r', topic_pattern: 'in', prompt_id: AGENT, reply: 'kafka://out' }]),
    REPLY_KAFKA_BROKERS: `127.0.0.1:${port}`,
    SAFETY_MARGIN_SECONDS: '0.5',
  });
  const res = await b.run(mskEvent([{ topic: 'in', partition: 0, offset: 1, key: 'k', value: { a: 1 } }]), 2500);
  // Remaining 2.5 s, safety margin 0.5 s: everything is settled by the 2 s deadline (plus scheduling slack).
  expect(res.durationMs).toBeLessThan(2500);
  expect(res.outcomes[0]).toMatchObject({ status: 'failed', code: 'reply_write_failed', replyWriteFailed: true });
  expect(res.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'in-0', offset: 1 } }]);
});
