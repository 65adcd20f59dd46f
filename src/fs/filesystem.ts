// POSIX semantics over objects. Knows paths, keys and errno; knows nothing about fuse-native.
import pLimit from 'p-limit';
import type { Logger } from '../log.js';
import type { ObjectStore, PutOptions } from '../store/object-store.js';
import { StatCache, type CachedEntry } from '../cache/stat-cache.js';
import { FileData, type FileDataEnv, type Page } from '../cache/file-data.js';
import { MemoryBudget } from '../cache/memory-budget.js';
import { PartLayout } from '../transfer/part-layout.js';
import { Uploader } from '../transfer/uploader.js';
import { saveForRecovery } from './recovery.js';
import {
  DIRECTORY_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFREG, SYMLINK_CONTENT_TYPE,
  kindOf, metadataOf, statOf, type AttributeDefaults, type Stat,
} from './attributes.js';
import { FsError } from './errors.js';
import { KeyMapper, baseName, isValidName, parentOf } from './keys.js';
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
const UINT32_MAX = 0xffffffff;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_TRUNC = 0o1000;
/** Closed files whose clean data stays cached for a reopen (their pages count against --maxcache). */
const MAX_RECENT_FILES = 256;
/**
 * How long a directory this mount created answers "no such name" without asking the server.
 * Short, since another client may add to it; long enough that `cp -r` or `tar x` into a
 * directory just made pays no lookup per file.
 */
const LISTING_TTL_MS = 30_000;

export class Filesystem {
  private readonly keys: KeyMapper;
  private readonly cache: StatCache;
  private readonly defaults: AttributeDefaults;
  private readonly openByPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, OpenFile>();
  /** Files whose last handle closed while their upload kept failing: their data must not go. */
  private readonly unsaved = new Set<OpenFile>();
  private readonly lookups = new Map<string, Promise<CachedEntry | 'missing'>>();
  private readonly warnedNames = new Set<string>();
  private nextHandle = 1;
  private readonly mountedAt = new Date();
  private readonly budget: MemoryBudget<Page>;
  private readonly dataEnv: FileDataEnv;
  private readonly uploader: Uploader;
  /** Clean data of files closed lately, reused when they are opened again unchanged. */
  private readonly recent = new Map<string, FileData>();
  /** Directories this mount created lately, with every child they have had since. */
  private readonly listings = new Map<string, { names: Set<string>; expires: number }>();

  constructor(private readonly store: ObjectStore, private readonly s: FilesystemSettings, private readonly log: Logger) {
    this.keys = new KeyMapper(s.prefix);
    this.cache = new StatCache(s);
    this.defaults = { filemode: s.filemode, dirmode: s.dirmode, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    this.budget = new MemoryBudget<Page>(s.maxcacheBytes);
    this.dataEnv = {
      store, budget: this.budget, diskdir: s.diskdir, downloads: pLimit(s.numtransfer), chunkSize: s.partSize,
      prefetchBytes: s.prefetchBytes, verifyMd5: s.contentMD5, log,
    };
    this.uploader = new Uploader({ store, layout: new PartLayout(s.partSize), uploads: pLimit(s.numtransfer), contentMD5: s.contentMD5, log });
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
    const open = this.openByPath.get(path);
    if (open) {
      open.stat.size = open.size;
      open.stat.blocks = Math.ceil(open.size / 512);
      return { kind: kindOf({ key: open.key, contentType: open.contentType, metadata: { mode: String(open.stat.mode) } }), stat: open.stat, etag: open.data.etag, hasMarker: false };
    }
    let found = this.cache.get(path);
    if (found === undefined && this.knownMissing(path)) found = 'missing';
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

  /** A name absent from a directory we made: no request needed to know it is missing. */
  private knownMissing(path: string): boolean {
    const listing = this.listings.get(parentOf(path));
    if (!listing) return false;
    if (listing.expires < Date.now()) {
      this.listings.delete(parentOf(path));
      return false;
    }
    return !listing.names.has(baseName(path));
  }

  /** Keeps complete listings in step with this mount's own changes. */
  private listed(path: string, present: boolean): void {
    const listing = this.listings.get(parentOf(path));
    if (!listing) return;
    if (present) listing.names.add(baseName(path));
    else listing.names.delete(baseName(path));
  }

  /** HEAD the file key; failing that, the directory: its marker or any key below it. */
  private async fetchEntry(path: string): Promise<CachedEntry | 'missing'> {
    const key = this.keys.fileKey(path);
    const info = await this.store.head(key);
    if (info) {
      const kind = kindOf(info) === 'symlink' ? 'symlink' : 'file';
      const entry: CachedEntry = { kind, stat: statOf(kind, info.size, info.lastModified, info.metadata, this.defaults), etag: info.etag, hasMarker: false, contentType: info.contentType };
      this.cache.set(path, entry);
      return entry;
    }
    const prefix = this.keys.dirPrefix(path);
    const page = await this.store.listPage(prefix, undefined, undefined, 1);
    const first = page.objects[0];
    if (!first) {
      this.cache.setMissing(path);
      return 'missing';
    }
    let entry: CachedEntry;
    if (first.key === prefix) {
      const marker = await this.store.head(prefix);
      entry = { kind: 'dir', stat: statOf('dir', 0, marker?.lastModified ?? first.lastModified, marker?.metadata ?? {}, this.defaults), etag: '', hasMarker: true };
    } else {
      entry = { kind: 'dir', stat: statOf('dir', 0, first.lastModified, {}, this.defaults), etag: '', hasMarker: false };
    }
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
    const prefix = this.keys.dirPrefix(path);
    const names = new Set<string>();
    const limit = this.s.maxlist > 0 ? this.s.maxlist : Infinity;
    let token: string | undefined;
    do {
      const page = await this.store.listPage(prefix, '/', token, 1000);
      for (const o of page.objects) {
        if (o.key !== prefix) this.addListedName(names, prefix, o.key.slice(prefix.length));
      }
      for (const p of page.prefixes) this.addListedName(names, prefix, p.slice(prefix.length, -1));
      token = page.continuationToken;
    } while (token !== undefined && names.size < limit);
    // Files created here and not yet uploaded exist too.
    for (const [p, of] of this.openByPath) {
      if (parentOf(p) === path && !of.unlinked) names.add(p.slice(p.lastIndexOf('/') + 1));
    }
    const list = [...names].slice(0, limit);
    const known = this.listings.get(path);
    if (known) known.names = new Set(list); // refresh what we know of a directory we made
    for (const name of list) {
      const child = path === '/' ? `/${name}` : `${path}/${name}`;
      if (this.cache.get(child) === 'missing') this.cache.delete(child);
    }
    return ['.', '..', ...list];
  }

  private addListedName(names: Set<string>, prefix: string, name: string): void {
    if (isValidName(name)) {
      names.add(name);
    } else if (!this.warnedNames.has(prefix + name)) {
      this.warnedNames.add(prefix + name);
      this.log.warn({ key: prefix + name }, 'skipping a key that cannot be a file name');
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
    this.cache.set(path, { kind: 'dir', stat, etag: '', hasMarker: true });
    this.listed(path, true);
    this.listings.set(path, { names: new Set(), expires: Date.now() + LISTING_TTL_MS });
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
    this.cache.setMissing(path);
    this.listings.delete(path);
    this.listed(path, false);
  }

  // ---- files: open, read, write, close --------------------------------------------------

  async create(path: string, mode: number): Promise<number> {
    this.assertWritable();
    const stat = this.newStat(S_IFREG | (mode & 0o7777), 0);
    const key = this.keys.fileKey(path);
    this.forgetRecent(key);
    const of = new OpenFile(path, key, stat, undefined, new FileData(key, null, this.dataEnv));
    const previous = this.openByPath.get(path);
    if (previous) previous.unlinked = true;
    this.openByPath.set(path, of);
    this.cache.delete(path);
    this.listed(path, true);
    return this.addHandle(of);
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & O_ACCMODE) !== O_RDONLY;
    if (writing) this.assertWritable();
    let of = this.openByPath.get(path);
    if (!of) {
      const entry = await this.lookup(path);
      if (entry.kind === 'dir') throw new FsError('EISDIR');
      // Close-to-open consistency: what another client wrote since we looked is what we read,
      // and cached data is reused only while the object's ETag is unchanged.
      const key = this.keys.fileKey(path);
      const info = await this.store.head(key);
      if (!info) {
        this.cache.setMissing(path);
        throw new FsError('ENOENT');
      }
      const kind = kindOf(info) === 'symlink' ? 'symlink' : 'file';
      const stat = statOf(kind, info.size, info.lastModified, info.metadata, this.defaults);
      this.cache.set(path, { kind, stat, etag: info.etag, hasMarker: false, contentType: info.contentType });
      let data = this.recent.get(key);
      this.recent.delete(key);
      if (!data || data.etag !== info.etag || data.size !== info.size) {
        data?.discard();
        data = new FileData(key, { etag: info.etag, size: info.size }, this.dataEnv);
      }
      of = new OpenFile(path, key, stat, info.contentType, data);
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
    const contentType = (of.stat.mode & 0o170000) === S_IFLNK ? SYMLINK_CONTENT_TYPE : of.contentType;
    return { metadata: metadataOf(of.stat.mode, of.stat.uid, of.stat.gid, of.stat.mtime), contentType };
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
    this.cache.set(of.path, { kind: 'file', stat: { ...of.stat, size, blocks: Math.ceil(size / 512) }, etag, hasMarker: false, contentType: options.contentType });
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
    this.listed(path, false);
  }

  async rename(from: string, to: string): Promise<void> {
    this.assertWritable();
    const source = await this.lookup(from);
    // Directory rename moves every key below it: the kernel's fallback (EXDEV makes mv copy
    // and delete) is correct until the parallel server-side move lands.
    if (source.kind === 'dir') throw new FsError('EXDEV');
    const target = await this.lookupOrNull(to);
    if (target?.kind === 'dir') throw new FsError('EISDIR');
    const fromKey = this.keys.fileKey(from);
    const toKey = this.keys.fileKey(to);
    const of = this.openByPath.get(from);
    if (of) await this.upload(of); // the object must hold the latest data before it is copied
    await this.store.copy(fromKey, toKey);
    await this.store.delete(fromKey);
    const replaced = this.openByPath.get(to);
    if (replaced) {
      replaced.unlinked = true;
      this.openByPath.delete(to);
    }
    if (of) {
      this.openByPath.delete(from);
      of.path = to;
      of.key = toKey;
      of.data.key = toKey;
      this.openByPath.set(to, of);
    }
    this.forgetRecent(fromKey);
    this.forgetRecent(toKey);
    this.cache.setMissing(from);
    this.cache.set(to, source);
    this.listed(from, false);
    this.listed(to, true);
  }

  async symlink(target: string, path: string): Promise<void> {
    this.assertWritable();
    if (await this.lookupOrNull(path)) throw new FsError('EEXIST');
    const body = Buffer.from(target);
    const stat = { ...this.newStat(S_IFLNK | 0o777, body.length) };
    await this.store.put(this.keys.fileKey(path), body, { contentType: SYMLINK_CONTENT_TYPE, metadata: metadataOf(stat.mode, stat.uid, stat.gid, stat.mtime) });
    this.cache.set(path, { kind: 'symlink', stat, etag: '', hasMarker: false, contentType: SYMLINK_CONTENT_TYPE });
    this.listed(path, true);
  }

  async readlink(path: string): Promise<string> {
    const entry = await this.lookup(path);
    if (entry.kind !== 'symlink') throw new FsError('EINVAL');
    return (await this.store.getRange(this.keys.fileKey(path), 0, entry.stat.size)).toString();
  }

  /** Attribute changes are kept for open files; persisting them in metadata comes with the POSIX issue. */
  async chmod(path: string, mode: number): Promise<void> {
    this.assertWritable();
    const of = this.openByPath.get(path);
    if (of) of.stat.mode = (of.stat.mode & 0o170000) | (mode & 0o7777);
    else await this.lookup(path);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    this.assertWritable();
    const of = this.openByPath.get(path);
    if (of) {
      if (uid !== UINT32_MAX && uid !== -1) of.stat.uid = uid;
      if (gid !== UINT32_MAX && gid !== -1) of.stat.gid = gid;
    } else {
      await this.lookup(path);
    }
  }

  async utimens(path: string, _atime: number, mtime: number): Promise<void> {
    this.assertWritable();
    const of = this.openByPath.get(path);
    if (of) of.stat.mtime = new Date(mtime);
    else await this.lookup(path);
  }

  statfs(): StatFs {
    const blocks = Math.min(UINT32_MAX, Math.floor((this.s.fscap * 1024 ** 3) / STATFS_BLOCK));
    return {
      bsize: STATFS_BLOCK, frsize: STATFS_BLOCK, blocks, bfree: blocks, bavail: blocks,
      files: UINT32_MAX, ffree: UINT32_MAX, favail: UINT32_MAX, fsid: 0, flag: 0, namemax: 255,
    };
  }

  // ---- lifecycle ------------------------------------------------------------------------

  /**
   * Uploads every dirty file (at unmount). What still cannot be stored is saved under
   * --diskdir/recovery and named in the log; returns those paths.
   */
  async flushAll(): Promise<string[]> {
    const files = new Set<OpenFile>([...this.openByPath.values(), ...this.unsaved]);
    const failed: string[] = [];
    await Promise.all([...files].map(async (of) => {
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
}

