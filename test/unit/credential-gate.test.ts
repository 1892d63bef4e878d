// The credential gate is pure bookkeeping with an injected clock: its rules are checked here without a server
// (test/reliability/real-failures.test.ts checks them against the Archestra sim).
import { CredentialGate, CredentialGates } from '../../lambda/deliver/credential-gate';

const clock = () => {
  const c = { t: 1_000, now: () => c.t };
  return c;
};

test('a value never accepted: one permit at a time; the next waits until the first is released', async () => {
  const c = clock();
  const gate = new CredentialGate({ coolDownMs: 60_000, now: c.now });
  const first = await gate.acquire('v');
  let second: unknown;
  const waiting = gate.acquire('v').then((p) => (second = p));
  await new Promise((r) => setImmediate(r));
  expect(second).toBeUndefined();
  (first as { release(v: string): void }).release('unknown');
  await waiting;
  expect(second).toHaveProperty('release');
});

test('once accepted, permits are immediate (concurrent); a refusal is remembered for the cool-down, then forgotten', async () => {
  const c = clock();
  const gate = new CredentialGate({ coolDownMs: 60_000, now: c.now });
  const p = await gate.acquire('v');
  if (typeof p === 'string') throw new Error('expected a permit');
  p.release('accepted');
  const [a, b] = await Promise.all([gate.acquire('v'), gate.acquire('v')]);
  expect(typeof a).toBe('object');
  expect(typeof b).toBe('object');
  (a as { release(v: string): void }).release('refused');
  expect(await gate.acquire('v')).toBe('refused');
  expect(gate.refusedAt('v')).toBe(1_000);
  expect(gate.refusedAt('other')).toBeUndefined();
  c.t += 60_000;
  expect(gate.refusedAt('v')).toBeUndefined();
  expect(typeof (await gate.acquire('v'))).toBe('object');
});

test('an acceptance is trusted for the cool-down only: after that the value is tried by one request again', async () => {
  const c = clock();
  const gate = new CredentialGate({ coolDownMs: 60_000, now: c.now });
  ((await gate.acquire('v')) as { release(v: string): void }).release('accepted');
  expect(gate.isAccepted('v')).toBe(true);
  c.t += 60_000;
  expect(gate.isAccepted('v')).toBe(false);
});

test('an aborted signal ends the wait for a trial', async () => {
  const gate = new CredentialGate({ coolDownMs: 60_000 });
  await gate.acquire('v');
  const ac = new AbortController();
  const waiting = gate.acquire('v', ac.signal);
  ac.abort();
  expect(await waiting).toBe('aborted');
});

test('gates are per credential; "no credential" gates do not trial', async () => {
  const gates = new CredentialGates({ coolDownMs: 60_000 });
  expect(gates.for('a')).toBe(gates.for('a'));
  expect(gates.for('a')).not.toBe(gates.for('b'));
  const open = gates.for('none https://x', false);
  const [p1, p2] = await Promise.all([open.acquire(''), open.acquire('')]);
  expect(typeof p1).toBe('object');
  expect(typeof p2).toBe('object');
});

test('an acceptance that comes back after a refusal (a request already in flight) does not lift the refusal', async () => {
  const c = clock();
  const gate = new CredentialGate({ coolDownMs: 60_000, now: c.now });
  ((await gate.acquire('v')) as { release(v: string): void }).release('accepted');
  const [a, b] = (await Promise.all([gate.acquire('v'), gate.acquire('v')])) as Array<{ release(v: string): void }>;
  a.release('refused');
  b.release('accepted');
  expect(await gate.acquire('v')).toBe('refused');
});
