// Changes of attributes (chmod, chown, utimens) and extended attributes, stored in the object's
// user metadata with a server-side copy of the object onto itself, never a re-upload of the
// data; and reading them back. A file whose state holds changes not stored yet keeps them for
// its next upload.
import type { ObjectMetadata, ObjectStore, PutOptions } from '../store/object-store.js';
import { DIRECTORY_CONTENT_TYPE, S_IFMT, extraMetadataOf, metadataOf, type Stat } from './attributes.js';
import { FsError } from './errors.js';
import type { Freshness } from './freshness.js';
import type { KeyMapper } from './keys.js';
import type { Namespace } from './namespace.js';
import { copyObject } from './object-copy.js';
import type { DirectoryTimes } from './directory-times.js';
import type { OpenFile } from './open-file.js';
import type { OpenFiles } from './open-files.js';
import { XATTR_CREATE, XATTR_REPLACE, isStoredXattrName, parseXattrs, storeXattrs } from './xattrs.js';

/** S3 allows 2 KiB of user metadata (names and values); our attributes need about 80 bytes. */
const USER_METADATA_LIMIT = 2048;
const ATTRIBUTES_RESERVE = 100;
const UINT32_MAX = 0xffffffff;

/** E2BIG when extended attributes would push the user metadata past S3's limit. */
function checkMetadataSize(extra: ObjectMetadata): void {
  let bytes = ATTRIBUTES_RESERVE;
  for (const [name, value] of Object.entries(extra)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  if (bytes > USER_METADATA_LIMIT) throw new FsError('E2BIG');
}

export interface MetadataParts {
  store: ObjectStore;
  keys: KeyMapper;
  ns: Namespace;
  files: OpenFiles;
  f: Freshness;
  /** EROFS on a read-only mount. */
  assertWritable(): void;
  /** Times of directories whose entries this mount changed: stored with the next change of
   *  the directory's attributes. */
  dirTimes: DirectoryTimes;
  /** The object now holds the file's state as `etag` (the facade tells the namespace). */
  rememberStored(of: OpenFile, etag: string, size: number, stored: PutOptions): void;
}

/** What an attribute change applies to: a path, or an open file found by its handle (one
 *  removed while open has no path; its state alone changes). */
export type AttributeTarget = string | OpenFile;

export class MetadataChanges {
  constructor(private readonly s: MetadataParts) {}

  async chmod(target: AttributeTarget, mode: number): Promise<void> {
    await this.changeAttributes(target, (stat) => { stat.mode = (stat.mode & S_IFMT) | (mode & 0o7777); });
  }

  async chown(target: AttributeTarget, uid: number, gid: number): Promise<void> {
    await this.changeAttributes(target, (stat) => {
      if (uid !== UINT32_MAX && uid !== -1) stat.uid = uid;
      if (gid !== UINT32_MAX && gid !== -1) stat.gid = gid;
    });
  }

  /**
   * utimensat(2): sets the access and modification times (ms; undefined: UTIME_OMIT, that one
   * is left as it is), both stored in the object's metadata with the change time.
   */
  async utimens(target: AttributeTarget, atime: number | undefined, mtime: number | undefined): Promise<void> {
    if (atime === undefined && mtime === undefined) {
      this.s.assertWritable();
      if (typeof target === 'string') await this.s.ns.lookup(target);
      return;
    }
    await this.changeAttributes(target, (stat) => {
      if (atime !== undefined) stat.atime = new Date(atime);
      if (mtime !== undefined) stat.mtime = new Date(mtime);
    });
  }

  /**
   * Changes attributes or extended attributes and stores them in the object's metadata with a
   * server-side copy onto itself (never a re-upload of the data). A file open with changes not
   * yet stored keeps them for its upload; an implicit directory gets a marker to hold them; a
   * file removed while open has no object, and only its state changes.
   */
  private async changeAttributes(target: AttributeTarget, change: (stat: Stat, extra: ObjectMetadata) => void): Promise<void> {
    this.s.assertWritable();
    if (target === '/') return; // the mountpoint's attributes come from the mount options
    const of = typeof target === 'string' ? this.s.files.get(target) : target;
    if (of) {
      change(of.stat, of.extraMetadata);
      checkMetadataSize(of.extraMetadata);
      of.stat.ctime = new Date();
      if (of.unlinked) return;
      while (of.uploading) await of.uploading.done.catch(() => undefined);
      if (of.pending) return; // the upload at close carries them
      const options = of.putOptions();
      const etag = await copyObject(this.s.store, of.key, of.key, options);
      if (etag !== '') of.data.etag = etag;
      this.s.rememberStored(of, of.data.etag, of.size, options); // rsync fchmods read-only handles
      return;
    }
    const path = target as string;
    const entry = await this.s.ns.lookup(path);
    const isDir = entry.kind === 'dir';
    const key = isDir ? this.s.keys.dirPrefix(path) : this.s.keys.fileKey(path);
    let { metadata, contentType } = entry;
    if (metadata === undefined && (!isDir || entry.hasMarker)) {
      const info = await this.s.store.head(key);
      if (!info) {
        this.s.ns.forget(path);
        throw new FsError('ENOENT');
      }
      ({ metadata, contentType } = info);
    }
    const stat = { ...(isDir ? this.s.dirTimes.shown(path, entry.stat) : entry.stat) };
    const extra = extraMetadataOf(metadata);
    change(stat, extra);
    checkMetadataSize(extra);
    stat.ctime = new Date();
    const newMetadata = { ...extra, ...metadataOf(stat) };
    if (isDir) contentType ??= DIRECTORY_CONTENT_TYPE;
    const etag = isDir && !entry.hasMarker
      ? await this.s.store.put(key, Buffer.alloc(0), { contentType, metadata: newMetadata })
      : await copyObject(this.s.store, key, key, { contentType, metadata: newMetadata });
    if (isDir) this.s.dirTimes.forget(path);
    this.s.ns.remember(path, {
      ...entry, stat, metadata: newMetadata, contentType, hasMarker: isDir ? true : entry.hasMarker,
      etag: etag !== '' ? etag : entry.etag, lastModified: undefined, writtenAt: this.s.f.now(),
    });
  }

  async getxattr(path: string, name: string): Promise<Buffer | null> {
    if (!isStoredXattrName(name)) throw new FsError('ENOTSUP');
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
    const of = this.s.files.get(path);
    if (of) return of.extraMetadata;
    const entry = await this.s.ns.lookup(path);
    if (entry.metadata) return entry.metadata;
    if (entry.kind === 'dir' && !entry.hasMarker) return {};
    const info = await this.s.store.head(entry.kind === 'dir' ? this.s.keys.dirPrefix(path) : this.s.keys.fileKey(path));
    if (!info) throw new FsError('ENOENT');
    this.s.ns.remember(path, { ...entry, metadata: info.metadata, contentType: info.contentType });
    return info.metadata;
  }
}
