import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyMapper, baseName, isValidName, joinPath, namesBothFileAndDir, parentOf, splitListing } from '../../src/fs/keys.js';

describe('KeyMapper without a prefix', () => {
  const k = new KeyMapper('');

  test('file keys', () => {
    assert.equal(k.fileKey('/a.txt'), 'a.txt');
    assert.equal(k.fileKey('/a/b/c.txt'), 'a/b/c.txt');
    assert.equal(k.fileKey('/with space+plus%.txt'), 'with space+plus%.txt');
    assert.equal(k.fileKey('/日本語/ファイル'), '日本語/ファイル');
  });

  test('directory prefixes', () => {
    assert.equal(k.dirPrefix('/'), '');
    assert.equal(k.dirPrefix('/a'), 'a/');
    assert.equal(k.dirPrefix('/a/b'), 'a/b/');
  });
});

describe('KeyMapper with a prefix', () => {
  const k = new KeyMapper('data/sub/');

  test('the prefix is kept', () => {
    assert.equal(k.prefix, 'data/sub/');
  });

  test('file keys', () => {
    assert.equal(k.fileKey('/a.txt'), 'data/sub/a.txt');
    assert.equal(k.fileKey('/a/b.txt'), 'data/sub/a/b.txt');
  });

  test('directory prefixes; the root is the prefix itself', () => {
    assert.equal(k.dirPrefix('/'), 'data/sub/');
    assert.equal(k.dirPrefix('/a'), 'data/sub/a/');
    assert.equal(k.dirPrefix('/a/b'), 'data/sub/a/b/');
  });

  test('a file key and its directory prefix differ by the trailing slash only', () => {
    assert.equal(k.dirPrefix('/x'), `${k.fileKey('/x')}/`);
  });
});

describe('path helpers', () => {
  test('parentOf', () => {
    assert.equal(parentOf('/'), '/');
    assert.equal(parentOf('/a'), '/');
    assert.equal(parentOf('/a/b'), '/a');
    assert.equal(parentOf('/a/b/c.txt'), '/a/b');
  });

  test('baseName', () => {
    assert.equal(baseName('/a'), 'a');
    assert.equal(baseName('/a/b/c.txt'), 'c.txt');
    assert.equal(baseName('/'), '');
  });

  test('joinPath', () => {
    assert.equal(joinPath('/', 'a'), '/a');
    assert.equal(joinPath('/a', 'b'), '/a/b');
    assert.equal(joinPath('/a/b', 'c.txt'), '/a/b/c.txt');
  });

  test('joinPath, parentOf and baseName agree', () => {
    for (const [dir, name] of [['/', 'x'], ['/a', 'y'], ['/a/b/c', 'z z']] as const) {
      const p = joinPath(dir, name);
      assert.equal(parentOf(p), dir);
      assert.equal(baseName(p), name);
    }
  });
});

describe('isValidName', () => {
  test('ordinary names', () => {
    for (const n of ['a', 'a.txt', '.hidden', '...', 'with space', '+%', 'ファイル', '..a', 'a..']) {
      assert.equal(isValidName(n), true, n);
    }
  });

  test('empty, ".", ".." are not names', () => {
    assert.equal(isValidName(''), false);
    assert.equal(isValidName('.'), false);
    assert.equal(isValidName('..'), false);
  });

  test('names with "/" or NUL are not names', () => {
    assert.equal(isValidName('a/b'), false);
    assert.equal(isValidName('/'), false);
    assert.equal(isValidName('a/'), false);
    assert.equal(isValidName('a\0b'), false);
  });

  test('255 bytes is the limit (ASCII)', () => {
    assert.equal(isValidName('a'.repeat(255)), true);
    assert.equal(isValidName('a'.repeat(256)), false);
  });

  test('the limit counts UTF-8 bytes, not characters', () => {
    // 'é' is 2 bytes in UTF-8, '日' 3 bytes, '😀' 4 bytes (2 UTF-16 units)
    const e127 = 'é'.repeat(127); // 254 bytes
    assert.equal(Buffer.byteLength(e127 + 'a'), 255);
    assert.equal(isValidName(e127 + 'a'), true);
    assert.equal(isValidName(e127 + 'ab'), false); // 256 bytes, only 129 characters
    assert.equal(isValidName('é'.repeat(128)), false); // 256 bytes
    assert.equal(isValidName('日'.repeat(85)), true); // 255 bytes
    assert.equal(isValidName('日'.repeat(85) + 'a'), false); // 256 bytes, 86 characters
    assert.equal(isValidName('😀'.repeat(63) + 'abc'), true); // 255 bytes
    assert.equal(isValidName('😀'.repeat(64)), false); // 256 bytes, 128 UTF-16 units
  });
});

describe('splitListing', () => {
  test('objects are files, common prefixes directories, the marker neither', () => {
    const names = splitListing('d/', ['d/', 'd/a.txt', 'd/b'], ['d/sub/', 'd/b/']);
    assert.deepEqual(names, { files: ['a.txt', 'b'], dirs: ['sub', 'b'] });
  });

  test('keys that cannot be names are left out and reported as listed: the key, or the common prefix', () => {
    const reported: string[] = [];
    const long = 'x'.repeat(256);
    const names = splitListing('d/', ['d/ok', `d/${long}`], ['d//', 'd/./', 'd/../', `d/${long}/`, 'd/sub/'], (key) => reported.push(key));
    assert.deepEqual(names, { files: ['ok'], dirs: ['sub'] });
    assert.deepEqual(reported, [`d/${long}`, 'd//', 'd/./', 'd/../', `d/${long}/`]);
  });

  test('pages are appended to the names given', () => {
    const names = splitListing('', ['a'], ['x/']);
    splitListing('', ['b'], ['y/'], undefined, names);
    assert.deepEqual(names, { files: ['a', 'b'], dirs: ['x', 'y'] });
  });
});

describe('namesBothFileAndDir', () => {
  test('the names listed as a file and as a directory', () => {
    assert.deepEqual(namesBothFileAndDir({ files: ['a', 'b', 'c'], dirs: ['c', 'a', 'd'] }), ['a', 'c']);
    assert.deepEqual(namesBothFileAndDir({ files: ['a'], dirs: [] }), []);
    assert.deepEqual(namesBothFileAndDir({ files: [], dirs: ['a'] }), []);
  });
});
