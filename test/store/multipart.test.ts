// S3ObjectStore multipart uploads (create, part, part copy, complete, abort) against the real S3
// server (Ceph RGW) started by scripts/test.mjs, plus the byte counters of RequestStats.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import { StoreError, toStoreError } from '../../src/store/errors.js';
import { TestBucket } from '../helpers/s3.js';
import { storeClient, storeError } from '../helpers/store-client.js';

const MiB = 1024 * 1024;

function md5hex(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}

function md5base64(b: Buffer | string): string {
  return createHash('md5').update(b).digest('base64');
}

/** The ETag S3 gives a multipart object: MD5 of the parts' binary MD5s, dash, part count. */
function multipartEtag(parts: Buffer[]): string {
  const h = createHash('md5');
  for (const p of parts) h.update(createHash('md5').update(p).digest());
  return `${h.digest('hex')}-${parts.length}`;
}

describe('S3ObjectStore multipart', () => {
  let bucket: TestBucket;
  let bundle: S3ClientBundle;
  let store: S3ObjectStore;

  before(async () => {
    bucket = await TestBucket.create('multipart');
    bundle = storeClient();
    store = new S3ObjectStore(bundle, bucket.name);
  });

  after(async () => {
    bundle?.destroy();
    await bucket?.destroy();
  });

  async function openUploads(key: string): Promise<string[]> {
    const r = await bucket.client.send(new ListMultipartUploadsCommand({ Bucket: bucket.name, Prefix: key }));
    return (r.Uploads ?? []).filter((u) => u.Key === key).map((u) => u.UploadId ?? '');
  }

  test('three parts (5 MiB, 5 MiB, 1 byte): the object has the bytes, size and multipart ETag', async () => {
    const key = 'mp/three.bin';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1)];
    const whole = Buffer.concat(parts);
    const uploadId = await store.createMultipart(key);
    assert.equal(typeof uploadId, 'string');
    assert.ok(uploadId.length > 0);
    assert.deepEqual(await openUploads(key), [uploadId]);
    const uploaded = [];
    for (const [i, body] of parts.entries()) {
      const etag = await store.uploadPart(key, uploadId, i + 1, body);
      assert.equal(etag, md5hex(body), `ETag of part ${i + 1}`);
      uploaded.push({ partNumber: i + 1, etag });
    }
    assert.equal(await store.head(key), null, 'nothing visible before complete');
    const etag = await store.completeMultipart(key, uploadId, uploaded);
    assert.ok(!etag.includes('"'), etag);
    const info = await store.head(key);
    assert.ok(info);
    assert.equal(info.size, 10 * MiB + 1);
    assert.equal(info.etag, multipartEtag(parts));
    if (etag !== '') assert.equal(etag, info.etag);
    const got = await bucket.get(key);
    assert.equal(got.length, whole.length);
    assert.equal(md5hex(got), md5hex(whole));
    assert.ok(got.equals(whole));
    assert.deepEqual(await openUploads(key), [], 'the upload is gone once complete');
  });

  test('a single small part is a valid (last) part', async () => {
    const key = 'mp/one-byte';
    const uploadId = await store.createMultipart(key);
    const etag = await store.uploadPart(key, uploadId, 1, Buffer.from('z'));
    await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]);
    assert.equal((await bucket.get(key)).toString(), 'z');
  });

  test('parts uploaded out of order and listed out of order complete in part order', async () => {
    const key = 'mp/out-of-order.bin';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(1234)];
    const uploadId = await store.createMultipart(key);
    // part 3 first, then 2 and 1 at the same time
    const e3 = await store.uploadPart(key, uploadId, 3, parts[2]!);
    const [e2, e1] = await Promise.all([
      store.uploadPart(key, uploadId, 2, parts[1]!),
      store.uploadPart(key, uploadId, 1, parts[0]!),
    ]);
    await store.completeMultipart(key, uploadId, [
      { partNumber: 3, etag: e3 }, { partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 },
    ]);
    const got = await bucket.get(key);
    assert.ok(got.equals(Buffer.concat(parts)), 'bytes in part-number order');
    assert.equal((await store.head(key))?.etag, multipartEtag(parts));
  });

  test('completing with a wrong part ETag fails', async () => {
    const key = 'mp/wrong-etag';
    const uploadId = await store.createMultipart(key);
    await store.uploadPart(key, uploadId, 1, Buffer.from('part one'));
    await assert.rejects(
      store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: md5hex('something else') }]),
      storeError('invalid', (e) => {
        assert.equal(e.status, 400);
        assert.ok(e.message.includes(key), e.message);
      }),
    );
    assert.equal(await store.head(key), null);
    await store.abortMultipart(key, uploadId);
  });

  test('a part below 5 MiB that is not the last one is refused at complete', async () => {
    const key = 'mp/too-small';
    const uploadId = await store.createMultipart(key);
    const e1 = await store.uploadPart(key, uploadId, 1, randomBytes(1024));
    const e2 = await store.uploadPart(key, uploadId, 2, randomBytes(1024));
    await assert.rejects(
      store.completeMultipart(key, uploadId, [{ partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }]),
      storeError('invalid', (e) => assert.equal(e.code, 'EntityTooSmall')),
    );
    await store.abortMultipart(key, uploadId);
  });

  test('uploadPart with Content-MD5: a right one is accepted, a wrong one refused', async () => {
    const key = 'mp/md5.bin';
    const body = randomBytes(100_000);
    const uploadId = await store.createMultipart(key);
    await assert.rejects(
      store.uploadPart(key, uploadId, 1, body, md5base64('not the body')),
      (err: unknown) => {
        assert.ok(err instanceof StoreError, String(err));
        assert.notEqual(err.kind, 'unsupported');
        assert.equal(err.kind, 'invalid', err.message);
        assert.equal(err.status, 400);
        assert.equal(err.code, 'BadDigest');
        return true;
      },
    );
    const etag = await store.uploadPart(key, uploadId, 1, body, md5base64(body));
    assert.equal(etag, md5hex(body));
    await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]);
    assert.ok((await bucket.get(key)).equals(body));
  });

  test('metadata and content type given to createMultipart are on the completed object', async () => {
    const key = 'mp/meta.bin';
    const uploadId = await store.createMultipart(key, {
      contentType: 'application/x-qsfs-test',
      metadata: { mode: '33188', Uid: '1000', mtime: '1700000000.25' },
    });
    const etag = await store.uploadPart(key, uploadId, 1, Buffer.from('with metadata'));
    await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]);
    const info = await store.head(key);
    assert.ok(info);
    assert.equal(info.contentType, 'application/x-qsfs-test');
    assert.deepEqual(info.metadata, { mode: '33188', uid: '1000', mtime: '1700000000.25' });
    assert.equal(info.size, 13);
  });

  test('uploadPartCopy: ranges of an existing object around a new middle part', async () => {
    const source = 'mp/copy src/ü +&? (1)~.bin';
    const dest = 'mp/copy dst/é+&?.bin';
    const src = randomBytes(12 * MiB);
    await bucket.put(source, src);
    const middle = randomBytes(5 * MiB);
    const uploadId = await store.createMultipart(dest, { metadata: { mode: '33188' } });
    const { etag: e1 } = await store.uploadPartCopy(dest, uploadId, 1, source, 0, 5 * MiB);
    assert.equal(e1, md5hex(src.subarray(0, 5 * MiB)), 'ETag of a copied part: MD5 of its bytes, unquoted');
    const e2 = await store.uploadPart(dest, uploadId, 2, middle);
    const { etag: e3 } = await store.uploadPartCopy(dest, uploadId, 3, source, 10 * MiB, 12 * MiB);
    assert.ok(!e3.includes('"') && e3.length > 0, e3);
    await store.completeMultipart(dest, uploadId, [
      { partNumber: 1, etag: e1 }, { partNumber: 2, etag: e2 }, { partNumber: 3, etag: e3 },
    ]);
    const expected = Buffer.concat([src.subarray(0, 5 * MiB), middle, src.subarray(10 * MiB)]);
    const got = await bucket.get(dest);
    assert.equal(got.length, 12 * MiB);
    assert.equal(md5hex(got), md5hex(expected));
    const info = await store.head(dest);
    assert.ok(info);
    assert.equal(info.size, 12 * MiB);
    assert.match(info.etag, /^[0-9a-f]{32}-3$/);
    assert.equal(info.metadata.mode, '33188');
    // the source is untouched
    assert.equal(md5hex(await bucket.get(source)), md5hex(src));
  });

  test('uploadPartCopy of a source key with "%": unsupported, without a request', async () => {
    // RGW decodes the copy source of UploadPartCopy twice: "%20" would name another key, and a
    // "%" without two hex digits after it crashes radosgw. Such sources are refused up front.
    const key = 'mp/pct-dest';
    const uploadId = await store.createMultipart(key);
    try {
      for (const source of ['mp/100%', 'mp/a%20b.bin', 'mp/%zz']) {
        await store.put(source, randomBytes(100));
        const before = bundle.stats.snapshot().total;
        await assert.rejects(store.uploadPartCopy(key, uploadId, 1, source, 0, 100), storeError('unsupported', (e) => {
          assert.ok(e.message.includes(source), e.message);
        }));
        assert.equal(bundle.stats.snapshot().total, before, 'no request sent');
      }
      // the server is still fine, and a key without "%" still copies
      await store.put('mp/no-pct', Buffer.from('0123456789'));
      assert.equal((await store.uploadPartCopy(key, uploadId, 1, 'mp/no-pct', 2, 6)).etag, md5hex('2345'));
    } finally {
      await store.abortMultipart(key, uploadId);
    }
  });

  test('uploadPartCopy from a missing source: not-found', async () => {
    const key = 'mp/copy-missing';
    const uploadId = await store.createMultipart(key);
    try {
      await assert.rejects(store.uploadPartCopy(key, uploadId, 1, 'mp/no such source', 0, 10), storeError('not-found'));
    } finally {
      await store.abortMultipart(key, uploadId);
    }
  });

  test('abort: a later complete fails, the upload is gone, and aborting again is fine', async () => {
    const key = 'mp/aborted.bin';
    const uploadId = await store.createMultipart(key);
    const etag = await store.uploadPart(key, uploadId, 1, randomBytes(1000));
    assert.deepEqual(await openUploads(key), [uploadId]);
    await store.abortMultipart(key, uploadId);
    assert.deepEqual(await openUploads(key), []);
    // S3 says 404 NoSuchUpload; Ceph RGW 16.2 says 500 InternalError "This multipart completion
    // is already in progress". Either way a StoreError, and no object.
    await assert.rejects(store.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]), (err: unknown) => {
      assert.ok(err instanceof StoreError, String(err));
      assert.ok(err.kind === 'not-found' || err.kind === 'server', err.message);
      assert.ok(err.message.includes(key), err.message);
      return true;
    });
    assert.equal(await store.head(key), null);
    await store.abortMultipart(key, uploadId);
  });

  test('abort of an upload id that never existed does not throw', async () => {
    const before = bundle.stats.snapshot();
    await store.abortMultipart('mp/never-started', `2~${randomBytes(16).toString('hex')}`);
    const after = bundle.stats.snapshot();
    assert.equal(after.total, before.total + 1, 'one request, not retried');
    assert.equal(after.byOperation['AbortMultipartUploadCommand'], (before.byOperation['AbortMultipartUploadCommand'] ?? 0) + 1);
  });

  test('uploadPart to an unknown upload id: not-found', async () => {
    await assert.rejects(
      store.uploadPart('mp/unknown-upload', `2~${randomBytes(16).toString('hex')}`, 1, Buffer.from('x')),
      storeError('not-found', (e) => assert.ok(e.message.includes('mp/unknown-upload'), e.message)),
    );
  });

  describe('RequestStats bytes', () => {
    test('an uploadPart is one request that sends about the part size', async () => {
      const key = 'mp/stats.bin';
      const part = randomBytes(5 * MiB);
      const uploadId = await store.createMultipart(key);
      const before = bundle.stats.snapshot();
      const etag = await store.uploadPart(key, uploadId, 1, part);
      const after = bundle.stats.snapshot();
      assert.equal(after.total, before.total + 1);
      assert.equal(after.failed, before.failed);
      assert.equal(after.byOperation['UploadPartCommand'], (before.byOperation['UploadPartCommand'] ?? 0) + 1);
      const sent = after.bytesSent - before.bytesSent;
      assert.ok(sent >= part.length && sent <= part.length + 1024, `bytesSent grew by ${sent}`);
      assert.ok(after.bytesReceived - before.bytesReceived < 1024, `bytesReceived grew by ${after.bytesReceived - before.bytesReceived}`);

      const beforeComplete = bundle.stats.snapshot();
      await store.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]);
      const afterComplete = bundle.stats.snapshot();
      assert.equal(afterComplete.total, beforeComplete.total + 1);
      const xml = afterComplete.bytesSent - beforeComplete.bytesSent;
      assert.ok(xml > 0 && xml < 1024, `CompleteMultipartUpload sent ${xml} bytes of XML`);
    });

    test('a getRange is one request that receives the range size; a HEAD receives no body', async () => {
      const key = 'mp/stats-read.bin';
      await bucket.put(key, randomBytes(3 * MiB));
      const before = bundle.stats.snapshot();
      const got = await store.getRange(key, 1000, 1000 + 300_000);
      const after = bundle.stats.snapshot();
      assert.equal(got.length, 300_000);
      assert.equal(after.total, before.total + 1);
      assert.equal(after.bytesReceived - before.bytesReceived, 300_000);
      assert.equal(after.bytesSent, before.bytesSent);

      await store.head(key);
      const afterHead = bundle.stats.snapshot();
      assert.equal(afterHead.total, after.total + 1);
      assert.equal(afterHead.bytesReceived, after.bytesReceived, 'a HEAD announces 3 MiB but carries no body');
    });

    test('put counts its body as sent', async () => {
      const body = randomBytes(777_777);
      const before = bundle.stats.snapshot();
      await store.put('mp/stats-put.bin', body);
      const after = bundle.stats.snapshot();
      assert.equal(after.total, before.total + 1);
      assert.equal(after.bytesSent - before.bytesSent, body.length);
    });

    test('-U: the request log line carries the bytes moved', async () => {
      const lines: Record<string, unknown>[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
          done();
        },
      });
      const logged = storeClient({ logger: pino({ level: 'info' }, sink), logRequests: true });
      try {
        const s = new S3ObjectStore(logged, bucket.name);
        const key = 'mp/logged.bin';
        const part = randomBytes(5 * MiB + 3);
        const uploadId = await s.createMultipart(key);
        const etag = await s.uploadPart(key, uploadId, 1, part);
        await s.completeMultipart(key, uploadId, [{ partNumber: 1, etag }]);
        await s.getRange(key, 0, 4096);
        await new Promise((r) => setImmediate(r));
        const requests = lines.filter((l) => l['msg'] === 's3 request');
        assert.equal(requests.length, logged.stats.snapshot().total);
        const up = requests.find((l) => l['s3'] === 'UploadPartCommand');
        assert.ok(up, JSON.stringify(requests));
        assert.equal(up['key'], key);
        assert.equal(up['part'], 1);
        assert.equal(up['method'], 'PUT');
        assert.equal(up['status'], 200);
        assert.ok(typeof up['bytes'] === 'number' && up['bytes'] >= part.length && up['bytes'] < part.length + 1024, String(up['bytes']));
        const get = requests.find((l) => l['s3'] === 'GetObjectCommand');
        assert.ok(get);
        assert.equal(get['range'], 'bytes=0-4095');
        assert.equal(get['bytes'], 4096);
        assert.equal(typeof get['ms'], 'number');
      } finally {
        logged.destroy();
      }
    });
  });

  describe('against a scripted HTTP server', () => {
    interface Seen { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }
    let server: http.Server;
    let port: number;
    let seen: Seen[];
    let reply: { status: number; body: string; headers?: Record<string, string> };

    before(async () => {
      server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
          res.writeHead(reply.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(reply.body), ...reply.headers });
          res.end(reply.body);
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });

    after(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });

    async function withStore(fn: (s: S3ObjectStore) => Promise<void>): Promise<void> {
      seen = [];
      const b = storeClient({ port });
      try {
        await fn(new S3ObjectStore(b, 'some-bucket'));
      } finally {
        b.destroy();
      }
    }

    test('a server without UploadPartCopy (501 NotImplemented): unsupported', async () => {
      reply = {
        status: 501,
        body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>'
          + '<Message>A header you provided implies functionality that is not implemented</Message></Error>',
      };
      await withStore(async (s) => {
        await assert.rejects(s.uploadPartCopy('dst', 'upload-1', 2, 'src dir/ü key', 0, 5 * MiB), storeError('unsupported', (e) => {
          assert.equal(e.status, 501);
          assert.equal(e.code, 'NotImplemented');
          assert.ok(e.message.includes('dst') && e.message.includes('src dir/ü key'), e.message);
        }));
        const first = seen[0];
        assert.ok(first, 'a request reached the server');
        assert.equal(first.method, 'PUT');
        assert.match(first.url, /^\/some-bucket\/dst\?/);
        assert.match(first.url, /partNumber=2/);
        assert.match(first.url, /uploadId=upload-1/);
        assert.equal(first.headers['x-amz-copy-source'], 'some-bucket/src%20dir/%C3%BC%20key');
        assert.equal(first.headers['x-amz-copy-source-range'], `bytes=0-${5 * MiB - 1}`);
      });
    });

    test('completeMultipart sends the parts sorted with quoted ETags; an empty ETag reads as ""', async () => {
      reply = {
        status: 200,
        body: '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Location>x</Location>'
          + '<Bucket>some-bucket</Bucket><Key>obj</Key><ETag></ETag></CompleteMultipartUploadResult>',
      };
      await withStore(async (s) => {
        const etag = await s.completeMultipart('obj', 'upload-9', [
          { partNumber: 10, etag: 'e10' }, { partNumber: 2, etag: '"e2"' }, { partNumber: 1, etag: 'e1' },
        ]);
        assert.equal(etag, '');
        const req = seen[0];
        assert.ok(req);
        assert.equal(req.method, 'POST');
        assert.match(req.url, /uploadId=upload-9/);
        const numbers = [...req.body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
        assert.deepEqual(numbers, [1, 2, 10]);
        const etags = [...req.body.matchAll(/<ETag>([^<]*)<\/ETag>/g)].map((m) => m[1]!.replace(/&quot;/g, '"'));
        assert.deepEqual(etags, ['"e1"', '"e2"', '"e10"']);
      });
      reply = {
        status: 200,
        body: '<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Location>x</Location>'
          + '<Bucket>some-bucket</Bucket><Key>obj</Key><ETag>"abc-3"</ETag></CompleteMultipartUploadResult>',
      };
      await withStore(async (s) => {
        assert.equal(await s.completeMultipart('obj', 'upload-9', [{ partNumber: 1, etag: 'e1' }]), 'abc-3');
      });
    });

    test('put and uploadPart send Content-MD5 when given, and only then', async () => {
      reply = { status: 200, body: '', headers: { etag: '"0123"' } };
      await withStore(async (s) => {
        const md5 = md5base64('data');
        assert.equal(await s.put('k', Buffer.from('data'), { contentMD5: md5 }), '0123');
        assert.equal(await s.uploadPart('k', 'u', 3, Buffer.from('data'), md5), '0123');
        assert.equal(await s.uploadPart('k', 'u', 4, Buffer.from('data')), '0123');
        assert.deepEqual(seen.map((r) => r.headers['content-md5']), [md5, md5, undefined]);
        assert.deepEqual(seen.map((r) => r.body), ['data', 'data', 'data']);
        assert.deepEqual(seen.map((r) => r.headers['content-length']), ['4', '4', '4']);
      });
    });
  });

  test('toStoreError: 501 or NotImplemented is unsupported, other errors are not', () => {
    assert.equal(toStoreError({ name: 'NotImplemented', $metadata: { httpStatusCode: 501 } }, 'x').kind, 'unsupported');
    assert.equal(toStoreError({ $metadata: { httpStatusCode: 501 } }, 'x').kind, 'unsupported');
    assert.equal(toStoreError({ Code: 'NotImplemented' }, 'x').kind, 'unsupported');
    assert.equal(toStoreError({ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, 'x').kind, 'server');
    assert.equal(toStoreError({ name: 'BadDigest', $metadata: { httpStatusCode: 400 } }, 'x').kind, 'invalid');
  });
});
