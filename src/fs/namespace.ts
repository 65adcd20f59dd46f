// What is at a path, and what a directory holds: lookups and listings over the bucket, through
// the stat cache (attributes and negative entries) and the directory listings, within the
// windows of freshness.ts. Concurrent lookups of one path share one round of requests, and
// concurrent listings of one directory one listing. This mount's own changes reach the caches
// at once (the facade tells it); other clients' changes show once a window has passed.
//
// Freshness after a window is cheap where it can be: a directory listed again confirms each
// cached entry whose object the listing shows with the same ETag, size and Last-Modified, so
// `ls -l` again after the window costs one LIST per 1000 names and a HEAD only for the names
// that are new or changed; lookups in a small directory list it again rather than HEAD each name.
import pLimit from 'p-limit';
import type { Logger } from '../log.js';
import type { ListedObject, ObjectInfo, ObjectStore } from '../store/object-store.js';
import { StatCache, type CachedEntry } from '../cache/stat-cache.js';
import { DirListings, kindIn, namesOf, sizeOf, type Listing, type TooBig } from '../cache/dir-listings.js';
import { S_IFDIR, garbageAttributes, kindOf, statOf, type AttributeDefaults } from './attributes.js';
import { BucketWarnings } from './bucket-warnings.js';
import { FsError } from './errors.js';
import type { Freshness } from './freshness.js';
import {
  KeyMapper, MAX_NAME_BYTES, baseName, joinPath, namesBothFileAndDir, parentOf, splitListing, type ListedNames,
} from './keys.js';
import { splitTreePage } from './tree-listing.js';

/** What the namespace asks of the open files (open-files.ts): they answer for their paths. */
export interface OpenFilesView {
  /** The attributes of the file open (or with data not yet stored) at `path`. */
  entryFor(path: string): CachedEntry | undefined;
  /** Names in `dir` of files open there and not in the bucket yet: they exist too. */
  pendingNamesIn(dir: string): string[];
  isOpen(path: string): boolean;
}

/** The names of a listing, and up to where their attributes were prefetched. */
interface PrefetchCursor {
  names: string[];
  /** Index of each name, built at the first lookup that needs it. */
  positions: Map<string, number> | undefined;
  upTo: number;
  /**
   * Names the listing gave a type by their size (regular files), left out of the prefetch: a
   * `find` needs no more for them. A lookup of one says the walk wants every name's attributes
   * (`ls -l`): from then on none is left out.
   */
  typed: ReadonlySet<string> | undefined;
}

export interface NamespaceSettings {
  /** Largest listing returned by readdir; 0 = everything (--maxlist). */
  maxlist: number;
  /** Thousands of stat entries (--maxstat). */
  maxstat: number;
  dirmode: number;
  /** Mountpoint permission bits are 0777 & ~umaskmp when others may enter (allow_other). */
  umaskmp: number;
  allowOther: boolean;
}

const LIST_PAGE = 1000;
/** Directories whose listings are kept. */
const MAX_LISTED_DIRS = 1000;
/**
 * Memory for the stat cache (estimated; --maxstat thousands of entries when that is more): a
 * walk of a directory larger than --maxstat (`ls -l`, `find`, `du` of 10,000 names) keeps every
 * entry it learns instead of evicting the ones it needs next. About 60,000 entries.
 */
const STAT_CACHE_BYTES = 32 * 1024 * 1024;
/** Listings of directories up to this many names are kept, whatever --maxstat says ... */
const MAX_LISTING_NAMES = 50_000;
/** ... and this many names in all listings together. */
const MAX_LISTED_NAMES = 200_000;
/** HEADs sent at once to learn the attributes of a directory just listed (`ls -l`). */
const ATTRIBUTE_PREFETCH_CONCURRENCY = 32;
/**
 * How far ahead of the kernel's lookups in a directory just listed attributes are prefetched:
 * `ls -l`, `find` and `du` stat the names in listing order, and find each answer waiting, however
 * large the directory; a plain `ls` of 100,000 keys costs only this many HEADs nobody asked for.
 */
const PREFETCH_AHEAD = 1024;
/** Directories whose prefetch position is followed. */
const PREFETCH_CURSORS = 8;
/**
 * An object this large is a regular file whatever its metadata says: a symlink's object holds
 * its target (at most PATH_MAX - 1 = 4095 bytes, as s3fs-fuse stores it too), and a FIFO, a
 * device or a socket is an empty object. A listing thus gives such names their type (DT_REG),
 * and a walk that needs no more (`find` without predicates on attributes) sends no HEAD for
 * them. Smaller objects may be symlinks: only their metadata says.
 */
const SURELY_REGULAR_SIZE = 4096;
/**
 * A lookup whose answer is out of its window lists the parent again, rather than HEAD the one
 * name, while the parent holds at most this many names: one or two LISTs confirm every cached
 * entry there at once, so `cat *`, `rm -r` or `make` in a directory pay a listing per window
 * instead of a HEAD per file. Larger directories are listed again by `ls` only.
 */
const RELIST_FOR_LOOKUP_MAX_NAMES = 2000;

/** How far a listing goes: readdir's goes to the end (or --maxlist); a lookup's stops at a
 *  size past which the directory is marked too big to list for lookups. */
interface ListingScope {
  maxNames: number;
  forLookup: boolean;
}

/** A listing's names, whether it went to the end, and when it started (what it is as old as). */
type Listed = ListedNames & { complete: boolean; listedAt: number };

/** A listing under way, and this mount's changes in its directory meanwhile (applied when it lands). */
interface ListingInFlight {
  maxNames: number;
  done: Promise<Listed>;
  added: Map<string, 'file' | 'dir'>;
  removed: Map<string, 'file' | 'dir' | 'both'>;
}

function isTooBig(l: Listing | TooBig | undefined): l is TooBig {
  return l !== undefined && 'tooBig' in l;
}

const seconds = (d: Date): number => Math.floor(d.getTime() / 1000);

/**
 * Whether a listing shows the very object a cached entry describes: same ETag, same size, and a
 * Last-Modified that proves no change since. A metadata-only change (chmod by a CopyObject onto
 * itself) keeps the ETag and size, so Last-Modified must tell it:
 * - an entry that a listing confirmed before has the listing's Last-Modified, to the millisecond;
 * - a HEAD's is to the second only: it proves nothing changed when the HEAD came in a later
 *   second than the object's write (a change after the HEAD has a later second, by the server's
 *   own clock); for an object written in the very second of the HEAD, the listing cannot tell,
 *   and the entry is asked for again;
 * - what this mount wrote itself is not dated by the server (a PUT's answer has no
 *   Last-Modified): a listing dated no later than the write's return shows the object written.
 *   (A server whose clock is behind ours by more than a request's time could pass a change made
 *   within that difference after our write for ours; one whose clock is ahead costs a HEAD.)
 */
function listedUnchanged(entry: CachedEntry, o: ListedObject): boolean {
  if (entry.etag === '' || entry.etag !== o.etag) return false;
  if (entry.kind !== 'dir' && entry.stat.size !== o.size) return false;
  if (entry.lastModified && entry.exactLastModified) return entry.lastModified.getTime() === o.lastModified.getTime();
  if (entry.lastModified) {
    return seconds(entry.lastModified) === seconds(o.lastModified)
      && entry.serverDate !== undefined && seconds(entry.serverDate) > seconds(entry.lastModified);
  }
  if (entry.writtenAt !== undefined) return o.lastModified.getTime() <= entry.writtenAt;
  return false;
}

/**
 * ENAMETOOLONG past 255 bytes (what statfs reports as namemax; the kernel allows FUSE 1024):
 * such a key would be created, then hidden from listings as a name no file can have.
 */
export function checkNameLength(path: string): void {
  if (Buffer.byteLength(baseName(path)) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG');
}

/** S3's longest key, in bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;

/** ENAMETOOLONG for a key S3 cannot hold: the name cannot exist, and cannot be made. */
export function checkKeyLength(key: string): void {
  if (key.length > MAX_KEY_BYTES / 3 && Buffer.byteLength(key) > MAX_KEY_BYTES) throw new FsError('ENAMETOOLONG');
}

/** The names of a listing once each, directories first (a name that is both is a directory). */
function uniqueNames(names: ListedNames): string[] {
  const unique = new Set(names.dirs);
  for (const name of names.files) unique.add(name);
  return [...unique];
}

export class Namespace {
  readonly cache: StatCache;
  private readonly dirs: DirListings;
  private readonly lookups = new Map<string, Promise<CachedEntry | 'missing'>>();
  private readonly listings = new Map<string, ListingInFlight[]>();
  private readonly attributePrefetch = pLimit(ATTRIBUTE_PREFETCH_CONCURRENCY);
  /** Per directory just listed: how far its names' attributes have been prefetched. */
  private readonly prefetchCursors = new Map<string, PrefetchCursor>();
  /** Bad keys and metadata met in the bucket, each logged once. */
  readonly warnings: BucketWarnings;
  private readonly mountedAt = new Date();

  constructor(
    private readonly store: ObjectStore,
    private readonly keys: KeyMapper,
    private readonly f: Freshness,
    private readonly defaults: AttributeDefaults,
    private readonly open: OpenFilesView,
    private readonly s: NamespaceSettings,
    log: Logger,
  ) {
    this.warnings = new BucketWarnings(log);
    this.cache = new StatCache({ maxEntries: s.maxstat * 1000, maxBytes: STAT_CACHE_BYTES, enabled: f.caching });
    this.dirs = new DirListings({
      maxDirs: MAX_LISTED_DIRS, maxNames: Math.max(MAX_LISTING_NAMES, s.maxstat * 500), maxTotalNames: MAX_LISTED_NAMES, enabled: f.caching,
    });
  }

  // ---- lookup ---------------------------------------------------------------------------

  /** What is at `path`, or ENOENT. Open files answer from memory, others from the caches or the bucket. */
  async lookup(path: string, byPrefetch = false): Promise<CachedEntry> {
    if (path === '/') return this.rootEntry();
    checkNameLength(path);
    checkKeyLength(this.keys.fileKey(path));
    const open = this.open.entryFor(path);
    if (open) return open;
    let found = this.answerFromCache(path);
    if (found === undefined) {
      if (!byPrefetch) this.followLookup(path);
      // Concurrent lookups of one path (the kernel sends many) share one round of requests.
      let pending = this.lookups.get(path);
      if (!pending) {
        pending = this.fetchEntry(path).finally(() => this.lookups.delete(path));
        this.lookups.set(path, pending);
      }
      found = await pending;
    }
    if (found === 'missing') throw new FsError('ENOENT');
    return found;
  }

  /**
   * What a lookup of `path` would answer now without a request (an open file, or an entry within
   * its window), or undefined: readdir hands these to the kernel with the names (readdirplus).
   */
  knownEntry(path: string): CachedEntry | undefined {
    const open = this.open.entryFor(path);
    if (open) return open;
    const found = this.answerFromCache(path);
    return found === 'missing' ? undefined : found;
  }

  /** The names the kept listing of `dir` shows as directories (common prefixes); none without one. */
  directoriesListedIn(dir: string): ReadonlySet<string> {
    const listing = this.dirs.get(dir);
    return listing !== undefined && !isTooBig(listing) ? listing.dirs : new Set();
  }

  /** The names the kept listing of `dir` shows as objects too large to be other than regular files. */
  regularFilesListedIn(dir: string): ReadonlySet<string> {
    const listing = this.dirs.get(dir);
    return listing !== undefined && !isTooBig(listing) ? listing.regular : new Set();
  }

  async lookupOrNull(path: string, byPrefetch = false): Promise<CachedEntry | null> {
    try {
      return await this.lookup(path, byPrefetch);
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return null;
      throw err;
    }
  }

  async requireDirectory(path: string): Promise<CachedEntry> {
    const entry = await this.lookup(path);
    if (entry.kind !== 'dir') throw new FsError('ENOTDIR');
    return entry;
  }

  rootEntry(): CachedEntry {
    const perm = this.s.allowOther ? 0o777 & ~this.s.umaskmp : this.s.dirmode;
    const stat = statOf('dir', 0, this.mountedAt, {}, this.defaults);
    stat.mode = S_IFDIR | perm;
    return { kind: 'dir', stat, etag: '', hasMarker: false, confirmedAt: this.f.now() };
  }

  /** What the caches may answer without asking: an entry or an absence still within its window. */
  private answerFromCache(path: string): CachedEntry | 'missing' | undefined {
    const cached = this.cache.get(path);
    if (cached?.kind === 'missing') {
      if (this.f.negativeFresh(cached.confirmedAt)) return 'missing';
    } else if (cached && this.f.attributesFresh(cached.confirmedAt)) {
      return cached;
    }
    const listing = this.dirs.get(parentOf(path));
    if (listing && !isTooBig(listing) && kindIn(listing, baseName(path)) === 'absent'
      && this.f.absenceTrusted(listing.listedAt, listing.madeAt)) {
      return 'missing';
    }
    return undefined;
  }

  /**
   * As few requests as we can. The parent's listing (fetched now when we have none, or when it is
   * out of its window and small) says what the name is: absent, or which single HEAD to send
   * (the file's key or the directory's marker), or nothing at all when it confirmed the entry we
   * had. Without a listing, a name is probed with one narrow LIST.
   */
  private async fetchEntry(path: string): Promise<CachedEntry | 'missing'> {
    const dir = parentOf(path);
    const name = baseName(path);
    const listing = this.dirs.get(dir);
    let listed = listing && !isTooBig(listing) ? kindIn(listing, name) : undefined;
    let listedNow = listed !== undefined && this.f.listingFresh((listing as Listing).listedAt);
    if (!listedNow && this.worthListingFor(dir, listing, this.cache.entry(path) !== undefined)) {
      const maxNames = listing === undefined || isTooBig(listing) ? LIST_PAGE : Math.max(RELIST_FOR_LOOKUP_MAX_NAMES, sizeOf(listing));
      const names = await this.list(dir, { maxNames, forLookup: true });
      const answer = this.answerFromCache(path); // the listing may have confirmed the entry
      if (answer !== undefined) return answer;
      listed = names.dirs.includes(name) ? 'dir' : names.files.includes(name) ? 'file' : names.complete ? 'absent' : undefined;
      listedNow = listed !== undefined;
      // Absent from the listing this lookup asked for: missing. (Absent from an older one, it
      // is asked for, where the window allows no trust in absences: -e.)
      if (listed === 'absent') {
        this.cache.setMissing(path, names.listedAt);
        return 'missing';
      }
    }
    const stale = this.cache.entry(path);
    const kind = listed === 'file' || listed === 'dir' ? listed : stale ? (stale.kind === 'dir' ? 'dir' : 'file') : undefined;
    if (kind === 'dir') return this.fetchDirectory(path, listed === 'dir' && listedNow);
    if (kind === 'file') {
      const entry = await this.fetchFile(path);
      if (entry) return entry;
    }
    return this.probe(path);
  }

  /**
   * Whether to list the parent for a lookup: when we know nothing of it (one page), or it is
   * small and listed before, or it is being walked again (read by readdir a moment ago, with the
   * name's entry known from before: a second `ls -l`, `find` or `du` of 10,000 names outlasts the
   * window, and one listing confirms what is left of the walk where a HEAD per name would not; a
   * first walk has nothing to confirm and needs its HEADs anyway); not when it was too big a
   * moment ago.
   */
  private worthListingFor(dir: string, listing: Listing | TooBig | undefined, entryKnown: boolean): boolean {
    if (listing === undefined) return true;
    if (isTooBig(listing)) return !this.f.tooBigFresh(listing.at);
    return sizeOf(listing) <= RELIST_FOR_LOOKUP_MAX_NAMES || (entryKnown && this.prefetchCursors.has(dir));
  }

  /** A HEAD of the file's key: its entry, or null when there is no such object. */
  async fetchFile(path: string): Promise<CachedEntry | null> {
    const asked = this.f.now();
    const info = await this.store.head(this.keys.fileKey(path));
    return info && this.cacheFileInfo(path, info, asked);
  }

  /** fetchFile and the file's first bytes, in one GET. */
  async fetchFileStart(path: string, length: number): Promise<{ entry: CachedEntry; data: Buffer } | null> {
    const asked = this.f.now();
    const got = await this.store.getStart(this.keys.fileKey(path), length);
    return got && { entry: this.cacheFileInfo(path, got.info, asked), data: got.data };
  }

  private cacheFileInfo(path: string, info: ObjectInfo, asked: number): CachedEntry {
    this.checkMetadata(info);
    const kind = kindOf(info) === 'symlink' ? 'symlink' : 'file';
    const entry: CachedEntry = {
      kind, stat: statOf(kind, info.size, info.lastModified, info.metadata, this.defaults), etag: info.etag, hasMarker: false,
      contentType: info.contentType, metadata: info.metadata, lastModified: info.lastModified, serverDate: info.serverDate, confirmedAt: asked,
    };
    this.cache.set(path, entry);
    return entry;
  }

  /**
   * One LIST of the keys that start with the name: the prefix below it (a directory, which wins
   * over an object of the same name), the object itself, or neither.
   */
  private async probe(path: string): Promise<CachedEntry | 'missing'> {
    const key = this.keys.fileKey(path);
    const asked = this.f.now();
    const page = await this.store.listPage(key, '/', undefined, LIST_PAGE);
    // The object is the first key of its own listing: when it exists, this page has it.
    const hasObject = page.objects.some((o) => o.key === key);
    if (page.prefixes.includes(`${key}/`)) {
      if (hasObject) this.warnings.shadowedFile(key);
      return this.fetchDirectory(path, true);
    }
    if (page.continuationToken !== undefined) {
      // More than a page of names sharing this prefix, and `key/` may be on a later one (`key-1`
      // sorts before it): ask for the directory directly, then for the file.
      const dir = await this.fetchDirectory(path, false);
      if (dir !== 'missing') {
        if (hasObject) this.warnings.shadowedFile(key);
        return dir;
      }
    }
    if (hasObject) {
      const entry = await this.fetchFile(path);
      if (entry) return entry;
    }
    this.cache.setMissing(path, asked);
    return 'missing';
  }

  /** A directory: its marker's attributes, or an implicit one when keys exist below it. */
  private async fetchDirectory(path: string, knownToExist: boolean): Promise<CachedEntry | 'missing'> {
    const prefix = this.keys.dirPrefix(path);
    const asked = this.f.now();
    let marker = await this.store.head(prefix);
    let lastModified = marker?.lastModified;
    if (!marker && !knownToExist) {
      const page = await this.store.listPage(prefix, undefined, undefined, 1);
      const first = page.objects[0];
      if (!first) {
        this.cache.setMissing(path, asked);
        return 'missing';
      }
      lastModified = first.lastModified;
      if (first.key === prefix) marker = await this.store.head(prefix); // created meanwhile
    }
    if (marker) this.checkMetadata(marker);
    const entry: CachedEntry = {
      kind: 'dir', stat: statOf('dir', 0, marker?.lastModified ?? lastModified ?? this.mountedAt, marker?.metadata ?? {}, this.defaults),
      etag: marker?.etag ?? '', hasMarker: marker !== null, contentType: marker?.contentType, metadata: marker?.metadata ?? {},
      lastModified: marker?.lastModified, serverDate: marker?.serverDate, confirmedAt: asked,
    };
    this.cache.set(path, entry);
    return entry;
  }

  /** Attribute metadata another client wrote that statOf has to ignore: said once per key. */
  private checkMetadata(info: ObjectInfo): void {
    const garbage = garbageAttributes(info.metadata);
    if (garbage) this.warnings.garbageMetadata(info.key, garbage);
  }

  // ---- listings -------------------------------------------------------------------------

  /** The names in a directory (without `.` and `..`), from its listing while fresh, else listed now. */
  async readdir(path: string): Promise<string[]> {
    await this.requireDirectory(path);
    const known = this.dirs.get(path);
    if (known && !isTooBig(known) && this.f.listingFresh(known.listedAt)) {
      const names = namesOf(known);
      this.prefetchAttributes(path, names);
      return names;
    }
    const limit = this.s.maxlist > 0 ? this.s.maxlist : Infinity;
    const listed = await this.list(path, { maxNames: limit, forLookup: false });
    const all = uniqueNames(listed);
    const names = all.length > limit ? all.slice(0, limit) : all;
    this.prefetchAttributes(path, names);
    return names;
  }

  /**
   * Lists a directory, up to `scope.maxNames` names (fewer when the listing ends first), and
   * keeps the listing when it is complete. A listing of at least as many names under way is joined.
   */
  private list(dir: string, scope: ListingScope): Promise<Listed> {
    const running = this.listings.get(dir) ?? [];
    const joinable = running.find((r) => r.maxNames >= scope.maxNames);
    if (joinable) return joinable.done;
    const flight: ListingInFlight = { maxNames: scope.maxNames, added: new Map(), removed: new Map(), done: undefined as never };
    flight.done = this.fetchListing(dir, scope, flight).finally(() => {
      const left = (this.listings.get(dir) ?? []).filter((r) => r !== flight);
      if (left.length > 0) this.listings.set(dir, left);
      else this.listings.delete(dir);
    });
    this.listings.set(dir, [...running, flight]);
    return flight.done;
  }

  /**
   * The listing itself, page by page; each page confirms the cached entries it shows unchanged,
   * and is reduced to names at once: a listing of 100,000 keys holds 100,000 short strings, not
   * their sizes, ETags and dates. readdir's starts with a page without a delimiter: for a tree of
   * up to a page of keys it lists every directory below as well, kept for the walk that usually
   * follows (see tree-listing.ts); for a larger one its names are the start of this listing,
   * which goes on after its last key. A lookup's takes delimited pages only.
   */
  private async fetchListing(dir: string, scope: ListingScope, flight: ListingInFlight): Promise<Listed> {
    const prefix = this.keys.dirPrefix(dir);
    // A listing is as old as its start: what changed after may be on its pages or not.
    const listedAt = this.f.now();
    const onInvalid = (key: string): void => this.warnings.invalidName(key);
    let names: ListedNames = { files: [], dirs: [] };
    // Keys of objects that can only be regular files, by their size alone (see SURELY_REGULAR_SIZE).
    const regularKeys = new Set<string>();
    const noteRegular = (objects: ReadonlyArray<{ key: string; size: number }>): void => {
      for (const o of objects) if (o.size >= SURELY_REGULAR_SIZE) regularKeys.add(o.key);
    };
    let startAfter: string | undefined;
    let token: string | undefined;
    let more = true;
    if (!scope.forLookup) {
      const first = await this.store.listPage(prefix, undefined, undefined, LIST_PAGE);
      this.confirmListed(dir, prefix, first, listedAt, true);
      noteRegular(first.objects);
      const firstKeys = first.objects.map((o) => o.key);
      const tree = splitTreePage(prefix, firstKeys, first.continuationToken !== undefined, onInvalid);
      this.keepSubdirectoryListings(dir, prefix, tree.complete, listedAt, regularKeys);
      names = tree.top;
      more = first.continuationToken !== undefined;
      startAfter = more ? firstKeys[firstKeys.length - 1] : undefined;
    }
    while (more && names.files.length + names.dirs.length < scope.maxNames) {
      const firstPage = token === undefined && startAfter === undefined;
      const page = await this.store.listPage(prefix, '/', token, LIST_PAGE, startAfter);
      this.confirmListed(dir, prefix, page, listedAt, firstPage);
      noteRegular(page.objects);
      splitListing(prefix, page.objects.map((o) => o.key), page.prefixes, onInvalid, names);
      token = page.continuationToken;
      startAfter = undefined;
      more = token !== undefined;
    }
    this.reportShadowedFiles(prefix, names);
    // This mount's own changes while the listing ran: its pages may predate them.
    if (flight.removed.size > 0) {
      names.files = names.files.filter((n) => flight.removed.get(n) !== 'file' && flight.removed.get(n) !== 'both');
      names.dirs = names.dirs.filter((n) => flight.removed.get(n) !== 'dir' && flight.removed.get(n) !== 'both');
    }
    for (const [name, kind] of flight.added) (kind === 'file' ? names.files : names.dirs).push(name);
    names.files.push(...this.open.pendingNamesIn(dir));
    if (!more) {
      this.dirs.set(dir, names.files, names.dirs, listedAt, this.madeAt(dir), regularNames(prefix, names.files, regularKeys));
    } else if (scope.forLookup) {
      this.dirs.setTooBig(dir, listedAt);
    }
    this.forgetMissing(dir, uniqueNames(names));
    return { ...names, complete: !more, listedAt };
  }

  /** When this mount made `dir`, as its listing says (a listing taken again keeps it). */
  private madeAt(dir: string): number | undefined {
    const l = this.dirs.get(dir);
    return l && !isTooBig(l) ? l.madeAt : undefined;
  }

  /** Listings of directories below `dir` that one page of keys covered completely. */
  private keepSubdirectoryListings(dir: string, prefix: string, complete: Map<string, ListedNames>, listedAt: number, regularKeys: ReadonlySet<string>): void {
    for (const [rel, names] of complete) {
      const sub = joinPath(dir, rel.slice(0, -1));
      this.reportShadowedFiles(prefix + rel, names);
      names.files.push(...this.open.pendingNamesIn(sub));
      this.dirs.set(sub, names.files, names.dirs, listedAt, this.madeAt(sub), regularNames(prefix + rel, names.files, regularKeys));
      this.forgetMissing(sub, uniqueNames(names));
    }
  }

  /**
   * Cached entries that a page of a listing of `dir` (taken at `at`) shows unchanged are
   * confirmed as of then; those it shows changed are dropped, to be asked for again. A page
   * without a delimiter shows keys deeper down too: their entries are confirmed the same way. A
   * directory is confirmed by its own listing: by its marker, which is the first key of its
   * first page (`d/` sorts before everything under it), or, for one known to have no marker, by
   * a first page with keys and no marker. (A common prefix in its parent's listing says that it
   * exists, not what its attributes are: a marker another client added would not show.)
   */
  private confirmListed(dir: string, prefix: string, page: { objects: readonly ListedObject[]; prefixes: readonly string[] }, at: number, firstPage: boolean): void {
    for (const o of page.objects) {
      if (!o.key.startsWith(prefix)) continue;
      const rel = o.key.slice(prefix.length);
      if (rel === '') this.confirm(dir, o, at);
      else this.confirm(joinPath(dir, rel.endsWith('/') ? rel.slice(0, -1) : rel), o, at, rel.endsWith('/'));
    }
    const v = this.cache.peek(dir);
    if (firstPage && v?.kind === 'dir' && !v.hasMarker && v.confirmedAt <= at
      && page.objects[0]?.key !== prefix && (page.objects.length > 0 || page.prefixes.length > 0)) {
      v.confirmedAt = at;
    }
  }

  private confirm(path: string, o: ListedObject, at: number, isMarker = o.key.endsWith('/')): void {
    const v = this.cache.peek(path);
    if (v === undefined || v.confirmedAt > at) return; // nothing known, or known better since
    if (v.kind === 'missing') {
      this.cache.delete(path); // the name exists
      return;
    }
    // A file key next to a directory of the same name: the directory wins, nothing to confirm.
    if ((v.kind === 'dir') !== isMarker) return;
    if (listedUnchanged(v, o)) {
      v.confirmedAt = at;
      v.lastModified = o.lastModified;
      v.exactLastModified = true;
      v.writtenAt = undefined;
    } else {
      this.cache.delete(path);
    }
  }

  /** Names a listing shows are no longer missing, whatever a negative entry said. */
  private forgetMissing(dir: string, names: string[]): void {
    for (const name of names) {
      const child = joinPath(dir, name);
      if (this.cache.peek(child)?.kind === 'missing') this.cache.delete(child);
    }
  }

  private reportShadowedFiles(prefix: string, names: ListedNames): void {
    for (const name of namesBothFileAndDir(names)) this.warnings.shadowedFile(prefix + name);
  }

  /**
   * `ls -l` and `find` stat every name just listed, one at a time: the HEADs of names with no
   * fresh entry go out now, many at once, so that those stats find the answers waiting. Only as
   * many as the stat cache holds.
   */
  private prefetchAttributes(dir: string, names: string[]): void {
    if (!this.f.caching) return;
    const typed = this.regularFilesListedIn(dir);
    const cursor: PrefetchCursor = { names, positions: undefined, upTo: 0, typed: typed.size > 0 ? typed : undefined };
    this.prefetchCursors.delete(dir);
    this.prefetchCursors.set(dir, cursor);
    while (this.prefetchCursors.size > PREFETCH_CURSORS) this.prefetchCursors.delete(this.prefetchCursors.keys().next().value as string);
    this.prefetchUpTo(dir, cursor, PREFETCH_AHEAD);
  }

  /** A lookup in a directory just listed: keep the prefetch PREFETCH_AHEAD names ahead of it. */
  private followLookup(path: string): void {
    const dir = parentOf(path);
    const cursor = this.prefetchCursors.get(dir);
    if (!cursor || (cursor.upTo >= cursor.names.length && cursor.typed === undefined)) return;
    cursor.positions ??= new Map(cursor.names.map((name, i) => [name, i]));
    const name = baseName(path);
    const at = cursor.positions.get(name);
    if (at === undefined) return;
    if (cursor.typed?.has(name)) {
      // The walk stats names the listing typed: an `ls -l`. What was left out ahead goes now.
      cursor.typed = undefined;
      cursor.upTo = Math.min(cursor.upTo, at + 1);
      this.prefetchUpTo(dir, cursor, at + PREFETCH_AHEAD);
    } else if (at + PREFETCH_AHEAD / 2 > cursor.upTo) {
      this.prefetchUpTo(dir, cursor, at + PREFETCH_AHEAD);
    }
  }

  private prefetchUpTo(dir: string, cursor: PrefetchCursor, end: number): void {
    const stop = Math.min(end, cursor.names.length);
    for (; cursor.upTo < stop; cursor.upTo++) {
      const name = cursor.names[cursor.upTo]!;
      if (cursor.typed?.has(name)) continue;
      const child = joinPath(dir, name);
      if (this.answerFromCache(child) !== undefined || this.lookups.has(child) || this.open.isOpen(child)) continue;
      void this.attributePrefetch(() => this.lookupOrNull(child, true)).catch(() => undefined);
    }
  }

  // ---- this mount's own changes ---------------------------------------------------------

  /** What a lookup answers for `path` now: this mount just made it so. */
  remember(path: string, entry: Omit<CachedEntry, 'confirmedAt'>): void {
    this.cache.set(path, { ...entry, confirmedAt: this.f.now() });
  }

  /** A name this mount added to its directory (a file or directory it created, or moved there). */
  added(path: string, kind: 'file' | 'dir'): void {
    const dir = parentOf(path);
    const name = baseName(path);
    this.dirs.added(dir, name, kind);
    for (const flight of this.listings.get(dir) ?? []) {
      flight.removed.delete(name);
      flight.added.set(name, kind);
    }
  }

  /** A file this mount removed or moved away: the name is gone. */
  removed(path: string): void {
    this.cache.setMissing(path, this.f.now());
    this.nameGone(path);
  }

  private nameGone(path: string, kind: 'file' | 'dir' | 'both' = 'both'): void {
    const dir = parentOf(path);
    const name = baseName(path);
    this.dirs.removed(dir, name, kind);
    for (const flight of this.listings.get(dir) ?? []) {
      flight.added.delete(name);
      const before = flight.removed.get(name);
      flight.removed.set(name, before !== undefined && before !== kind ? 'both' : kind);
    }
  }

  /** Forgets what is known of `path` (it will be asked for). */
  forget(path: string): void {
    this.cache.delete(path);
  }

  /** Nothing is at `path` (the server just said so). */
  setMissing(path: string): void {
    this.cache.setMissing(path, this.f.now());
  }

  /** A directory this mount made: empty, and known to be so for a while (see freshness.ts). */
  directoryMade(path: string, entry: Omit<CachedEntry, 'confirmedAt'>): void {
    const now = this.f.now();
    this.remember(path, entry);
    this.added(path, 'dir');
    this.dirs.set(path, [], [], now, now);
  }

  /** Forgets everything known at and below a directory path (it moved, or went). */
  forgetTree(path: string): void {
    this.dirs.deleteTree(path);
    this.cache.deleteTree(path);
  }

  /**
   * A directory this mount removed or moved away. An object of the same name that it hid (a key
   * both a file and a prefix) is a file again, to be looked up; otherwise the name is gone.
   */
  directoryGone(path: string): void {
    this.forgetTree(path);
    const dir = parentOf(path);
    const name = baseName(path);
    this.nameGone(path, 'dir');
    const listing = this.dirs.get(dir);
    if (listing && !isTooBig(listing) && kindIn(listing, name) === 'file') {
      this.cache.delete(path);
    } else {
      this.removed(path);
    }
  }
}

/** The names among `files` whose keys (under `prefix`) a listing showed as surely regular files. */
function regularNames(prefix: string, files: readonly string[], regularKeys: ReadonlySet<string>): string[] {
  if (regularKeys.size === 0) return [];
  return files.filter((name) => regularKeys.has(prefix + name));
}
