// The uploads of each file's state: at most one at a time per file, flushes that arrive while
// one runs wait for it (when it carries their data) or share the next one, failed uploads keep
// their data for the next flush, and at unmount what still cannot be stored is saved for
// recovery. Deleting or replacing a file retires its state here too, so that nothing of it is
// uploaded after `rm`.
import type { Logger } from '../log.js';
import type { PutOptions } from '../store/object-store.js';
import type { Uploader } from '../transfer/uploader.js';
import type { OpenFile } from './open-file.js';
import { saveForRecovery } from './recovery.js';

/** What unmount could not upload: copied under --diskdir/recovery, or not saved at all. */
export interface UnmountLeftovers {
  saved: string[];
  notSaved: string[];
}

export interface KeyWriterSettings {
  uploader: Uploader;
  diskdir: string;
  log: Logger;
  /** The object now holds the file's data (`size` bytes, as `etag`, with `stored`'s metadata). */
  onStored(of: OpenFile, etag: string, size: number, stored: PutOptions): void;
}

export class KeyWriter {
  constructor(private readonly s: KeyWriterSettings) {}

  /** After a write: parts the writer has moved past may start uploading. */
  afterWrite(of: OpenFile, writeEnd: number): void {
    if (!of.unlinked) this.s.uploader.afterWrite(of, writeEnd, of.putOptions());
  }

  /**
   * Makes the object hold everything written to the file so far (close, fsync). An upload
   * running now that captured all of it is waited for, and its outcome is this flush's: ten
   * processes closing one file together cause one upload, and when the server is down each
   * close fails once instead of trying in turn. Writes it did not capture go in the next upload,
   * shared by every flush waiting for it.
   */
  async flush(of: OpenFile): Promise<void> {
    const wanted = of.data.generation;
    for (;;) {
      const running = of.uploading;
      if (running) {
        try {
          await running.done;
        } catch (err) {
          if (running.generation >= wanted) throw err;
        }
        if (running.generation >= wanted) return;
        continue;
      }
      if (!of.pending) return;
      const generation = of.data.generation;
      const done = this.upload(of).finally(() => { of.uploading = null; });
      done.catch(() => undefined);
      of.uploading = { generation, done };
    }
  }

  private async upload(of: OpenFile): Promise<void> {
    const options = of.putOptions();
    const expected = of.expected;
    const started = performance.now();
    const size = of.size;
    let stored;
    try {
      stored = await this.s.uploader.store(of, options, expected);
    } catch (err) {
      this.s.log.error({ path: of.path, key: of.key, size, spilled: of.data.spillPath, err: String(err) }, 'upload failed; the data stays in the cache');
      throw err;
    }
    if (stored.replaced !== undefined) {
      // Last close wins, as in s3fs-fuse and rclone; the operator can find the lost update.
      this.s.log.warn({
        path: of.path, key: of.key, expectedEtag: expected === 'absent' || expected === undefined ? null : expected.etag,
        foundEtag: stored.replaced, storedEtag: stored.etag,
      }, 'the object changed on the server since this mount opened it (another client wrote it): replaced by this close');
    }
    this.s.log.debug({ path: of.path, size, writes: of.writes, largestWrite: of.largestWrite, ms: Math.round(performance.now() - started) }, 'uploaded');
    of.writes = 0;
    of.largestWrite = 0;
    of.isNew = false;
    this.s.onStored(of, stored.etag, size, options);
  }

  /**
   * The file is gone from its path (deleted, or replaced by a rename or a create): no upload of
   * it starts again, one under way is waited for (so that the caller's DELETE comes after it),
   * and its multipart upload is aborted.
   */
  async retire(of: OpenFile): Promise<void> {
    of.unlinked = true;
    await of.uploading?.done.catch(() => undefined);
    await this.s.uploader.abort(of);
  }

  /** The file's key changed (rename): a multipart upload started under the old key cannot be completed under the new one. */
  async moved(of: OpenFile): Promise<void> {
    if (of.multipart && of.multipart.key !== of.key) await this.s.uploader.abort(of);
  }

  /**
   * At unmount: every file with data not yet stored is uploaded; what cannot be is copied under
   * --diskdir/recovery (when its disk has room: see recovery.ts) and named in the log. A file
   * removed meanwhile is never saved: its data was deleted on purpose.
   */
  async saveAll(files: OpenFile[]): Promise<UnmountLeftovers> {
    const left: UnmountLeftovers = { saved: [], notSaved: [] };
    const unsaved: OpenFile[] = [];
    await Promise.all(files.filter((of) => !of.unlinked).map((of) => this.flush(of).catch(() => { unsaved.push(of); })));
    // One copy at a time: each checks the room left on the disk after the ones before it.
    for (const of of unsaved) {
      try {
        const saved = await saveForRecovery(of.data, of.path, this.s.diskdir);
        this.s.log.error({ path: of.path, key: of.key, savedAs: saved.file, bytes: saved.bytes, size: of.size, missingRanges: saved.missing }, 'could not upload; data saved for recovery');
        left.saved.push(`${of.path} (saved as ${saved.file})`);
      } catch (err) {
        // No room for the copy, or the copy failed (disk full?): say what is lost, how big,
        // and where the cached pages still are until the cache directory is cleaned.
        this.s.log.error({ path: of.path, key: of.key, size: of.size, spilled: of.data.spillPath, err: String(err) }, 'could not upload nor save for recovery: data NOT saved');
        left.notSaved.push(`${of.path} (${of.size} bytes, NOT saved: ${err instanceof Error ? err.message : String(err)})`);
      }
    }
    return left;
  }

  /** Bytes of the file's upload already stored (for progress reports). */
  bytesStored(of: OpenFile): number {
    return this.s.uploader.bytesStored(of);
  }

  get transfers(): { active: number; waiting: number } {
    return this.s.uploader.transfers;
  }

  get unfinished(): number {
    return this.s.uploader.unfinished;
  }

  abortAll(): Promise<number> {
    return this.s.uploader.abortAll();
  }
}
