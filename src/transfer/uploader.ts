// Stores a file's data as its object. Under one part (--bufsize) it is a single PUT. Above,
// a multipart upload: parts go out while a sequential writer is still writing (at most
// --numtransfer in flight across the daemon), so close waits only for the tail; at close the
// remaining parts are sent, and ranges of an existing object that did not change are copied
// server side (UploadPartCopy) instead of being sent again.
import type { LimitFunction } from 'p-limit';
import type { Logger } from '../log.js';
import type { ObjectStore, PutOptions, UploadedPart } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import type { BufferPool } from '../cache/buffer-pool.js';
import type { FileData } from '../cache/file-data.js';
import { md5Base64 } from './md5.js';
import type { PartLayout, PartRange } from './part-layout.js';

export interface UploaderSettings {
  store: ObjectStore;
  layout: PartLayout;
  /** Bounds the parts in flight across all files (--numtransfer). */
  uploads: LimitFunction;
  /** -m: send Content-MD5 with every PUT and part. */
  contentMD5: boolean;
  /** Bodies of a part's size (--bufsize), reused from one upload to the next. */
  bodies: BufferPool;
  log: Logger;
}

interface StoredPart {
  etag: string;
  /** File generation the part's bytes were taken at. */
  generation: number;
  size: number;
}

/** A multipart upload in progress for one file. */
interface Session {
  key: string;
  uploadId: Promise<string>;
  parts: Map<number, StoredPart>;
  /** Early uploads still running, by part number. */
  running: Map<number, Promise<void>>;
  failed: unknown;
}

/** Copy ranges server side only for objects of more than this many parts; below, resending is as cheap. */
const COPY_MIN_PARTS = 3;

export class Uploader {
  private readonly sessions = new Map<FileData, Session>();
  private copyUnsupported = false;

  constructor(private readonly s: UploaderSettings) {}

  /** Parts in flight and waiting, across all files. */
  get transfers(): { active: number; waiting: number } {
    return { active: this.s.uploads.activeCount, waiting: this.s.uploads.pendingCount };
  }

  /**
   * After a write ending at `writeEnd`: parts the writer has moved past are complete, so they
   * start uploading now. Only for files already larger than one part.
   */
  afterWrite(data: FileData, writeEnd: number, options: PutOptions): void {
    const firstPartEnd = this.s.layout.sizeOf(1);
    if (writeEnd <= firstPartEnd || data.size <= firstPartEnd) return;
    const part = this.s.layout.partAt(writeEnd - 1);
    // every part before the one being written is complete
    for (let n = part.number - 1; n >= 1; n--) {
      const session = this.session(data, options);
      if (session.running.has(n) || session.parts.has(n)) break;
      const start = this.s.layout.startOf(n);
      const range = { number: n, start, end: start + this.s.layout.sizeOf(n) };
      if (data.isUnchanged(range.start, range.end)) break; // an untouched range of an existing object: copied at close
      this.startPart(data, session, range);
    }
  }

  private session(data: FileData, options: PutOptions): Session {
    let session = this.sessions.get(data);
    if (!session) {
      // A multipart upload takes its metadata at the start, long before close: an mtime from
      // then would be older than the data, so it is left out and Last-Modified (the time the
      // upload completes) stands for it.
      const { mtime: _startedAt, ...metadata } = options.metadata ?? {};
      const uploadId = this.s.store.createMultipart(data.key, { ...options, metadata });
      uploadId.catch(() => undefined);
      session = { key: data.key, uploadId, parts: new Map(), running: new Map(), failed: undefined };
      this.sessions.set(data, session);
    }
    return session;
  }

  private startPart(data: FileData, session: Session, range: PartRange): void {
    const run = this.s.uploads(async () => {
      const generation = data.generation;
      const uploadId = await session.uploadId;
      const etag = await this.sendPart(data, session.key, uploadId, range);
      session.parts.set(range.number, { etag, generation, size: range.end - range.start });
    }).catch((err: unknown) => {
      session.failed ??= err; // reported by the next flush, which starts over
    }).finally(() => session.running.delete(range.number));
    session.running.set(range.number, run);
  }

  /** Makes the object hold the file's current data; returns the new ETag. */
  async store(data: FileData, options: PutOptions): Promise<string> {
    const captured = data.beginCapture();
    if (captured.size <= this.s.layout.sizeOf(1)) {
      // One part's worth or less is one PUT, even if parts went out while the file was larger.
      await this.abort(data);
      const etag = await this.withBody(data, 0, captured.size,
        (body) => this.s.store.put(data.key, body, { ...options, contentMD5: this.s.contentMD5 ? md5Base64(body) : undefined }));
      data.markStored(captured, etag);
      return etag;
    }
    const etag = await this.storeMultipart(data, this.session(data, options), captured.size);
    data.markStored(captured, etag);
    return etag;
  }

  private async storeMultipart(data: FileData, session: Session, size: number): Promise<string> {
    try {
      await Promise.all(session.running.values());
      if (session.failed) throw session.failed;
      const uploadId = await session.uploadId;
      const copyAllowed = !this.copyUnsupported && data.remoteSize > COPY_MIN_PARTS * this.s.layout.sizeOf(1);
      const parts = await Promise.all(this.s.layout.partsFor(size).map((range) => this.s.uploads(async (): Promise<UploadedPart> => {
        const stored = session.parts.get(range.number);
        if (stored && stored.size === range.end - range.start && stored.generation >= data.changedGeneration(range.start, range.end)) {
          return { partNumber: range.number, etag: stored.etag };
        }
        if (copyAllowed && data.isUnchanged(range.start, range.end)) {
          const etag = await this.copyPart(data, uploadId, range);
          if (etag !== undefined) return { partNumber: range.number, etag };
        }
        return { partNumber: range.number, etag: await this.sendPart(data, data.key, uploadId, range) };
      })));
      const etag = await this.s.store.completeMultipart(data.key, uploadId, parts);
      this.sessions.delete(data);
      // Some servers (Ceph RGW) answer Complete without an ETag.
      return etag !== '' ? etag : (await this.s.store.head(data.key))?.etag ?? '';
    } catch (err) {
      await this.abort(data);
      throw err;
    }
  }

  /** Uploads the file's bytes of `range` as that part; returns its ETag. */
  private sendPart(data: FileData, key: string, uploadId: string, range: PartRange): Promise<string> {
    return this.withBody(data, range.start, range.end,
      (body) => this.s.store.uploadPart(key, uploadId, range.number, body, this.s.contentMD5 ? md5Base64(body) : undefined));
  }

  /**
   * Sends bytes [start, end) of the file with `send`. A body of about a part's size is a pooled
   * buffer, taken back once the request has settled (retries included), so that streaming a
   * large file does not allocate its size in fresh buffers; a small file gets a buffer its size.
   */
  private async withBody<T>(data: FileData, start: number, end: number, send: (body: Buffer) => Promise<T>): Promise<T> {
    const size = end - start;
    const pooled = size > this.s.bodies.size / 2 && size <= this.s.bodies.size ? this.s.bodies.take() : undefined;
    try {
      return await send(await data.bytes(start, end, pooled?.subarray(0, size)));
    } finally {
      if (pooled) this.s.bodies.give(pooled);
    }
  }

  /** UploadPartCopy of an unchanged range; undefined when the server cannot (then it is sent). */
  private async copyPart(data: FileData, uploadId: string, range: PartRange): Promise<string | undefined> {
    try {
      return await this.s.store.uploadPartCopy(data.key, uploadId, range.number, data.key, range.start, range.end);
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'unsupported') {
        if (!this.copyUnsupported) this.s.log.warn('the server does not support UploadPartCopy: changed files are sent whole');
        this.copyUnsupported = true;
        return undefined;
      }
      throw err;
    }
  }

  /** Bytes of the file's multipart upload already stored as parts (for progress reports). */
  bytesStored(data: FileData): number {
    let n = 0;
    for (const part of this.sessions.get(data)?.parts.values() ?? []) n += part.size;
    return n;
  }

  /** Multipart uploads started and not yet completed. */
  get unfinished(): number {
    return this.sessions.size;
  }

  /** At exit: every multipart upload still open is aborted, so the server frees its parts. */
  async abortAll(): Promise<number> {
    const open = [...this.sessions.keys()];
    await Promise.all(open.map((data) => this.abort(data)));
    return open.length;
  }

  /** Drops a multipart upload in progress (failure, rename, unlink): its parts are freed. */
  async abort(data: FileData): Promise<void> {
    const session = this.sessions.get(data);
    if (!session) return;
    this.sessions.delete(data);
    await Promise.allSettled(session.running.values());
    try {
      await this.s.store.abortMultipart(session.key, await session.uploadId);
    } catch (err) {
      this.s.log.warn({ key: session.key, err: String(err) }, 'cannot abort a multipart upload; the server will keep its parts until it expires them');
    }
  }
}
