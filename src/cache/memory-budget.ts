// The memory budget of file data: one limit on every buffer of the page pool (buffer-pool.ts),
// whoever holds it: pages cached in memory, the buffers ranged GETs land in, upload bodies,
// the pages a write is about to fill, and the idle buffers kept for reuse. So the daemon's
// memory follows --maxcache whatever it is doing, not only what its cache holds.
//
// Making room: cached pages are kept in one least-recently-used order across files; the oldest
// clean pages are dropped (they can be fetched again) and the oldest dirty ones move to disk
// (never dropped). Transfers and writes lease the buffers they need; when no room can be made
// (the rest is leased to other transfers, or pinned), the lease waits until another ends: fewer
// transfers run at once, rather than memory growing past the limit.
//
// Read-ahead must not evict read-ahead, or windows larger than memory are fetched twice (at
// -Z 100, four readers fetched twice what they read): read-ahead not read yet, and GETs under
// way, may take half the budget (readAheadRoom: read-ahead past it waits for a later read), and
// a GET does not make room by dropping pages fetched ahead of their reader and not read yet. It
// waits instead, so fewer GETs run; the one GET that may always go (see below) takes any clean
// page, so that pages a reader left unread cannot hold the cache forever.
//
// Leases never wait in a circle: an upload may wait for a GET (it needs bytes of the object that
// are not cached), never the other way. So a GET is granted whenever no other GET holds a
// lease, and an upload or a write whenever no lease is held at all. A budget smaller than one
// part (--bufsize) is exceeded by at most one GET and one part body: no smaller amount would do.

export interface CachedPage {
  /** Bytes of memory the page holds (0 once evicted or spilled). */
  readonly memoryBytes: number;
  readonly dirty: boolean;
  /** In use by a write: not evicted (it may still be spilled). */
  readonly pinned: boolean;
  /** Fetched ahead of its reader and not read yet: a GET makes room elsewhere first. Cleared
   *  through MemoryBudget.markRead. */
  unread: boolean;
}

export interface PageOwner<P extends CachedPage> {
  /** Drops a clean page from memory (giving its buffer back). */
  evict(page: P): void;
  /** Moves a dirty page to disk (giving its buffer back); throws (ENOSPC ...) when it cannot. */
  spill(page: P): void;
}

/** The buffers the budget counts (a BufferPool). */
export interface PageBuffers {
  readonly size: number;
  take(): Buffer;
  takeZeroed(): Buffer;
  give(buf: Buffer): void;
  /** Bytes of the buffers lent out and not given back. */
  readonly lentBytes: number;
}

/** What buffers are leased for; see the top of the file for who may wait for whom. */
export type LeaseKind = 'download' | 'upload' | 'write';

/** Buffers leased from the budget. */
export interface Lease {
  readonly buffers: Buffer[];
  /** Ends the lease once each of its buffers was given back (budget.give) or kept as a cached
   *  page (budget.add): leases waiting for room are looked at again. */
  end(): void;
}

/** What the budget needs to lend buffers: for uploads, which do not deal in pages. */
export interface BufferLender {
  readonly bufferSize: number;
  lease(count: number, kind: LeaseKind): Promise<Lease>;
  give(buf: Buffer): void;
}

interface Waiter {
  count: number;
  kind: LeaseKind;
  resolve(lease: Lease): void;
  reject(err: unknown): void;
}

const MiB = 1024 * 1024;

/**
 * What the daemon's memory holds besides file data, taken from --maxcache so that the whole
 * process stays within --maxcache + 64 MiB of RSS. Measured on Node 20 (x86-64, default
 * options): an idle mount is 70 MiB of RSS (44 MiB of it the node binary's mapped code); after a
 * mix of workloads in one mount (a 1 GiB write and read, 1000 small files created, listed, read
 * and removed, a tree of 2000 files unpacked and removed) up to 125 MiB, 32 MiB of it V8's young
 * generation, which grows to its largest (2 x 16 MiB semi-spaces) under a high allocation rate
 * and stays there. 125 - 64 MiB of margin, and 11 MiB to spare: 72 MiB. Not covered: the
 * metadata caches at their largest (the stat cache's 32 MiB and listings of directories of
 * 10,000 names) in a mount whose data cache is full too: up to 50 MiB more.
 */
export const PROCESS_OVERHEAD_BYTES = 72 * MiB;
/** The least memory for file data when --maxcache is about the overhead or less. */
export const MIN_DATA_BUDGET_BYTES = 8 * MiB;

/** The budget for file data of a daemon told to hold `maxcacheBytes` (--maxcache). */
export function dataBudgetBytes(maxcacheBytes: number): number {
  return Math.max(maxcacheBytes - PROCESS_OVERHEAD_BYTES, Math.min(maxcacheBytes, MIN_DATA_BUDGET_BYTES));
}

export class MemoryBudget<P extends CachedPage> implements BufferLender {
  private readonly lru = new Map<P, PageOwner<P>>();
  private cached = 0;
  /** Bytes of cached pages fetched ahead of their reader and not read yet. */
  private unreadBytes = 0;
  private readonly leased: Record<LeaseKind, number> = { download: 0, upload: 0, write: 0 };
  private readonly waiting: Waiter[] = [];
  private waking = false;

  /**
   * `onSpillError`: told when making room for a transfer found a dirty page it could not move to
   * disk (a write is told by its own error instead).
   */
  constructor(readonly limitBytes: number, private readonly pool: PageBuffers, private readonly onSpillError: (err: unknown) => void = () => undefined) {}

  get bufferSize(): number {
    return this.pool.size;
  }

  /** Bytes of the pages cached in memory. */
  get usedBytes(): number {
    return this.cached;
  }

  /** Bytes of every buffer in use: cached pages, leases, buffers about to become pages. */
  get inUseBytes(): number {
    return this.pool.lentBytes;
  }

  /** Bytes leased to transfers and writes now. */
  get leasedBytes(): number {
    return (this.leased.download + this.leased.upload + this.leased.write) * this.pool.size;
  }

  /** Leases waiting for room. */
  get waitingCount(): number {
    return this.waiting.length;
  }

  /** How much more read-ahead memory can hold now: half the budget, less the read-ahead not
   *  read yet and the GETs under way. */
  get readAheadRoom(): number {
    return Math.max(0, this.limitBytes / 2 - this.unreadBytes - this.leased.download * this.pool.size);
  }

  // ---- cached pages ---------------------------------------------------------------------------

  add(page: P, owner: PageOwner<P>): void {
    if (this.lru.has(page)) {
      this.touch(page); // already counted
      return;
    }
    this.lru.set(page, owner);
    this.cached += page.memoryBytes;
    if (page.unread) this.unreadBytes += page.memoryBytes;
  }

  /** A reader copied from the page: it is no longer read-ahead waiting for its reader. */
  markRead(page: P): void {
    if (!page.unread) return;
    page.unread = false;
    if (this.lru.has(page)) this.unreadBytes -= page.memoryBytes;
  }

  /** Marks a page as just used. */
  touch(page: P): void {
    const owner = this.lru.get(page);
    if (owner) {
      this.lru.delete(page);
      this.lru.set(page, owner);
    }
  }

  /** The page left memory (evicted, spilled or discarded by its file). */
  remove(page: P, memoryBytes: number): void {
    if (!this.lru.delete(page)) return;
    this.cached -= memoryBytes;
    if (page.unread) this.unreadBytes -= memoryBytes;
  }

  /** Brings memory use back within the limit: clean pages first, then dirty pages to disk.
   *  Throws what a spill threw (ENOSPC). */
  trim(): void {
    this.makeRoom(0);
  }

  // ---- buffers --------------------------------------------------------------------------------

  /** One buffer for a page about to be cached, room made first; never waits (a page is small). */
  take(): Buffer {
    this.makeRoomQuietly(this.pool.size);
    return this.pool.take();
  }

  /** As take, zero-filled. */
  takeZeroed(): Buffer {
    this.makeRoomQuietly(this.pool.size);
    return this.pool.takeZeroed();
  }

  /** A buffer of the pool back, from a page that left memory or a lease. */
  give(buf: Buffer): void {
    this.pool.give(buf);
  }

  /**
   * `count` buffers, once there is room for them (see the top of the file). A write's lease
   * fails with the error of a spill that would have made room (ENOSPC).
   */
  lease(count: number, kind: LeaseKind): Promise<Lease> {
    if (!this.waiting.some((w) => blocks(w.kind, kind))) {
      try {
        const lease = this.tryGrant(count, kind);
        if (lease) return Promise.resolve(lease);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return new Promise<Lease>((resolve, reject) => this.waiting.push({ count, kind, resolve, reject }));
  }

  private tryGrant(count: number, kind: LeaseKind): Lease | null {
    const bytes = count * this.pool.size;
    let room: boolean;
    if (kind === 'write') room = this.makeRoom(bytes);
    else if (kind === 'upload') room = this.makeRoomQuietly(bytes);
    else room = this.makeRoomQuietly(bytes, !this.mayExceed(kind)); // the GET that may always go takes any clean page
    if (!room && !this.mayExceed(kind)) return null;
    this.leased[kind] += count;
    const buffers: Buffer[] = [];
    for (let i = 0; i < count; i++) buffers.push(this.pool.take());
    let ended = false;
    return {
      buffers,
      end: () => {
        if (ended) return;
        ended = true;
        this.leased[kind] -= count;
        this.wake();
      },
    };
  }

  /** Granted without room: when waiting could only wait for itself (see the top of the file). */
  private mayExceed(kind: LeaseKind): boolean {
    if (kind === 'download') return this.leased.download === 0;
    return this.leased.download + this.leased.upload + this.leased.write === 0;
  }

  /** Grants the waiting leases there is room for now, in order (a GET may pass an upload). */
  private wake(): void {
    if (this.waking || this.waiting.length === 0) return;
    this.waking = true;
    try {
      const blocked = new Set<LeaseKind>();
      for (const w of [...this.waiting]) {
        if ([...blocked].some((b) => blocks(b, w.kind))) continue;
        let lease: Lease | null;
        try {
          lease = this.tryGrant(w.count, w.kind);
        } catch (err) {
          this.waiting.splice(this.waiting.indexOf(w), 1);
          w.reject(err);
          continue;
        }
        if (!lease) {
          blocked.add(w.kind);
          continue;
        }
        this.waiting.splice(this.waiting.indexOf(w), 1);
        w.resolve(lease);
      }
    } finally {
      this.waking = false;
    }
  }

  // ---- making room ----------------------------------------------------------------------------

  private fits(wanted: number): boolean {
    return this.pool.lentBytes + wanted <= this.limitBytes;
  }

  /** Frees memory until `wanted` more bytes fit: clean pages first, then dirty ones to disk.
   *  false when what is left is leased or pinned (or, with `spareUnread`, read-ahead not read yet). */
  private makeRoom(wanted: number, spareUnread = false): boolean {
    if (this.fits(wanted)) return true;
    for (const [page, owner] of this.lru) {
      if (this.fits(wanted)) return true;
      if (!page.dirty && !page.pinned && !(spareUnread && page.unread)) owner.evict(page);
    }
    for (const [page, owner] of this.lru) {
      if (this.fits(wanted)) return true;
      if (page.dirty) owner.spill(page);
    }
    return this.fits(wanted);
  }

  private makeRoomQuietly(wanted: number, spareUnread = false): boolean {
    try {
      return this.makeRoom(wanted, spareUnread);
    } catch (err) {
      this.onSpillError(err);
      return false;
    }
  }
}

/** Whether a waiting lease of kind `ahead` holds back a new one of kind `kind`: GETs wait only
 *  behind GETs; uploads and writes behind each other. */
function blocks(ahead: LeaseKind, kind: LeaseKind): boolean {
  return (ahead === 'download') === (kind === 'download');
}
