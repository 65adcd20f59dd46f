import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { splitTreePage } from '../../src/fs/tree-listing.js';

const sorted = (names: { files: string[]; dirs: string[] }): { files: string[]; dirs: string[] } => ({
  files: [...names.files].sort(), dirs: [...names.dirs].sort(),
});

describe('splitTreePage', () => {
  test('a whole tree: the directory and every directory below it, markers and implicit ones', () => {
    const keys = ['t/', 't/a/', 't/a/b/', 't/a/b/deep.txt', 't/a/x.txt', 't/empty/', 't/implicit/y/z.txt', 't/top.txt'];
    const page = splitTreePage('t/', keys, false);
    assert.deepEqual(sorted(page.top), { files: ['top.txt'], dirs: ['a', 'empty', 'implicit'] });
    assert.deepEqual([...page.complete.keys()].sort(), ['a/', 'a/b/', 'empty/', 'implicit/', 'implicit/y/']);
    assert.deepEqual(sorted(page.complete.get('a/')!), { files: ['x.txt'], dirs: ['b'] });
    assert.deepEqual(sorted(page.complete.get('a/b/')!), { files: ['deep.txt'], dirs: [] });
    assert.deepEqual(page.complete.get('empty/'), { files: [], dirs: [] });
    assert.deepEqual(sorted(page.complete.get('implicit/')!), { files: [], dirs: ['y'] });
    assert.deepEqual(page.complete.get('implicit/y/'), { files: ['z.txt'], dirs: [] });
  });

  test('the root of the bucket (prefix ""), and keys outside the prefix ignored', () => {
    const page = splitTreePage('', ['a/b', 'c'], false);
    assert.deepEqual(sorted(page.top), { files: ['c'], dirs: ['a'] });
    assert.deepEqual(page.complete.get('a/'), { files: ['b'], dirs: [] });
    assert.deepEqual(splitTreePage('p/', ['other', 'p/in'], false).top, { files: ['in'], dirs: [] });
  });

  test('a truncated page: directories the last key lies under are left out, the others are complete', () => {
    const keys = ['t/a/1', 't/a/2', 't/b/c/1', 't/b/c/2', 't/b/d/1'];
    const page = splitTreePage('t/', keys, true);
    assert.deepEqual(sorted(page.top), { files: [], dirs: ['a', 'b'] });
    assert.deepEqual([...page.complete.keys()].sort(), ['a/', 'b/c/']);
    // not truncated, the same keys say everything
    assert.deepEqual([...splitTreePage('t/', keys, false).complete.keys()].sort(), ['a/', 'b/', 'b/c/', 'b/d/']);
  });

  test('a name both a file and a directory is listed as both (the caller decides)', () => {
    const page = splitTreePage('', ['both', 'both/in'], false);
    assert.deepEqual(page.top, { files: ['both'], dirs: ['both'] });
  });

  test('components that cannot be names: reported as a delimited listing would, nothing below them kept', () => {
    const invalid: string[] = [];
    const keys = ['t/../up', 't/./dot', 't//empty/deep', 't/ok/..', 't/ok/fine'];
    const page = splitTreePage('t/', keys, false, (k) => invalid.push(k));
    assert.deepEqual(sorted(page.top), { files: [], dirs: ['ok'] });
    assert.deepEqual(page.complete.get('ok/'), { files: ['fine'], dirs: [] });
    assert.deepEqual([...page.complete.keys()], ['ok/']);
    assert.deepEqual(invalid.sort(), ['t/../', 't/./', 't//', 't/ok/..'].sort());
  });
});
