// Pipeline cases pinned against the Archestra-compatible sim: what is skipped by configuration, and where a
// partition is reported when a record in it has no offset of its own.
import { isSend, type ArchestraSim } from '../../sim/archestra';
import { makeBridge, totals } from '../support/bridge';
import { mskEvent } from '../support/kafka';
import { useArchestraSim } from '../support/sim';

const AGENT = '9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b';
const TOKEN = 'tok-pipeline-5d1e';

let sim: ArchestraSim;
useArchestraSim({ tokens: [TOKEN] }, (s) => (sim = s));

const sends = () => sim.requests.filter(isSend);

describe('tombstones', () => {
  const routes = JSON.stringify([
    { name: 'profiles', topic_pattern: 'profiles', prompt_id: AGENT },
    { name: 'deletions', topic_pattern: 'deletions', prompt_id: AGENT, transform_template: 'Deleted: key {$key}' },
  ]);

  test('a tombstone on a route without a template is skipped: nothing sent, nothing reported, counted', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes });
    const result = await bridge.run(
      mskEvent([
        { topic: 'profiles', partition: 0, offset: 8, key: 'cust-1', value: null },
        { topic: 'profiles', partition: 0, offset: 9, key: 'cust-2', value: { name: 'B' } },
      ]),
    );
    expect(result.outcomes.map((o) => [o.offset, o.status, o.code])).toEqual([
      [8, 'tombstone', 'tombstone'],
      [9, 'delivered', undefined],
    ]);
    expect(result.outcomes[0].message).toBe('tombstone with no template: nothing to send');
    expect(result.response.batchItemFailures).toEqual([]);
    expect(sends().map((r) => r.text)).toEqual(['{\n  "name": "B"\n}']);
    expect(totals(bridge)).toMatchObject({ TombstonesSkipped: 1, RecordsDelivered: 1 });
  });

  test('a tombstone on a route with a template is rendered and sent', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes });
    const result = await bridge.run(mskEvent([{ topic: 'deletions', partition: 0, offset: 3, key: 'cust-9', value: null }]));
    expect(result.outcomes[0]).toMatchObject({ status: 'delivered' });
    expect(sends().map((r) => r.text)).toEqual(['Deleted: key cust-9']);
  });
});

describe('an undecodable record without an offset', () => {
  const routes = JSON.stringify([{ name: 'orders', topic_pattern: 'orders.events', prompt_id: AGENT }]);

  /**
   * offsets 5, 6, 7 of orders.events-0, and a record of the same partition that carries no offset at all. 5 is
   * a tombstone (skipped: nothing to redeliver), so only the offset-less record can put the partition at 5.
   */
  function event() {
    const e = mskEvent([5, 6, 7].map((offset) => ({ topic: 'orders.events', partition: 0, offset, key: `k${offset}`, value: offset === 5 ? null : { n: offset } })));
    (e.records['orders.events-0'] as Array<Record<string, unknown>>).splice(1, 0, {
      topic: 'orders.events', partition: 0, timestamp: 1, timestampType: 'CREATE_TIME', value: Buffer.from('{"n":"?"}').toString('base64'), headers: [],
    });
    return e;
  }

  test('with no DLQ it is reported through its partition\'s LOWEST offset, and nothing of that partition is sent now', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes });
    const e = event();
    e.records['orders.events-1'] = mskEvent([{ topic: 'orders.events', partition: 1, offset: 2, value: { n: 2 } }]).records['orders.events-1'];
    const result = await bridge.run(e);
    const poison = result.outcomes.find((o) => o.offset === null)!;
    expect(poison).toMatchObject({ status: 'failed', code: 'poison', partitionKey: 'orders.events-0' });
    expect(poison.message).toMatch(/no valid offset/);
    // Not 7 (or 6): Lambda would then skip the records below, and the record without an offset with them.
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 5 } }]);
    // Lambda redelivers 5, 6 and 7: sent now, 6 and 7 would reach the agent twice. The other partition goes on.
    expect(result.outcomes.filter((o) => o.offset !== null).map((o) => [o.partitionKey, o.offset, o.status, o.code])).toEqual([
      ['orders.events-0', 5, 'tombstone', 'tombstone'],
      ['orders.events-0', 6, 'failed', 'not_sent'],
      ['orders.events-0', 7, 'failed', 'not_sent'],
      ['orders.events-1', 2, 'delivered', undefined],
    ]);
    expect(sends().map((r) => r.text)).toEqual(['{\n  "n": 2\n}']);
  });

  test('with the idempotency store, a record of that partition the agent refuses is reported, not dead-lettered', async () => {
    // The store lets the sends go ahead (it catches the redelivery), but a dead letter written now would be
    // written again when Lambda redelivers the partition from its lowest offset.
    const written: Array<number | null> = [];
    const bridge = makeBridge(
      { ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes, MAX_RETRIES: '0' },
      {
        idempotency: { claim: async () => 'claimed', complete: async () => undefined, release: async () => undefined },
        deadLetters: {
          // The offset-less record's letter fails; any other letter would be written.
          async send(letters) {
            const failed = new Set<string>();
            for (const l of letters) (l.offset === null ? failed.add(l.id) : written.push(l.offset));
            return failed;
          },
        },
      },
    );
    sim.setBehaviour((r) => (isSend(r) && r.text?.includes('"n": 6') ? { kind: 'rpcError', code: -32602, message: 'Invalid params' } : undefined));
    const result = await bridge.run(event());
    expect(result.response.batchItemFailures).toEqual([{ itemIdentifier: { partition: 'orders.events-0', offset: 5 } }]);
    expect(result.outcomes.filter((o) => o.offset !== null).map((o) => [o.offset, o.status])).toEqual([
      [5, 'tombstone'],
      [6, 'failed'],
      [7, 'delivered'],
    ]);
    expect(result.outcomes.find((o) => o.offset === 6)?.message).toMatch(/left for redelivery: partition resumes from its lowest offset/);
    expect(written).toEqual([]);
  });

  test('alone in its partition it cannot be named at all: the invocation fails, so Lambda retries the batch whole', async () => {
    const bridge = makeBridge({ ARCHESTRA_URL: sim.url, ARCHESTRA_TOKEN: TOKEN, ROUTES_CONFIG: routes });
    const e = mskEvent([{ topic: 'orders.events', partition: 1, offset: 2, value: { n: 2 } }]);
    (e.records as Record<string, unknown>)['orders.events-0'] = [{ topic: 'orders.events', partition: 0, value: 'eA==' }];
    await expect(bridge.run(e)).rejects.toThrow(/orders\.events-0 could not be dead-lettered and has no offset to report/);
  });
});
