import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PARTS, MIN_PART_SIZE, PartLayout } from '../../src/transfer/part-layout.js';

const MiB = 1024 * 1024;
const TiB = 1024 ** 4;

test('parts of a small file are --bufsize long, the last one cut at the end', () => {
  const l = new PartLayout(10 * MiB);
  assert.deepEqual(l.partsFor(0), []);
  assert.deepEqual(l.partsFor(1), [{ number: 1, start: 0, end: 1 }]);
  assert.deepEqual(l.partsFor(25 * MiB), [
    { number: 1, start: 0, end: 10 * MiB }, { number: 2, start: 10 * MiB, end: 20 * MiB }, { number: 3, start: 20 * MiB, end: 25 * MiB },
  ]);
});

test('part sizes double every 900 parts, so 5 TiB fits in 10,000 parts even with 5 MiB parts', () => {
  const l = new PartLayout(MIN_PART_SIZE);
  assert.equal(l.sizeOf(900), 5 * MiB);
  assert.equal(l.sizeOf(901), 10 * MiB);
  assert.equal(l.sizeOf(1801), 20 * MiB);
  const parts = l.partsFor(5 * TiB);
  assert.ok(parts.length <= MAX_PARTS, `${parts.length} parts`);
  assert.equal(parts.at(-1)!.end, 5 * TiB);
  for (const p of parts.slice(0, -1)) assert.ok(p.end - p.start >= MIN_PART_SIZE);
  assert.equal(new PartLayout(64 * MiB).sizeOf(9000), 5 * 1024 * MiB, 'capped at 5 GiB');
});

test('partAt and startOf agree with partsFor', () => {
  const l = new PartLayout(5 * MiB);
  const parts = l.partsFor(30 * 1024 * MiB); // crosses the first step boundaries
  for (const p of [parts[0]!, parts[1]!, parts[899]!, parts[900]!, parts[1801]!, parts.at(-2)!]) {
    assert.deepEqual(l.partAt(p.start), { number: p.number, start: p.start, end: p.start + l.sizeOf(p.number) });
    assert.deepEqual(l.partAt(p.end - 1).number, p.number);
    assert.equal(l.startOf(p.number), p.start);
  }
});

test('a part size below 5 MiB is refused, and so is a file needing more than 10,000 parts', () => {
  assert.throws(() => new PartLayout(4 * MiB), /below S3's minimum/);
  assert.throws(() => new PartLayout(MIN_PART_SIZE).partsFor(60 * TiB), /more than S3 allows/);
});
