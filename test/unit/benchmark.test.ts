// The benchmark's pure parts: the random read plan, the statistics and the table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomReads } from '../../scripts/benchmark/random-plan.js';
import { stats, timeTable, type Sample } from '../../scripts/benchmark/report.js';

test('the random read plan is the same for every run and stays inside the file', () => {
  const a = randomReads(64 << 20, 200, 42);
  const b = randomReads(64 << 20, 200, 42);
  assert.deepEqual(a, b);
  assert.notDeepEqual(randomReads(64 << 20, 200, 43), a);
  assert.equal(a.length, 200);
  for (const op of a) {
    assert.ok(op.length >= 4096 && op.length <= 1 << 20, `length ${op.length}`);
    assert.ok(op.offset >= 0 && op.offset + op.length <= 64 << 20, `offset ${op.offset}`);
  }
  // a small file caps the read size at the file size
  for (const op of randomReads(8192, 50, 1)) assert.ok(op.offset + op.length <= 8192);
});

test('stats: median of odd and even counts, min and max', () => {
  assert.deepEqual(stats([3, 1, 2]), { median: 2, min: 1, max: 3 });
  assert.deepEqual(stats([4, 1, 3, 2]), { median: 2.5, min: 1, max: 4 });
});

function sample(target: Sample['target'], seconds: number, repeat = 1): Sample {
  return { target, workload: 'seq-write', repeat, seconds, requests: 1, byMethod: {}, bytesUp: 0, bytesDown: 0 };
}

test('the table shows medians with ranges and each filesystem against the best other one and the SDK', () => {
  const samples = [
    sample('qsfs', 2, 1), sample('qsfs', 4, 2), sample('qsfs', 3, 3),
    sample('s3fs', 6), sample('rclone', 12), sample('sdk', 1.5),
  ];
  const text = timeTable(samples, ['qsfs', 's3fs', 'rclone', 'sdk'], ['seq-write']);
  const row = text.split('\n')[1]!;
  assert.match(row, /^seq-write\s+3\.00 \[2\.00-4\.00\]\s+6\.00\s+12\.0\s+1\.50/);
  // qsfs 3 / best other (s3fs 6) = 0.50; s3fs 6 / qsfs 3 = 2.00; rclone 12 / 3 = 4.00; vs sdk: 2.00 4.00 8.00
  assert.match(row, /0\.50x\s+2\.00x\s+4\.00x\s+2\.00x\s+4\.00x\s+8\.00x$/);
});

test('failed runs (NaN) are left out of the statistics', () => {
  const text = timeTable([sample('qsfs', Number.NaN), sample('s3fs', 2)], ['qsfs', 's3fs'], ['seq-write']);
  assert.match(text.split('\n')[1]!, /^seq-write\s+-\s+2\.00\s+-\s+-$/);
});

test('a starred result (not persisted) is marked and is not the best other one', () => {
  const unsaved = { ...sample('rclone', 1), note: 'not persisted (mode 644 after remount)' };
  const text = timeTable([sample('qsfs', 3), sample('s3fs', 6), unsaved], ['qsfs', 's3fs', 'rclone'], ['seq-write']);
  const row = text.split('\n')[1]!;
  assert.match(row, /^seq-write\s+3\.00\s+6\.00\s+1\.00 \*/);
  // qsfs against s3fs (6), not against the starred 1; rclone is still compared with the best of the others
  assert.match(row, /0\.50x\s+2\.00x\s+0\.33x$/);
});
