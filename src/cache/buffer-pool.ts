// The buffers of file data, all of one size (a cache page), recycled: the file cache's pages, the
// buffers ranged GETs land in, and the bodies of uploads (a list of these buffers, not one large
// buffer). A page that leaves memory gives its buffer back, and the next GET, write or upload
// takes it. The pool counts every buffer it made and still holds or lent out, so the memory
// budget (memory-budget.ts) can bound all of it with one number.
//
// Why recycle: streaming a large file through the daemon moves its size through these buffers.
// Allocated fresh, that is 1 GiB of new ArrayBuffers per GiB read or written; V8 answers
// external memory growing that fast with a full mark-compact every ~64 MiB (over 50 per GiB, a
// third of the daemon's CPU in a cold sequential read), and the kernel zeroes every fresh page
// it maps. Why one size: buffers of mixed sizes (10 MiB part bodies beside 128 KiB pages) cannot
// stand in for one another, so each kind needs its own idle reserve, and glibc keeps the freed
// large ones as fragmented heap rather than giving them back.
//
// A buffer handed back must have no other user: whoever copies page bytes out does so
// synchronously (see FileData), never keeping a page's buffer across an await, and an upload
// gives its body back only once its request has settled.
export class BufferPool {
  private readonly free: Buffer[] = [];
  private lent = 0;

  /** `maxBytes`: the most memory its buffers may hold, lent and idle together; an idle buffer
   *  beyond that is left to the GC. */
  constructor(readonly size: number, private readonly maxBytes: number) {}

  /** A buffer of `size` bytes with stale contents: for one about to be filled whole. */
  take(): Buffer {
    this.lent++;
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** A buffer of `size` zero bytes. */
  takeZeroed(): Buffer {
    return this.take().fill(0);
  }

  /** Takes back a buffer `take` handed out. */
  give(buf: Buffer): void {
    if (buf.length !== this.size) throw new Error(`internal: a buffer of ${buf.length} bytes given to a pool of ${this.size}`);
    this.lent--;
    if ((this.lent + this.free.length + 1) * this.size <= this.maxBytes) this.free.push(buf);
  }

  /** Buffers lent out and not given back yet. */
  get lentCount(): number {
    return this.lent;
  }

  get lentBytes(): number {
    return this.lent * this.size;
  }

  /** Buffers waiting for reuse. */
  get idle(): number {
    return this.free.length;
  }

  /** Memory its buffers hold: lent out and idle. */
  get heldBytes(): number {
    return (this.lent + this.free.length) * this.size;
  }
}
