// The memory budget of the file data cache (--maxcache, across all files): pages in memory
// are kept in one least-recently-used order; past the budget, the oldest clean pages are
// dropped (they can be fetched again) and the oldest dirty ones move to disk (never dropped).

export interface CachedPage {
  /** Bytes of memory the page holds (0 once evicted or spilled). */
  readonly memoryBytes: number;
  readonly dirty: boolean;
  /** In use by a write: not evicted (it may still be spilled). */
  readonly pinned: boolean;
}

export interface PageOwner<P extends CachedPage> {
  /** Drops a clean page from memory. */
  evict(page: P): void;
  /** Moves a dirty page to disk; throws (ENOSPC ...) when it cannot. */
  spill(page: P): void;
}

export class MemoryBudget<P extends CachedPage> {
  private readonly lru = new Map<P, PageOwner<P>>();
  private used = 0;

  constructor(readonly limitBytes: number) {}

  get usedBytes(): number {
    return this.used;
  }

  add(page: P, owner: PageOwner<P>): void {
    if (this.lru.has(page)) {
      this.touch(page); // already counted
      return;
    }
    this.lru.set(page, owner);
    this.used += page.memoryBytes;
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
    if (this.lru.delete(page)) this.used -= memoryBytes;
  }

  /** Brings memory use back under the limit: clean pages first, then dirty pages to disk. */
  trim(): void {
    if (this.used <= this.limitBytes) return;
    for (const [page, owner] of this.lru) {
      if (this.used <= this.limitBytes) return;
      if (!page.dirty && !page.pinned) owner.evict(page);
    }
    for (const [page, owner] of this.lru) {
      if (this.used <= this.limitBytes) return;
      if (page.dirty) owner.spill(page);
    }
  }
}
