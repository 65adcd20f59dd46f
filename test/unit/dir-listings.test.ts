import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DirListings, kindIn, namesOf, type Listing } from '../../src/cache/dir-listings.js';

function listing(l: DirListings, dir: string): Listing {
  const got = l.get(dir);
  assert.ok(got && !('tooBig' in got), `a listing of ${dir}`);
  return got;
}

describe('DirListings', () => {
  const settings = { maxDirs: 10, maxNames: 100, maxTotalNames: 1000, enabled: true };

  test('a name both a file and a directory is a directory', () => {
    const l = new DirListings(settings);
    l.set('/d', ['a', 'f'], ['a', 's'], 1000);
    const d = listing(l, '/d');
    assert.equal(kindIn(d, 'a'), 'dir');
    assert.equal(kindIn(d, 'f'), 'file');
    assert.equal(kindIn(d, 's'), 'dir');
    assert.equal(kindIn(d, 'x'), 'absent');
    assert.deepEqual(namesOf(d).sort(), ['a', 'f', 's']);
    assert.equal(d.listedAt, 1000);
    assert.equal(d.madeAt, undefined);
  });

  test('once the directory is removed, the file of that name is a file again', () => {
    const l = new DirListings(settings);
    l.set('/d', ['a'], ['a'], 0);
    l.removed('/d', 'a', 'dir');
    assert.equal(kindIn(listing(l, '/d'), 'a'), 'file');
    l.removed('/d', 'a');
    assert.equal(kindIn(listing(l, '/d'), 'a'), 'absent');
  });

  test('a directory of more names than kept is too big, as of when it was listed', () => {
    const l = new DirListings(settings);
    assert.equal(l.set('/big', Array.from({ length: 101 }, (_, i) => `f${i}`), [], 42), false);
    assert.deepEqual(l.get('/big'), { tooBig: true, at: 42 });
  });

  test('the least recently used listings go first', () => {
    const l = new DirListings({ ...settings, maxDirs: 2 });
    l.set('/a', [], [], 0);
    l.set('/b', [], [], 0);
    l.get('/a');
    l.set('/c', [], [], 0);
    assert.ok(l.get('/a'));
    assert.equal(l.get('/b'), undefined);
  });

  test('the names of all listings together are bounded: the least recently used listings go first', () => {
    const l = new DirListings({ ...settings, maxTotalNames: 250 });
    const names = (p: string): string[] => Array.from({ length: 100 }, (_, i) => `${p}${i}`);
    l.set('/a', names('a'), [], 0);
    l.set('/b', names('b'), [], 0);
    l.get('/a');
    l.set('/c', names('c'), [], 0); // 300 names: /b, least recently used, goes
    assert.ok(l.get('/a') && l.get('/c'));
    assert.equal(l.get('/b'), undefined);
    l.set('/a', ['x'], [], 1); // replaced, not counted twice: room for /b again
    l.set('/b', names('b'), [], 1);
    assert.ok(l.get('/a') && l.get('/b') && l.get('/c'));
  });

  test('nothing is kept when disabled', () => {
    const l = new DirListings({ ...settings, enabled: false });
    assert.equal(l.set('/d', ['a'], [], 0), false);
    assert.equal(l.get('/d'), undefined);
  });
});
