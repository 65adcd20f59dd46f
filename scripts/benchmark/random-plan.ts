// The same "random" reads for every filesystem and for the SDK: a seeded generator of
// (offset, length) pairs, lengths from 4 KiB to 1 MiB.

export interface ReadOp {
  offset: number;
  length: number;
}

/** mulberry32: a small seeded PRNG, uniform in [0, 1); also drives the tests' random operations. */
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

export function randomReads(fileSize: number, count: number, seed: number): ReadOp[] {
  const next = mulberry32(seed);
  const min = 4096;
  const max = Math.min(1 << 20, fileSize);
  const ops: ReadOp[] = [];
  for (let i = 0; i < count; i++) {
    const length = Math.min(max, min + Math.floor(next() * (max - min + 1)));
    const offset = Math.floor(next() * (fileSize - length + 1));
    ops.push({ offset, length });
  }
  return ops;
}
