// The state of one file in this mount while it is open, or holds data not yet stored: its data
// (pages of one version of the object and the changes since), its attributes, the handles that
// share it, and its uploads. Every open(2) of a path shares the one state there (open-files.ts),
// so that a reader sees what a writer wrote before either closes, and one upload at a time
// stores it (key-writer.ts).
import type { FileData } from '../cache/file-data.js';
import type { CachedEntry } from '../cache/stat-cache.js';
import type { ObjectMetadata, PutExpectation, PutOptions } from '../store/object-store.js';
import type { MultipartSession, UploadTarget } from '../transfer/uploader.js';
import { S_IFLNK, S_IFMT, SYMLINK_CONTENT_TYPE, kindOf, metadataOf, type Stat } from './attributes.js';

/** An upload under way, and the data generation it captured. */
export interface RunningUpload {
  generation: number;
  done: Promise<void>;
}

export class OpenFile implements UploadTarget {
  /** Handles open on it. */
  refs = 0;
  /** Created here and never stored: even empty, close must create the object. */
  isNew: boolean;
  /** Removed (or replaced) while open: its data lives on in its handles, but is never uploaded. */
  unlinked = false;
  /** The upload in progress: flushes arriving meanwhile wait for it, or join the next one. */
  uploading: RunningUpload | null = null;
  /** A multipart upload of it under way (transfer/uploader.ts). */
  multipart: MultipartSession | null = null;
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

  /** The object an upload expects to replace: the version this state holds (opened or last
   *  stored), or none for a file created here. Another one there was written by another client. */
  get expected(): PutExpectation | undefined {
    if (this.isNew) return 'absent';
    return this.data.etag !== '' ? { etag: this.data.etag } : undefined;
  }

  /** Content-Type and metadata of the object as an upload stores it now. */
  putOptions(): PutOptions {
    const contentType = this.kind === 'symlink' ? SYMLINK_CONTENT_TYPE : this.contentType;
    return { metadata: { ...this.extraMetadata, ...metadataOf(this.stat) }, contentType };
  }

  /** What a lookup answers for the path while this state is there: its attributes now. */
  asEntry(now: number): CachedEntry {
    this.stat.size = this.size;
    this.stat.blocks = Math.ceil(this.size / 512);
    const kind = kindOf({ key: this.key, contentType: this.contentType, metadata: { mode: String(this.stat.mode) } });
    return { kind, stat: this.stat, etag: this.data.etag, hasMarker: false, confirmedAt: now };
  }

  touch(): void {
    this.stat.mtime = this.stat.ctime = new Date();
  }
}
