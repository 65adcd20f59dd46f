// One open path: its data (pages of the object and the changes not yet stored), its attributes
// and the handles that share it. Several open(2)s of one path share one OpenFile, so that a
// reader sees what a writer wrote before either closes.
import type { FileData } from '../cache/file-data.js';
import type { ObjectMetadata } from '../store/object-store.js';
import { S_IFLNK, S_IFMT, type Stat } from './attributes.js';

export class OpenFile {
  refs = 0;
  /** Created here and never stored: even empty, close must create the object. */
  isNew: boolean;
  /** Removed while open: its data lives on in the handles, but is never uploaded. */
  unlinked = false;
  /** The running upload, so that concurrent flushes wait for it instead of racing it. */
  uploading: Promise<void> | null = null;
  /** Write requests and their largest size since the last upload (logged: FUSE request sizes matter). */
  writes = 0;
  largestWrite = 0;
  /** User metadata besides the attributes (extended attributes, other tools' keys): kept on upload. */
  extraMetadata: ObjectMetadata = {};

  constructor(
    public path: string,
    public key: string,
    public stat: Stat,
    public contentType: string | undefined,
    readonly data: FileData,
  ) {
    this.isNew = data.etag === '' && data.size === 0 && data.remoteSize === 0;
  }

  get kind(): 'file' | 'symlink' {
    return (this.stat.mode & S_IFMT) === S_IFLNK ? 'symlink' : 'file';
  }

  get size(): number {
    return this.data.size;
  }

  /** Something here is not in the bucket yet. */
  get pending(): boolean {
    return !this.unlinked && (this.isNew || this.data.dirty);
  }
}
