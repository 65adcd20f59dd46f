// Filesystem (the POSIX layer) against the real S3 server (Ceph RGW) started by scripts/test.mjs,
// without FUSE: every operation is called directly and its effect checked in the bucket.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import { Filesystem, type FilesystemSettings } from '../../src/fs/filesystem.js';
import { FsError, type Errno } from '../../src/fs/errors.js';
import { Freshness } from '../../src/fs/freshness.js';
import { S_IFDIR, S_IFLNK, S_IFMT, S_IFREG } from '../../src/fs/attributes.js';
import { TestBucket } from '../helpers/s3.js';
import { storeClient } from '../helpers/store-client.js';
import { readAt, writeAt } from '../helpers/fs-io.js';

const logger = pino({ level: 'silent' });

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const MiB = 1 << 20;
const KiB = 1 << 10;

/** assert.rejects predicate: an FsError with this errno. */
function fsError(errno: Errno) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof FsError, `expected an FsError(${errno}), got ${String(err)}`);
    assert.equal(err.errno, errno);
    return true;
  };
}

/** Runs `fn` over `items` with at most `n` running at once. */
async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

describe('Filesystem', () => {
  let bucket: TestBucket;
  let bundle: S3ClientBundle;
  const bundles: S3ClientBundle[] = [];
  const diskdirs: string[] = [];

  async function newDiskdir(): Promise<string> {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qsfs-fs-test-'));
    diskdirs.push(dir);
    return dir;
  }

  async function settings(overrides: Partial<FilesystemSettings> = {}): Promise<FilesystemSettings> {
    return {
      prefix: '', diskdir: await newDiskdir(), filemode: 0o644, dirmode: 0o755, umaskmp: 0, allowOther: false,
      fscap: 1024, maxlist: 0, maxstat: 2, freshness: new Freshness({ statexpire: -1 }), readOnly: false,
      partSize: 5 * MiB, numtransfer: 4, maxcacheBytes: 64 * MiB, prefetchBytes: 8 * MiB, contentMD5: false, nodatacache: false,
      ...overrides,
    };
  }

  /** A Filesystem on the test bucket with its own client (so its request counts are its own). */
  async function newFs(overrides: Partial<FilesystemSettings> = {}): Promise<{ fs: Filesystem; s: FilesystemSettings; b: S3ClientBundle }> {
    const b = storeClient();
    bundles.push(b);
    const s = await settings(overrides);
    return { fs: new Filesystem(new S3ObjectStore(b, bucket.name), s, logger), s, b };
  }

  let fs: Filesystem;
  let s: FilesystemSettings;

  before(async () => {
    bucket = await TestBucket.create('fs-filesystem');
    bundle = storeClient();
    bundles.push(bundle);
    s = await settings();
    fs = new Filesystem(new S3ObjectStore(bundle, bucket.name), s, logger);
  });

  after(async () => {
    for (const b of bundles) b.destroy();
    for (const d of diskdirs) await fsp.rm(d, { recursive: true, force: true });
    await bucket?.destroy();
  });

  describe('create, write, flush, release', () => {
    test('flush stores the bytes with s3fs metadata; nothing reaches diskdir while memory suffices', async () => {
      const data = randomBytes(100_000);
      const t0 = Date.now();
      const fh = await fs.create('/new.bin', 0o640);
      await writeAt(fs, fh, data.subarray(0, 60_000), 0);
      await writeAt(fs, fh, data.subarray(60_000), 60_000);
      // nothing is uploaded before flush; the data waits in the memory cache (no spill file under diskdir)
      assert.equal(await bucket.head('new.bin'), null);
      assert.equal((await fsp.readdir(s.diskdir)).length, 0);

      await fs.flush(fh);
      assert.deepEqual(await bucket.get('new.bin'), data);
      const h = await bucket.head('new.bin');
      assert.ok(h);
      assert.equal(h.ContentLength, data.length);
      const meta = h.Metadata ?? {};
      assert.equal(meta['mode'], String(S_IFREG | 0o640));
      assert.equal(meta['uid'], String(process.getuid!()));
      assert.equal(meta['gid'], String(process.getgid!()));
      assert.match(meta['mtime'] ?? '', /^\d+(\.\d+)?$/);
      const mtimeMs = Number(meta['mtime']) * 1000;
      assert.ok(mtimeMs >= t0 - 2000 && mtimeMs <= Date.now() + 2000, `mtime ${meta['mtime']}`);

      // a clean file: release uploads nothing more, and the local copy goes
      const before = bundle.stats.snapshot().total;
      await fs.release(fh);
      assert.equal(bundle.stats.snapshot().total, before);
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
      assert.equal(fs.openFileCount, 0);

      const st = await fs.getattr('/new.bin');
      assert.equal(st.size, data.length);
      assert.equal(st.mode, S_IFREG | 0o640);
    });

    test('an empty created file is uploaded at release', async () => {
      const fh = await fs.create('/empty.txt', 0o644);
      await fs.release(fh);
      const h = await bucket.head('empty.txt');
      assert.ok(h);
      assert.equal(h.ContentLength, 0);
      assert.equal(h.Metadata?.['mode'], String(S_IFREG | 0o644));
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
    });

    test('getattr of a file being written reports the local size before flush', async () => {
      const fh = await fs.create('/growing.bin', 0o600);
      await writeAt(fs, fh, randomBytes(1000), 0);
      let st = await fs.getattr('/growing.bin');
      assert.equal(st.size, 1000);
      assert.equal(st.mode, S_IFREG | 0o600);
      // a write past the end leaves a hole and extends the file
      await writeAt(fs, fh, 'tail', 5000);
      st = await fs.getattr('/growing.bin');
      assert.equal(st.size, 5004);
      assert.equal(st.blocks, Math.ceil(5004 / 512));
      assert.equal(await bucket.head('growing.bin'), null, 'not uploaded before flush');
      assert.equal((await readAt(fs, fh, 10, 2000)).toString('hex'), '00'.repeat(10));
      await fs.flush(fh);
      await fs.release(fh);
      const stored = await bucket.get('growing.bin');
      assert.equal(stored.length, 5004);
      assert.equal(stored.subarray(5000).toString(), 'tail');
      assert.equal((await fs.getattr('/growing.bin')).size, 5004);
    });
  });

  describe('reading and changing existing objects', () => {
    test('a write across two pages, one cached and one not, keeps the cached one while the other is fetched (a cache of one page)', async () => {
      // The fetch of the second page makes the budget drop the oldest clean page: the first,
      // which the write still needs. It used to come back as zeros under the write.
      const PAGE = 128 * KiB;
      const data = randomBytes(4 * PAGE);
      await bucket.put('pinned/f', data);
      const { fs: small } = await newFs({ maxcacheBytes: PAGE, prefetchBytes: 0 });
      const fh = await small.open('/pinned/f', O_WRONLY); // opened for writing: nothing fetched at open
      const reader = await small.open('/pinned/f', O_RDONLY);
      assert.ok((await readAt(small, reader, 1, PAGE - 1)).equals(data.subarray(PAGE - 1, PAGE)), 'page 0 is cached');
      const patch = Buffer.alloc(20, 0xee);
      await writeAt(small, fh, patch, PAGE - 10);
      await small.release(reader);
      await small.release(fh);
      const expected = Buffer.from(data);
      patch.copy(expected, PAGE - 10);
      assert.ok((await bucket.get('pinned/f')).equals(expected), 'the object has the old bytes around the write');
    });

    test('reads across chunk boundaries return the bytes put', async () => {
      const data = randomBytes(2.5 * MiB);
      await bucket.put('big.bin', data);
      const fh = await fs.open('/big.bin', O_RDONLY);
      assert.equal((await fs.getattr('/big.bin')).size, data.length);
      for (const at of [MiB - 100 * KiB, 2 * MiB - 150 * KiB, 0, MiB - 1]) {
        const got = await readAt(fs, fh, 300 * KiB, at);
        assert.equal(got.length, 300 * KiB, `length at ${at}`);
        assert.ok(got.equals(data.subarray(at, at + 300 * KiB)), `bytes at ${at}`);
      }
      // at the end: a short read, then nothing
      const tail = await readAt(fs, fh, 300 * KiB, data.length - 100 * KiB);
      assert.equal(tail.length, 100 * KiB);
      assert.ok(tail.equals(data.subarray(data.length - 100 * KiB)));
      assert.equal((await readAt(fs, fh, 10, data.length)).length, 0);
      // reading does not download the object to disk
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
      await fs.release(fh);
      assert.ok((await bucket.get('big.bin')).equals(data), 'reading changed nothing');
    });

    test('a write at an offset keeps the other bytes; flush uploads the merged content', async () => {
      await bucket.put('edit.txt', 'abcdefghijklmnopqrstuvwxyz');
      const fh = await fs.open('/edit.txt', O_RDWR);
      await writeAt(fs, fh, 'XYZ', 10);
      assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'abcdefghijXYZnopqrstuvwxyz');
      assert.equal((await bucket.get('edit.txt')).toString(), 'abcdefghijklmnopqrstuvwxyz', 'not uploaded before flush');
      await fs.flush(fh);
      assert.equal((await bucket.get('edit.txt')).toString(), 'abcdefghijXYZnopqrstuvwxyz');
      // a second handle on the same path sees the same data
      const fh2 = await fs.open('/edit.txt', O_RDONLY);
      assert.equal((await readAt(fs, fh2, 3, 10)).toString(), 'XYZ');
      await fs.release(fh2);
      await fs.release(fh);
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
      const h = await bucket.head('edit.txt');
      assert.equal(h?.Metadata?.['mode'], String(S_IFREG | 0o644), 'default mode stored');
    });

    test('open with O_TRUNC empties the file', async () => {
      await bucket.put('trunc-open.txt', 'some content');
      const fh = await fs.open('/trunc-open.txt', O_WRONLY | O_TRUNC);
      assert.equal((await fs.getattr('/trunc-open.txt')).size, 0);
      await writeAt(fs, fh, 'new', 0);
      await fs.release(fh);
      assert.equal((await bucket.get('trunc-open.txt')).toString(), 'new');
    });

    test('open of a directory: EISDIR; of a missing path: ENOENT', async () => {
      await bucket.put('opendir/x', 'x');
      await assert.rejects(fs.open('/opendir', O_RDONLY), fsError('EISDIR'));
      await assert.rejects(fs.open('/no-such-file', O_RDONLY), fsError('ENOENT'));
    });
  });

  describe('readdir', () => {
    test('files, implicit and marker directories once each; no own marker; pending files; bad names skipped', async () => {
      for (const key of [
        'ls/', 'ls/a.txt', 'ls/b.txt', 'ls/marked/', 'ls/marked/in.txt', 'ls/implicit/deep/x.txt',
        'ls/both', 'ls/both/inner', 'ls/./dot', 'ls/../dotdot', 'ls//empty-segment',
      ]) {
        await bucket.put(key, key.endsWith('/') ? '' : `content of ${key}`);
      }
      // the awkward keys really are in the bucket, so the listing does meet them
      const stored = await bucket.keys('ls/');
      for (const key of ['ls/./dot', 'ls/../dotdot', 'ls//empty-segment']) assert.ok(stored.includes(key), `${key} in ${stored.join(', ')}`);

      const pending = await fs.create('/ls/pending.txt', 0o644);
      await writeAt(fs, pending, 'not yet uploaded', 0);
      // an open (dirty) file that is also in the bucket
      const openA = await fs.open('/ls/a.txt', O_RDWR);
      await writeAt(fs, openA, 'A', 0);

      const names = await fs.readdir('/ls');
      assert.deepEqual(names.slice(0, 2), ['.', '..']);
      assert.deepEqual([...names].sort(), ['.', '..', 'a.txt', 'b.txt', 'both', 'implicit', 'marked', 'pending.txt']);
      assert.equal(new Set(names).size, names.length, `duplicates in ${names.join(', ')}`);
      assert.ok(!names.includes(''));

      assert.equal(((await fs.getattr('/ls/implicit')).mode & S_IFMT), S_IFDIR);
      assert.equal(((await fs.getattr('/ls/marked')).mode & S_IFMT), S_IFDIR);
      assert.equal(((await fs.getattr('/ls/pending.txt')).mode & S_IFMT), S_IFREG);
      assert.deepEqual([...await fs.readdir('/ls/marked')].sort(), ['.', '..', 'in.txt']);
      assert.deepEqual(await fs.readdir('/ls/implicit'), ['.', '..', 'deep']);

      await fs.release(pending);
      await fs.release(openA);
      assert.equal((await bucket.get('ls/pending.txt')).toString(), 'not yet uploaded');
    });

    test('an unlinked open file is not listed', async () => {
      const fh = await fs.create('/ls2/ghost', 0o644);
      await fs.unlink('/ls2/ghost');
      await fs.create('/ls2/real', 0o644).then((h) => fs.release(h));
      assert.deepEqual(await fs.readdir('/ls2'), ['.', '..', 'real']);
      await fs.release(fh);
      assert.equal(await bucket.head('ls2/ghost'), null);
    });

    test('readdir of a file: ENOTDIR; of a missing directory: ENOENT', async () => {
      await bucket.put('plain-file', 'x');
      await assert.rejects(fs.readdir('/plain-file'), fsError('ENOTDIR'));
      await assert.rejects(fs.readdir('/missing-dir'), fsError('ENOENT'));
    });

    describe('more than 1000 keys', () => {
      const COUNT = 1005;
      const names = Array.from({ length: COUNT }, (_, i) => `f${String(i).padStart(5, '0')}`);

      before(async () => {
        await inParallel(names, 32, (n) => bucket.put(`many/${n}`, ''));
        assert.equal((await bucket.keys('many/')).length, COUNT);
      });

      test('all of them are listed', async () => {
        const listed = await fs.readdir('/many');
        assert.equal(listed.length, COUNT + 2);
        assert.deepEqual(listed.slice(2).sort(), names);
      });

      test('maxlist 10: ten of them, from one listing page', async () => {
        const { fs: limited, b } = await newFs({ maxlist: 10 });
        const listed = await limited.readdir('/many');
        assert.equal(listed.length, 12);
        assert.deepEqual(listed.slice(0, 2), ['.', '..']);
        for (const n of listed.slice(2)) assert.ok(names.includes(n), n);
        assert.equal(new Set(listed).size, 12);
        // one listing for the lookup of /many, one page for the names
        assert.equal(b.stats.snapshot().byOperation['ListObjectsV2Command'], 2);
      });
    });
  });

  describe('directories', () => {
    test('mkdir writes a marker; rmdir removes it', async () => {
      await fs.mkdir('/dir1', 0o750);
      const h = await bucket.head('dir1/');
      assert.ok(h);
      assert.equal(h.ContentLength, 0);
      assert.equal(h.ContentType, 'application/x-directory');
      assert.equal(h.Metadata?.['mode'], String(S_IFDIR | 0o750));
      assert.equal((await fs.getattr('/dir1')).mode, S_IFDIR | 0o750);
      assert.deepEqual(await fs.readdir('/dir1'), ['.', '..']);
      // a fresh Filesystem (no cache) reads the mode back from the marker
      const { fs: fresh } = await newFs();
      assert.equal((await fresh.getattr('/dir1')).mode, S_IFDIR | 0o750);

      await fs.rmdir('/dir1');
      assert.equal(await bucket.head('dir1/'), null);
      await assert.rejects(fs.getattr('/dir1'), fsError('ENOENT'));
    });

    test('mkdir of an existing path: EEXIST', async () => {
      await fs.mkdir('/dir2', 0o755);
      await assert.rejects(fs.mkdir('/dir2', 0o755), fsError('EEXIST'));
      await bucket.put('a-file', 'x');
      await assert.rejects(fs.mkdir('/a-file', 0o755), fsError('EEXIST'));
      assert.equal(await bucket.head('a-file/'), null);
      // an implicit directory exists too
      await bucket.put('implicit2/child', 'x');
      await assert.rejects(fs.mkdir('/implicit2', 0o755), fsError('EEXIST'));
      assert.equal(await bucket.head('implicit2/'), null);
    });

    test('rmdir of a non-empty directory: ENOTEMPTY (objects, or an open new file)', async () => {
      await fs.mkdir('/dir3', 0o755);
      const fh = await fs.create('/dir3/f', 0o644);
      await assert.rejects(fs.rmdir('/dir3'), fsError('ENOTEMPTY'), 'an unflushed file counts');
      await fs.release(fh);
      await assert.rejects(fs.rmdir('/dir3'), fsError('ENOTEMPTY'));
      assert.ok(await bucket.head('dir3/'), 'the marker is still there');
      await fs.unlink('/dir3/f');
      await fs.rmdir('/dir3');
      assert.deepEqual(await bucket.keys('dir3/'), []);
    });

    test('getattr of a missing path: ENOENT', async () => {
      await assert.rejects(fs.getattr('/does/not/exist'), fsError('ENOENT'));
      await assert.rejects(fs.getattr('/nothing-here'), fsError('ENOENT'));
    });

    test('the root is a directory with dirmode', async () => {
      const st = await fs.getattr('/');
      assert.equal(st.mode, S_IFDIR | 0o755);
    });
  });

  describe('unlink', () => {
    test('unlink while open: the handle keeps its data, flush does not bring the object back', async () => {
      const fh = await fs.create('/gone.txt', 0o644);
      await writeAt(fs, fh, 'still here', 0);
      await fs.flush(fh);
      assert.ok(await bucket.head('gone.txt'));

      await fs.unlink('/gone.txt');
      assert.equal(await bucket.head('gone.txt'), null);
      await assert.rejects(fs.getattr('/gone.txt'), fsError('ENOENT'));
      assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'still here');

      await writeAt(fs, fh, ' and more', 10);
      await fs.flush(fh);
      assert.equal(await bucket.head('gone.txt'), null, 'flush re-created the object');
      assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'still here and more');
      await fs.release(fh);
      assert.equal(await bucket.head('gone.txt'), null, 'release re-created the object');
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
      assert.ok(!(await fs.readdir('/')).includes('gone.txt'));
    });

    test('unlink of a file never uploaded sends no DELETE and leaves nothing', async () => {
      const fh = await fs.create('/never.txt', 0o644);
      await writeAt(fs, fh, 'x', 0);
      const before = bundle.stats.snapshot().byOperation['DeleteObjectCommand'] ?? 0;
      await fs.unlink('/never.txt');
      assert.equal(bundle.stats.snapshot().byOperation['DeleteObjectCommand'] ?? 0, before);
      await fs.release(fh);
      assert.equal(await bucket.head('never.txt'), null);
    });

    test('rmdir of a missing path: ENOENT; of a file: ENOTDIR, and the file stays', async () => {
      await bucket.put('rmdir-file', 'f');
      await assert.rejects(fs.rmdir('/rmdir-missing'), fsError('ENOENT'));
      await assert.rejects(fs.rmdir('/rmdir-file'), fsError('ENOTDIR'));
      assert.ok(await bucket.head('rmdir-file'));
      assert.equal((await fs.getattr('/rmdir-file')).size, 1);
    });

    test('unlink of a directory: EISDIR; of a missing file: ENOENT', async () => {
      await bucket.put('udir/x', 'x');
      await assert.rejects(fs.unlink('/udir'), fsError('EISDIR'));
      await assert.rejects(fs.unlink('/no-such'), fsError('ENOENT'));
      assert.ok(await bucket.head('udir/x'));
    });

    test('unlink of an object opened for reading, before any read: the handle still reads it', async () => {
      await bucket.put('gone-ro.txt', 'read me after unlink');
      const fh = await fs.open('/gone-ro.txt', O_RDONLY);
      try {
        await fs.unlink('/gone-ro.txt');
        assert.equal(await bucket.head('gone-ro.txt'), null);
        assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'read me after unlink');
      } finally {
        await fs.release(fh);
      }
    });
  });

  describe('rename', () => {
    test('a file: the object moves with its metadata', async () => {
      const fh = await fs.create('/r/a.txt', 0o600);
      await writeAt(fs, fh, 'renamed content', 0);
      await fs.release(fh);
      const meta = (await bucket.head('r/a.txt'))?.Metadata;
      assert.equal(meta?.['mode'], String(S_IFREG | 0o600));

      await fs.rename('/r/a.txt', '/r/b.txt');
      assert.equal(await bucket.head('r/a.txt'), null);
      const h = await bucket.head('r/b.txt');
      assert.ok(h);
      // The same metadata, but for the change time, which the rename moves (the copy writes it).
      const { ctime: before, ...kept } = meta ?? {};
      const { ctime: after, ...moved } = h.Metadata ?? {};
      assert.deepEqual(moved, kept);
      assert.ok(Number(after) >= Number(before), `ctime ${before} -> ${after}`);
      assert.equal((await bucket.get('r/b.txt')).toString(), 'renamed content');
      await assert.rejects(fs.getattr('/r/a.txt'), fsError('ENOENT'));
      const st = await fs.getattr('/r/b.txt');
      assert.equal(st.size, 'renamed content'.length);
      assert.equal(st.mode, S_IFREG | 0o600);
    });

    test('a file onto an existing file replaces it', async () => {
      await bucket.put('r/src', 'new');
      await bucket.put('r/dst', 'old content');
      await fs.rename('/r/src', '/r/dst');
      assert.equal((await bucket.get('r/dst')).toString(), 'new');
      assert.equal(await bucket.head('r/src'), null);
      assert.equal((await fs.getattr('/r/dst')).size, 3);
    });

    test('an open dirty file: its data reaches the new key, not the old', async () => {
      const fh = await fs.create('/r/open.txt', 0o644);
      await writeAt(fs, fh, 'first part', 0);
      await fs.rename('/r/open.txt', '/r/moved.txt');
      await writeAt(fs, fh, ' second part', 10);
      assert.equal((await fs.getattr('/r/moved.txt')).size, 22);
      await assert.rejects(fs.getattr('/r/open.txt'), fsError('ENOENT'));
      await fs.flush(fh);
      await fs.release(fh);
      assert.equal((await bucket.get('r/moved.txt')).toString(), 'first part second part');
      assert.equal(await bucket.head('r/open.txt'), null);
      assert.ok(!(await bucket.keys('r/')).includes('r/open.txt'));
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
    });

    test('a directory with a marker moves with everything below it, attributes kept', async () => {
      await fs.mkdir('/r/dir', 0o750);
      await bucket.put('r/dir/inside', 'x');
      await bucket.put('r/dir/sub/deeper', 'yy', { Metadata: { mode: String(S_IFREG | 0o600) } });
      await fs.rename('/r/dir', '/r/dir2');
      assert.deepEqual((await bucket.keys('r/dir2')).sort(), ['r/dir2/', 'r/dir2/inside', 'r/dir2/sub/deeper']);
      assert.deepEqual(await bucket.keys('r/dir/'), [], 'nothing left at the old prefix');
      assert.equal((await bucket.get('r/dir2/sub/deeper')).toString(), 'yy');
      assert.equal((await bucket.head('r/dir2/sub/deeper'))?.Metadata?.['mode'], String(S_IFREG | 0o600), 'metadata copied');
      assert.equal((await fs.getattr('/r/dir2')).mode, S_IFDIR | 0o750, 'the marker (and its mode) moved');
      await assert.rejects(fs.getattr('/r/dir'), fsError('ENOENT'));
      assert.deepEqual((await fs.readdir('/r/dir2')).sort(), ['.', '..', 'inside', 'sub']);
    });

    test('an implicit directory moves (no marker appears); an empty target directory is replaced', async () => {
      await bucket.put('r/impl/a', 'a');
      await bucket.put('r/impl/b', 'b');
      await fs.mkdir('/r/empty-target', 0o755);
      await fs.rename('/r/impl', '/r/empty-target');
      assert.deepEqual((await bucket.keys('r/empty-target')).sort(), ['r/empty-target/', 'r/empty-target/a', 'r/empty-target/b']);
      assert.deepEqual(await bucket.keys('r/impl'), []);
    });

    test('a directory onto a non-empty directory: ENOTEMPTY; onto a file: ENOTDIR; nothing moved', async () => {
      await bucket.put('r/src-d/x', 'x');
      await bucket.put('r/full-d/y', 'y');
      await bucket.put('r/plain-f', 'f');
      await assert.rejects(fs.rename('/r/src-d', '/r/full-d'), fsError('ENOTEMPTY'));
      await assert.rejects(fs.rename('/r/src-d', '/r/plain-f'), fsError('ENOTDIR'));
      assert.deepEqual(await bucket.keys('r/src-d'), ['r/src-d/x']);
      assert.deepEqual(await bucket.keys('r/full-d'), ['r/full-d/y']);
    });

    test('a file onto a directory: EISDIR, nothing moved', async () => {
      await bucket.put('r/file-x', 'x');
      await fs.mkdir('/r/target-dir', 0o755);
      await assert.rejects(fs.rename('/r/file-x', '/r/target-dir'), fsError('EISDIR'));
      assert.ok(await bucket.head('r/file-x'));
      assert.deepEqual(await bucket.keys('r/target-dir'), ['r/target-dir/']);
    });

    test('a missing source: ENOENT', async () => {
      await assert.rejects(fs.rename('/r/nope', '/r/whatever'), fsError('ENOENT'));
      assert.equal(await bucket.head('r/whatever'), null);
    });
  });

  describe('truncate', () => {
    test('by path: shrink, then grow with zeros', async () => {
      await bucket.put('tr.txt', '0123456789', { Metadata: { mode: String(S_IFREG | 0o600) } });
      await fs.truncate('/tr.txt', 4);
      assert.equal((await bucket.get('tr.txt')).toString(), '0123');
      assert.equal((await fs.getattr('/tr.txt')).size, 4);
      assert.equal((await bucket.head('tr.txt'))?.Metadata?.['mode'], String(S_IFREG | 0o600), 'mode kept');

      await fs.truncate('/tr.txt', 8);
      assert.deepEqual(await bucket.get('tr.txt'), Buffer.concat([Buffer.from('0123'), Buffer.alloc(4)]));
      assert.equal((await fs.getattr('/tr.txt')).size, 8);

      await fs.truncate('/tr.txt', 0);
      assert.equal((await bucket.get('tr.txt')).length, 0);
      assert.equal(fs.openFileCount, 0);
      assert.deepEqual(await fsp.readdir(s.diskdir), []);
    });

    test('by path of a missing file: ENOENT, nothing created', async () => {
      await assert.rejects(fs.truncate('/tr-missing', 5), fsError('ENOENT'));
      assert.equal(await bucket.head('tr-missing'), null);
    });

    test('ftruncate on a handle: the object changes at flush', async () => {
      await bucket.put('ftr.txt', 'abcdefgh');
      const fh = await fs.open('/ftr.txt', O_RDWR);
      await fs.ftruncate(fh, 2);
      assert.equal((await fs.getattr('/ftr.txt')).size, 2);
      assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'ab');
      assert.equal((await bucket.get('ftr.txt')).toString(), 'abcdefgh', 'not uploaded before flush');
      await fs.flush(fh);
      assert.equal((await bucket.get('ftr.txt')).toString(), 'ab');
      await fs.ftruncate(fh, 5);
      assert.deepEqual(await readAt(fs, fh, 100, 0), Buffer.from([0x61, 0x62, 0, 0, 0]));
      await fs.release(fh);
      assert.deepEqual(await bucket.get('ftr.txt'), Buffer.from([0x61, 0x62, 0, 0, 0]));
    });

    test('truncate by path of an open file changes what the handle sees', async () => {
      await bucket.put('tr-open.txt', 'hello world');
      const fh = await fs.open('/tr-open.txt', O_RDWR);
      await fs.truncate('/tr-open.txt', 5);
      assert.equal((await readAt(fs, fh, 100, 0)).toString(), 'hello');
      await fs.release(fh);
      assert.equal((await bucket.get('tr-open.txt')).toString(), 'hello');
    });
  });

  describe('symlinks', () => {
    test('symlink stores the target; readlink reads it back', async () => {
      await fs.symlink('../some/target path', '/links/ln');
      const h = await bucket.head('links/ln');
      assert.ok(h);
      assert.equal(h.ContentType, 'application/symlink');
      assert.equal(h.Metadata?.['mode'], String(S_IFLNK | 0o777));
      assert.equal((await bucket.get('links/ln')).toString(), '../some/target path');

      assert.equal(await fs.readlink('/links/ln'), '../some/target path');
      const st = await fs.getattr('/links/ln');
      assert.equal(st.mode & S_IFMT, S_IFLNK);
      assert.equal(st.size, Buffer.byteLength('../some/target path'));
      // without the cache: from HEAD and GET
      const { fs: fresh } = await newFs();
      assert.equal(await fresh.readlink('/links/ln'), '../some/target path');
      assert.equal((await fresh.getattr('/links/ln')).mode & S_IFMT, S_IFLNK);
    });

    test('symlink onto an existing path: EEXIST', async () => {
      await bucket.put('links/taken', 'regular');
      await assert.rejects(fs.symlink('x', '/links/taken'), fsError('EEXIST'));
      assert.equal((await bucket.get('links/taken')).toString(), 'regular');
    });

    test('readlink of a regular file: EINVAL; of a directory: EINVAL; of nothing: ENOENT', async () => {
      await bucket.put('links/regular', 'not a link');
      await assert.rejects(fs.readlink('/links/regular'), fsError('EINVAL'));
      await assert.rejects(fs.readlink('/links'), fsError('EINVAL'));
      await assert.rejects(fs.readlink('/links/none'), fsError('ENOENT'));
    });
  });

  describe('read-only', () => {
    test('write-type operations fail with EROFS and send no request', async () => {
      await bucket.put('ro/file.txt', 'read only content');
      await bucket.put('ro/dir/x', 'x');
      const keysBefore = (await bucket.keys()).sort();
      const { fs: ro, b } = await newFs({ readOnly: true });

      // reading works
      const rfh = await ro.open('/ro/file.txt', O_RDONLY);
      assert.equal((await readAt(ro, rfh, 100, 0)).toString(), 'read only content');

      const before = b.stats.snapshot().total;
      const refused: Array<[string, () => Promise<unknown>]> = [
        ['create', () => ro.create('/ro/new.txt', 0o644)],
        ['mkdir', () => ro.mkdir('/ro/newdir', 0o755)],
        ['rmdir', () => ro.rmdir('/ro/dir')],
        ['unlink', () => ro.unlink('/ro/file.txt')],
        ['rename', () => ro.rename('/ro/file.txt', '/ro/other.txt')],
        ['symlink', () => ro.symlink('file.txt', '/ro/ln')],
        ['truncate', () => ro.truncate('/ro/file.txt', 0)],
        ['open O_WRONLY', () => ro.open('/ro/file.txt', O_WRONLY)],
        ['open O_RDWR', () => ro.open('/ro/file.txt', O_RDWR)],
        ['open O_TRUNC', () => ro.open('/ro/file.txt', O_WRONLY | O_TRUNC)],
        ['write', () => ro.write(rfh, Buffer.from('x'), 1, 0)],
        ['ftruncate', () => ro.ftruncate(rfh, 0)],
        ['chmod', () => ro.chmod('/ro/file.txt', 0o600)],
        ['chown', () => ro.chown('/ro/file.txt', 1, 1)],
        ['utimens', () => ro.utimens('/ro/file.txt', undefined, Date.now())],
      ];
      for (const [name, op] of refused) {
        await assert.rejects(op(), fsError('EROFS'), name);
      }
      assert.equal(b.stats.snapshot().total, before, `requests sent: ${JSON.stringify(b.stats.snapshot().byOperation)}`);
      await ro.flush(rfh);
      await ro.release(rfh);
      assert.equal(b.stats.snapshot().total, before, 'flush/release of a read handle sent requests');
      assert.deepEqual((await bucket.keys()).sort(), keysBefore);
      assert.equal((await bucket.get('ro/file.txt')).toString(), 'read only content');
    });
  });

  describe('attributes: chmod, chown, utimens persist in metadata by a server-side copy', () => {
    test('of a file: metadata changes, the data is not sent again, other metadata is kept', async () => {
      await bucket.put('attr/f.txt', 'payload', { Metadata: { mode: String(S_IFREG | 0o644), 'other-tool': 'kept' } });
      const { fs: a, b } = await newFs();
      await a.getattr('/attr/f.txt');
      const sentBefore = b.stats.snapshot().bytesSent;
      await a.chmod('/attr/f.txt', 0o751);
      await a.chown('/attr/f.txt', 1234, 0xffffffff);
      await a.chown('/attr/f.txt', 0xffffffff, 5678);
      await a.utimens('/attr/f.txt', undefined, 1_000_000_000_500);
      assert.equal(b.stats.snapshot().bytesSent, sentBefore, 'no data sent (server-side copies only)');
      assert.equal(b.stats.snapshot().byOperation['PutObjectCommand'] ?? 0, 0);
      const h = await bucket.head('attr/f.txt');
      assert.equal(h?.Metadata?.['mode'], String(S_IFREG | 0o751));
      assert.equal(h?.Metadata?.['uid'], '1234');
      assert.equal(h?.Metadata?.['gid'], '5678');
      assert.equal(h?.Metadata?.['mtime'], '1000000000.5');
      assert.equal(h?.Metadata?.['other-tool'], 'kept');
      assert.equal((await bucket.get('attr/f.txt')).toString(), 'payload');
      const { fs: fresh } = await newFs();
      const st = await fresh.getattr('/attr/f.txt');
      assert.deepEqual([st.mode, st.uid, st.gid, st.mtime.getTime()], [S_IFREG | 0o751, 1234, 5678, 1_000_000_000_500]);
    });

    test('of an implicit directory: creates its marker; of a marker directory and a symlink: updates them', async () => {
      await bucket.put('attr/impl/x', 'x');
      await fs.chmod('/attr/impl', 0o700);
      const marker = await bucket.head('attr/impl/');
      assert.equal(marker?.Metadata?.['mode'], String(S_IFDIR | 0o700), 'marker created with the mode');
      await fs.mkdir('/attr/md', 0o755);
      await fs.utimens('/attr/md', undefined, 1_500_000_000_000);
      assert.equal((await bucket.head('attr/md/'))?.Metadata?.['mtime'], '1500000000');
      assert.equal((await bucket.head('attr/md/'))?.ContentType, 'application/x-directory');
      await fs.symlink('target', '/attr/ln');
      await fs.chown('/attr/ln', 42, 43);
      const ln = await bucket.head('attr/ln');
      assert.equal(ln?.Metadata?.['uid'], '42');
      assert.equal(ln?.ContentType, 'application/symlink', 'still a symlink');
      assert.equal(await fs.readlink('/attr/ln'), 'target');
    });

    test('of a file open with unsaved data: kept for the upload at close', async () => {
      const fh = await fs.create('/attr/open.txt', 0o644);
      await writeAt(fs, fh, 'data', 0);
      await fs.chmod('/attr/open.txt', 0o600);
      await fs.utimens('/attr/open.txt', undefined, 1_200_000_000_000);
      assert.equal(await bucket.head('attr/open.txt'), null, 'nothing stored before close');
      await fs.release(fh);
      const h = await bucket.head('attr/open.txt');
      assert.deepEqual([h?.Metadata?.['mode'], h?.Metadata?.['mtime']], [String(S_IFREG | 0o600), '1200000000']);
    });
  });

  describe('extended attributes', () => {
    test('set, get, list, remove; flags; ENODATA; E2BIG; security.* not stored', async () => {
      await bucket.put('xa/f', 'content');
      await fs.setxattr('/xa/f', 'user.color', Buffer.from('blue'), 0);
      await fs.setxattr('/xa/f', 'user.bin', Buffer.from([0, 1, 2, 255]), 0);
      assert.deepEqual((await fs.getxattr('/xa/f', 'user.bin'))?.toJSON().data, [0, 1, 2, 255]);
      assert.deepEqual((await fs.listxattr('/xa/f')).sort(), ['user.bin', 'user.color']);
      await assert.rejects(fs.setxattr('/xa/f', 'user.color', Buffer.from('red'), 1 /* XATTR_CREATE */), fsError('EEXIST'));
      await assert.rejects(fs.setxattr('/xa/f', 'user.none', Buffer.from('x'), 2 /* XATTR_REPLACE */), fsError('ENODATA'));
      await fs.removexattr('/xa/f', 'user.color');
      await assert.rejects(fs.removexattr('/xa/f', 'user.color'), fsError('ENODATA'));
      assert.equal(await fs.getxattr('/xa/f', 'user.color'), null);
      await assert.rejects(fs.setxattr('/xa/f', 'user.big', Buffer.alloc(3000, 97), 0), fsError('E2BIG'));
      await assert.rejects(fs.setxattr('/xa/f', 'security.selinux', Buffer.from('x'), 0), fsError('ENOTSUP'));
      await assert.rejects(fs.getxattr('/xa/f', 'security.capability'), fsError('ENOTSUP'));
      // stored as s3fs does: URL-encoded JSON, base64 values; a fresh mount reads it back
      const raw = (await bucket.head('xa/f'))?.Metadata?.['xattr'];
      assert.deepEqual(JSON.parse(decodeURIComponent(raw ?? '')), { 'user.bin': 'AAEC/w==' });
      const { fs: fresh } = await newFs();
      assert.deepEqual((await fresh.getxattr('/xa/f', 'user.bin'))?.toJSON().data, [0, 1, 2, 255]);
      assert.equal((await bucket.get('xa/f')).toString(), 'content');
    });
  });

  describe('mknod', () => {
    test('a regular file becomes an empty object; a FIFO or a device a zero-byte object with its type and number; a directory: EINVAL', async () => {
      await fs.mknod('/mk/reg', S_IFREG | 0o640);
      const h = await bucket.head('mk/reg');
      assert.equal(h?.ContentLength, 0);
      assert.equal(h?.Metadata?.['mode'], String(S_IFREG | 0o640));
      await fs.mknod('/mk/fifo', 0o010000 | 0o644);
      await fs.mknod('/mk/chr', 0o020000 | 0o644, undefined, (4 << 8) | 1);
      assert.equal((await bucket.head('mk/fifo'))?.Metadata?.['mode'], String(0o010000 | 0o644));
      assert.equal((await bucket.head('mk/chr'))?.Metadata?.['rdev'], String((4 << 8) | 1));
      const st = await fs.getattr('/mk/chr');
      assert.equal(st.mode, 0o020000 | 0o644);
      assert.equal(st.rdev, (4 << 8) | 1);
      assert.equal(st.size, 0);
      await assert.rejects(fs.mknod('/mk/dir', 0o040000 | 0o755), fsError('EINVAL'));
      await assert.rejects(fs.mknod('/mk/reg', S_IFREG | 0o640), fsError('EEXIST'));
    });
  });

  describe('request economy', () => {
    test('a missing name: at most one request, none when cached', async () => {
      await bucket.put('econ/present', 'p');
      const { fs: e, b } = await newFs();
      await e.getattr('/econ'); // the directory itself, as the kernel looks it up first
      let before = b.stats.snapshot().total;
      await assert.rejects(e.getattr('/econ/absent'), fsError('ENOENT'));
      assert.ok(b.stats.snapshot().total - before <= 1, `requests: ${JSON.stringify(b.stats.snapshot().byOperation)}`);
      before = b.stats.snapshot().total;
      await assert.rejects(e.getattr('/econ/absent'), fsError('ENOENT'));
      assert.equal(b.stats.snapshot().total, before, 'cached: no request');
      // Another missing name in the same (listed) directory: one narrow LIST, since another
      // client may have added it since the listing.
      await assert.rejects(e.getattr('/econ/other-absent'), fsError('ENOENT'));
      assert.equal(b.stats.snapshot().total, before + 1, `requests: ${JSON.stringify(b.stats.snapshot().byOperation)}`);
      // In a directory this mount created: none.
      await e.mkdir('/econ/made', 0o755);
      before = b.stats.snapshot().total;
      await assert.rejects(e.getattr('/econ/made/nothing'), fsError('ENOENT'));
      assert.equal(b.stats.snapshot().total, before, 'a name absent from a directory made here: no request');
    });

    test('ls -l of N files: listing + at most N HEADs; a second time: nothing', async () => {
      const n = 40;
      await inParallel([...Array(n).keys()], 8, (i) => bucket.put(`econ-ls/f${i}`, 'x'));
      const { fs: e, b } = await newFs();
      await e.getattr('/econ-ls');
      const before = b.stats.snapshot();
      const names = (await e.readdir('/econ-ls')).filter((x) => x !== '.' && x !== '..');
      assert.equal(names.length, n);
      for (const name of names) await e.getattr(`/econ-ls/${name}`);
      const after = b.stats.snapshot();
      const lists = (after.byOperation['ListObjectsV2Command'] ?? 0) - (before.byOperation['ListObjectsV2Command'] ?? 0);
      const heads = (after.byOperation['HeadObjectCommand'] ?? 0) - (before.byOperation['HeadObjectCommand'] ?? 0);
      assert.equal(lists, 1, 'one listing page');
      assert.ok(heads <= n, `${heads} HEADs for ${n} files`);
      assert.equal(after.total - before.total, lists + heads, `nothing else: ${JSON.stringify(after.byOperation)}`);
      await e.readdir('/econ-ls');
      for (const name of names) await e.getattr(`/econ-ls/${name}`);
      assert.equal(b.stats.snapshot().total, after.total, 'second ls -l: no request');
    });

    test('a tree walk (find): one LIST for a tree of up to a page of keys, and no listing of a directory in it after', async () => {
      const tree = ['walk/', 'walk/a/', 'walk/a/1', 'walk/a/b/', 'walk/a/b/2', 'walk/c/d/e/3', 'walk/f/', 'walk/top'];
      await inParallel(tree, 8, (k) => bucket.put(k, k.endsWith('/') ? '' : k));
      const { fs: e, b } = await newFs();
      // a file this mount is still writing, in a directory below: listed there too
      const fh = await e.create('/walk/a/b/pending', 0o644);
      const lists = (): number => b.stats.snapshot().byOperation['ListObjectsV2Command'] ?? 0;
      await e.getattr('/walk');
      const before = lists();
      const seen: string[] = [];
      const walk = async (dir: string): Promise<void> => {
        for (const name of (await e.readdir(dir)).slice(2)) {
          const child = `${dir}/${name}`;
          seen.push(child);
          if (((await e.getattr(child)).mode & S_IFMT) === S_IFDIR) await walk(child);
        }
      };
      await walk('/walk');
      assert.deepEqual(seen.sort(), [
        '/walk/a', '/walk/a/1', '/walk/a/b', '/walk/a/b/2', '/walk/a/b/pending', '/walk/c', '/walk/c/d', '/walk/c/d/e', '/walk/c/d/e/3', '/walk/f', '/walk/top',
      ]);
      assert.equal(lists() - before, 1, `requests: ${JSON.stringify(b.stats.snapshot().byOperation)}`);
      await e.release(fh);
    });

    test('a directory whose tree outgrows the first page: every name listed once, directories cut by the page listed again', async () => {
      // 1,100 keys under big/, then names after them: the page ends inside big/
      const keys = [...Array.from({ length: 1100 }, (_, i) => `cut/big/f${String(i).padStart(5, '0')}`), 'cut/big/sub/x', 'cut/small/y', 'cut/z'];
      await inParallel(keys, 32, (k) => bucket.put(k, ''));
      const { fs: e, b } = await newFs();
      await e.getattr('/cut');
      const lists = (): number => b.stats.snapshot().byOperation['ListObjectsV2Command'] ?? 0;
      const before = lists();
      assert.deepEqual((await e.readdir('/cut')).slice(2).sort(), ['big', 'small', 'z']);
      assert.equal(lists() - before, 2, 'the page without a delimiter, then one delimited page after its last key');
      assert.deepEqual(await e.readdir('/cut/small'), ['.', '..', 'y']);
      assert.equal(lists() - before, 3, 'small/ was past the first page: listed on its own');
      const big = (await e.readdir('/cut/big')).slice(2);
      assert.equal(big.length, 1101);
      assert.ok(big.includes('sub') && big.includes('f01099'));
    });

    test('open of a small file looked up earlier: one GET revalidates it and serves the read', async () => {
      await bucket.put('econ-open/small.txt', 'first version');
      await bucket.put('econ-open/empty', '');
      const { fs: e, b } = await newFs();
      await e.getattr('/econ-open/small.txt');
      await e.getattr('/econ-open/empty');
      await bucket.put('econ-open/small.txt', 'second version, longer'); // another client
      await new Promise((r) => setTimeout(r, 1100)); // past the reuse window of a lookup's HEAD
      const before = b.stats.snapshot();
      const fh = await e.open('/econ-open/small.txt', O_RDONLY);
      assert.equal((await readAt(e, fh, 100, 0)).toString(), 'second version, longer');
      await e.release(fh);
      const after = b.stats.snapshot();
      assert.equal(after.total - before.total, 1, `requests: ${JSON.stringify(after.byOperation)}`);
      assert.equal((after.byOperation['GetObjectCommand'] ?? 0) - (before.byOperation['GetObjectCommand'] ?? 0), 1);
      assert.equal((await e.getattr('/econ-open/small.txt')).size, 'second version, longer'.length);
      // An object emptied by another client: no byte 0 to GET, and the open still works.
      await bucket.put('econ-open/small.txt', '');
      await new Promise((r) => setTimeout(r, 1100));
      const fh2 = await e.open('/econ-open/small.txt', O_RDONLY);
      assert.equal((await readAt(e, fh2, 100, 0)).length, 0);
      await e.release(fh2);
      const fh3 = await e.open('/econ-open/empty', O_RDONLY);
      assert.equal((await readAt(e, fh3, 100, 0)).length, 0);
      await e.release(fh3);
    });

    test('create, write, close a small new file: at most 3 requests', async () => {
      const { fs: e, b } = await newFs();
      await e.mkdir('/small', 0o755);
      const before = b.stats.snapshot().total;
      await assert.rejects(e.getattr('/small/new.txt'), fsError('ENOENT')); // the kernel's lookup
      const fh = await e.create('/small/new.txt', 0o644);
      await writeAt(e, fh, 'hello', 0);
      await e.flush(fh);
      await e.release(fh);
      await e.getattr('/small/new.txt');
      assert.ok(b.stats.snapshot().total - before <= 3, `requests: ${JSON.stringify(b.stats.snapshot().byOperation)}`);
    });
  });

  describe('statfs', () => {
    test('fscap 1024 GB: blocks * bsize is 1024 GiB', () => {
      const st = fs.statfs();
      assert.equal(st.blocks * st.bsize, 1024 * 1024 ** 3);
      assert.equal(st.frsize, st.bsize);
      assert.equal(st.bfree, st.blocks);
      assert.equal(st.bavail, st.blocks);
      assert.equal(st.namemax, 255);
    });

    test('a huge capacity is capped at 2^32-1 blocks', async () => {
      const { fs: huge } = await newFs({ fscap: 1024 ** 4 * 10 });
      assert.equal(huge.statfs().blocks, 0xffffffff);
    });
  });

  describe('prefix mounting', () => {
    test("prefix 'sub/': paths map below the prefix, nothing outside is visible", async () => {
      await bucket.put('outside.txt', 'not in the mount');
      await bucket.put('sub/existing.txt', 'inside');
      const { fs: sub, s: subS } = await newFs({ prefix: 'sub/' });

      const fh = await sub.create('/x', 0o644);
      await writeAt(sub, fh, 'in the prefix', 0);
      await sub.release(fh);
      assert.equal((await bucket.get('sub/x')).toString(), 'in the prefix');
      assert.equal(await bucket.head('x'), null);
      assert.deepEqual(await fsp.readdir(subS.diskdir), []);

      await sub.mkdir('/d', 0o755);
      assert.ok(await bucket.head('sub/d/'));
      assert.equal(await bucket.head('d/'), null);

      await assert.rejects(sub.getattr('/outside.txt'), fsError('ENOENT'));
      const fh2 = await sub.open('/existing.txt', O_RDONLY);
      assert.equal((await readAt(sub, fh2, 100, 0)).toString(), 'inside');
      await sub.release(fh2);
      assert.deepEqual([...await sub.readdir('/')].sort(), ['.', '..', 'd', 'existing.txt', 'x']);
      assert.deepEqual(await sub.readdir('/d'), ['.', '..']);

      await sub.rename('/x', '/d/y');
      assert.equal((await bucket.get('sub/d/y')).toString(), 'in the prefix');
      assert.equal(await bucket.head('sub/x'), null);
    });
  });
});
