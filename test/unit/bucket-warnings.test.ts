import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BucketWarnings, OnceSet, REPORTED_KEYS_CAP } from '../../src/fs/bucket-warnings.js';

/** Collects what would be logged. */
function recorder(): { log: { warn: (obj: object, msg: string) => void }; lines: Array<{ obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { log: { warn: (obj: object, msg: string) => { lines.push({ obj: obj as Record<string, unknown>, msg }); } }, lines };
}

describe('OnceSet', () => {
  test('true the first time only', () => {
    const once = new OnceSet(10);
    assert.equal(once.first('a'), true);
    assert.equal(once.first('a'), false);
    assert.equal(once.first('b'), true);
    assert.equal(once.first('a'), false);
    assert.equal(once.size, 2);
  });

  test('never holds more than its capacity; the oldest is forgotten first', () => {
    const once = new OnceSet(3);
    for (const id of ['a', 'b', 'c', 'd']) assert.equal(once.first(id), true, id);
    assert.equal(once.size, 3);
    assert.equal(once.first('b'), false, 'b is still remembered');
    assert.equal(once.first('a'), true, 'a, the oldest, was forgotten');
    assert.equal(once.first('c'), false, 'c is still remembered');
    assert.equal(once.first('b'), true, 'b, the oldest then, went to make room for a');
    assert.equal(once.size, 3);
  });

  test('stays bounded over many distinct ids', () => {
    const once = new OnceSet(1000);
    for (let i = 0; i < 50_000; i++) once.first(`key-${i}`);
    assert.equal(once.size, 1000);
    assert.equal(once.first('key-49999'), false);
    assert.equal(once.first('key-0'), true);
  });

  test('a capacity below 1 is a mistake', () => {
    assert.throws(() => new OnceSet(0), RangeError);
    assert.throws(() => new OnceSet(Number.NaN), RangeError);
  });
});

describe('BucketWarnings', () => {
  test('each problem is logged once per key', () => {
    const r = recorder();
    const w = new BucketWarnings(r.log);
    for (let i = 0; i < 3; i++) {
      w.invalidName('d//');
      w.invalidName('d/./');
      w.garbageMetadata('d/f', { mode: 'abc' });
      w.shadowedFile('d/a');
    }
    assert.deepEqual(r.lines.map((l) => [l.msg, l.obj['key']]), [
      ['skipping a key that cannot be a file name', 'd//'],
      ['skipping a key that cannot be a file name', 'd/./'],
      ['ignoring garbage metadata of an object; using defaults', 'd/f'],
      ['a key is both a file and a directory: showing the directory, the file is hidden', 'd/a'],
    ]);
    assert.deepEqual(r.lines[2]!.obj['fields'], { mode: 'abc' });
    assert.equal(r.lines[3]!.obj['directory'], 'd/a/');
  });

  test('different problems of one key are each logged', () => {
    const r = recorder();
    const w = new BucketWarnings(r.log);
    w.garbageMetadata('k', { uid: '-1' });
    w.shadowedFile('k');
    w.invalidName('k');
    assert.equal(r.lines.length, 3);
  });

  test('long metadata values are cut in the log', () => {
    const r = recorder();
    new BucketWarnings(r.log).garbageMetadata('k', { mode: 'x'.repeat(2000), uid: '-1' });
    const fields = r.lines[0]!.obj['fields'] as Record<string, string>;
    assert.equal(fields['mode'], `${'x'.repeat(64)}...`);
    assert.equal(fields['uid'], '-1');
  });

  test('memory is bounded: past the cap the oldest keys may be reported again', () => {
    const r = recorder();
    const w = new BucketWarnings(r.log, 100);
    for (let i = 0; i < 150; i++) w.invalidName(`k${i}`);
    assert.equal(r.lines.length, 150);
    w.invalidName('k149'); // recent: remembered
    assert.equal(r.lines.length, 150);
    w.invalidName('k0'); // forgotten
    assert.equal(r.lines.length, 151);
  });

  test('the default cap', () => {
    assert.equal(REPORTED_KEYS_CAP, 10_000);
  });
});
