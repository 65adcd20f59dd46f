// The stat cache: what we last learned about a path, so that the kernel's many lookups do not
// each cost a request. Positive entries live --statexpire minutes (forever when negative);
// negative entries ("no such path") live a few seconds only, so that an object another
// client creates shows up soon.
import { LRUCache } from 'lru-cache';
import type { Kind, Stat } from '../fs/attributes.js';
import type { ObjectMetadata } from '../store/object-store.js';

export interface CachedEntry {
  kind: Kind;
  stat: Stat;
  /** ETag of the file object; '' for directories and for files not yet uploaded. */
  etag: string;
  /** Directories: whether a marker object exists (implicit directories have none). */
  hasMarker: boolean;
  contentType?: string;
  /** The object's user metadata as last seen (absent when only a listing told us of it). */
  metadata?: ObjectMetadata;
  /** When a request to the server last confirmed this entry (Date.now()). */
  fetchedAt?: number;
}

export type CacheValue = CachedEntry | 'missing';

const NEGATIVE_TTL_MS = 3000;

export interface StatCacheSettings {
  /** Thousands of entries (--maxstat). */
  maxstat: number;
  /** Minutes; negative: positive entries never expire (--statexpire). */
  statexpire: number;
}

export class StatCache {
  private readonly lru: LRUCache<string, CacheValue>;
  /** lru-cache reads a ttl of 0 as "no expiry". */
  private readonly positiveTtlMs: number;
  private readonly neverExpire: boolean;

  constructor(s: StatCacheSettings) {
    this.neverExpire = s.statexpire < 0;
    this.positiveTtlMs = this.neverExpire ? 0 : s.statexpire * 60_000;
    this.lru = new LRUCache<string, CacheValue>({ max: s.maxstat * 1000, ttlAutopurge: false, allowStale: false });
  }

  get(path: string): CacheValue | undefined {
    return this.lru.get(path);
  }

  set(path: string, entry: CachedEntry): void {
    if (this.positiveTtlMs === 0 && this.neverExpire === false) return; // -e 0: no positive caching
    this.lru.set(path, entry, { ttl: this.positiveTtlMs });
  }

  setMissing(path: string): void {
    this.lru.set(path, 'missing', { ttl: NEGATIVE_TTL_MS });
  }

  delete(path: string): void {
    this.lru.delete(path);
  }

  /** Forgets a path and everything below it (after a directory rename or removal). */
  deleteTree(path: string): void {
    const below = path === '/' ? '/' : `${path}/`;
    for (const key of [...this.lru.keys()]) {
      if (key === path || key.startsWith(below)) this.lru.delete(key);
    }
  }

  get size(): number {
    return this.lru.size;
  }
}
