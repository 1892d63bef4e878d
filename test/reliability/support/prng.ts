// Seeded randomness for the reliability suite. fast-check owns the generation of batches; the fault schedule
// of one batch is a pure function of (batch seed, JSON-RPC id, attempt), so a request gets the same fault
// whatever the order in which concurrent requests reach the server: a failure reproduces from its seed.

/** mulberry32: a tiny, fast, well-distributed 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the UTF-16 code units of `text`, mixed with a seed: a stable 32-bit hash. */
export function hash32(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32), so near-identical ids do not get near-identical draws
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** One reproducible draw in [0, 1) for a named event of a seeded run. */
export const draw = (seed: number, ...parts: Array<string | number>): number => mulberry32(hash32(seed, parts.join('\u0001')))();

/** Picks a key of `weights` with probability proportional to its weight, from a draw u in [0, 1). */
export function weighted<K extends string>(weights: Readonly<Record<K, number>>, u: number): K {
  const entries = Object.entries(weights) as Array<[K, number]>;
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = u * total;
  for (const [k, w] of entries) {
    if (x < w) return k;
    x -= w;
  }
  return entries[entries.length - 1][0];
}
