import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BLOCK_SIZE, DIRECTORY_CONTENT_TYPE, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, SYMLINK_CONTENT_TYPE,
  garbageAttributes, kindOf, metadataOf, statOf, type AttributeDefaults,
} from '../../src/fs/attributes.js';

const DEFAULTS: AttributeDefaults = { filemode: 0o644, dirmode: 0o755, uid: 1000, gid: 1001 };
const LAST_MODIFIED = new Date('2024-03-01T12:00:00.000Z');

describe('kindOf', () => {
  test('a key with a trailing slash is a directory, whatever its metadata', () => {
    assert.equal(kindOf({ key: 'a/', metadata: {} }), 'dir');
    assert.equal(kindOf({ key: 'a/b/', contentType: DIRECTORY_CONTENT_TYPE, metadata: {} }), 'dir');
    assert.equal(kindOf({ key: 'a/', contentType: SYMLINK_CONTENT_TYPE, metadata: { mode: String(S_IFLNK | 0o777) } }), 'dir');
  });

  test('a plain object is a file', () => {
    assert.equal(kindOf({ key: 'a.txt', metadata: {} }), 'file');
    assert.equal(kindOf({ key: 'a.txt', contentType: 'text/plain', metadata: { mode: String(S_IFREG | 0o600) } }), 'file');
    assert.equal(kindOf({ key: 'a.txt', contentType: 'application/octet-stream', metadata: {} }), 'file');
  });

  test('mode with S_IFLNK is a symlink', () => {
    assert.equal(kindOf({ key: 'link', contentType: 'application/octet-stream', metadata: { mode: String(S_IFLNK | 0o777) } }), 'symlink');
    assert.equal(kindOf({ key: 'link', metadata: { mode: '41471' } }), 'symlink'); // 0o120777 as s3fs writes it
  });

  test('content type application/symlink is a symlink', () => {
    assert.equal(kindOf({ key: 'link', contentType: 'application/symlink', metadata: {} }), 'symlink');
    assert.equal(kindOf({ key: 'link', contentType: SYMLINK_CONTENT_TYPE, metadata: { mode: 'garbage' } }), 'symlink');
  });

  test('mode with S_IFDIR but no trailing slash is a directory', () => {
    assert.equal(kindOf({ key: 'd', metadata: { mode: String(S_IFDIR | 0o755) } }), 'dir');
  });

  test('garbage mode does not make a symlink or directory', () => {
    for (const mode of ['abc', '-5', '', '0x1ff', '1.5']) {
      assert.equal(kindOf({ key: 'f', metadata: { mode } }), 'file', mode);
    }
  });
});

describe('statOf', () => {
  test('no metadata: the defaults and Last-Modified', () => {
    const st = statOf('file', 1234, LAST_MODIFIED, {}, DEFAULTS);
    assert.deepEqual(st, {
      mode: S_IFREG | 0o644,
      uid: 1000,
      gid: 1001,
      size: 1234,
      mtime: LAST_MODIFIED,
      atime: LAST_MODIFIED,
      ctime: LAST_MODIFIED,
      nlink: 1,
      blocks: 3,
      blksize: BLOCK_SIZE,
    });
  });

  test('metadata mode, uid, gid and mtime are used', () => {
    const st = statOf('file', 10, LAST_MODIFIED, { mode: String(S_IFREG | 0o4750), uid: '0', gid: '42', mtime: '1700000000' }, DEFAULTS);
    assert.equal(st.mode, S_IFREG | 0o4750);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 42);
    assert.equal(st.mtime.getTime(), 1_700_000_000_000);
    assert.equal(st.atime.getTime(), 1_700_000_000_000);
    assert.equal(st.ctime.getTime(), 1_700_000_000_000);
  });

  test('the file type comes from the kind, the permission bits from the metadata', () => {
    const st = statOf('file', 0, LAST_MODIFIED, { mode: String(S_IFDIR | 0o700) }, DEFAULTS);
    assert.equal(st.mode & S_IFMT, S_IFREG);
    assert.equal(st.mode & 0o7777, 0o700);
  });

  test('garbage metadata falls back to the defaults', () => {
    for (const bad of ['abc', '-5', '', ' ', '12abc', '1e3', '0x10']) {
      const st = statOf('file', 5, LAST_MODIFIED, { mode: bad, uid: bad, gid: bad, mtime: bad }, DEFAULTS);
      assert.equal(st.mode, S_IFREG | 0o644, `mode ${JSON.stringify(bad)}`);
      assert.equal(st.uid, 1000, `uid ${JSON.stringify(bad)}`);
      assert.equal(st.gid, 1001, `gid ${JSON.stringify(bad)}`);
      assert.equal(st.mtime.getTime(), LAST_MODIFIED.getTime(), `mtime ${JSON.stringify(bad)}`);
    }
  });

  test('an integer too large to be exact falls back to the default', () => {
    const st = statOf('file', 0, LAST_MODIFIED, { uid: '99999999999999999999' }, DEFAULTS);
    assert.equal(st.uid, 1000);
  });

  test('a float mtime (as rclone writes it) keeps its fraction', () => {
    const st = statOf('file', 0, LAST_MODIFIED, { mtime: '1700000000.5' }, DEFAULTS);
    assert.equal(st.mtime.getTime(), 1_700_000_000_500);
    const st2 = statOf('file', 0, LAST_MODIFIED, { mtime: '1700000000.123456789' }, DEFAULTS);
    assert.equal(Math.floor(st2.mtime.getTime() / 1000), 1_700_000_000);
    assert.ok(Math.abs(st2.mtime.getTime() - 1_700_000_000_123) <= 1);
  });

  test('directories: size 4096, nlink 2, dirmode', () => {
    const st = statOf('dir', 0, LAST_MODIFIED, {}, DEFAULTS);
    assert.equal(st.mode, S_IFDIR | 0o755);
    assert.equal(st.size, 4096);
    assert.equal(st.nlink, 2);
    assert.equal(st.blocks, 8);
    // a directory marker with content still reports 4096
    assert.equal(statOf('dir', 12345, LAST_MODIFIED, {}, DEFAULTS).size, 4096);
  });

  test('symlinks default to 0777', () => {
    const st = statOf('symlink', 7, LAST_MODIFIED, {}, DEFAULTS);
    assert.equal(st.mode, S_IFLNK | 0o777);
    assert.equal(st.size, 7);
    assert.equal(st.nlink, 1);
  });

  test('blocks are 512-byte units rounded up', () => {
    assert.equal(statOf('file', 0, LAST_MODIFIED, {}, DEFAULTS).blocks, 0);
    assert.equal(statOf('file', 1, LAST_MODIFIED, {}, DEFAULTS).blocks, 1);
    assert.equal(statOf('file', 512, LAST_MODIFIED, {}, DEFAULTS).blocks, 1);
    assert.equal(statOf('file', 513, LAST_MODIFIED, {}, DEFAULTS).blocks, 2);
  });
});

describe('metadataOf', () => {
  const meta = (mode: number, uid: number, gid: number, t: Date, atime = t, ctime = t) => metadataOf({ mode, uid, gid, mtime: t, atime, ctime });

  test('writes s3fs names as decimal strings, times in seconds to the millisecond', () => {
    assert.deepEqual(meta(S_IFREG | 0o640, 1002, 1003, new Date(1_700_000_000_000), new Date(1_600_000_000_250), new Date(1_700_000_005_000)), {
      mode: String(S_IFREG | 0o640), uid: '1002', gid: '1003', mtime: '1700000000', atime: '1600000000.25', ctime: '1700000005',
    });
    assert.equal(meta(S_IFREG | 0o640, 0, 0, new Date(1_700_000_000_500)).mtime, '1700000000.5');
    assert.equal(meta(S_IFREG | 0o640, 0, 0, new Date(1_700_000_010_000)).mtime, '1700000010');
    assert.equal(meta(S_IFREG | 0o640, 0, 0, new Date(1_700_000_000_120)).mtime, '1700000000.12');
    assert.equal(meta(S_IFREG | 0o640, 0, 0, new Date(0)).mtime, '0');
  });

  test('round trip through statOf', () => {
    const cases: Array<{ kind: 'file' | 'dir' | 'symlink'; mode: number; uid: number; gid: number; ms: number }> = [
      { kind: 'file', mode: S_IFREG | 0o600, uid: 1234, gid: 5678, ms: 1_700_000_000_000 },
      { kind: 'file', mode: S_IFREG | 0o2755, uid: 0, gid: 0, ms: 1_700_000_000_500 },
      { kind: 'file', mode: S_IFREG | 0o644, uid: 65534, gid: 65534, ms: 1_712_345_678_901 },
      { kind: 'dir', mode: S_IFDIR | 0o1777, uid: 1, gid: 2, ms: 1_600_000_000_010 },
      { kind: 'symlink', mode: S_IFLNK | 0o777, uid: 1000, gid: 1000, ms: 1_650_000_000_999 },
    ];
    for (const c of cases) {
      const stored = meta(c.mode, c.uid, c.gid, new Date(c.ms), new Date(c.ms - 1234), new Date(c.ms + 5));
      const key = c.kind === 'dir' ? 'd/' : 'x';
      assert.equal(kindOf({ key, metadata: stored }), c.kind);
      const st = statOf(c.kind, 3, LAST_MODIFIED, stored, DEFAULTS);
      assert.equal(st.mode, c.mode, `mode of ${JSON.stringify(c)}`);
      assert.equal(st.uid, c.uid);
      assert.equal(st.gid, c.gid);
      assert.equal(st.mtime.getTime(), c.ms, `mtime ${stored.mtime}`);
      assert.equal(st.atime.getTime(), c.ms - 1234, 'atime');
      assert.equal(st.ctime.getTime(), c.ms + 5, 'ctime');
    }
  });
});

describe('garbageAttributes', () => {
  test('good or absent attributes are not garbage', () => {
    assert.equal(garbageAttributes({}), undefined);
    assert.equal(garbageAttributes({ mode: '33188', uid: '0', gid: '42', mtime: '1700000000' }), undefined);
    assert.equal(garbageAttributes({ mtime: '1700000000.5', uid: ' 7 ' }), undefined);
    assert.equal(garbageAttributes({ mtime: '0' }), undefined);
    // other user metadata is not ours to judge
    assert.equal(garbageAttributes({ 'content-owner': 'abc', xattr: '%%%' }), undefined);
  });

  test('names each garbage field with its raw value', () => {
    assert.deepEqual(garbageAttributes({ mode: 'abc' }), { mode: 'abc' });
    assert.deepEqual(garbageAttributes({ mtime: '-5' }), { mtime: '-5' });
    assert.deepEqual(garbageAttributes({ uid: '-1', gid: '5' }), { uid: '-1' });
    assert.deepEqual(
      garbageAttributes({ mode: '0x1ff', uid: 'root', gid: '1.5', mtime: 'yesterday', other: 'x' }),
      { mode: '0x1ff', uid: 'root', gid: '1.5', mtime: 'yesterday' },
    );
    assert.deepEqual(garbageAttributes({ mode: '', mtime: ' ' }), { mode: '', mtime: ' ' });
  });

  test('integers too large to be exact, and mtimes past what a date holds, are garbage', () => {
    assert.deepEqual(garbageAttributes({ uid: '99999999999999999999' }), { uid: '99999999999999999999' });
    const farFuture = '9'.repeat(20);
    assert.deepEqual(garbageAttributes({ mtime: farFuture }), { mtime: farFuture });
    // and statOf ignores exactly those: Last-Modified stands in for the mtime
    assert.equal(statOf('file', 0, LAST_MODIFIED, { mtime: farFuture }, DEFAULTS).mtime.getTime(), LAST_MODIFIED.getTime());
  });

  test('what garbageAttributes names is what statOf replaces with the defaults', () => {
    const samples = ['abc', '-5', '', '12abc', '1e3', '0x10', '7', '1.5', ' 3 ', '99999999999999999999', '1700000000.25'];
    for (const raw of samples) {
      const garbage = garbageAttributes({ mode: raw, uid: raw, gid: raw, mtime: raw }) ?? {};
      const st = statOf('file', 0, LAST_MODIFIED, { mode: raw, uid: raw, gid: raw, mtime: raw }, DEFAULTS);
      assert.equal('mode' in garbage, st.mode === (S_IFREG | 0o644) && raw !== String(0o644), `mode ${JSON.stringify(raw)}`);
      assert.equal('uid' in garbage, st.uid === DEFAULTS.uid, `uid ${JSON.stringify(raw)}`);
      assert.equal('gid' in garbage, st.gid === DEFAULTS.gid, `gid ${JSON.stringify(raw)}`);
      assert.equal('mtime' in garbage, st.mtime.getTime() === LAST_MODIFIED.getTime(), `mtime ${JSON.stringify(raw)}`);
    }
  });
});
