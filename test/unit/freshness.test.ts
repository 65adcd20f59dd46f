import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Freshness } from '../../src/fs/freshness.js';

describe('Freshness', () => {
  /** A Freshness on a clock the test moves. */
  function at(o: ConstructorParameters<typeof Freshness>[0]): { f: Freshness; set(ms: number): void } {
    let now = 1_000_000;
    return { f: new Freshness(o, () => now), set: (ms) => { now = 1_000_000 + ms; } };
  }

  test('by default everything is trusted for 1 s, and asked again after', () => {
    const { f, set } = at({});
    assert.deepEqual(f.describe(), { attributes: '1 s', listings: '1 s', negative: '1 s' });
    set(999);
    assert.ok(f.attributesFresh(1_000_000) && f.listingFresh(1_000_000) && f.negativeFresh(1_000_000));
    assert.ok(f.absenceTrusted(1_000_000, undefined));
    set(1000);
    assert.ok(!f.attributesFresh(1_000_000) && !f.listingFresh(1_000_000) && !f.negativeFresh(1_000_000));
    assert.ok(!f.absenceTrusted(1_000_000, undefined));
    assert.ok(f.caching);
  });

  test('a directory made here: no exception by default; with -e its absent names are trusted 30 s', () => {
    const { f, set } = at({});
    set(2000);
    assert.ok(!f.absenceTrusted(0, 1_000_000), 'past the window, like any listing');
    const legacy = at({ statexpire: -1 });
    legacy.set(29_000);
    assert.ok(legacy.f.absenceTrusted(0, 1_000_000));
    legacy.set(30_000);
    assert.ok(!legacy.f.absenceTrusted(0, 1_000_000));
  });

  test('--metadata-ttl sets every window; 0 caches nothing', () => {
    const { f, set } = at({ metadataTtl: 2.5 });
    set(2400);
    assert.ok(f.attributesFresh(1_000_000) && f.negativeFresh(1_000_000) && f.absenceTrusted(1_000_000, undefined));
    set(2500);
    assert.ok(!f.attributesFresh(1_000_000));
    const none = new Freshness({ metadataTtl: 0 });
    assert.equal(none.caching, false);
    assert.equal(none.newDirectoryMs, 0);
  });

  test('-e keeps its meaning: attributes -e minutes (or forever), listings 5 minutes at most, negative entries 3 s, absent names asked for', () => {
    const { f, set } = at({ statexpire: 10 });
    assert.deepEqual(f.describe(), { attributes: '600 s', listings: '300 s', negative: '3 s' });
    set(299_000);
    assert.ok(f.attributesFresh(1_000_000) && f.listingFresh(1_000_000));
    assert.ok(!f.absenceTrusted(1_000_000, undefined), 'a name absent from a listing is probed');
    const forever = at({ statexpire: -1 });
    forever.set(1e12);
    assert.ok(forever.f.attributesFresh(1_000_000));
    assert.ok(!forever.f.listingFresh(1_000_000));
    assert.equal(new Freshness({ statexpire: 0 }).caching, false);
  });

  test('open revalidates what is older than 1 s, even where attributes live longer (close-to-open)', () => {
    const { f, set } = at({ statexpire: -1 });
    set(999);
    assert.ok(f.openFresh(1_000_000));
    set(1000);
    assert.ok(!f.openFresh(1_000_000));
  });

  test('the kernel keeps no attributes and no absent names, and names for our window up to 1 s', () => {
    assert.deepEqual(new Freshness({}).kernelOptions(), ['attr_timeout=1', 'entry_timeout=1', 'negative_timeout=0']);
    assert.deepEqual(new Freshness({ metadataTtl: 0.5 }).kernelOptions(), ['attr_timeout=0.5', 'entry_timeout=0.5', 'negative_timeout=0']);
    assert.deepEqual(new Freshness({ statexpire: -1 }).kernelOptions(), ['attr_timeout=1', 'entry_timeout=1', 'negative_timeout=0']);
    assert.deepEqual(new Freshness({ metadataTtl: 0 }).kernelOptions(), ['attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0']);
  });
});
