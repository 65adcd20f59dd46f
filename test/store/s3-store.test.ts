// S3ObjectStore against the real S3 server (Ceph RGW) started by scripts/test.mjs.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import { TestBucket } from '../helpers/s3.js';
import { storeClient, storeError } from '../helpers/store-client.js';


function md5(b: Buffer | string): string {
  return createHash('md5').update(b).digest('hex');
}

describe('S3ObjectStore', () => {
  let bucket: TestBucket;
  let bundle: S3ClientBundle;
  let store: S3ObjectStore;

  before(async () => {
    bucket = await TestBucket.create('s3-store');
    bundle = storeClient();
    store = new S3ObjectStore(bundle, bucket.name);
  });

  after(async () => {
    bundle?.destroy();
    await bucket?.destroy();
  });

  describe('checkBucket', () => {
    test('an existing bucket is fine', async () => {
      assert.equal(store.bucket, bucket.name);
      await store.checkBucket();
    });

    test('a missing bucket: no-such-bucket', async () => {
      const missing = new S3ObjectStore(bundle, `qsfs-missing-${randomBytes(6).toString('hex')}`);
      await assert.rejects(missing.checkBucket(), storeError('no-such-bucket', (e) => assert.equal(e.status, 404)));
    });

    test('a wrong secret: access-denied, and the secret is not in the message', async () => {
      const wrongSecret = 'WRONG-SECRET-0123456789abcdef';
      const bad = storeClient({ secret: wrongSecret });
      try {
        const s = new S3ObjectStore(bad, bucket.name);
        await assert.rejects(s.checkBucket(), storeError('access-denied', (e) => {
          assert.equal(e.status, 403);
          assert.ok(!e.message.includes(wrongSecret), e.message);
          assert.ok(e.message.includes(bucket.name), e.message);
        }));
      } finally {
        bad.destroy();
      }
    });

    test('a port nobody listens on: unreachable', async () => {
      const dead = storeClient({ port: 1, reqtimeout: 5 });
      try {
        const s = new S3ObjectStore(dead, bucket.name);
        await assert.rejects(s.checkBucket(), storeError('unreachable', (e) => assert.equal(e.status, undefined)));
        // retries: 1 means two attempts, both counted and failed
        assert.equal(dead.stats.snapshot().total, 2);
        assert.equal(dead.stats.snapshot().failed, 2);
      } finally {
        dead.destroy();
      }
    });
  });

  describe('head and put', () => {
    test('head of a missing key is null', async () => {
      assert.equal(await store.head('no/such/key'), null);
    });

    test('put a Buffer, then head: size, etag, lower-cased metadata, content type', async () => {
      const body = Buffer.from('hello, qsfs\n');
      const etag = await store.put('put/buffer.txt', body, {
        contentType: 'text/plain',
        metadata: { mode: '33188', Uid: '1000', GID: '1001', mtime: '1700000000.5' },
      });
      assert.equal(etag, md5(body));
      const info = await store.head('put/buffer.txt');
      assert.ok(info);
      assert.equal(info.key, 'put/buffer.txt');
      assert.equal(info.size, body.length);
      assert.equal(info.etag, etag);
      assert.ok(!info.etag.includes('"'));
      assert.equal(info.contentType, 'text/plain');
      assert.deepEqual(info.metadata, { mode: '33188', uid: '1000', gid: '1001', mtime: '1700000000.5' });
      assert.ok(info.lastModified instanceof Date);
      assert.ok(Math.abs(info.lastModified.getTime() - Date.now()) < 10 * 60_000, `lastModified ${info.lastModified.toISOString()}`);
      assert.deepEqual(await bucket.get('put/buffer.txt'), body);
    });

    test('metadata written by another client is read lower-cased', async () => {
      await bucket.put('put/other.txt', 'x', { Metadata: { Mode: '420', 'X-Thing': 'Value With Case' } });
      const info = await store.head('put/other.txt');
      assert.ok(info);
      assert.deepEqual(info.metadata, { mode: '420', 'x-thing': 'Value With Case' });
    });

    test('put an empty Buffer', async () => {
      const etag = await store.put('put/empty', Buffer.alloc(0));
      assert.equal(etag, md5(''));
      const info = await store.head('put/empty');
      assert.ok(info);
      assert.equal(info.size, 0);
      assert.deepEqual(info.metadata, {});
    });

    test('put with a right Content-MD5 stores the object', async () => {
      const body = randomBytes(50_000);
      const etag = await store.put('put/md5-ok', body, { contentMD5: createHash('md5').update(body).digest('base64'), metadata: { mode: '33188' } });
      assert.equal(etag, md5(body));
      assert.deepEqual(await bucket.get('put/md5-ok'), body);
      assert.equal((await store.head('put/md5-ok'))?.metadata.mode, '33188');
    });

    test('put with a wrong Content-MD5 is refused and stores nothing', async () => {
      const body = Buffer.from('the real body');
      const wrong = createHash('md5').update('another body').digest('base64');
      await assert.rejects(store.put('put/md5-bad', body, { contentMD5: wrong }), storeError('invalid', (e) => {
        assert.equal(e.status, 400);
        assert.equal(e.code, 'BadDigest');
        assert.ok(e.message.includes('put/md5-bad'), e.message);
      }));
      assert.equal(await store.head('put/md5-bad'), null);
    });

    test('put replaces an existing object', async () => {
      await store.put('put/replace', Buffer.from('first version'), { metadata: { a: '1' } });
      await store.put('put/replace', Buffer.from('2nd'));
      const info = await store.head('put/replace');
      assert.ok(info);
      assert.equal(info.size, 3);
      assert.deepEqual(info.metadata, {});
      assert.equal((await bucket.get('put/replace')).toString(), '2nd');
    });
  });

  describe('reading', () => {
    const KEY = 'read/alphabet.txt';
    const TEXT = 'abcdefghijklmnopqrstuvwxyz';

    before(async () => {
      await bucket.put(KEY, TEXT);
    });

    test('getRange: bytes from the middle', async () => {
      assert.equal((await store.getRange(KEY, 2, 5)).toString(), 'cde');
      assert.equal((await store.getRange(KEY, 0, 1)).toString(), 'a');
      assert.equal((await store.getRange(KEY, 0, 26)).toString(), TEXT);
    });

    test('getRange: a range running past the end is cut at the end', async () => {
      assert.equal((await store.getRange(KEY, 24, 100)).toString(), 'yz');
    });

    test('getRange: starting past the end is empty', async () => {
      const b = await store.getRange(KEY, 26, 40);
      assert.ok(Buffer.isBuffer(b));
      assert.equal(b.length, 0);
      assert.equal((await store.getRange(KEY, 1000, 2000)).length, 0);
    });

    test('getRange: an empty range costs no request', async () => {
      const before = bundle.stats.snapshot().total;
      assert.equal((await store.getRange(KEY, 5, 5)).length, 0);
      assert.equal((await store.getRange(KEY, 5, 3)).length, 0);
      assert.equal(bundle.stats.snapshot().total, before);
    });

    test('getRange of a missing key: not-found', async () => {
      await assert.rejects(store.getRange('read/missing', 0, 10), storeError('not-found'));
    });

    // The cache's GETs land in its page buffers; both transports: our own sockets (plain HTTP)
    // and node:http (https endpoints, and any answer the direct path cannot read).
    for (const direct of [true, false]) {
      const via = direct ? 'own sockets' : 'node:http';
      const pagesOf = (n: number, size: number): Buffer[] => Array.from({ length: n }, () => Buffer.alloc(size, 0x2e));

      test(`getRangeInto (${via}): the bytes fill the buffers in order, across their edges`, async () => {
        const b = storeClient({ directHttp: direct });
        try {
          const s = new S3ObjectStore(b, bucket.name);
          const pages = pagesOf(3, 10);
          assert.equal(await s.getRangeInto(KEY, 0, 26, pages), 26);
          assert.equal(Buffer.concat(pages).toString(), `${TEXT}....`, 'nothing written past the range');
          const mid = pagesOf(2, 4);
          assert.equal(await s.getRangeInto(KEY, 3, 10, mid), 7);
          assert.equal(Buffer.concat(mid).toString(), 'defghij.');
          // Past the end: cut at the end, or nothing.
          const tail = pagesOf(2, 40);
          assert.equal(await s.getRangeInto(KEY, 24, 100, tail), 2);
          assert.equal(tail[0]!.toString('latin1', 0, 3), 'yz.');
          assert.equal(await s.getRangeInto(KEY, 26, 40, pagesOf(1, 14)), 0);
          await assert.rejects(s.getRangeInto('read/missing', 0, 10, pagesOf(1, 10)), storeError('not-found'));
          assert.equal(b.stats.snapshot().byOperation['GetObjectCommand'], 5);
        } finally {
          b.destroy();
        }
      });

      test(`a file whose bytes look like an S3 error document reads as those bytes (${via})`, async () => {
        const text = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>a file about S3 errors</Message></Error>\n';
        await bucket.put('read/error-lookalike.xml', text);
        const b = storeClient({ directHttp: direct });
        try {
          const s = new S3ObjectStore(b, bucket.name);
          assert.equal((await s.getRange('read/error-lookalike.xml', 0, text.length)).toString(), text);
          const pages = pagesOf(2, 100);
          assert.equal(await s.getRangeInto('read/error-lookalike.xml', 0, text.length, pages), text.length);
          assert.equal(Buffer.concat(pages).toString('utf8', 0, text.length), text);
          assert.equal((await s.getStart('read/error-lookalike.xml', 1024))?.data.toString(), text);
        } finally {
          b.destroy();
        }
      });
    }

  });

  describe('listPage', () => {
    before(async () => {
      for (const key of [
        'list/a.txt', 'list/b.txt', 'list/marker/', 'list/marker/in.txt', 'list/sub/c.txt',
        'list/implicit/deep/x.txt', 'listing-not-a-child.txt',
        'pages/1', 'pages/2', 'pages/3', 'pages/d1/x', 'pages/d2/y',
      ]) {
        await bucket.put(key, key.endsWith('/') ? '' : `content of ${key}`);
      }
    });

    test('with a delimiter: objects and prefixes (implicit ones too)', async () => {
      const page = await store.listPage('list/', '/');
      assert.deepEqual(page.objects.map((o) => o.key), ['list/a.txt', 'list/b.txt']);
      assert.deepEqual([...page.prefixes].sort(), ['list/implicit/', 'list/marker/', 'list/sub/']);
      assert.equal(page.continuationToken, undefined);
      const a = page.objects[0]!;
      assert.equal(a.size, Buffer.byteLength('content of list/a.txt'));
      assert.equal(a.etag, md5('content of list/a.txt'));
      assert.ok(a.lastModified instanceof Date && a.lastModified.getTime() > 0);
    });

    test('a directory listing shows its own marker object', async () => {
      const page = await store.listPage('list/marker/', '/');
      assert.deepEqual(page.objects.map((o) => o.key), ['list/marker/', 'list/marker/in.txt']);
      assert.equal(page.objects[0]!.size, 0);
      assert.deepEqual(page.prefixes, []);
    });

    test('an implicit directory (no marker) lists through its prefixes', async () => {
      const page = await store.listPage('list/implicit/', '/');
      assert.deepEqual(page.objects, []);
      assert.deepEqual(page.prefixes, ['list/implicit/deep/']);
      assert.equal(await store.head('list/implicit/'), null);
    });

    test('without a delimiter: every key under the prefix', async () => {
      const page = await store.listPage('list/', undefined);
      assert.deepEqual(page.objects.map((o) => o.key), [
        'list/a.txt', 'list/b.txt', 'list/implicit/deep/x.txt', 'list/marker/', 'list/marker/in.txt', 'list/sub/c.txt',
      ]);
      assert.deepEqual(page.prefixes, []);
    });

    test('a prefix with nothing under it is an empty page', async () => {
      const page = await store.listPage('nothing-here/', '/');
      assert.deepEqual(page, { objects: [], prefixes: [], continuationToken: undefined });
    });

    test('continuation with maxKeys 2', async () => {
      const objects: string[] = [];
      const prefixes: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await store.listPage('pages/', '/', token, 2);
        pages++;
        assert.ok(page.objects.length + page.prefixes.length <= 2, `page ${pages} has ${page.objects.length + page.prefixes.length} entries`);
        if (page.continuationToken !== undefined) assert.equal(page.objects.length + page.prefixes.length, 2);
        objects.push(...page.objects.map((o) => o.key));
        prefixes.push(...page.prefixes);
        token = page.continuationToken;
        assert.ok(pages < 10, 'listing does not end');
      } while (token !== undefined);
      assert.equal(pages, 3);
      assert.deepEqual(objects, ['pages/1', 'pages/2', 'pages/3']);
      assert.deepEqual(prefixes.sort(), ['pages/d1/', 'pages/d2/']);
    });

    test('maxKeys 2 without a delimiter', async () => {
      const first = await store.listPage('pages/', undefined, undefined, 2);
      assert.deepEqual(first.objects.map((o) => o.key), ['pages/1', 'pages/2']);
      assert.equal(typeof first.continuationToken, 'string');
      const second = await store.listPage('pages/', undefined, first.continuationToken, 2);
      assert.deepEqual(second.objects.map((o) => o.key), ['pages/3', 'pages/d1/x']);
      const third = await store.listPage('pages/', undefined, second.continuationToken, 2);
      assert.deepEqual(third.objects.map((o) => o.key), ['pages/d2/y']);
      assert.equal(third.continuationToken, undefined);
    });
  });

  describe('copy', () => {
    test('without options: content, metadata and content type are kept', async () => {
      await store.put('copy/src.txt', Buffer.from('copied bytes'), { contentType: 'text/x-qsfs', metadata: { mode: '33188', uid: '7' } });
      await store.copy('copy/src.txt', 'copy/dst.txt');
      const info = await store.head('copy/dst.txt');
      assert.ok(info);
      assert.equal(info.size, 12);
      assert.equal(info.contentType, 'text/x-qsfs');
      assert.deepEqual(info.metadata, { mode: '33188', uid: '7' });
      assert.equal((await bucket.get('copy/dst.txt')).toString(), 'copied bytes');
      // the source is still there
      assert.ok(await store.head('copy/src.txt'));
    });

    test('with options: metadata and content type are replaced', async () => {
      await store.put('copy/src2.txt', Buffer.from('abc'), { contentType: 'text/plain', metadata: { mode: '33188', uid: '7', gid: '8' } });
      await store.copy('copy/src2.txt', 'copy/dst2.txt', { contentType: 'application/symlink', metadata: { mode: '41471' } });
      const info = await store.head('copy/dst2.txt');
      assert.ok(info);
      assert.equal(info.contentType, 'application/symlink');
      assert.deepEqual(info.metadata, { mode: '41471' });
      assert.equal((await bucket.get('copy/dst2.txt')).toString(), 'abc');
    });

    test('a copy onto itself with options updates the metadata in place', async () => {
      await store.put('copy/self.txt', Buffer.from('same'), { metadata: { mode: '33188' } });
      await store.copy('copy/self.txt', 'copy/self.txt', { metadata: { mode: '33261', mtime: '1700000000' } });
      const info = await store.head('copy/self.txt');
      assert.ok(info);
      assert.deepEqual(info.metadata, { mode: '33261', mtime: '1700000000' });
      assert.equal((await bucket.get('copy/self.txt')).toString(), 'same');
    });

    const specials = [
      'copy/with space/a b.txt',
      'copy/plus+sign+.txt',
      'copy/percent%20not-a-space%.txt',
      'copy/100%',
      'copy/ユニコード/файл ✓.txt',
      'copy/q?uery#hash&amp=1.txt',
      'copy/tilde~/(parens) [brackets] \'quote\'.txt',
    ];
    for (const key of specials) {
      test(`a key with special characters: ${key}`, async () => {
        const body = Buffer.from(`body of ${key}`);
        await store.put(key, body, { metadata: { mode: '33188' } });
        const dest = `${key}.copy+ é`;
        await store.copy(key, dest);
        assert.deepEqual(await bucket.get(dest), body);
        const info = await store.head(dest);
        assert.ok(info);
        assert.equal(info.key, dest);
        assert.equal(info.metadata.mode, '33188');
        // and the listing shows the exact keys
        const page = await store.listPage(key, undefined);
        assert.deepEqual(page.objects.map((o) => o.key), [key, dest]);
      });
    }

    test('copy of a missing key: not-found', async () => {
      await assert.rejects(store.copy('copy/missing', 'copy/never'), storeError('not-found'));
      assert.equal(await store.head('copy/never'), null);
    });
  });

  describe('delete', () => {
    test('delete removes the object', async () => {
      await store.put('del/x', Buffer.from('x'));
      assert.ok(await store.head('del/x'));
      await store.delete('del/x');
      assert.equal(await store.head('del/x'), null);
      assert.deepEqual(await bucket.keys('del/'), []);
    });

    test('delete of a missing key is fine', async () => {
      await store.delete('del/never-existed');
      assert.equal(await store.head('del/never-existed'), null);
    });

    test('delete of a key with special characters', async () => {
      const key = 'del/sp ace+plus%/ü.txt';
      await store.put(key, Buffer.from('1'));
      await store.delete(key);
      assert.equal(await store.head(key), null);
    });
  });

  describe('RequestStats', () => {
    test('one head is exactly one request', async () => {
      await store.put('stats/x', Buffer.from('x'));
      const before = bundle.stats.snapshot();
      await store.head('stats/x');
      const after = bundle.stats.snapshot();
      assert.equal(after.total, before.total + 1);
      assert.equal(after.failed, before.failed);
      assert.equal(after.byOperation['HeadObjectCommand'], (before.byOperation['HeadObjectCommand'] ?? 0) + 1);
    });

    test('a head of a missing key is one failed request (no retry)', async () => {
      const before = bundle.stats.snapshot();
      assert.equal(await store.head('stats/missing'), null);
      const after = bundle.stats.snapshot();
      assert.equal(after.total, before.total + 1);
      assert.equal(after.failed, before.failed + 1);
    });

    test('each operation is counted under its command', async () => {
      const before = bundle.stats.snapshot();
      await store.put('stats/y', Buffer.from('y'));
      await store.getRange('stats/y', 0, 1);
      await store.listPage('stats/', '/');
      await store.copy('stats/y', 'stats/z');
      await store.delete('stats/z');
      const after = bundle.stats.snapshot();
      assert.equal(after.total, before.total + 5);
      for (const op of ['PutObjectCommand', 'GetObjectCommand', 'ListObjectsV2Command', 'CopyObjectCommand', 'DeleteObjectCommand']) {
        assert.equal(after.byOperation[op], (before.byOperation[op] ?? 0) + 1, op);
      }
    });

    test('bytes: a put sends its body, a getRange receives its range', async () => {
      const body = randomBytes(100_000);
      const s0 = bundle.stats.snapshot();
      await store.put('stats/bytes', body);
      const s1 = bundle.stats.snapshot();
      assert.equal(s1.total, s0.total + 1);
      assert.equal(s1.bytesSent - s0.bytesSent, body.length);
      const got = await store.getRange('stats/bytes', 10, 4010);
      const s2 = bundle.stats.snapshot();
      assert.deepEqual(got, body.subarray(10, 4010));
      assert.equal(s2.total, s1.total + 1);
      assert.equal(s2.bytesReceived - s1.bytesReceived, 4000);
      assert.equal(s2.bytesSent, s1.bytesSent);
    });
  });
});
