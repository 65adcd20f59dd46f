// Buffers of one size, recycled: the file cache's pages (a page that leaves memory gives its
// buffer back, and the next GET or write takes it) and the bodies of part uploads.
//
// Why: streaming a large file through the daemon moves its size through these buffers.
// Allocated fresh, that is 1 GiB of new ArrayBuffers per GiB read or written; V8 answers
// external memory growing that fast with a full mark-compact every ~64 MiB (over 50 per GiB, a
// third of the daemon's CPU in a cold sequential read), and the kernel zeroes every fresh page
// it maps.
//
// A buffer handed back must have no other user: whoever copies page bytes out does so
// synchronously (see FileData), never keeping a page's buffer across an await, and an upload
// gives its body back only once its request has settled.
export class BufferPool {
  private readonly free: Buffer[] = [];

  /** `maxFree`: buffers kept for reuse; beyond that a returned buffer is left to the GC. */
  constructor(readonly size: number, private readonly maxFree: number) {}

  /** A buffer of `size` bytes with stale contents: for one about to be filled whole. */
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** A buffer of `size` zero bytes. */
  takeZeroed(): Buffer {
    const buf = this.free.pop();
    return buf ? buf.fill(0) : Buffer.alloc(this.size);
  }

  give(buf: Buffer): void {
    if (buf.length === this.size && this.free.length < this.maxFree) this.free.push(buf);
  }

  /** Buffers waiting for reuse (memory held beyond the cache's pages). */
  get idle(): number {
    return this.free.length;
  }
}
