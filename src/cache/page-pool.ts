// Page buffers, recycled. A page that leaves memory (evicted, spilled, dropped) gives its
// buffer back, and the next GET or write takes it instead of allocating.
//
// Why: streaming a large file through the cache allocates its size in page memory. Allocated
// fresh, that is 1 GiB of new ArrayBuffers per GiB read or written; V8 answers external
// memory growing that fast with a full mark-compact every ~64 MiB (over 50 per GiB, a third of
// the daemon's CPU in a cold sequential read), and the kernel zeroes every fresh page it maps.
//
// A buffer handed back must have no other user: whoever copies page bytes out does so
// synchronously (see FileData), never keeping a page's buffer across an await.
export class PagePool {
  private readonly free: Buffer[] = [];

  /** `maxFree`: buffers kept for reuse; beyond that a returned buffer is left to the GC. */
  constructor(readonly pageSize: number, private readonly maxFree: number) {}

  /** A buffer of pageSize bytes with stale contents: for a page about to be filled whole. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.pageSize);
  }

  /** A buffer of pageSize zero bytes. */
  takeZeroed(): Buffer {
    const buf = this.free.pop();
    return buf ? buf.fill(0) : Buffer.alloc(this.pageSize);
  }

  give(buf: Buffer): void {
    if (buf.length === this.pageSize && this.free.length < this.maxFree) this.free.push(buf);
  }

  /** Buffers waiting for reuse (memory held beyond the cache's pages). */
  get idle(): number {
    return this.free.length;
  }
}
