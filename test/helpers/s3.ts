// Direct bucket access for tests (the SDK, not the mount): create a bucket per test file, put
// objects as "another client", and check what the mount wrote.
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand,
  ListObjectsV2Command, PutObjectCommand, S3Client, type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { testEndpoint } from './rgw-env.js';

export function testClient(): S3Client {
  const e = testEndpoint();
  return new S3Client({
    endpoint: e.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

export class TestBucket {
  private constructor(readonly client: S3Client, readonly name: string) {}

  /** A fresh bucket named after the test file, so a failure points at its owner. */
  static async create(label: string): Promise<TestBucket> {
    const client = testClient();
    const name = `qsfs-${label.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 30)}-${randomBytes(4).toString('hex')}`;
    await client.send(new CreateBucketCommand({ Bucket: name }));
    return new TestBucket(client, name);
  }

  async put(key: string, body: string | Buffer, extra: { ContentType?: string; Metadata?: Record<string, string> } = {}): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.name, Key: key, Body: Buffer.from(body), ...extra }));
  }

  async get(key: string): Promise<Buffer> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.name, Key: key }));
    return Buffer.from(await r.Body!.transformToByteArray());
  }

  /** null when the object does not exist. */
  async head(key: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.name, Key: key }));
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  async keys(prefix = ''): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.name, Prefix: prefix, ContinuationToken: token }));
      for (const o of r.Contents ?? []) keys.push(o.Key!);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  /** Empties and removes the bucket, and closes the client. */
  async destroy(): Promise<void> {
    try {
      for (const key of await this.keys()) await this.client.send(new DeleteObjectCommand({ Bucket: this.name, Key: key }));
      await this.client.send(new DeleteBucketCommand({ Bucket: this.name }));
    } finally {
      this.client.destroy();
    }
  }
}
