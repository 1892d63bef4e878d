// The peers of a bridge on AWS services: the Archestra simulator, moto_server (SQS, SNS, EventBridge, Secrets
// Manager) and dynalite for the idempotency table, started together for one test file and stopped after it.
import { SQSClient } from '@aws-sdk/client-sqs';
import { startArchestraSim, type ArchestraSim } from '../../sim/archestra';
import { startDynalite, type Dynalite } from './dynalite';
import { motoEnv, startMoto, type MotoServer } from './moto';
import { startPeers } from './peers';

export interface AwsPeers {
  sim: ArchestraSim;
  moto: MotoServer;
  db: Dynalite;
  /** A client of moto's SQS, for the test's own queues. */
  sqs: SQSClient;
}

export interface AwsPeersOptions {
  /** The token the simulator accepts. */
  token: string;
  /** The variable through which the bridge's own SDK clients find moto (motoEnv); default every service's. */
  endpointVariable?: string;
  /** Drop moto's state before each test (the tests reuse resource names). */
  resetMoto?: boolean;
}

/**
 * Registers the file's hooks. While the file runs, process.env points the bridge's own SDK clients at moto, as
 * a user's shell would; each test starts with a simulator cleared of requests, behaviour and latency.
 */
export function useAwsPeers(o: AwsPeersOptions, ready: (peers: AwsPeers) => void): void {
  const saved = { ...process.env };
  let peers: AwsPeers | undefined;
  beforeAll(async () => {
    const [sim, moto, db] = await startPeers(startArchestraSim({ tokens: [o.token] }), startMoto(), startDynalite());
    peers = { sim, moto, db, sqs: new SQSClient(moto.clientConfig) };
    Object.assign(process.env, motoEnv(moto, o.endpointVariable));
    ready(peers);
  }, 60_000);
  afterAll(async () => {
    process.env = saved;
    peers?.sqs.destroy();
    await Promise.all([peers?.sim.close(), peers?.moto.stop(), peers?.db.stop()]);
  });
  beforeEach(async () => {
    if (o.resetMoto) await peers?.moto.reset();
    peers?.sim.clear();
    peers?.sim.setBehaviour(undefined);
    peers?.sim.setLatency(undefined);
  });
}
