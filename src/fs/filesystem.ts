// POSIX semantics over objects. Knows paths, keys and errno; knows nothing about fuse-native.
import pLimit from 'p-limit';
import type { Logger } from '../log.js';
import type { ObjectInfo, ObjectMetadata, ObjectStore, PutOptions } from '../store/object-store.js';
import { StatCache, type CachedEntry } from '../cache/stat-cache.js';
import { FileData, PAGE_SIZE, type FileDataEnv, type Page } from '../cache/file-data.js';
import { BufferPool } from '../cache/buffer-pool.js';
import { MemoryBudget } from '../cache/memory-budget.js';
import { DirListings } from '../cache/dir-listings.js';
import { PartLayout } from '../transfer/part-layout.js';
import { Uploader } from '../transfer/uploader.js';
import { saveForRecovery } from './recovery.js';
import { moveTree } from './tree-move.js';
import { XATTR_CREATE, XATTR_REPLACE, isStoredXattrName, parseXattrs, storeXattrs } from './xattrs.js';
import {
  DIRECTORY_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, SYMLINK_CONTENT_TYPE,
  extraMetadataOf, garbageAttributes, kindOf, metadataOf, statOf, type AttributeDefaults, type Stat,
} from './attributes.js';
import { BucketWarnings } from './bucket-warnings.js';
import { splitTreePage } from './tree-listing.js';
import { FsError } from './errors.js';
import { StoreError } from '../store/errors.js';
import {
  KeyMapper, MAX_NAME_BYTES, baseName, joinPath, namesBothFileAndDir, parentOf, splitListing, type ListedNames,
} from './keys.js';
import { OpenFile } from './open-file.js';

export interface FilesystemSettings {
  prefix: string;
  diskdir: string;
  filemode: number;
  dirmode: number;
  /** Mountpoint permission bits are 0777 & ~umaskmp when others may enter (allow_other). */
  umaskmp: number;
  allowOther: boolean;
  /** Capacity reported by statfs, in GB. */
  fscap: number;
  /** Largest listing returned by readdir; 0 = everything. */
  maxlist: number;
  /** Part size of uploads and size of the GETs of sequential reads, bytes (--bufsize). */
  partSize: number;
  /** Transfers in flight each way (--numtransfer). */
  numtransfer: number;
  /** Memory for file data, bytes (--maxcache). */
  maxcacheBytes: number;
  /** Read-ahead of sequential readers, bytes (--prefetchsize). */
  prefetchBytes: number;
  /** -m: Content-MD5 on uploads, ETag checks on whole downloads. */
  contentMD5: boolean;
  /** -C: drop a file's cached data when it is closed. */
  nodatacache: boolean;
  maxstat: number;
  statexpire: number;
  readOnly: boolean;
}

export interface StatFs {
  bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
}

const STATFS_BLOCK = 1 << 20;
/** Largest object copied by GET and PUT when the server refuses a server-side copy. */
const COPY_FALLBACK_MAX = 64 * 1024 * 1024;
/** Objects copied at once by a directory rename. */
const MOVE_CONCURRENCY = 16;
/** S3 allows 2 KiB of user metadata (names and values); our attributes need about 80 bytes. */
const USER_METADATA_LIMIT = 2048;
const ATTRIBUTES_RESERVE = 100;

/**
 * ENAMETOOLONG past 255 bytes (what statfs reports as namemax; the kernel allows FUSE 1024):
 * such a key would be created, then hidden from listings as a name no file can have.
 */
function checkNameLength(path: string): void {
  if (Buffer.byteLength(baseName(path)) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG');
}

/** E2BIG when extended attributes would push the user metadata past S3's limit. */
function checkMetadataSize(extra: ObjectMetadata): void {
  let bytes = ATTRIBUTES_RESERVE;
  for (const [name, value] of Object.entries(extra)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  if (bytes > USER_METADATA_LIMIT) throw new FsError('E2BIG');
}

/**
 * The names of a listing once each, directories first: a name both a file and a directory is
 * a directory, and a file still open here may be in the bucket already.
 */
function uniqueNames(dirs: Iterable<string>, files: Iterable<string>): string[] {
  const unique = new Set(dirs);
  for (const name of files) unique.add(name);
  return [...unique];
}

const UINT32_MAX = 0xffffffff;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;
/** Closed files whose clean data stays cached for a reopen (their pages count against --maxcache). */
const MAX_RECENT_FILES = 256;
/**
 * Listings are kept as long as stat entries, but at most 5 minutes (rclone's --dir-cache-time),
 * so that names another client adds show up in `ls` even with the default -e -1.
 */
const MAX_LISTING_TTL_MS = 5 * 60_000;
/**
 * How long the listing of a directory this mount created answers "no such name" on its own:
 * it started empty and this mount applies its own changes, so `cp -r` or `tar x` into a
 * directory just made pays no lookup per file. Short, since another client may add to it.
 */
const NEW_DIRECTORY_TRUST_MS = 30_000;
/** A cached entry fetched this recently is fresh enough to open by (close-to-open): `cat f`
 *  looks f up and opens it at once, and one HEAD serves both. */
const OPEN_REVALIDATE_MS = 1000;
/** Files up to this size are fetched whole by the GET that revalidates them at open: the
 *  kernel's read-ahead (1 MiB) would ask for all of it at the first read anyway. */
const OPEN_FETCH_LIMIT = 1024 * 1024;
/** HEADs sent at once to learn the attributes of a directory just listed (`ls -l`). */
const ATTRIBUTE_PREFETCH_CONCURRENCY = 32;
/**
 * Names of one listing whose attributes are prefetched at most: `ls -l` of a few thousand files
 * finds its answers waiting, but a plain `ls` of a directory of 100,000 keys does not send
 * --maxstat's worth of HEADs (10,000 with -t 20) that nobody may ask for.
 */
const MAX_PREFETCHED_NAMES = 4096;

export class Filesystem {
  private readonly keys: KeyMapper;
  private readonly cache: StatCache;
  private readonly defaults: AttributeDefaults;
  private readonly openByPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, OpenFile>();
  /** Files whose last handle closed while their upload kept failing: their data must not go. */
  private readonly unsaved = new Set<OpenFile>();
  private readonly lookups = new Map<string, Promise<CachedEntry | 'missing'>>();
  /** Bad keys and metadata met in the bucket, each logged once. */
  private readonly warnings: BucketWarnings;
  private nextHandle = 1;
  private handleActivityAt = Date.now();
  private readonly mountedAt = new Date();
  private readonly budget: MemoryBudget<Page>;
  private readonly dataEnv: FileDataEnv;
  private readonly uploader: Uploader;
  /** Clean data of files closed lately, reused when they are opened again unchanged. */
  private readonly recent = new Map<string, FileData>();
  /** Directories this mount created lately, with every child they have had since. */
  private readonly dirs: DirListings;
  private readonly attributePrefetch = pLimit(ATTRIBUTE_PREFETCH_CONCURRENCY);

  constructor(private readonly store: ObjectStore, private readonly s: FilesystemSettings, private readonly log: Logger) {
    this.keys = new KeyMapper(s.prefix);
    this.warnings = new BucketWarnings(log);
    this.cache = new StatCache(s);
    const statTtl = s.statexpire < 0 ? Infinity : s.statexpire * 60_000;
    this.dirs = new DirListings({ ttlMs: Math.min(statTtl, MAX_LISTING_TTL_MS), maxDirs: 1000, maxNames: Math.max(1000, s.maxstat * 500) });
    this.defaults = { filemode: s.filemode, dirmode: s.dirmode, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    this.budget = new MemoryBudget<Page>(s.maxcacheBytes);
    this.dataEnv = {
      store, budget: this.budget, diskdir: s.diskdir, downloads: pLimit(s.numtransfer), chunkSize: s.partSize,
      // Enough idle buffers for the GETs that can be in flight at once (and one more round).
      pool: new BufferPool(PAGE_SIZE, Math.ceil(((s.numtransfer + 1) * s.partSize) / PAGE_SIZE)),
      prefetchBytes: s.prefetchBytes, verifyMd5: s.contentMD5, log,
    };
    this.uploader = new Uploader({
      store, layout: new PartLayout(s.partSize), uploads: pLimit(s.numtransfer), contentMD5: s.contentMD5, log,
      bodies: new BufferPool(s.partSize, s.numtransfer),
    });
  }

  // ---- attributes and lookup ------------------------------------------------------------

  async getattr(path: string): Promise<Stat> {
    return (await this.lookup(path)).stat;
  }

  private rootEntry(): CachedEntry {
    const perm = this.s.allowOther ? 0o777 & ~this.s.umaskmp : this.s.dirmode;
    const stat = statOf('dir', 0, this.mountedAt, {}, this.defaults);
    stat.mode = S_IFDIR | perm;
    return { kind: 'dir', stat, etag: '', hasMarker: false };
  }

  /** What is at `path`, or ENOENT. Open files answer from memory, others from the cache or the bucket. */
  private async lookup(path: string): Promise<CachedEntry> {
    if (path === '/') return this.rootEntry();
    checkNameLength(path);
    const open = this.openByPath.get(path);
    if (open) {
      open.stat.size = open.size;
      open.stat.blocks = Math.ceil(open.size / 512);
      return { kind: kindOf({ key: open.key, contentType: open.contentType, metadata: { mode: String(open.stat.mode) } }), stat: open.stat, etag: open.data.etag, hasMarker: false };
    }
    let found = this.cache.get(path);
    if (found === undefined && this.dirs.kindOf(parentOf(path), baseName(path)) === 'missing') found = 'missing';
    if (found === undefined) {
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

  /** Keeps listings in step with this mount's own changes. */
  private listed(path: string, kind: 'file' | 'dir' | null): void {
    if (kind) this.dirs.added(parentOf(path), baseName(path), kind);
    else this.dirs.removed(parentOf(path), baseName(path));
  }

  /**
   * As few requests as we can. The parent's listing (fetched now when we have none and it fits
   * in one page) says which single HEAD to send: the file's key or the directory's marker. A
   * name absent from a listing fetched earlier may have been added by another client since, so
   * it is probed with one narrow LIST, which settles a missing name in one request.
   */
  private async fetchEntry(path: string): Promise<CachedEntry | 'missing'> {
    const dir = parentOf(path);
    const name = baseName(path);
    let kind = this.dirs.kindOf(dir, name);
    if (kind === undefined && this.dirs.get(dir) === undefined) {
      const listing = await this.listParent(dir);
      // A name that is both is a directory (namesBothFileAndDir).
      if (listing) kind = listing.dirs.includes(name) ? 'dir' : listing.files.includes(name) ? 'file' : 'missing';
    }
    if (kind === 'missing') {
      this.cache.setMissing(path);
      return 'missing';
    }
    if (kind === 'dir') return this.fetchDirectory(path, true);
    if (kind === 'file') {
      const entry = await this.fetchFile(path);
      if (entry) return entry;
    }
    return this.probe(path);
  }

  private async fetchFile(path: string): Promise<CachedEntry | null> {
    const info = await this.store.head(this.keys.fileKey(path));
    return info && this.cacheFileInfo(path, info);
  }

  /** fetchFile and the file's first bytes, in one GET. */
  private async fetchFileStart(path: string): Promise<{ entry: CachedEntry; data: Buffer } | null> {
    const got = await this.store.getStart(this.keys.fileKey(path), OPEN_FETCH_LIMIT);
    return got && { entry: this.cacheFileInfo(path, got.info), data: got.data };
  }

  private cacheFileInfo(path: string, info: ObjectInfo): CachedEntry {
    this.checkMetadata(info);
    const kind = kindOf(info) === 'symlink' ? 'symlink' : 'file';
    const entry: CachedEntry = {
      kind, stat: statOf(kind, info.size, info.lastModified, info.metadata, this.defaults), etag: info.etag, hasMarker: false,
      contentType: info.contentType, metadata: info.metadata, fetchedAt: Date.now(),
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
    const page = await this.store.listPage(key, '/', undefined, 1000);
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
    this.cache.setMissing(path);
    return 'missing';
  }

  /** One page of the directory's listing, kept when it is the whole of it. */
  private async listParent(dir: string): Promise<ListedNames | null> {
    const prefix = this.keys.dirPrefix(dir);
    const page = await this.store.listPage(prefix, '/', undefined, 1000);
    if (page.continuationToken !== undefined) {
      this.dirs.setTooBig(dir);
      return null;
    }
    const names = splitListing(prefix, page.objects.map((o) => o.key), page.prefixes, (key) => this.warnings.invalidName(key));
    this.reportShadowedFiles(prefix, names);
    names.files.push(...this.pendingNamesIn(dir));
    this.dirs.set(dir, names.files, names.dirs, 0);
    return names;
  }

  private reportShadowedFiles(prefix: string, names: ListedNames): void {
    for (const name of namesBothFileAndDir(names)) this.warnings.shadowedFile(prefix + name);
  }

  /** Attribute metadata another client wrote that statOf has to ignore: said once per key. */
  private checkMetadata(info: ObjectInfo): void {
    const garbage = garbageAttributes(info.metadata);
    if (garbage) this.warnings.garbageMetadata(info.key, garbage);
  }

  /** A directory: its marker's attributes, or an implicit one when keys exist below it. */
  private async fetchDirectory(path: string, knownToExist: boolean): Promise<CachedEntry | 'missing'> {
    const prefix = this.keys.dirPrefix(path);
    let marker = await this.store.head(prefix);
    let lastModified = marker?.lastModified;
    if (!marker && !knownToExist) {
      const page = await this.store.listPage(prefix, undefined, undefined, 1);
      const first = page.objects[0];
      if (!first) {
        this.cache.setMissing(path);
        return 'missing';
      }
      lastModified = first.lastModified;
      if (first.key === prefix) marker = await this.store.head(prefix); // created meanwhile
    }
    if (marker) this.checkMetadata(marker);
    const entry: CachedEntry = {
      kind: 'dir', stat: statOf('dir', 0, marker?.lastModified ?? lastModified ?? this.mountedAt, marker?.metadata ?? {}, this.defaults),
      etag: '', hasMarker: marker !== null, contentType: marker?.contentType, metadata: marker?.metadata ?? {}, fetchedAt: Date.now(),
    };
    this.cache.set(path, entry);
    return entry;
  }

  private async lookupOrNull(path: string): Promise<CachedEntry | null> {
    try {
      return await this.lookup(path);
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return null;
      throw err;
    }
  }

  private async requireDirectory(path: string): Promise<CachedEntry> {
    const entry = await this.lookup(path);
    if (entry.kind !== 'dir') throw new FsError('ENOTDIR');
    return entry;
  }

  private assertWritable(): void {
    if (this.s.readOnly) throw new FsError('EROFS');
  }

  private newStat(mode: number, size: number): Stat {
    const now = new Date();
    return { ...statOf('file', size, now, {}, this.defaults), mode };
  }

  // ---- directories ----------------------------------------------------------------------

  async readdir(path: string): Promise<string[]> {
    await this.requireDirectory(path);
    const known = this.dirs.get(path);
    if (known && known !== 'too-big') {
      const names = uniqueNames(known.dirs, known.files);
      this.prefetchAttributes(path, names);
      return ['.', '..', ...names];
    }
    const prefix = this.keys.dirPrefix(path);
    const limit = this.s.maxlist > 0 ? this.s.maxlist : Infinity;
    const onInvalid = (key: string): void => this.warnings.invalidName(key);
    // First a page without a delimiter: for a tree of up to a page of keys it lists every
    // directory below as well, kept for the walk that usually follows (see tree-listing.ts);
    // for a larger one its names are the start of this listing, which goes on after its last key.
    const first = await this.store.listPage(prefix, undefined, undefined, 1000);
    const firstKeys = first.objects.map((o) => o.key);
    const tree = splitTreePage(prefix, firstKeys, first.continuationToken !== undefined, onInvalid);
    this.keepSubdirectoryListings(path, prefix, tree.complete);
    // Each page is reduced to names at once: a listing of 100,000 keys holds 100,000 short
    // strings, not 100,000 keys with their sizes, ETags and dates.
    const names: ListedNames = tree.top;
    let startAfter = first.continuationToken !== undefined ? firstKeys[firstKeys.length - 1] : undefined;
    let token: string | undefined;
    while ((startAfter !== undefined || token !== undefined) && names.files.length + names.dirs.length < limit) {
      const page = await this.store.listPage(prefix, '/', token, 1000, startAfter);
      splitListing(prefix, page.objects.map((o) => o.key), page.prefixes, onInvalid, names);
      token = page.continuationToken;
      startAfter = undefined;
    }
    this.reportShadowedFiles(prefix, names);
    names.files.push(...this.pendingNamesIn(path));
    const all = uniqueNames(names.dirs, names.files);
    const list = all.length > limit ? all.slice(0, limit) : all;
    if (token === undefined && startAfter === undefined && list.length === all.length) this.dirs.set(path, names.files, names.dirs, 0);
    this.forgetMissing(path, list);
    this.prefetchAttributes(path, list);
    return ['.', '..', ...list];
  }

  /** Listings of directories below `dir` that one page of keys covered completely. */
  private keepSubdirectoryListings(dir: string, prefix: string, complete: Map<string, ListedNames>): void {
    for (const [rel, names] of complete) {
      const sub = joinPath(dir, rel.slice(0, -1));
      this.reportShadowedFiles(prefix + rel, names);
      names.files.push(...this.pendingNamesIn(sub));
      this.dirs.set(sub, names.files, names.dirs, 0);
      this.forgetMissing(sub, uniqueNames(names.dirs, names.files));
    }
  }

  /** Names a listing shows are no longer missing, whatever a negative entry said. */
  private forgetMissing(dir: string, names: string[]): void {
    for (const name of names) {
      const child = joinPath(dir, name);
      if (this.cache.get(child) === 'missing') this.cache.delete(child);
    }
  }

  /** Files created in `dir` and not yet uploaded: they exist too. */
  private pendingNamesIn(dir: string): string[] {
    return [...this.openByPath].filter(([p, of]) => parentOf(p) === dir && !of.unlinked).map(([p]) => baseName(p));
  }

  /**
   * `ls -l` and `find` stat every name just listed, one at a time: their HEADs go out now, many
   * at once, so that those stats find the answers waiting. Only as many as the stat cache holds.
   */
  private prefetchAttributes(dir: string, names: string[]): void {
    if (this.s.statexpire === 0) return;
    const room = Math.min(Math.floor((this.s.maxstat * 1000) / 2), MAX_PREFETCHED_NAMES);
    for (const name of names.slice(0, room)) {
      const child = joinPath(dir, name);
      if (this.cache.get(child) !== undefined || this.lookups.has(child) || this.openByPath.has(child)) continue;
      void this.attributePrefetch(() => this.lookupOrNull(child)).catch(() => undefined);
    }
  }

  async mkdir(path: string, mode: number): Promise<void> {
    this.assertWritable();
    if (await this.lookupOrNull(path)) throw new FsError('EEXIST');
    const stat = { ...statOf('dir', 0, new Date(), {}, this.defaults), mode: S_IFDIR | (mode & 0o7777) };
    await this.store.put(this.keys.dirPrefix(path), Buffer.alloc(0), {
      contentType: DIRECTORY_CONTENT_TYPE,
      metadata: metadataOf(stat.mode, stat.uid, stat.gid, stat.mtime),
    });
    this.cache.set(path, { kind: 'dir', stat, etag: '', hasMarker: true, contentType: DIRECTORY_CONTENT_TYPE, metadata: metadataOf(stat.mode, stat.uid, stat.gid, stat.mtime) });
    this.listed(path, 'dir');
    this.dirs.set(path, [], [], NEW_DIRECTORY_TRUST_MS);
  }

  async rmdir(path: string): Promise<void> {
    this.assertWritable();
    // The entry is usually cached: an implicit directory emptied by `rm -r` no longer exists in
    // the bucket, yet it is still the directory the kernel asks us to remove.
    await this.requireDirectory(path);
    const prefix = this.keys.dirPrefix(path);
    const page = await this.store.listPage(prefix, undefined, undefined, 2);
    const below = `${path}/`;
    if (page.objects.some((o) => o.key !== prefix) || [...this.openByPath.keys()].some((p) => p.startsWith(below))) {
      throw new FsError('ENOTEMPTY');
    }
    await this.store.delete(prefix);
    this.cache.deleteTree(path);
    this.dirs.deleteTree(path);
    this.directoryGone(path);
  }

  /**
   * A directory this mount removed or moved away. An object of the same name that it hid (a key
   * both a file and a prefix) is a file again, to be looked up; otherwise the name is gone.
   */
  private directoryGone(path: string): void {
    const dir = parentOf(path);
    const name = baseName(path);
    this.dirs.removed(dir, name, 'dir');
    if (this.dirs.kindOf(dir, name) === 'file') {
      this.cache.delete(path);
    } else {
      this.cache.setMissing(path);
      this.dirs.removed(dir, name);
    }
  }

  // ---- files: open, read, write, close --------------------------------------------------

  async create(path: string, mode: number): Promise<number> {
    this.assertWritable();
    checkNameLength(path);
    const stat = this.newStat(S_IFREG | (mode & 0o7777), 0);
    const key = this.keys.fileKey(path);
    this.forgetRecent(key);
    const of = new OpenFile(path, key, stat, undefined, new FileData(key, null, this.dataEnv));
    const previous = this.openByPath.get(path);
    if (previous) previous.unlinked = true;
    this.openByPath.set(path, of);
    this.cache.delete(path);
    this.listed(path, 'file');
    return this.addHandle(of);
  }

  /** mknod(2) of a regular file makes an empty object; devices, FIFOs and sockets cannot be objects. */
  async mknod(path: string, mode: number): Promise<void> {
    const type = mode & S_IFMT;
    if (type !== 0 && type !== S_IFREG) throw new FsError('EPERM');
    if (await this.lookupOrNull(path)) throw new FsError('EEXIST');
    const fh = await this.create(path, mode);
    try {
      await this.flush(fh); // an upload error reaches the caller, as close would report it
    } finally {
      await this.release(fh);
    }
  }

  /** Permission checks belong to the kernel (default_permissions); here only existence. */
  async access(path: string): Promise<void> {
    await this.lookup(path);
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & O_ACCMODE) !== O_RDONLY;
    if (writing) this.assertWritable();
    let of = this.openByPath.get(path);
    if (!of) {
      const entry = await this.lookup(path);
      if (entry.kind === 'dir') throw new FsError('EISDIR');
      // Close-to-open consistency: what another client wrote since we looked is what we read,
      // and cached data is reused only while the object's ETag is unchanged. An entry the
      // server confirmed a moment ago (the kernel's lookup just before this open) will do.
      const key = this.keys.fileKey(path);
      let data = this.recent.get(key);
      let firstBytes: Buffer | undefined;
      let fresh: CachedEntry | null = entry;
      if (entry.fetchedAt === undefined || Date.now() - entry.fetchedAt >= OPEN_REVALIDATE_MS || !entry.metadata) {
        // A small file about to be read, with nothing cached: one GET revalidates it and
        // brings its bytes, where a HEAD and then a GET would cost two round trips.
        const fetchStart = !data && entry.kind === 'file' && entry.stat.size > 0 && entry.stat.size <= OPEN_FETCH_LIMIT
          && !(writing && (flags & O_TRUNC) !== 0);
        if (fetchStart) {
          const got = await this.fetchFileStart(path);
          fresh = got?.entry ?? null;
          firstBytes = got?.data;
        } else {
          fresh = await this.fetchFile(path);
        }
      }
      if (!fresh) {
        this.cache.setMissing(path);
        throw new FsError('ENOENT');
      }
      this.recent.delete(key);
      const size = fresh.stat.size;
      if (!data || data.etag !== fresh.etag || data.size !== size) {
        data?.discard();
        data = new FileData(key, { etag: fresh.etag, size }, this.dataEnv);
        if (firstBytes) data.adoptFetchedStart(firstBytes);
      }
      of = new OpenFile(path, key, { ...fresh.stat }, fresh.contentType, data);
      of.extraMetadata = extraMetadataOf(fresh.metadata);
      this.openByPath.set(path, of);
    }
    if (writing && (flags & O_TRUNC) !== 0) await this.truncateOpenFile(of, 0);
    return this.addHandle(of);
  }

  private addHandle(of: OpenFile): number {
    const fh = this.nextHandle++;
    of.refs++;
    this.handles.set(fh, of);
    return fh;
  }

  private handle(fh: number): OpenFile {
    this.handleActivityAt = Date.now();
    const of = this.handles.get(fh);
    if (!of) throw new FsError('EBADF');
    return of;
  }

  async read(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    return this.handle(fh).data.read(buf, length, position);
  }

  async write(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    this.assertWritable();
    const of = this.handle(fh);
    await of.data.write(buf, length, position);
    of.writes++;
    of.largestWrite = Math.max(of.largestWrite, length);
    this.touch(of);
    if (!of.unlinked) this.uploader.afterWrite(of.data, position + length, this.putOptions(of));
    return length;
  }

  private touch(of: OpenFile): void {
    of.stat.mtime = of.stat.ctime = new Date();
  }

  private putOptions(of: OpenFile): PutOptions {
    const contentType = of.kind === 'symlink' ? SYMLINK_CONTENT_TYPE : of.contentType;
    return { metadata: { ...of.extraMetadata, ...metadataOf(of.stat.mode, of.stat.uid, of.stat.gid, of.stat.mtime) }, contentType };
  }

  async flush(fh: number): Promise<void> {
    await this.upload(this.handle(fh));
  }

  async fsync(fh: number): Promise<void> {
    await this.upload(this.handle(fh));
  }

  async release(fh: number): Promise<void> {
    const of = this.handle(fh);
    this.handles.delete(fh);
    if (--of.refs > 0) return;
    try {
      await this.upload(of);
    } catch (err) {
      // The application was told at close (EIO); the data stays in the cache and is named in the log.
      this.unsaved.add(of);
      this.log.error({ path: of.path, key: of.key, spilled: of.data.spillPath, err: String(err) }, 'upload failed after the last close; data kept in the cache');
      return;
    } finally {
      if (this.openByPath.get(of.path) === of) this.openByPath.delete(of.path);
    }
    if (of.unlinked) await this.uploader.abort(of.data);
    this.keepOrDrop(of);
  }

  /** After the last close: clean data stays cached for the next open, unless -C. */
  private keepOrDrop(of: OpenFile): void {
    if (this.s.nodatacache || of.unlinked || of.data.dirty) {
      of.data.discard();
      return;
    }
    of.data.dropDisk();
    this.forgetRecent(of.key);
    this.recent.set(of.key, of.data);
    while (this.recent.size > MAX_RECENT_FILES) this.forgetRecent(this.recent.keys().next().value as string);
  }

  private forgetRecent(key: string): void {
    this.recent.get(key)?.discard();
    this.recent.delete(key);
  }

  /** Uploads a dirty file (waiting for an upload already running), so that its object is durable. */
  private async upload(of: OpenFile): Promise<void> {
    while (of.uploading) await of.uploading.catch(() => undefined);
    if (!of.pending) return;
    of.uploading = this.uploadOnce(of).finally(() => { of.uploading = null; });
    await of.uploading;
  }

  private async uploadOnce(of: OpenFile): Promise<void> {
    const options = this.putOptions(of);
    const started = performance.now();
    let etag: string;
    const size = of.size;
    try {
      etag = await this.uploader.store(of.data, options);
    } catch (err) {
      this.log.error({ path: of.path, key: of.key, size, spilled: of.data.spillPath, err: String(err) }, 'upload failed; the data stays in the cache');
      throw err;
    }
    this.log.debug({ path: of.path, size, writes: of.writes, largestWrite: of.largestWrite, ms: Math.round(performance.now() - started) }, 'uploaded');
    of.writes = 0;
    of.largestWrite = 0;
    of.isNew = false;
    this.unsaved.delete(of);
    this.cacheOpenFile(of, size, etag, options);
  }

  /** What a lookup answers for the file once it is closed: its attributes as just stored. */
  private cacheOpenFile(of: OpenFile, size: number, etag: string, stored: PutOptions): void {
    this.cache.set(of.path, {
      kind: of.kind, stat: { ...of.stat, size, blocks: Math.ceil(size / 512) }, etag, hasMarker: false,
      contentType: stored.contentType, metadata: stored.metadata,
    });
  }

  // ---- changes by path ------------------------------------------------------------------

  async truncate(path: string, size: number): Promise<void> {
    this.assertWritable();
    const open = this.openByPath.get(path);
    if (open) return this.truncateOpenFile(open, size);
    // No handle: open it, change it, and store it now, as truncate(2) on a path must.
    const fh = await this.open(path, 1);
    const of = this.handle(fh);
    try {
      await this.truncateOpenFile(of, size);
      await this.upload(of);
    } finally {
      await this.release(fh);
    }
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.assertWritable();
    await this.truncateOpenFile(this.handle(fh), size);
  }

  private async truncateOpenFile(of: OpenFile, size: number): Promise<void> {
    if (size === of.size) return;
    await of.data.truncate(size);
    this.touch(of);
  }

  async unlink(path: string): Promise<void> {
    this.assertWritable();
    const entry = await this.lookup(path);
    if (entry.kind === 'dir') throw new FsError('EISDIR');
    const key = this.keys.fileKey(path);
    const of = this.openByPath.get(path);
    // A handle still open must go on reading the data (POSIX): the object's bytes move into the
    // cache before the object goes.
    if (of && !of.isNew && !of.unlinked) await of.data.detachFromObject();
    if (!of || !of.isNew) await this.store.delete(key);
    if (of) {
      of.unlinked = true;
      this.openByPath.delete(path);
      await this.uploader.abort(of.data);
    }
    this.forgetRecent(key);
    this.cache.setMissing(path);
    this.listed(path, null);
  }

  async rename(from: string, to: string): Promise<void> {
    this.assertWritable();
    const source = await this.lookup(from);
    if (source.kind === 'dir') return this.renameDirectory(from, to, source);
    const target = await this.lookupOrNull(to);
    if (target?.kind === 'dir') throw new FsError('EISDIR');
    const fromKey = this.keys.fileKey(from);
    const toKey = this.keys.fileKey(to);
    const of = this.openByPath.get(from);
    if (of) await this.upload(of); // the object must hold the latest data before it is copied
    await this.copyObject(fromKey, toKey);
    await this.store.delete(fromKey);
    const replaced = this.openByPath.get(to);
    if (replaced) {
      replaced.unlinked = true;
      this.openByPath.delete(to);
    }
    if (of) this.movedOpenFile(of, to, toKey);
    this.forgetRecent(fromKey);
    this.forgetRecent(toKey);
    this.cache.setMissing(from);
    this.cache.set(to, source);
    this.listed(from, null);
    this.listed(to, 'file');
  }

  private movedOpenFile(of: OpenFile, to: string, toKey: string): void {
    if (this.openByPath.get(of.path) === of) this.openByPath.delete(of.path);
    of.path = to;
    of.key = toKey;
    of.data.key = toKey;
    this.openByPath.set(to, of);
  }

  /**
   * Server-side copy, keeping the metadata or (with `options`) replacing it. Where the server
   * refuses to copy a key (RGW decodes '%' in the copy source twice), GET and PUT instead.
   */
  private async copyObject(from: string, to: string, options?: PutOptions): Promise<void> {
    try {
      await this.store.copy(from, to, options);
    } catch (err) {
      if (!(err instanceof StoreError && err.kind === 'unsupported')) throw err;
      const info = await this.store.head(from);
      if (!info) throw new FsError('ENOENT');
      if (info.size > COPY_FALLBACK_MAX) throw err;
      const body = await this.store.getRange(from, 0, info.size);
      await this.store.put(to, body, options ?? { contentType: info.contentType, metadata: info.metadata });
    }
  }

  /**
   * Moves the directory and everything below it (see tree-move.ts). POSIX: the target may be
   * an empty directory (replaced) but not a non-empty one (ENOTEMPTY) nor a file (ENOTDIR).
   */
  private async renameDirectory(from: string, to: string, source: CachedEntry): Promise<void> {
    const target = await this.lookupOrNull(to);
    const toPrefix = this.keys.dirPrefix(to);
    if (target) {
      if (target.kind !== 'dir') throw new FsError('ENOTDIR');
      const page = await this.store.listPage(toPrefix, undefined, undefined, 2);
      if (page.objects.some((o) => o.key !== toPrefix) || this.openBelow(to).length > 0) throw new FsError('ENOTEMPTY');
    }
    const below = this.openBelow(from);
    for (const of of below) await this.upload(of); // objects must hold the latest data first
    const fromPrefix = this.keys.dirPrefix(from);
    const move = await moveTree(this.store, fromPrefix, toPrefix, MOVE_CONCURRENCY, (a, b) => this.copyObject(a, b));
    // An implicit directory with nothing left in it: only a marker can make it exist at `to`.
    const markerNeeded = move.moved === 0 && !move.hadMarker && !target?.hasMarker;
    if (markerNeeded) {
      await this.store.put(toPrefix, Buffer.alloc(0), { contentType: DIRECTORY_CONTENT_TYPE, metadata: metadataOf(source.stat.mode, source.stat.uid, source.stat.gid, source.stat.mtime) });
    }
    for (const of of below) {
      const moved = to + of.path.slice(from.length);
      this.movedOpenFile(of, moved, this.keys.fileKey(moved));
    }
    for (const key of [...this.recent.keys()]) if (key.startsWith(fromPrefix) || key.startsWith(toPrefix)) this.forgetRecent(key);
    this.dirs.deleteTree(from);
    this.dirs.deleteTree(to);
    this.cache.deleteTree(from);
    this.cache.deleteTree(to);
    this.directoryGone(from);
    this.cache.set(to, { ...source, hasMarker: move.hadMarker || markerNeeded || (target?.hasMarker ?? false) });
    this.listed(to, 'dir');
  }

  /** Open files at or below a directory path. */
  private openBelow(dir: string): OpenFile[] {
    const below = `${dir}/`;
    return [...this.openByPath.entries()].filter(([p, of]) => p.startsWith(below) && !of.unlinked).map(([, of]) => of);
  }

  async symlink(target: string, path: string): Promise<void> {
    this.assertWritable();
    if (await this.lookupOrNull(path)) throw new FsError('EEXIST');
    const body = Buffer.from(target);
    const stat = { ...this.newStat(S_IFLNK | 0o777, body.length) };
    const metadata = metadataOf(stat.mode, stat.uid, stat.gid, stat.mtime);
    const etag = await this.store.put(this.keys.fileKey(path), body, { contentType: SYMLINK_CONTENT_TYPE, metadata });
    this.cache.set(path, { kind: 'symlink', stat, etag, hasMarker: false, contentType: SYMLINK_CONTENT_TYPE, metadata });
    this.listed(path, 'file');
  }

  async readlink(path: string): Promise<string> {
    const entry = await this.lookup(path);
    if (entry.kind !== 'symlink') throw new FsError('EINVAL');
    return (await this.store.getRange(this.keys.fileKey(path), 0, entry.stat.size)).toString();
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.changeAttributes(path, (stat) => { stat.mode = (stat.mode & S_IFMT) | (mode & 0o7777); });
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.changeAttributes(path, (stat) => {
      if (uid !== UINT32_MAX && uid !== -1) stat.uid = uid;
      if (gid !== UINT32_MAX && gid !== -1) stat.gid = gid;
    });
  }

  /**
   * Sets the modification time (ms; undefined: UTIME_OMIT, nothing to do). The access time is
   * not stored: keeping it would cost a request per read.
   */
  async utimens(path: string, mtime: number | undefined): Promise<void> {
    if (mtime === undefined) {
      this.assertWritable();
      await this.lookup(path);
      return;
    }
    await this.changeAttributes(path, (stat) => { stat.mtime = new Date(mtime); });
  }

  /**
   * Changes attributes or extended attributes and stores them in the object's metadata with a
   * server-side copy onto itself (never a re-upload of the data). A file open with changes not
   * yet stored keeps them for its upload; an implicit directory gets a marker to hold them.
   */
  private async changeAttributes(path: string, change: (stat: Stat, extra: ObjectMetadata) => void): Promise<void> {
    this.assertWritable();
    if (path === '/') return; // the mountpoint's attributes come from the mount options
    const of = this.openByPath.get(path);
    if (of) {
      change(of.stat, of.extraMetadata);
      checkMetadataSize(of.extraMetadata);
      of.stat.ctime = new Date();
      while (of.uploading) await of.uploading.catch(() => undefined);
      if (of.pending) return; // the upload at close carries them
      const options = this.putOptions(of);
      await this.copyObject(of.key, of.key, options);
      this.cacheOpenFile(of, of.size, of.data.etag, options); // rsync fchmods read-only handles
      return;
    }
    const entry = await this.lookup(path);
    const isDir = entry.kind === 'dir';
    const key = isDir ? this.keys.dirPrefix(path) : this.keys.fileKey(path);
    let { metadata, contentType } = entry;
    if (metadata === undefined && (!isDir || entry.hasMarker)) {
      const info = await this.store.head(key);
      if (!info) {
        this.cache.delete(path);
        throw new FsError('ENOENT');
      }
      ({ metadata, contentType } = info);
    }
    const stat = { ...entry.stat };
    const extra = extraMetadataOf(metadata);
    change(stat, extra);
    checkMetadataSize(extra);
    stat.ctime = new Date();
    const newMetadata = { ...extra, ...metadataOf(stat.mode, stat.uid, stat.gid, stat.mtime) };
    if (isDir) contentType ??= DIRECTORY_CONTENT_TYPE;
    if (isDir && !entry.hasMarker) {
      await this.store.put(key, Buffer.alloc(0), { contentType, metadata: newMetadata });
    } else {
      await this.copyObject(key, key, { contentType, metadata: newMetadata });
    }
    this.cache.set(path, { ...entry, stat, metadata: newMetadata, contentType, hasMarker: isDir ? true : entry.hasMarker });
  }

  // ---- extended attributes --------------------------------------------------------------

  async getxattr(path: string, name: string): Promise<Buffer | null> {
    if (!isStoredXattrName(name)) return null;
    return parseXattrs(await this.userMetadata(path)).get(name) ?? null;
  }

  async listxattr(path: string): Promise<string[]> {
    return [...parseXattrs(await this.userMetadata(path)).keys()];
  }

  async setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    if (!isStoredXattrName(name)) throw new FsError('ENOTSUP');
    await this.changeAttributes(path, (_stat, extra) => {
      const map = parseXattrs(extra);
      if ((flags & XATTR_CREATE) !== 0 && map.has(name)) throw new FsError('EEXIST');
      if ((flags & XATTR_REPLACE) !== 0 && !map.has(name)) throw new FsError('ENODATA');
      map.set(name, Buffer.from(value));
      storeXattrs(extra, map);
    });
  }

  async removexattr(path: string, name: string): Promise<void> {
    if (!isStoredXattrName(name)) throw new FsError('ENODATA');
    await this.changeAttributes(path, (_stat, extra) => {
      const map = parseXattrs(extra);
      if (!map.delete(name)) throw new FsError('ENODATA');
      storeXattrs(extra, map);
    });
  }

  /** The user metadata of what is at `path` (a HEAD when only a listing told us about it). */
  private async userMetadata(path: string): Promise<ObjectMetadata> {
    if (path === '/') return {};
    const of = this.openByPath.get(path);
    if (of) return of.extraMetadata;
    const entry = await this.lookup(path);
    if (entry.metadata) return entry.metadata;
    if (entry.kind === 'dir' && !entry.hasMarker) return {};
    const info = await this.store.head(entry.kind === 'dir' ? this.keys.dirPrefix(path) : this.keys.fileKey(path));
    if (!info) throw new FsError('ENOENT');
    this.cache.set(path, { ...entry, metadata: info.metadata, contentType: info.contentType });
    return info.metadata;
  }

  statfs(): StatFs {
    const blocks = Math.min(UINT32_MAX, Math.floor((this.s.fscap * 1024 ** 3) / STATFS_BLOCK));
    return {
      bsize: STATFS_BLOCK, frsize: STATFS_BLOCK, blocks, bfree: blocks, bavail: blocks,
      files: UINT32_MAX, ffree: UINT32_MAX, favail: UINT32_MAX, fsid: 0, flag: 0, namemax: MAX_NAME_BYTES,
    };
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /** Open files, and closed ones whose data could not be uploaded yet. */
  private filesWithData(): OpenFile[] {
    return [...new Set([...this.openByPath.values(), ...this.unsaved])];
  }

  /**
   * Uploads every dirty file (at unmount). What still cannot be stored is saved under
   * --diskdir/recovery and named in the log; returns those paths.
   */
  async flushAll(): Promise<string[]> {
    const failed: string[] = [];
    await Promise.all(this.filesWithData().map(async (of) => {
      try {
        await this.upload(of);
      } catch {
        try {
          const saved = await saveForRecovery(of.data, of.path, this.s.diskdir);
          this.log.error({ path: of.path, key: of.key, savedAs: saved.file, missingRanges: saved.missing }, 'could not upload; data saved for recovery');
          failed.push(`${of.path} (saved as ${saved.file})`);
        } catch (err) {
          // Even the local copy failed (disk full?): say where the cached pages still are.
          this.log.error({ path: of.path, key: of.key, spilled: of.data.spillPath, err: String(err) }, 'could not upload nor save for recovery');
          failed.push(`${of.path} (NOT saved: ${String(err)})`);
        }
      }
    }));
    return failed;
  }

  get openFileCount(): number {
    return this.openByPath.size;
  }

  // ---- lifecycle: what shutdown and the status report need -----------------------------

  get openHandleCount(): number {
    return this.handles.size;
  }

  /** When an application last did something with an open file (Date.now() ms). */
  get lastHandleActivity(): number {
    return this.handleActivityAt;
  }

  openPaths(limit: number): string[] {
    return [...this.openByPath.keys()].slice(0, limit);
  }

  /** Files with changes not yet stored, and how far their upload has come. */
  dirtyFiles(): Array<{ path: string; size: number; stored: number; uploading: boolean }> {
    return this.filesWithData()
      .filter((of) => of.pending || of.uploading !== null)
      .map((of) => ({ path: of.path, size: of.size, stored: this.uploader.bytesStored(of.data), uploading: of.uploading !== null }));
  }

  /** At exit, after flushAll: multipart uploads left open are aborted; returns how many. */
  abortUnfinishedUploads(): Promise<number> {
    return this.uploader.abortAll();
  }

  cacheUse(): { memoryBytes: number; maxBytes: number; cachedFiles: number; spilledFiles: number } {
    const files = new Set<FileData>([...[...this.openByPath.values()].map((of) => of.data), ...this.recent.values()]);
    let spilledFiles = 0;
    for (const data of files) if (data.spillPath !== undefined) spilledFiles++;
    return { memoryBytes: this.budget.usedBytes, maxBytes: this.s.maxcacheBytes, cachedFiles: files.size, spilledFiles };
  }

  transfers(): { uploads: { active: number; waiting: number }; downloads: { active: number; waiting: number }; multipartOpen: number } {
    const d = this.dataEnv.downloads;
    return { uploads: this.uploader.transfers, downloads: { active: d.activeCount, waiting: d.pendingCount }, multipartOpen: this.uploader.unfinished };
  }
}

