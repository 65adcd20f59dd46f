import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StatCache, type CachedEntry } from '../../src/cache/stat-cache.js';
import { statOf, type Kind } from '../../src/fs/attributes.js';

const DEFAULTS = { filemode: 0o644, dirmode: 0o755, uid: 0, gid: 0 };

function entry(kind: Kind = 'file', size = 1, etag = 'e'): CachedEntry {
  return { kind, stat: statOf(kind, size, new Date(1_700_000_000_000), {}, DEFAULTS), etag, hasMarker: kind === 'dir', confirmedAt: 1 };
}

describe('StatCache', () => {
  test('get of an unknown path is undefined', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    assert.equal(c.get('/nope'), undefined);
    assert.equal(c.size, 0);
  });

  test('set then get returns the entry', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    const e = entry('file', 42, 'abc');
    c.set('/a.txt', e);
    assert.deepEqual(c.get('/a.txt'), e);
    assert.equal(c.size, 1);
    const d = entry('dir');
    c.set('/a.txt', d); // replaced
    assert.deepEqual(c.get('/a.txt'), d);
    assert.equal(c.size, 1);
  });

  test('setMissing stores a negative entry with its time; set replaces it', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    c.setMissing('/gone', 5);
    assert.deepEqual(c.get('/gone'), { kind: 'missing', confirmedAt: 5 });
    assert.equal(c.entry('/gone'), undefined, 'entry() is for positive entries');
    const e = entry();
    c.set('/gone', e);
    assert.deepEqual(c.get('/gone'), e);
    c.setMissing('/gone', 7);
    assert.deepEqual(c.get('/gone'), { kind: 'missing', confirmedAt: 7 });
  });

  test('nothing is kept when disabled (-e 0, --metadata-ttl 0)', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: false });
    c.set('/a', entry());
    c.setMissing('/b', 1);
    assert.equal(c.size, 0);
  });

  test('delete forgets one path', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    c.set('/a', entry('dir'));
    c.set('/a/b', entry());
    c.delete('/a');
    assert.equal(c.get('/a'), undefined);
    assert.ok(c.get('/a/b'));
  });

  test('deleteTree removes the path and its descendants only', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    for (const p of ['/', '/a', '/a/b', '/a/b/c', '/a/x.txt', '/ab', '/ab/c', '/a.txt', '/b', '/b/a']) c.set(p, entry());
    c.setMissing('/a/missing', 1);
    c.deleteTree('/a');
    for (const gone of ['/a', '/a/b', '/a/b/c', '/a/x.txt', '/a/missing']) assert.equal(c.get(gone), undefined, gone);
    for (const kept of ['/', '/ab', '/ab/c', '/a.txt', '/b', '/b/a']) assert.ok(c.get(kept), kept);
    assert.equal(c.size, 6);
  });

  test('deleteTree of a nested directory', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    for (const p of ['/a', '/a/b', '/a/b/c', '/a/bc', '/a/b2/c']) c.set(p, entry());
    c.deleteTree('/a/b');
    assert.deepEqual(['/a', '/a/b', '/a/b/c', '/a/bc', '/a/b2/c'].map((p) => c.get(p) !== undefined), [true, false, false, true, true]);
  });

  test('deleteTree of "/" forgets everything', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    for (const p of ['/', '/a', '/a/b', '/z']) c.set(p, entry());
    c.deleteTree('/');
    assert.equal(c.size, 0);
  });

  test('maxstat 1 bounds the cache to 1000 entries, evicting the least recently used', () => {
    const c = new StatCache({ maxEntries: 1000, enabled: true });
    c.set('/first', entry());
    for (let i = 0; i < 1500; i++) {
      c.set(`/f${i}`, entry());
      if (i % 100 === 0) c.get('/first'); // keep it recently used
    }
    assert.equal(c.size, 1000);
    assert.ok(c.get('/first'), 'a recently used entry stays');
    assert.equal(c.get('/f0'), undefined, 'the oldest entries are evicted');
    assert.ok(c.get('/f1499'));
  });

  test('with a memory bound, a walk of more entries than --maxstat keeps them all, up to the memory', () => {
    const c = new StatCache({ maxEntries: 2000, maxBytes: 8 * 1024 * 1024, enabled: true });
    for (let i = 0; i < 10_000; i++) c.set(`/big/f${i}`, entry());
    assert.equal(c.size, 10_000, 'a 10,000-name directory fits in 8 MiB');
    for (let i = 0; i < 100_000; i++) c.set(`/huge/f${i}`, entry());
    assert.ok(c.size < 60_000 && c.size > 10_000, `${c.size} entries: bounded by memory`);
    assert.equal(c.get('/big/f0'), undefined, 'the oldest went first');
  });

  test('maxstat 2 allows 2000 entries', () => {
    const c = new StatCache({ maxEntries: 2000, enabled: true });
    for (let i = 0; i < 2500; i++) c.set(`/f${i}`, entry());
    assert.equal(c.size, 2000);
  });
});
