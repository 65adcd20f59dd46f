// One open path: its data (remote object, a local copy once changed), its pending changes and
// the handles that share it. Several open(2)s of one path share one OpenFile, so that a reader
// sees what a writer wrote before either closes.
import type { LocalCopy } from '../cache/local-copy.js';
import type { ChunkReader } from '../transfer/chunk-reader.js';
import type { Stat } from './attributes.js';

export interface RemoteVersion {
  etag: string;
  size: number;
}

export class OpenFile {
  refs = 0;
  /** Changed since the last successful upload. */
  dirty = false;
  /** Bumped on every change, so an upload knows whether it caught the latest state. */
  generation = 0;
  /** Write requests and their largest size since the last upload (logged: FUSE request sizes matter). */
  writes = 0;
  largestWrite = 0;
  /** Removed while open: its data lives on in the handles, but is never uploaded. */
  unlinked = false;
  local: LocalCopy | null = null;
  /** Pending creation of `local` (writes arriving together wait for one download). */
  localPending: Promise<LocalCopy> | null = null;
  reader: ChunkReader | null = null;
  /** The running upload, so that concurrent flushes wait for it instead of racing it. */
  uploading: Promise<void> | null = null;

  constructor(
    public path: string,
    public key: string,
    /** The object as it was when opened or last uploaded; null for a new file. */
    public remote: RemoteVersion | null,
    public stat: Stat,
    public contentType: string | undefined,
  ) {}

  get size(): number {
    return this.local ? this.local.size : this.remote?.size ?? 0;
  }
}
