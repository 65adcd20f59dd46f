// The stat cache: what we last learned about a path and when the server last confirmed it, so
// that the kernel's many lookups do not each cost a request. It decides nothing about age:
// fs/freshness.ts says how long an entry may answer alone; an older one is still worth keeping,
// since a listing that shows its object unchanged confirms it without a HEAD. Entries go when
// the LRU needs room (--maxstat thousands).
import { LRUCache } from 'lru-cache';
import type { Kind, Stat } from '../fs/attributes.js';
import type { ObjectMetadata } from '../store/object-store.js';

export interface CachedEntry {
  kind: Kind;
  stat: Stat;
  /** ETag of the object (a directory's: its marker's); '' for none (implicit directories, files not yet uploaded). */
  etag: string;
  /** Directories: whether a marker object exists (implicit directories have none). */
  hasMarker: boolean;
  contentType?: string;
  /** The object's user metadata as last seen (absent when only a listing told us of it). */
  metadata?: ObjectMetadata;
  /** The object's Last-Modified as the server gave it: what tells a listing that the object is
   *  still this one (see listedUnchanged in fs/namespace.ts). */
  lastModified?: Date;
  /** lastModified is a listing's, to the millisecond; otherwise a HEAD's, to the second. */
  exactLastModified?: boolean;
  /** With a HEAD's lastModified: the server's clock when it answered (its Date header). */
  serverDate?: Date;
  /** For what this mount wrote itself, whose Last-Modified it was not told: when the write
   *  returned (Date.now() ms). */
  writtenAt?: number;
  /** When the server last confirmed this entry (Date.now() ms): a HEAD, or a listing. */
  confirmedAt: number;
}

/** "No such path", as of `confirmedAt`. */
export interface MissingEntry {
  kind: 'missing';
  confirmedAt: number;
}

export type CacheValue = CachedEntry | MissingEntry;

export interface StatCacheSettings {
  /** Most entries kept (--maxstat x 1000), unless maxBytes allows more. */
  maxEntries: number;
  /**
   * Memory the entries may take (estimated): a walk of a directory larger than --maxstat would
   * otherwise evict, entry by entry, what it needs next (a HEAD per name, again and again).
   */
  maxBytes?: number;
  /** false: nothing is kept (-e 0, --metadata-ttl 0). */
  enabled: boolean;
}

/** An entry with a short path and s3fs metadata, as entryBytes counts it. */
const TYPICAL_ENTRY_BYTES = 500;

/** Roughly what an entry holds in memory: the objects, the path, the metadata strings. */
function entryBytes(value: CacheValue, path: string): number {
  let bytes = 120 + 2 * path.length;
  if (value.kind === 'missing') return bytes;
  bytes += 250 + 2 * (value.etag.length + (value.contentType?.length ?? 0));
  for (const [name, v] of Object.entries(value.metadata ?? {})) bytes += 40 + 2 * (name.length + v.length);
  return bytes;
}

export class StatCache {
  private readonly lru: LRUCache<string, CacheValue>;

  constructor(private readonly s: StatCacheSettings) {
    this.lru = s.maxBytes === undefined
      ? new LRUCache<string, CacheValue>({ max: s.maxEntries })
      : new LRUCache<string, CacheValue>({
        maxSize: Math.max(s.maxBytes, s.maxEntries * TYPICAL_ENTRY_BYTES),
        sizeCalculation: entryBytes,
      });
  }

  get(path: string): CacheValue | undefined {
    return this.lru.get(path);
  }

  /** Like get, without making the entry recently used (a listing that confirms entries in
   *  passing should not decide what the LRU keeps). */
  peek(path: string): CacheValue | undefined {
    return this.lru.peek(path);
  }

  /** The entry at `path` unless it is a negative one. */
  entry(path: string): CachedEntry | undefined {
    const v = this.lru.get(path);
    return v === undefined || v.kind === 'missing' ? undefined : v;
  }

  set(path: string, entry: CachedEntry): void {
    if (this.s.enabled) this.lru.set(path, entry);
  }

  setMissing(path: string, at: number): void {
    if (this.s.enabled) this.lru.set(path, { kind: 'missing', confirmedAt: at });
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
