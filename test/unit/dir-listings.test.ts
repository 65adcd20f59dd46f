import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DirListings } from '../../src/cache/dir-listings.js';

describe('DirListings', () => {
  const settings = { ttlMs: 60_000, maxDirs: 10, maxNames: 100 };

  test('a name both a file and a directory is a directory', () => {
    const l = new DirListings(settings);
    l.set('/d', ['a', 'f'], ['a', 's'], 60_000);
    assert.equal(l.kindOf('/d', 'a'), 'dir');
    assert.equal(l.kindOf('/d', 'f'), 'file');
    assert.equal(l.kindOf('/d', 's'), 'dir');
    assert.equal(l.kindOf('/d', 'x'), 'missing');
  });

  test('once the directory is removed, the file of that name is a file again', () => {
    const l = new DirListings(settings);
    l.set('/d', ['a'], ['a'], 0);
    l.removed('/d', 'a', 'dir');
    assert.equal(l.kindOf('/d', 'a'), 'file');
    l.removed('/d', 'a');
    assert.equal(l.kindOf('/d', 'a'), undefined, 'absence not trusted (listing fetched with no trust)');
  });

  test('a directory of more names than kept is too big', () => {
    const l = new DirListings(settings);
    l.set('/big', Array.from({ length: 101 }, (_, i) => `f${i}`), [], 0);
    assert.equal(l.get('/big'), 'too-big');
    assert.equal(l.kindOf('/big', 'f1'), undefined);
  });
});
