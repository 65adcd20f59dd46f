// Stores a file's data as its object. Under one part (--bufsize) it is a single PUT. Above,
// a multipart upload: parts go out while a sequential writer is still writing (at most
// --numtransfer in flight across the daemon), so close waits only for the tail; at close the
// remaining parts are sent, and ranges of an existing object that did not change are copied
// server side (UploadPartCopy) instead of being sent again.
//
// The multipart upload of a file lives on the file's own state (UploadTarget.multipart), whose
// owner (fs/key-writer.ts) runs one upload of a file at a time; this module is the mechanism.
//
// Write conflicts: an upload says which object it expects to replace (the version the file was
// opened from, or none). A single PUT carries it as a condition (If-Match / If-None-Match: *).
// - A file that existed, replaced by another client meanwhile: the server refuses, the conflict
//   is reported with both ETags, and the PUT goes again unconditionally (the last close wins, as
//   in s3fs-fuse and rclone).
// - A file created here, while another client (another mount) created the same name: nothing is
//   overwritten. The upload fails with a CreateConflict (EIO at close), and the file keeps its
//   data here like any upload that failed; a rename stores it under its new name.
// A multipart upload asks with a HEAD before completing, and its completion carries
// If-None-Match: * for a new file (S3 judges it; servers that ignore it leave the HEAD).
import type { LimitFunction } from 'p-limit';
import type { Logger } from '../log.js';
import type { Body, ObjectInfo, ObjectStore, PutExpectation, PutOptions, UploadedPart } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import type { BufferLender } from '../cache/memory-budget.js';
import type { FileData } from '../cache/file-data.js';
import { md5Base64, md5Hex } from './md5.js';
import { checksumBase64 } from './checksums.js';
import type { PartLayout, PartRange } from './part-layout.js';

export interface UploaderSettings {
  store: ObjectStore;
  layout: PartLayout;
  /** Bounds the parts in flight across all files (--numtransfer). */
  uploads: LimitFunction;
  /** -m: send Content-MD5 with every PUT and part. */
  contentMD5: boolean;
  /** Where bodies come from: buffers of the page pool, leased within the memory budget. */
  bodies: BufferLender;
  log: Logger;
}

interface StoredPart {
  etag: string;
  /** Its additional checksum (--checksum), when one was sent. */
  checksum?: string;
  /** File generation the part's bytes were taken at. */
  generation: number;
  size: number;
}

/** A multipart upload in progress for one file. */
export interface MultipartSession {
  /** The key it was started for: it can complete under that key only. */
  key: string;
  uploadId: Promise<string>;
  parts: Map<number, StoredPart>;
  /** Early uploads still running, by part number. */
  running: Map<number, Promise<void>>;
  failed: unknown;
}

/** What is stored: a file's data under a key, and the multipart upload under way for it. */
export interface UploadTarget {
  readonly key: string;
  readonly data: FileData;
  multipart: MultipartSession | null;
}

/** Another client created the object of a file created here, first: it is not overwritten. */
export class CreateConflict extends Error {
  constructor(readonly key: string, readonly foundEtag: string) {
    super(`another client created ${key} (ETag ${foundEtag}) while this mount was creating it: not overwritten; the data stays here (rename the file to store it under another name, or remove it)`);
    this.name = 'CreateConflict';
  }
}

export interface Stored {
  etag: string;
  /** The object found in place of the expected one (its ETag; null: none): another client's
   *  write, which this upload has replaced. */
  replaced?: string | null;
}

/** Bodies up to this size get a buffer of their own: too small to tie up a pooled 128 KiB one. */
const SMALL_BODY = 64 * 1024;

/** Copy ranges server side only for objects of more than this many parts; below, resending is as cheap. */
const COPY_MIN_PARTS = 3;

export class Uploader {
  /** Every multipart upload started and not yet completed or aborted, to abort at exit. */
  private readonly open = new Set<MultipartSession>();
  private copyUnsupported = false;
  /** Cleared once the server shows it cannot judge our conditions (see storeSingle). */
  private conditionalPuts = true;

  constructor(private readonly s: UploaderSettings) {}

  /** Parts in flight and waiting, across all files. */
  get transfers(): { active: number; waiting: number } {
    return { active: this.s.uploads.activeCount, waiting: this.s.uploads.pendingCount };
  }

  /**
   * After a write ending at `writeEnd`: parts the writer has moved past are complete, so they
   * start uploading now. Only for files already larger than one part.
   */
  afterWrite(t: UploadTarget, writeEnd: number, options: PutOptions): void {
    const firstPartEnd = this.s.layout.sizeOf(1);
    if (writeEnd <= firstPartEnd || t.data.size <= firstPartEnd) return;
    const part = this.s.layout.partAt(writeEnd - 1);
    // every part before the one being written is complete
    for (let n = part.number - 1; n >= 1; n--) {
      const session = this.session(t, options);
      if (session.running.has(n) || session.parts.has(n)) break;
      const start = this.s.layout.startOf(n);
      const range = { number: n, start, end: start + this.s.layout.sizeOf(n) };
      if (t.data.isUnchanged(range.start, range.end)) break; // an untouched range of an existing object: copied at close
      // A hole the writer jumped over (a sparse file: truncate up, write far out) is not a part
      // it moved past: uploading its zeros now would send the whole hole at every far write.
      if (!t.data.hasDataIn(range.start, range.end)) break;
      this.startPart(t.data, session, range);
    }
  }

  private session(t: UploadTarget, options: PutOptions): MultipartSession {
    if (!t.multipart) {
      // A multipart upload takes its metadata at the start, long before close: an mtime from
      // then would be older than the data, so it is left out and Last-Modified (the time the
      // upload completes) stands for it.
      const { mtime: _startedAt, ...metadata } = options.metadata ?? {};
      const uploadId = this.s.store.createMultipart(t.key, { ...options, metadata });
      uploadId.catch(() => undefined);
      t.multipart = { key: t.key, uploadId, parts: new Map(), running: new Map(), failed: undefined };
      this.open.add(t.multipart);
    }
    return t.multipart;
  }

  private startPart(data: FileData, session: MultipartSession, range: PartRange): void {
    const run = this.s.uploads(async () => {
      const generation = data.generation;
      const uploadId = await session.uploadId;
      const sent = await this.sendPart(data, session.key, uploadId, range);
      session.parts.set(range.number, { ...sent, generation, size: range.end - range.start });
    }).catch((err: unknown) => {
      session.failed ??= err; // reported by the next flush, which starts over
    }).finally(() => session.running.delete(range.number));
    session.running.set(range.number, run);
  }

  /** Makes the object hold the file's current data, over the `expected` object. */
  async store(t: UploadTarget, options: PutOptions, expected?: PutExpectation): Promise<Stored> {
    const data = t.data;
    const captured = data.beginCapture();
    if (captured.size <= this.s.layout.sizeOf(1)) {
      // One part's worth or less is one PUT, even if parts went out while the file was larger.
      await this.abort(t);
      const stored = await this.withBody(data, 0, captured.size, (body) => this.storeSingle(t.key, body, options, expected));
      data.markStored(captured, stored.etag);
      return stored;
    }
    const stored = await this.storeMultipart(t, this.session(t, options), captured.size, expected);
    data.markStored(captured, stored.etag);
    return stored;
  }

  /**
   * One PUT, on the condition that the object is the expected one. Refused (412): another
   * client's write is there; its ETag is looked up for the report and the PUT goes again
   * without the condition. A server that refuses conditions it cannot judge (501), or refuses
   * ours though the object is the expected one, gets plain PUTs from then on (logged once).
   */
  private async storeSingle(key: string, body: Body, options: PutOptions, expected: PutExpectation | undefined): Promise<Stored> {
    const algorithm = this.s.store.checksumAlgorithm;
    const plain = {
      ...options,
      contentMD5: this.s.contentMD5 ? md5Base64(body) : undefined,
      checksum: algorithm ? checksumBase64(algorithm, body) : undefined,
    };
    if (expected === undefined || !this.conditionalPuts) return { etag: await this.s.store.put(key, body, plain) };
    let replaced: string | null;
    try {
      return { etag: await this.s.store.put(key, body, plain, expected) };
    } catch (err) {
      if (!(err instanceof StoreError) || (err.kind !== 'precondition-failed' && err.kind !== 'unsupported')) throw err;
      const found = err.kind === 'precondition-failed' ? await this.s.store.head(key) : null;
      replaced = found?.etag ?? null;
      const misjudged = err.kind === 'unsupported' || (expected === 'absent' ? replaced === null : replaced === expected.etag);
      if (misjudged) {
        this.conditionalPuts = false;
        this.s.log.warn({ key, err: err.message }, 'the server does not take conditional PUTs (If-Match, If-None-Match): writes by other clients in between are no longer detected');
        return { etag: await this.s.store.put(key, body, plain) };
      }
      if (expected === 'absent' && found) {
        // Our own PUT, whose answer was lost and which the retry sent again, finds itself there.
        if (await this.holdsExactly(key, found, body)) return { etag: found.etag };
        throw new CreateConflict(key, found.etag);
      }
    }
    return { etag: await this.s.store.put(key, body, plain), replaced };
  }

  /** Whether the object `found` at `key` holds exactly `body`: its ETag is the body's MD5, or,
   *  where encryption makes ETags something else (SSE-C, SSE-KMS on AWS), its bytes are. */
  private async holdsExactly(key: string, found: ObjectInfo, body: Body): Promise<boolean> {
    const size = Buffer.isBuffer(body) ? body.length : body.reduce((n, b) => n + b.length, 0);
    if (found.size !== size) return false;
    if (size === 0 || found.etag === md5Hex(body)) return true;
    const bytes = await this.s.store.getRange(key, 0, size);
    return bytes.equals(Buffer.isBuffer(body) ? body : Buffer.concat(body));
  }

  private async storeMultipart(t: UploadTarget, session: MultipartSession, size: number, expected: PutExpectation | undefined): Promise<Stored> {
    const data = t.data;
    try {
      await Promise.all(session.running.values());
      if (session.failed) throw session.failed;
      const uploadId = await session.uploadId;
      const copyAllowed = !this.copyUnsupported && data.remoteSize > COPY_MIN_PARTS * this.s.layout.sizeOf(1);
      const parts = await Promise.all(this.s.layout.partsFor(size).map((range) => this.s.uploads(async (): Promise<UploadedPart> => {
        const stored = session.parts.get(range.number);
        if (stored && stored.size === range.end - range.start && stored.generation >= data.changedGeneration(range.start, range.end)) {
          return { partNumber: range.number, etag: stored.etag, checksum: stored.checksum };
        }
        if (copyAllowed && data.isUnchanged(range.start, range.end)) {
          const copied = await this.copyPart(data, session.key, uploadId, range);
          if (copied !== undefined) return { partNumber: range.number, ...copied };
        }
        return { partNumber: range.number, ...await this.sendPart(data, session.key, uploadId, range) };
      })));
      let replaced: string | null | undefined;
      if (expected !== undefined) {
        const there = (await this.s.store.head(session.key))?.etag ?? null;
        if (expected === 'absent' ? there !== null : there !== expected.etag) replaced = there;
        if (expected === 'absent' && there !== null) throw new CreateConflict(session.key, there);
      }
      let etag: string;
      try {
        etag = await this.s.store.completeMultipart(session.key, uploadId, parts, expected === 'absent' ? 'absent' : undefined);
      } catch (err) {
        if (expected === 'absent' && err instanceof StoreError && err.kind === 'precondition-failed') {
          throw new CreateConflict(session.key, (await this.s.store.head(session.key))?.etag ?? '?');
        }
        throw err;
      }
      this.forget(t);
      // Some servers (Ceph RGW) answer Complete without an ETag.
      return { etag: etag !== '' ? etag : (await this.s.store.head(session.key))?.etag ?? '', replaced };
    } catch (err) {
      await this.abort(t);
      throw err;
    }
  }

  /** Uploads the file's bytes of `range` as that part; returns its ETag and checksum. */
  private sendPart(data: FileData, key: string, uploadId: string, range: PartRange): Promise<{ etag: string; checksum?: string }> {
    return this.withBody(data, range.start, range.end, async (body) => {
      const algorithm = this.s.store.checksumAlgorithm;
      const checksum = algorithm ? checksumBase64(algorithm, body) : undefined;
      const etag = await this.s.store.uploadPart(key, uploadId, range.number, body, this.s.contentMD5 ? md5Base64(body) : undefined, checksum);
      // A server that ignored the checksum (the store stopped sending them) has none to list.
      return this.s.store.checksumAlgorithm && checksum ? { etag, checksum } : { etag };
    });
  }

  /**
   * Sends bytes [start, end) of the file with `send`. The body is a list of buffers leased from
   * the memory budget, given back once the request has settled (retries included): streaming a
   * large file allocates nothing, and the bodies count within --maxcache (while it is full, the
   * upload waits, so fewer run at once). A small file gets a buffer its size.
   */
  private async withBody<T>(data: FileData, start: number, end: number, send: (body: Body) => Promise<T>): Promise<T> {
    const size = end - start;
    const unit = this.s.bodies.bufferSize;
    if (size <= SMALL_BODY) return send(await data.bytes(start, end));
    const lease = await this.s.bodies.lease(Math.ceil(size / unit), 'upload');
    try {
      await data.copyInto(lease.buffers, unit, start, end);
      const tail = size - (lease.buffers.length - 1) * unit;
      return await send(lease.buffers.map((buf, i) => (i === lease.buffers.length - 1 ? buf.subarray(0, tail) : buf)));
    } finally {
      for (const buf of lease.buffers) this.s.bodies.give(buf);
      lease.end();
    }
  }

  /** UploadPartCopy of an unchanged range; undefined when the server cannot (then it is sent). */
  private async copyPart(data: FileData, key: string, uploadId: string, range: PartRange): Promise<{ etag: string; checksum?: string } | undefined> {
    try {
      return await this.s.store.uploadPartCopy(key, uploadId, range.number, data.key, range.start, range.end);
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
  bytesStored(t: UploadTarget): number {
    let n = 0;
    for (const part of t.multipart?.parts.values() ?? []) n += part.size;
    return n;
  }

  /** Multipart uploads started and not yet completed. */
  get unfinished(): number {
    return this.open.size;
  }

  /** At exit: every multipart upload still open is aborted, so the server frees its parts. */
  async abortAll(): Promise<number> {
    const sessions = [...this.open];
    await Promise.all(sessions.map((session) => this.abortSession(session)));
    return sessions.length;
  }

  /** Drops the file's multipart upload in progress (failure, rename, unlink): its parts are freed. */
  async abort(t: UploadTarget): Promise<void> {
    const session = t.multipart;
    if (!session) return;
    this.forget(t);
    await this.abortSession(session);
  }

  private forget(t: UploadTarget): void {
    if (t.multipart) this.open.delete(t.multipart);
    t.multipart = null;
  }

  private async abortSession(session: MultipartSession): Promise<void> {
    this.open.delete(session);
    await Promise.allSettled(session.running.values());
    try {
      await this.s.store.abortMultipart(session.key, await session.uploadId);
    } catch (err) {
      this.s.log.warn({ key: session.key, err: String(err) }, 'cannot abort a multipart upload; the server will keep its parts until it expires them');
    }
  }
}
