// Starts a test file's peers together. When one cannot start (moto_server missing from PATH, a port race), the
// ones that did start are stopped before the error propagates: a destructuring `[a, b] = await Promise.all(...)`
// would leave them listening, unassigned, and jest would never exit.

/** Anything a test starts and must stop: the sims and SDK servers close(), moto and dynalite stop(). */
export type Peer = { close(): Promise<void> } | { stop(): Promise<void> };

function stopPeer(peer: Peer): Promise<void> {
  return 'close' in peer ? peer.close() : peer.stop();
}

/** Resolves with every peer, in order, or stops the started ones and rejects with the first failure. */
export async function startPeers<T extends readonly Peer[]>(...starting: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const settled = await Promise.allSettled(starting);
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.allSettled(settled.map((r) => (r.status === 'fulfilled' ? stopPeer(r.value as Peer) : undefined)));
    throw failure.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<Peer>).value) as unknown as T;
}
