// Which requests carry which server-side encryption headers: S3ObjectStore, as the daemon builds
// it, against the test server through a recording proxy on loopback that forwards every request
// untouched and notes its headers. The server alone cannot tell: Ceph RGW 16 decrypts the source
// of an UploadPartCopy with the target's SSE-C key when the copy-source key is missing, where AWS
// refuses the request. Also: what a read with the wrong key, or none, fails with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import { ObjectEncryption, type EncryptionChoice } from '../../src/store/encryption.js';
import { parseSseCustomerKey } from '../../src/config/sse-key.js';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { TestBucket } from '../helpers/s3.js';
import { storeClient, storeError } from '../helpers/store-client.js';
import { testEndpoint } from '../helpers/rgw-env.js';

const MiB = 1024 * 1024;

interface Seen {
  /** "METHOD ?query-names" (the key left out), e.g. "PUT ?partNumber&uploadId". */
  request: string;
  copy: boolean;
  headers: http.IncomingHttpHeaders;
}

/** Forwards requests to the test server unchanged and remembers what each one carried. */
class RecordingProxy {
  readonly seen: Seen[] = [];
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    this.seen.push({
      request: `${req.method} ?${[...url.searchParams.keys()].sort().join('&')}`,
      copy: req.headers['x-amz-copy-source'] !== undefined,
      headers: req.headers,
    });
    const up = http.request({ host: '127.0.0.1', port: testEndpoint().port, method: req.method, path: req.url, headers: req.headers, agent: this.agent }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    this.agent.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The x-amz-*server-side-encryption* headers of each request since `from`, by request. */
  encryptionHeaders(from = 0): Array<{ request: string; names: string[] }> {
    return this.seen.slice(from).map((s) => ({
      request: s.copy ? `${s.request} (copy)` : s.request,
      names: Object.keys(s.headers).filter((h) => h.includes('server-side-encryption')).sort(),
    }));
  }
}

const SSE_C = [
  'x-amz-server-side-encryption-customer-algorithm',
  'x-amz-server-side-encryption-customer-key',
  'x-amz-server-side-encryption-customer-key-md5',
];
const SSE_C_SOURCE = SSE_C.map((h) => h.replace('x-amz-', 'x-amz-copy-source-'));

describe('encryption headers on each request', () => {
  let bucket: TestBucket;
  let proxy: RecordingProxy;
  let bundle: S3ClientBundle;
  const key = parseSseCustomerKey(randomBytes(32), '/test/key');

  before(async () => {
    bucket = await TestBucket.create('store-sse');
    proxy = new RecordingProxy();
    bundle = storeClient({ port: await proxy.start() });
  });
  after(async () => {
    bundle.destroy();
    await proxy.stop();
    await bucket.destroy();
  });

  /** Every operation of the store once, on objects of its own; the headers each request carried. */
  async function everyOperation(choice: EncryptionChoice | undefined, tag: string): Promise<Array<{ request: string; names: string[] }>> {
    const store = new S3ObjectStore(bundle, bucket.name, { encryption: choice && new ObjectEncryption(choice) });
    const from = proxy.seen.length;
    const part = randomBytes(5 * MiB);
    await store.put(`${tag}/a`, part, { contentType: 'application/octet-stream', metadata: { mode: '33188' } });
    assert.ok(await store.head(`${tag}/a`));
    await store.getStart(`${tag}/a`, 100);
    assert.equal((await store.getRange(`${tag}/a`, 10, 20)).length, 10);
    assert.equal(await store.getRangeInto(`${tag}/a`, 0, 10, [Buffer.alloc(10)]), 10);
    // CopyObject of an encrypted source is not implemented by RGW 16 (501): what was sent counts.
    await store.copy(`${tag}/a`, `${tag}/b`).catch(storeError('unsupported'));
    await store.copy(`${tag}/a`, `${tag}/a`, { metadata: { mode: '33152' } }).catch(storeError('unsupported'));
    const uploadId = await store.createMultipart(`${tag}/m`, { metadata: { mode: '33188' } });
    const etag1 = await store.uploadPart(`${tag}/m`, uploadId, 1, part, createHash('md5').update(part).digest('base64'));
    const { etag: etag2 } = await store.uploadPartCopy(`${tag}/m`, uploadId, 2, `${tag}/a`, 0, 100);
    await store.completeMultipart(`${tag}/m`, uploadId, [{ partNumber: 1, etag: etag1 }, { partNumber: 2, etag: etag2 }]);
    const whole = Buffer.alloc(5 * MiB + 100);
    assert.equal(await store.getRangeInto(`${tag}/m`, 0, whole.length, [whole]), whole.length);
    assert.ok(whole.subarray(0, 5 * MiB).equals(part) && whole.subarray(5 * MiB).equals(part.subarray(0, 100)), 'the multipart object reads back');
    return proxy.encryptionHeaders(from);
  }

  test('SSE-C: the key on every request on data, and the source key on copies', async () => {
    const seen = await everyOperation({ kind: 'sse-c', key }, 'c');
    assert.deepEqual(seen, [
      { request: 'PUT ?', names: SSE_C },
      { request: 'HEAD ?', names: SSE_C },
      { request: 'GET ?', names: SSE_C },
      { request: 'GET ?', names: SSE_C },
      { request: 'GET ?', names: SSE_C },
      { request: 'PUT ? (copy)', names: [...SSE_C_SOURCE, ...SSE_C].sort() },
      { request: 'PUT ? (copy)', names: [...SSE_C_SOURCE, ...SSE_C].sort() },
      { request: 'POST ?uploads', names: SSE_C },
      { request: 'PUT ?partNumber&uploadId', names: SSE_C },
      { request: 'PUT ?partNumber&uploadId (copy)', names: [...SSE_C_SOURCE, ...SSE_C].sort() },
      { request: 'POST ?uploadId', names: SSE_C },
      { request: 'GET ?', names: SSE_C },
    ]);
    const put = proxy.seen.find((s) => s.request === 'PUT ?' && !s.copy && s.headers['x-amz-server-side-encryption-customer-key'] !== undefined)!;
    assert.equal(put.headers['x-amz-server-side-encryption-customer-algorithm'], 'AES256');
    assert.equal(put.headers['x-amz-server-side-encryption-customer-key'], key.key.toString('base64'));
    assert.equal(put.headers['x-amz-server-side-encryption-customer-key-md5'], createHash('md5').update(key.key).digest('base64'));
  });

  test('SSE-KMS: the key id where an object is made (PUT, CreateMultipartUpload, CopyObject), nowhere else', async () => {
    const kms = ['x-amz-server-side-encryption', 'x-amz-server-side-encryption-aws-kms-key-id'];
    const seen = await everyOperation({ kind: 'sse-kms', keyId: 'testkey-1' }, 'k');
    assert.deepEqual(seen, [
      { request: 'PUT ?', names: kms },
      { request: 'HEAD ?', names: [] },
      { request: 'GET ?', names: [] },
      { request: 'GET ?', names: [] },
      { request: 'GET ?', names: [] },
      { request: 'PUT ? (copy)', names: kms },
      { request: 'PUT ? (copy)', names: kms },
      { request: 'POST ?uploads', names: kms },
      { request: 'PUT ?partNumber&uploadId', names: [] },
      { request: 'PUT ?partNumber&uploadId (copy)', names: [] },
      { request: 'POST ?uploadId', names: [] },
      { request: 'GET ?', names: [] },
    ]);
    const head = await bucket.head('k/m');
    assert.equal(head?.ServerSideEncryption, 'aws:kms');
    assert.equal(head?.SSEKMSKeyId, 'testkey-1');
  });

  test('no encryption: no encryption header on any request', async () => {
    const seen = await everyOperation(undefined, 'n');
    assert.equal(seen.length, 12);
    assert.deepEqual(seen.filter((s) => s.names.length > 0), []);
  });
});

describe('reads with the wrong SSE-C key, or none', () => {
  let bucket: TestBucket;
  let bundle: S3ClientBundle;
  const key = parseSseCustomerKey(randomBytes(32), '/keys/right');
  const wrong = parseSseCustomerKey(randomBytes(32), '/keys/wrong');

  before(async () => {
    bucket = await TestBucket.create('store-sse-wrong');
    bundle = storeClient();
    await new S3ObjectStore(bundle, bucket.name, { encryption: new ObjectEncryption({ kind: 'sse-c', key }) }).put('x', Buffer.from('secret'));
  });
  after(async () => {
    bundle.destroy();
    await bucket.destroy();
  });

  test('another key: access denied, naming the key file and the key MD5, never the key', async () => {
    const store = new S3ObjectStore(bundle, bucket.name, { encryption: new ObjectEncryption({ kind: 'sse-c', key: wrong }) });
    const expected = (e: { message: string }): void => {
      assert.match(e.message, new RegExp(`^object x cannot be read with the SSE-C key of --sse-c-key /keys/wrong \\(key MD5 ${wrong.keyMD5.replace(/[+/]/g, '\\$&')}\\): it is encrypted with a different SSE-C key`));
      assert.equal(e.message.includes(wrong.key.toString('base64')), false);
    };
    await assert.rejects(store.head('x'), storeError('access-denied', expected));
    await assert.rejects(store.getStart('x', 100), storeError('access-denied', expected));
    await assert.rejects(store.getRange('x', 0, 3), storeError('access-denied', expected));
    await assert.rejects(store.getRangeInto('x', 0, 3, [Buffer.alloc(3)]), storeError('access-denied', expected));
  });

  test('no key: access denied, saying to give --sse-c-key', async () => {
    const store = new S3ObjectStore(bundle, bucket.name);
    const expected = (e: { message: string }): void => assert.match(e.message, /^object x is probably encrypted with SSE-C .*mount with --sse-c-key FILE/);
    await assert.rejects(store.head('x'), storeError('access-denied', expected));
    await assert.rejects(store.getRange('x', 0, 3), storeError('access-denied', expected));
  });

  test('the right key reads; a missing object is still no object', async () => {
    const store = new S3ObjectStore(bundle, bucket.name, { encryption: new ObjectEncryption({ kind: 'sse-c', key }) });
    assert.equal((await store.getRange('x', 0, 6)).toString(), 'secret');
    assert.equal(await store.head('nope'), null);
  });
});
