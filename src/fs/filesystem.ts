// POSIX semantics over objects: the facade the FUSE table calls. Knows paths, keys and errno;
// knows nothing about fuse-native. The work is done by its parts:
//   namespace.ts         what is at a path and in a directory (stat cache, listings, lookups)
//   freshness.ts         every window after which the bucket is asked again
//   open-files.ts        the one state of each open path, and the handles on it
//   key-writer.ts        the uploads of each state, failed uploads, recovery at unmount
//   renames.ts           rename of files and directories
//   metadata-changes.ts  chmod, chown, utimens and extended attributes
// Each operation below changes those through them, so that rename, unlink and flush each act on
// one structure per path.
import { promises as fsp } from 'node:fs';
import pLimit from 'p-limit';
import type { Logger } from '../log.js';
import type { ObjectStore, PutOptions } from '../store/object-store.js';
import type { CachedEntry } from '../cache/stat-cache.js';
import { FileData, PAGE_SIZE, type FileDataEnv, type Page } from '../cache/file-data.js';
import { BufferPool } from '../cache/buffer-pool.js';
import { MemoryBudget, dataBudgetBytes } from '../cache/memory-budget.js';
import { PartLayout } from '../transfer/part-layout.js';
import { Uploader } from '../transfer/uploader.js';
import {
  DIRECTORY_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, S_ISGID, SYMLINK_CONTENT_TYPE,
  extraMetadataOf, isSpecialFileMode, metadataOf, statOf, type AttributeDefaults, type Caller, type Kind, type Stat,
} from './attributes.js';
import { FsError } from './errors.js';
import { Freshness } from './freshness.js';
import { KeyMapper, MAX_NAME_BYTES, joinPath, parentOf } from './keys.js';
import { KeyWriter, type UnmountLeftovers } from './key-writer.js';
import { Namespace, checkKeyLength, checkNameLength } from './namespace.js';
import { contentTypeFor } from './content-types.js';
import { DirectoryTimes } from './directory-times.js';
import { OpenFile } from './open-file.js';
import { OpenFiles } from './open-files.js';
import { MetadataChanges } from './metadata-changes.js';
import { Renames } from './renames.js';

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
  /** -m: Content-MD5 on uploads, ETag checks on whole downloads (those only where ETags are MD5s). */
  contentMD5: boolean;
  /** Whether the server's ETags are MD5s of the content: not so on AWS under SSE-C and SSE-KMS,
   *  where a downloaded file checked against its ETag would fail for nothing (default true). */
  etagIsContentMd5?: boolean;
  /** -C: drop a file's cached data when it is closed. */
  nodatacache: boolean;
  maxstat: number;
  /** How long what is learned of the bucket is trusted (see freshness.ts). */
  freshness: Freshness;
  readOnly: boolean;
}

export interface StatFs {
  bsize: number; frsize: number; blocks: number; bfree: number; bavail: number;
  files: number; ffree: number; favail: number; fsid: number; flag: number; namemax: number;
}

const STATFS_BLOCK = 1 << 20;
/** Files up to this size are fetched whole by the GET that revalidates them at open: the
 *  kernel's read-ahead (1 MiB) would ask for all of it at the first read anyway. */
const OPEN_FETCH_LIMIT = 1024 * 1024;

const UINT32_MAX = 0xffffffff;
const O_ACCMODE = 3;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_TRUNC = 0o1000;

/** Attributes of a directory entry; `typeOnly`: only the file type in the mode is known. */
export type DirEntryAttributes = Stat & { typeOnly?: boolean };

/** The name libfuse gives a file removed while open (".fuse_hidden" and 16 hex digits). */
const HIDDEN_NAME = /\/\.fuse_hidden[0-9a-f]{16}$/;

export class Filesystem {
  private readonly keys: KeyMapper;
  private readonly defaults: AttributeDefaults;
  private readonly f: Freshness;
  private readonly ns: Namespace;
  private readonly files: OpenFiles;
  private readonly writer: KeyWriter;
  /** Files removed while open, by the hidden name libfuse gave them (hideRemovedWhileOpen). */
  private readonly hidden = new Map<string, OpenFile>();
  /** The times of directories whose entries this mount changed (directory-times.ts). */
  private readonly dirTimes: DirectoryTimes;
  /** The largest size a file may grow to (see checkFileSize). */
  private readonly maxFileSize: number;
  private readonly renames: Renames;
  private readonly metadata: MetadataChanges;
  private readonly budget: MemoryBudget<Page>;
  private readonly dataEnv: FileDataEnv;

  constructor(private readonly store: ObjectStore, private readonly s: FilesystemSettings, private readonly log: Logger) {
    this.keys = new KeyMapper(s.prefix);
    this.f = s.freshness;
    this.defaults = { filemode: s.filemode, dirmode: s.dirmode, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    this.files = new OpenFiles(this.f.now);
    this.ns = new Namespace(store, this.keys, this.f, this.defaults, this.files, s, log);
    // One budget for every buffer of file data: cached pages, GETs under way, upload bodies and
    // idle buffers kept for reuse; --maxcache less what the process needs besides (see
    // dataBudgetBytes), so that the daemon's whole memory follows --maxcache.
    const dataBytes = dataBudgetBytes(s.maxcacheBytes);
    this.budget = new MemoryBudget<Page>(dataBytes, new BufferPool(PAGE_SIZE, dataBytes), (err) => {
      log.warn({ err: String(err) }, 'cannot move cached pages to disk; memory cache over its limit');
    });
    this.dataEnv = {
      store, budget: this.budget, diskdir: s.diskdir, downloads: pLimit(s.numtransfer), chunkSize: s.partSize,
      // Read-ahead may hold half the budget (MemoryBudget.readAheadRoom); a window of that much
      // at most keeps its GETs (half a window each) small enough that several run at once
      // (measured at -Z 100: a 1 GiB read 12% faster than with the full 20 MiB window).
      prefetchBytes: Math.min(s.prefetchBytes, Math.floor(dataBytes / 2)), verifyMd5: s.contentMD5 && s.etagIsContentMd5 !== false,
    };
    this.dirTimes = new DirectoryTimes(() => this.f.now());
    const layout = new PartLayout(s.partSize);
    this.maxFileSize = layout.maxFileSize;
    this.writer = new KeyWriter({
      uploader: new Uploader({
        store, layout, uploads: pLimit(s.numtransfer), contentMD5: s.contentMD5, log,
        bodies: this.budget,
      }),
      diskdir: s.diskdir, log,
      onStored: (of, etag, size, stored) => this.rememberStored(of, etag, size, stored),
    });
    const parts = { store, keys: this.keys, ns: this.ns, files: this.files, f: this.f };
    this.renames = new Renames({ ...parts, writer: this.writer, retire: (of) => this.retire(of) });
    this.metadata = new MetadataChanges({
      ...parts, dirTimes: this.dirTimes, assertWritable: () => this.assertWritable(),
      rememberStored: (of, etag, size, stored) => this.rememberStored(of, etag, size, stored),
    });
  }

  // ---- attributes -------------------------------------------------------------------------

  async getattr(path: string): Promise<Stat> {
    const removed = this.removedWhileOpen(path);
    if (removed) return { ...removed.asEntry(this.f.now()).stat, nlink: removed.unlinked ? 0 : 1 };
    // libfuse checks that a hidden name it is about to use is free: it is, without asking.
    if (HIDDEN_NAME.test(path)) throw new FsError('ENOENT');
    return this.shownStat(path, (await this.ns.lookup(path)).stat);
  }

  /**
   * The open file behind "#<fh>", the path the FUSE layer gives for a file that has none any
   * more (removed while open: its handles keep working until the last close, POSIX): undefined
   * for every real path. A handle whose file is still there answers by its path.
   */
  private removedWhileOpen(path: string): OpenFile | undefined {
    if (path.startsWith('#')) return this.files.handle(Number(path.slice(1)));
    return HIDDEN_NAME.test(path) ? this.hidden.get(path) : undefined;
  }

  /**
   * What stat shows of an entry. A directory: its link count as Linux filesystems keep it, 2
   * (its name and its `.`) and one for each subdirectory's `..`, counted in its listing when this
   * mount has one (2 without); and the times this mount gave it by changing its entries.
   */
  private shownStat(path: string, stat: Stat): Stat {
    if ((stat.mode & S_IFMT) !== S_IFDIR) return stat;
    const shown = this.dirTimes.shown(path, stat);
    const subdirectories = this.ns.directoriesListedIn(path).size;
    return subdirectories === 0 ? shown : { ...shown, nlink: 2 + subdirectories };
  }

  /** Permission checks belong to the kernel (default_permissions); here only existence. */
  async access(path: string): Promise<void> {
    await this.ns.lookup(path);
  }

  private assertWritable(): void {
    if (this.s.readOnly) throw new FsError('EROFS');
  }

  /**
   * The attributes of a new name under `path`'s parent, made by `caller` (the mount's user
   * when no caller is known): owned by the caller; the group is the parent's when the parent
   * is set-group-ID, and a new directory there is set-group-ID too (as Linux filesystems do).
   */
  private newStat(path: string, kind: Kind, mode: number, size: number, caller: Caller | undefined): Stat {
    const stat: Stat = { ...statOf(kind, size, new Date(), {}, this.defaults), mode };
    if (caller) {
      stat.uid = caller.uid;
      stat.gid = caller.gid;
    }
    // The kernel resolved the parent just before (a lookup or getattr within the window): its
    // entry is at hand, and no request is worth a set-group-ID bit that is almost never there.
    const parent = this.ns.knownEntry(parentOf(path));
    if (parent && (parent.stat.mode & S_ISGID) !== 0) {
      stat.gid = parent.stat.gid;
      if (kind === 'dir') stat.mode |= S_ISGID;
    }
    return stat;
  }

  // ---- directories ------------------------------------------------------------------------

  async readdir(path: string): Promise<string[]> {
    return ['.', '..', ...await this.ns.readdir(path)];
  }

  /**
   * The names in a directory, each with its attributes when they are known without a request:
   * the kernel takes those with the names (readdirplus) and sends no lookup for them. A name
   * known only as a directory (a common prefix), or as an object too large to be anything but a
   * regular file, gets its type alone (`typeOnly`): `find` walks on without a lookup. A small
   * listed file might be a symlink or a FIFO, so it gets nothing.
   */
  async readdirPlus(path: string): Promise<{ names: string[]; stats: Array<DirEntryAttributes | undefined> }> {
    const names = await this.readdir(path);
    const listedDirs = this.ns.directoriesListedIn(path);
    const listedRegular = this.ns.regularFilesListedIn(path);
    const stats = names.map((name): DirEntryAttributes | undefined => {
      if (name === '.' || name === '..') return undefined;
      const child = joinPath(path, name);
      const known = this.ns.knownEntry(child);
      if (known) return this.shownStat(child, known.stat);
      if (listedDirs.has(name)) return { ...statOf('dir', 0, new Date(0), {}, this.defaults), typeOnly: true };
      return listedRegular.has(name) ? { ...statOf('file', 0, new Date(0), {}, this.defaults), typeOnly: true } : undefined;
    });
    return { names, stats };
  }

  async mkdir(path: string, mode: number, caller?: Caller): Promise<void> {
    this.assertWritable();
    if (await this.ns.lookupOrNull(path)) throw new FsError('EEXIST');
    checkKeyLength(this.keys.dirPrefix(path)); // the marker's key, one byte longer than a file's
    const stat = this.newStat(path, 'dir', S_IFDIR | (mode & 0o7777), 0, caller);
    const metadata = metadataOf(stat);
    const etag = await this.store.put(this.keys.dirPrefix(path), Buffer.alloc(0), { contentType: DIRECTORY_CONTENT_TYPE, metadata });
    this.ns.directoryMade(path, { kind: 'dir', stat, etag, hasMarker: true, contentType: DIRECTORY_CONTENT_TYPE, metadata, writtenAt: this.f.now() });
    this.dirTimes.entriesChanged(parentOf(path));
  }

  async rmdir(path: string): Promise<void> {
    this.assertWritable();
    // The entry is usually cached: an implicit directory emptied by `rm -r` no longer exists in
    // the bucket, yet it is still the directory the kernel asks us to remove.
    await this.ns.requireDirectory(path);
    const prefix = this.keys.dirPrefix(path);
    const page = await this.store.listPage(prefix, undefined, undefined, 2);
    if (page.objects.some((o) => o.key !== prefix) || this.files.below(path).length > 0) throw new FsError('ENOTEMPTY');
    await this.store.delete(prefix);
    this.ns.directoryGone(path);
    this.dirTimes.forget(path);
    this.dirTimes.entriesChanged(parentOf(path));
  }

  // ---- files: open, read, write, close ------------------------------------------------------

  async create(path: string, mode: number, caller?: Caller): Promise<number> {
    this.assertWritable();
    checkNameLength(path);
    const key = this.keys.fileKey(path);
    checkKeyLength(key);
    const stat = this.newStat(path, 'file', S_IFREG | (mode & 0o7777), 0, caller);
    this.files.forgetRecent(key);
    const of = new OpenFile(path, key, stat, contentTypeFor(path), new FileData(key, null, this.dataEnv));
    const replaced = this.files.put(of);
    // The kernel creates only where it found no name: a state still there is gone for it.
    if (replaced) {
      this.retire(replaced).catch((err: unknown) => this.log.warn({ path, err: String(err) }, 'could not drop the state a create replaced'));
    }
    this.ns.forget(path);
    this.ns.added(path, 'file');
    this.dirTimes.entriesChanged(parentOf(path));
    return this.files.addHandle(of);
  }

  /**
   * mknod(2): a regular file is an empty object made as create makes it; a FIFO, a device or a
   * socket is a zero-byte object with its type in `mode` and its device number in `rdev`, as
   * s3fs-fuse stores them (the kernel serves them; their data never reaches the bucket).
   */
  async mknod(path: string, mode: number, caller?: Caller, rdev = 0): Promise<void> {
    const type = mode & S_IFMT;
    if (type !== 0 && type !== S_IFREG && !isSpecialFileMode(mode)) throw new FsError('EINVAL');
    if (await this.ns.lookupOrNull(path)) throw new FsError('EEXIST');
    if (isSpecialFileMode(mode)) {
      this.assertWritable();
      checkNameLength(path);
      const key = this.keys.fileKey(path);
      checkKeyLength(key);
      const stat = { ...this.newStat(path, 'file', mode & (S_IFMT | 0o7777), 0, caller), rdev };
      const metadata = { ...metadataOf(stat), rdev: String(rdev) };
      const etag = await this.store.put(key, Buffer.alloc(0), { metadata });
      this.ns.remember(path, { kind: 'file', stat, etag, hasMarker: false, metadata, writtenAt: this.f.now() });
      this.ns.added(path, 'file');
      this.dirTimes.entriesChanged(parentOf(path));
      return;
    }
    const fh = await this.create(path, mode, caller);
    try {
      await this.flush(fh); // an upload error reaches the caller, as close would report it
    } finally {
      await this.release(fh);
    }
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & O_ACCMODE) !== O_RDONLY;
    if (writing) this.assertWritable();
    const truncating = writing && (flags & O_TRUNC) !== 0;
    const reading = (flags & O_ACCMODE) !== O_WRONLY;
    const of = await this.files.join(path, () => this.openState(path, truncating, reading));
    const fh = this.files.addHandle(of);
    if (truncating) {
      try {
        await this.truncateOpenFile(of, 0);
      } catch (err) {
        await this.release(fh);
        throw err;
      }
    }
    return fh;
  }

  /**
   * The state of a path not open yet. Close-to-open: what another client wrote since we looked
   * is what we read (an entry the server confirmed a moment ago, as the kernel's lookup just
   * before this open did, will do), and cached data is reused only while the object's ETag is
   * unchanged. Reads then come from that version only (see FileData): a state holds one version.
   */
  private async openState(path: string, truncating: boolean, reading: boolean): Promise<OpenFile> {
    const entry = await this.ns.lookup(path);
    if (entry.kind === 'dir') throw new FsError('EISDIR');
    const key = this.keys.fileKey(path);
    let data = this.files.takeRecent(key);
    let firstBytes: Buffer | undefined;
    let fresh: CachedEntry | null = entry;
    if (!this.f.openFresh(entry.confirmedAt) || !entry.metadata) {
      // A small file about to be read, with nothing cached: one GET revalidates it and
      // brings its bytes, where a HEAD and then a GET would cost two round trips.
      const fetchStart = !data && entry.kind === 'file' && entry.stat.size > 0 && entry.stat.size <= OPEN_FETCH_LIMIT && !truncating;
      if (fetchStart) {
        const got = await this.ns.fetchFileStart(path, OPEN_FETCH_LIMIT);
        fresh = got?.entry ?? null;
        firstBytes = got?.data;
      } else {
        fresh = await this.ns.fetchFile(path);
      }
    }
    if (!fresh) {
      data?.discard();
      this.ns.setMissing(path);
      throw new FsError('ENOENT');
    }
    const size = fresh.stat.size;
    if (!data || data.etag !== fresh.etag || data.size !== size) {
      data?.discard();
      data = new FileData(key, { etag: fresh.etag, size }, this.dataEnv);
      if (firstBytes) data.adoptFetchedStart(firstBytes);
      // A small file opened to be read, known without asking: its GET starts now, not at the
      // first read, so that it runs while the kernel's next requests (fstat, the read) come in.
      else if (reading && !truncating && fresh.kind === 'file' && size <= OPEN_FETCH_LIMIT) data.prefetch(size);
    }
    const of = new OpenFile(path, key, { ...fresh.stat }, fresh.contentType, data);
    of.extraMetadata = extraMetadataOf(fresh.metadata);
    return of;
  }

  async read(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    return this.files.handle(fh).data.read(buf, length, position);
  }

  async write(fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    this.assertWritable();
    const of = this.files.handle(fh);
    this.checkFileSize(position + length);
    await of.data.write(buf, length, position);
    of.writes++;
    of.largestWrite = Math.max(of.largestWrite, length);
    of.touch();
    this.writer.afterWrite(of, position + length);
    return length;
  }

  async flush(fh: number): Promise<void> {
    await this.writer.flush(this.files.handle(fh));
  }

  async fsync(fh: number): Promise<void> {
    await this.writer.flush(this.files.handle(fh));
  }

  async release(fh: number): Promise<void> {
    const of = this.files.dropHandle(fh);
    if (of.refs > 0) return;
    try {
      await this.writer.flush(of);
    } catch (err) {
      // The application was told at close (EIO). The state stays where lookups, opens, rm and
      // unmount find it, with its data in the cache; the next flush tries again.
      this.log.error({ path: of.path, key: of.key, spilled: of.data.spillPath, err: String(err) }, 'upload failed after the last close; data kept in the cache');
      return;
    }
    if (of.refs > 0) return; // opened again while it was stored
    this.files.remove(of);
    this.keepOrDrop(of);
  }

  /** After the last close: clean data stays cached for the next open, unless -C. */
  private keepOrDrop(of: OpenFile): void {
    if (this.s.nodatacache || of.unlinked || of.data.dirty) {
      of.data.discard();
      return;
    }
    of.data.dropDisk();
    this.files.keepRecent(of.key, of.data);
  }

  /** What a lookup answers for the file once it is closed: its attributes as just stored. */
  private rememberStored(of: OpenFile, etag: string, size: number, stored: PutOptions): void {
    this.ns.remember(of.path, {
      kind: of.kind, stat: { ...of.stat, size, blocks: Math.ceil(size / 512) }, etag, hasMarker: false,
      contentType: stored.contentType, metadata: stored.metadata, writtenAt: this.f.now(),
    });
  }

  // ---- changes by path --------------------------------------------------------------------

  async truncate(path: string, size: number): Promise<void> {
    this.assertWritable();
    const open = this.files.get(path);
    if (open) return this.truncateOpenFile(open, size);
    // No handle: open it, change it, and store it now, as truncate(2) on a path must.
    const fh = await this.open(path, O_WRONLY);
    const of = this.files.handle(fh);
    try {
      await this.truncateOpenFile(of, size);
      await this.writer.flush(of);
    } finally {
      await this.release(fh);
    }
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.assertWritable();
    await this.truncateOpenFile(this.files.handle(fh), size);
  }

  /** EFBIG for a size no object can have (S3's 5 TiB, or what the part layout can upload):
   *  said when the file would grow past it, not at close as an upload that cannot be made. */
  private checkFileSize(size: number): void {
    if (size > this.maxFileSize) throw new FsError('EFBIG');
  }

  private async truncateOpenFile(of: OpenFile, size: number): Promise<void> {
    this.checkFileSize(size);
    if (size === of.size) return;
    await of.data.truncate(size);
    of.touch();
  }

  /**
   * libfuse's rename of a file removed while open to its hidden name: the unlink it stands for
   * (the object goes, nothing is uploaded from now on), and the open state stays reachable by the
   * hidden name for the handles' fstat, fchmod and ftruncate until libfuse removes that name at
   * the last release. The hidden name never reaches the bucket.
   */
  private async hideRemovedWhileOpen(from: string, hiddenPath: string): Promise<void> {
    const of = this.files.get(from);
    await this.unlink(from);
    if (of) this.hidden.set(hiddenPath, of);
  }

  async unlink(path: string): Promise<void> {
    this.assertWritable();
    if (HIDDEN_NAME.test(path) && this.hidden.delete(path)) return;
    const entry = await this.ns.lookup(path);
    if (entry.kind === 'dir') throw new FsError('EISDIR');
    const key = this.keys.fileKey(path);
    const of = this.files.get(path);
    if (of) await this.retire(of);
    if (!of || !of.isNew) await this.store.delete(key);
    this.files.forgetRecent(key);
    this.ns.removed(path);
    this.dirTimes.entriesChanged(parentOf(path));
  }

  /**
   * A state whose path is deleted or replaced: it leaves the table, nothing of it is uploaded
   * from now on (nor after a failed upload), and its handles go on reading the data they had
   * (POSIX): the object's bytes move into the cache before the object goes.
   */
  private async retire(of: OpenFile): Promise<void> {
    this.files.remove(of);
    await this.writer.retire(of);
    if (of.refs === 0) {
      of.data.discard();
      return;
    }
    if (of.isNew) return;
    try {
      await of.data.detachFromObject();
    } catch (err) {
      this.log.warn({ path: of.path, key: of.key, err: String(err) }, 'removed while open: bytes not cached could not be kept for the open handles');
    }
  }

  async rename(from: string, to: string): Promise<void> {
    this.assertWritable();
    if (HIDDEN_NAME.test(to)) return this.hideRemovedWhileOpen(from, to);
    const moved = await this.renames.rename(from, to);
    this.dirTimes.entriesChanged(parentOf(from));
    this.dirTimes.entriesChanged(parentOf(to));
    if (moved === 'dir') {
      this.dirTimes.forget(from);
      this.dirTimes.changed(to); // a renamed directory's ctime moves (its `..` changed)
    }
  }

  async symlink(target: string, path: string, caller?: Caller): Promise<void> {
    this.assertWritable();
    if (await this.ns.lookupOrNull(path)) throw new FsError('EEXIST');
    const body = Buffer.from(target);
    const stat = this.newStat(path, 'symlink', S_IFLNK | 0o777, body.length, caller);
    const metadata = metadataOf(stat);
    const etag = await this.store.put(this.keys.fileKey(path), body, { contentType: SYMLINK_CONTENT_TYPE, metadata });
    this.ns.remember(path, { kind: 'symlink', stat, etag, hasMarker: false, contentType: SYMLINK_CONTENT_TYPE, metadata, writtenAt: this.f.now() });
    this.ns.added(path, 'file');
    this.dirTimes.entriesChanged(parentOf(path));
  }

  async readlink(path: string): Promise<string> {
    const entry = await this.ns.lookup(path);
    if (entry.kind !== 'symlink') throw new FsError('EINVAL');
    return (await this.store.getRange(this.keys.fileKey(path), 0, entry.stat.size)).toString();
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.metadata.chmod(this.removedWhileOpen(path) ?? path, mode);
  }

  async chown(path: string, uid: number, gid: number): Promise<void> {
    await this.metadata.chown(this.removedWhileOpen(path) ?? path, uid, gid);
  }

  /** utimensat(2): ms, undefined for UTIME_OMIT (see MetadataChanges.utimens). */
  async utimens(path: string, atime: number | undefined, mtime: number | undefined): Promise<void> {
    const removed = this.removedWhileOpen(path);
    if (removed) return this.metadata.utimens(removed, atime, mtime);
    if (path === '/') {
      // The mountpoint's attributes come from the mount options and are stored nowhere: its
      // times live in this mount (touch of the root changes what stat shows).
      this.assertWritable();
      if (atime !== undefined || mtime !== undefined) {
        this.dirTimes.changed('/', { atime: atime === undefined ? undefined : new Date(atime), mtime: mtime === undefined ? undefined : new Date(mtime) });
      }
      return;
    }
    await this.metadata.utimens(path, atime, mtime);
  }

  getxattr(path: string, name: string): Promise<Buffer | null> {
    return this.metadata.getxattr(path, name);
  }

  listxattr(path: string): Promise<string[]> {
    return this.metadata.listxattr(path);
  }

  setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    return this.metadata.setxattr(path, name, value, flags);
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.metadata.removexattr(path, name);
  }

  statfs(): StatFs {
    const blocks = Math.min(UINT32_MAX, Math.floor((this.s.fscap * 1024 ** 3) / STATFS_BLOCK));
    return {
      bsize: STATFS_BLOCK, frsize: STATFS_BLOCK, blocks, bfree: blocks, bavail: blocks,
      files: UINT32_MAX, ffree: UINT32_MAX, favail: UINT32_MAX, fsid: 0, flag: 0, namemax: MAX_NAME_BYTES,
    };
  }

  // ---- lifecycle: what shutdown and the status report need ----------------------------------

  /**
   * Uploads every dirty file (at unmount). What still cannot be stored is saved under
   * --diskdir/recovery and named in the log; returns those paths.
   */
  flushAll(): Promise<UnmountLeftovers> {
    return this.writer.saveAll(this.files.all());
  }

  get openFileCount(): number {
    return this.files.fileCount;
  }

  get openHandleCount(): number {
    return this.files.handleCount;
  }

  /** When an application last did something with an open file (Date.now() ms). */
  get lastHandleActivity(): number {
    return this.files.lastActivity;
  }

  openPaths(limit: number): string[] {
    return this.files.paths(limit);
  }

  /** Files with changes not yet stored, and how far their upload has come. */
  dirtyFiles(): Array<{ path: string; size: number; stored: number; uploading: boolean }> {
    return this.files.all()
      .filter((of) => of.pending || of.uploading !== null)
      .map((of) => ({ path: of.path, size: of.size, stored: this.writer.bytesStored(of), uploading: of.uploading !== null }));
  }

  /** At exit, after flushAll: multipart uploads left open are aborted; returns how many. */
  abortUnfinishedUploads(): Promise<number> {
    return this.writer.abortAll();
  }

  cacheUse(): { memoryBytes: number; maxBytes: number; cachedFiles: number; spilledFiles: number } {
    const files = this.files.cachedData();
    let spilledFiles = 0;
    for (const data of files) if (data.spillPath !== undefined) spilledFiles++;
    return { memoryBytes: this.budget.usedBytes, maxBytes: this.s.maxcacheBytes, cachedFiles: files.size, spilledFiles };
  }

  /** Disk blocks in use by spilled file data (sparse spill files count what they hold). */
  async cacheDiskBytes(): Promise<number> {
    let bytes = 0;
    for (const data of this.files.cachedData()) {
      if (data.spillPath === undefined) continue;
      const st = await fsp.stat(data.spillPath).catch(() => undefined);
      if (st) bytes += st.blocks * 512;
    }
    return bytes;
  }

  transfers(): { uploads: { active: number; waiting: number }; downloads: { active: number; waiting: number }; multipartOpen: number } {
    const d = this.dataEnv.downloads;
    return { uploads: this.writer.transfers, downloads: { active: d.activeCount, waiting: d.pendingCount }, multipartOpen: this.writer.unfinished };
  }
}
