// ObjectStore on @aws-sdk/client-s3: each method is one S3 request (plus the SDK's retries),
// with S3 errors turned into StoreErrors that say what failed.
import type { Readable } from 'node:stream';
import {
  CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import { StoreError, toStoreError } from './errors.js';
import type { ListPage, ObjectInfo, ObjectStore, PutBody, PutOptions } from './object-store.js';

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
      const bytes = await r.Body!.transformToByteArray();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
