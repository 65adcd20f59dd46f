// ObjectStore on @aws-sdk/client-s3: each method is one S3 request (plus the SDK's retries),
// with S3 errors turned into StoreErrors that say what failed.
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, UploadPartCommand, UploadPartCopyCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { StoreError, toStoreError } from './errors.js';
import type { ListPage, ObjectInfo, ObjectStore, PutBody, PutOptions, UploadedPart } from './object-store.js';

export class S3ObjectStore implements ObjectStore {
  constructor(private readonly client: S3Client, readonly bucket: string) {}

  async checkBucket(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }), { abortSignal: signal });
    } catch (err) {
      const e = toStoreError(err, `bucket ${this.bucket}`);
      // HEAD has no body, so "no such bucket" arrives as a bare 404.
      if (e.kind === 'not-found') throw new StoreError('no-such-bucket', e.message, e.status, e.code);
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const r = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        key,
        size: r.ContentLength ?? 0,
        etag: unquote(r.ETag),
        lastModified: r.LastModified ?? new Date(0),
        contentType: r.ContentType,
        metadata: lowerKeys(r.Metadata),
      };
    } catch (err) {
      const e = toStoreError(err, `HEAD ${key}`);
      if (e.kind === 'not-found') return null;
      throw e;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
      return await readBody(r.Body as Readable, end - start);
    } catch (err) {
      // Asking past the end of an object (it shrank since we looked) reads as end of file.
      const e = toStoreError(err, `GET ${key} bytes=${start}-${end - 1}`);
      if (e.status === 416) return Buffer.alloc(0);
      throw e;
    }
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return r.Body as Readable;
    } catch (err) {
      throw toStoreError(err, `GET ${key}`);
    }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<string> {
    const isBuffer = Buffer.isBuffer(body);
    try {
      const r = await this.client.send(new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: isBuffer ? body : body.stream,
        ContentLength: isBuffer ? body.length : body.length,
        ContentType: options.contentType,
        Metadata: options.metadata,
        ContentMD5: options.contentMD5,
      }));
      return unquote(r.ETag);
    } catch (err) {
      throw toStoreError(err, `PUT ${key}`);
    }
  }

  async listPage(prefix: string, delimiter: string | undefined, continuationToken?: string, maxKeys?: number): Promise<ListPage> {
    try {
      const r = await this.client.send(new ListObjectsV2Command({
        Bucket: this.bucket, Prefix: prefix, Delimiter: delimiter, ContinuationToken: continuationToken, MaxKeys: maxKeys,
      }));
      return {
        objects: (r.Contents ?? []).map((o) => ({
          key: o.Key ?? '', size: o.Size ?? 0, etag: unquote(o.ETag), lastModified: o.LastModified ?? new Date(0),
        })),
        prefixes: (r.CommonPrefixes ?? []).map((p) => p.Prefix ?? '').filter((p) => p !== ''),
        continuationToken: r.IsTruncated ? r.NextContinuationToken : undefined,
      };
    } catch (err) {
      throw toStoreError(err, `LIST ${prefix}`);
    }
  }

  async copy(sourceKey: string, destinationKey: string, options?: PutOptions): Promise<void> {
    try {
      await this.client.send(new CopyObjectCommand({
        Bucket: this.bucket,
        Key: destinationKey,
        CopySource: `${this.bucket}/${encodeKeyForCopySource(sourceKey)}`,
        ...(options ? { MetadataDirective: 'REPLACE' as const, Metadata: options.metadata, ContentType: options.contentType } : {}),
      }));
    } catch (err) {
      throw toStoreError(err, `COPY ${sourceKey} -> ${destinationKey}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      const e = toStoreError(err, `DELETE ${key}`);
      if (e.kind !== 'not-found') throw e;
    }
  }

  async createMultipart(key: string, options: PutOptions = {}): Promise<string> {
    try {
      // Content-MD5 belongs to each part (uploadPart), not to the upload as a whole.
      const r = await this.client.send(new CreateMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        ContentType: options.contentType,
        Metadata: options.metadata,
      }));
      if (!r.UploadId) throw new StoreError('server', `CREATE-MULTIPART ${key}: the server returned no upload id`);
      return r.UploadId;
    } catch (err) {
      throw toStoreError(err, `CREATE-MULTIPART ${key}`);
    }
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, contentMD5?: string): Promise<string> {
    try {
      // A Buffer body can be sent again as is, so the SDK's retries are safe.
      const r = await this.client.send(new UploadPartCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: body,
        ContentLength: body.length,
        ContentMD5: contentMD5,
      }));
      return unquote(r.ETag);
    } catch (err) {
      throw toStoreError(err, `UPLOAD-PART ${key} part ${partNumber}`);
    }
  }

  async uploadPartCopy(key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number): Promise<string> {
    const what = `UPLOAD-PART-COPY ${sourceKey} bytes=${start}-${end - 1} -> ${key} part ${partNumber}`;
    // Ceph RGW (seen on 16.2) URL-decodes x-amz-copy-source of UploadPartCopy twice (CopyObject
    // only once): a source key with "%XX" in it names another object there (NoSuchKey, or worse
    // the bytes of a different key), and a "%" not followed by two hex digits crashes radosgw.
    // Servers that decode once need the single encoding, so no encoding is right for both: such
    // keys are not copied server side, and the caller falls back to sending the bytes.
    if (sourceKey.includes('%')) {
      throw new StoreError('unsupported', `${what}: not attempted: a source key containing "%" is not copied server side`);
    }
    try {
      const r = await this.client.send(new UploadPartCopyCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        PartNumber: partNumber,
        CopySource: `${this.bucket}/${encodeKeyForCopySource(sourceKey)}`,
        CopySourceRange: `bytes=${start}-${end - 1}`,
      }));
      return unquote(r.CopyPartResult?.ETag);
    } catch (err) {
      throw toStoreError(err, what);
    }
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<string> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    try {
      const r = await this.client.send(new CompleteMultipartUploadCommand({
        Bucket: this.bucket,
        Key: key,
        UploadId: uploadId,
        // S3 documents the part ETags quoted, as UploadPart returned them (RGW takes either).
        MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: quote(p.etag) })) },
      }));
      // Ceph RGW answers with an empty ETag here: '' tells the caller to HEAD if it needs one.
      return unquote(r.ETag);
    } catch (err) {
      throw toStoreError(err, `COMPLETE-MULTIPART ${key} (${sorted.length} parts)`);
    }
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
    } catch (err) {
      // NoSuchUpload (404): already aborted, completed, or never there.
      const e = toStoreError(err, `ABORT-MULTIPART ${key}`);
      if (e.kind !== 'not-found' && e.code !== 'NoSuchUpload') throw e;
    }
  }
}

function quote(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}

/**
 * Reads a response body into one buffer of the expected size: a single copy, where the SDK's
 * transformToByteArray gathers the chunks and copies them again (a hot spot in CPU profiles
 * of large reads).
 */
/**
 * The body of a GET in one buffer of the expected size. 'data' events rather than an async
 * iterator: on the read hot path a promise per 64 KiB chunk is measurable CPU.
 */
function readBody(body: Readable, expected: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = Buffer.allocUnsafe(expected);
    let length = 0;
    const extra: Buffer[] = [];
    body.on('data', (chunk: Buffer) => {
      const room = expected - length;
      if (chunk.length <= room) {
        chunk.copy(out, length);
      } else {
        if (room > 0) chunk.copy(out, length, 0, room);
        extra.push(chunk.subarray(Math.max(0, room)));
      }
      length += chunk.length;
    });
    let ended = false;
    body.once('error', reject);
    body.once('close', () => { if (!ended) reject(new Error('the response body ended early')); });
    body.once('end', () => {
      ended = true;
      // A server that sends more than asked (no range support) still yields every byte.
      if (extra.length > 0) resolve(Buffer.concat([out, ...extra]));
      else resolve(length === expected ? out : out.subarray(0, length));
    });
  });
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}

function lowerKeys(m: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k.toLowerCase()] = v;
  return out;
}

/** x-amz-copy-source is a URL path: each segment percent-encoded, slashes kept. */
function encodeKeyForCopySource(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
