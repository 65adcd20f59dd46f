// The storage interface the filesystem is written against. It speaks in keys and bytes,
// never in paths or errno; src/store/ is the one place that knows about S3.

/** User metadata as stored on the object (names without the `x-amz-meta-` prefix, lower case). */
export type ObjectMetadata = Record<string, string>;

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
  contentType?: string;
  metadata: ObjectMetadata;
  /** The server's clock when it answered (its Date header), when it said. */
  serverDate?: Date;
}

/** One object as a listing reports it: no user metadata, which costs a HEAD. */
export interface ListedObject {
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface ListPage {
  objects: ListedObject[];
  /** Common prefixes ("subdirectories"), each ending in the delimiter. */
  prefixes: string[];
  /** Present when there is another page. */
  continuationToken?: string;
}

export interface PutOptions {
  contentType?: string;
  metadata?: ObjectMetadata;
  /** Base64 MD5 of the body, sent as Content-MD5 so the server verifies what it stored (-m). */
  contentMD5?: string;
  /** Base64 of the body's additional checksum (the store's `checksumAlgorithm`, --checksum). */
  checksum?: string;
}

/** S3's additional checksums qsfs can send (--checksum). */
export type ChecksumAlgorithm = 'crc32c' | 'crc64nvme';

/**
 * What a PUT expects to replace (a conditional write): the object with this ETag, or no object
 * at all. When the server's object is another, the PUT fails with a StoreError of kind
 * 'precondition-failed' and stores nothing.
 */
export type PutExpectation = { etag: string } | 'absent';

/** The body of a PUT or part: one buffer, or several sent one after another (buffers of the
 *  page pool, rather than one large buffer: see cache/buffer-pool.ts). */
export type Body = Buffer | readonly Buffer[];

export interface UploadedPart {
  partNumber: number;
  etag: string;
  /** The part's additional checksum (base64), when the upload carries them. */
  checksum?: string;
}

export interface ObjectStore {
  readonly bucket: string;
  /**
   * The additional checksum to send with PUTs and parts (their `checksum`), until the server
   * shows it ignores them (then undefined: a server that does not answer them back does not
   * verify them either).
   */
  readonly checksumAlgorithm?: ChecksumAlgorithm;
  /** Verifies the bucket exists and the credentials can read it. */
  checkBucket(signal?: AbortSignal): Promise<void>;
  /** null when there is no such object. */
  head(key: string): Promise<ObjectInfo | null>;
  /** Bytes [start, end) of an object. */
  getRange(key: string, start: number, end: number): Promise<Buffer>;
  /**
   * Bytes [start, end) into `into` (buffers filled in order, holding at least end - start
   * bytes): the number of bytes read, fewer past the object's end. For the file cache, whose
   * pages are recycled rather than allocated per GET. With `etag`, only from that version of
   * the object (If-Match): another fails with a StoreError of kind 'precondition-failed'.
   */
  getRangeInto(key: string, start: number, end: number, into: Buffer[], etag?: string): Promise<number>;
  /** The object's info and its first `length` bytes (fewer if it is shorter) in one request:
   *  a HEAD and a GET at once. null when there is no such object. */
  getStart(key: string, length: number): Promise<{ info: ObjectInfo; data: Buffer } | null>;
  /** Stores an object; returns its ETag. With `expect`, only over that object (see PutExpectation). */
  put(key: string, body: Body, options?: PutOptions, expect?: PutExpectation): Promise<string>;
  /** One page of keys under `prefix`, from after `startAfter` when given (and no token). */
  listPage(prefix: string, delimiter: string | undefined, continuationToken?: string, maxKeys?: number, startAfter?: string): Promise<ListPage>;
  /** Server-side copy; with `options` the metadata is replaced, otherwise copied. Returns the
   *  copy's ETag ('' when the server does not say). */
  copy(sourceKey: string, destinationKey: string, options?: PutOptions): Promise<string>;
  delete(key: string): Promise<void>;

  // Multipart uploads: parts of at least 5 MiB except the last, numbered from 1.
  /** Starts a multipart upload of `key`; returns its upload id. */
  createMultipart(key: string, options?: PutOptions): Promise<string>;
  /** Uploads one part from memory (retry-safe); `contentMD5` and `checksum` are base64.
   *  Returns the part's ETag. */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Body, contentMD5?: string, checksum?: string): Promise<string>;
  /** Fills a part server side from bytes [start, end) of `sourceKey` (UploadPartCopy): its ETag,
   *  and its additional checksum when the server computed one. Throws a StoreError of kind
   *  'unsupported' when the server does not implement it. */
  uploadPartCopy(key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number): Promise<{ etag: string; checksum?: string }>;
  /** Completes the upload; returns the object's ETag ('' when the server does not say). With
   *  `expect` 'absent', only if no object has the key meanwhile (If-None-Match: *, where the
   *  server judges it; a StoreError of kind 'precondition-failed' otherwise). */
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[], expect?: 'absent'): Promise<string>;
  /** Abandons the upload and frees its parts; a missing upload is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
}
