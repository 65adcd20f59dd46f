// The benchmark's pure parts: the random read plan, the statistics, the tables, the workload
// list and the layout of the prepared directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  BIGDIR_FILES, BIGTREE_DIRS, BIGTREE_FILES, bigDirKeys, bigTreeKeys, isKept,
} from '../../scripts/benchmark/bucket.js';
import { randomReads } from '../../scripts/benchmark/random-plan.js';
import { costTable, stats, timeTable, type Sample } from '../../scripts/benchmark/report.js';
import {
  WORKLOADS, inParallel, mountSteps, repeatedMd5, sdkSteps, type Dataset, type Step,
} from '../../scripts/benchmark/workloads.js';

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

test('the workloads: the new ones are listed, each warm listing right after its cold one', () => {
  for (const w of ['small-writes-8k', 'small-ls-l-warm', 'bigdir-ls', 'bigdir-ls-l-cold', 'bigdir-ls-l-warm',
    'bigtree-find-cold', 'parallel-read-4x64', 'parallel-write-4x64', 'seq-write', 'untar']) {
    assert.ok((WORKLOADS as readonly string[]).includes(w), w);
  }
  assert.equal(new Set(WORKLOADS).size, WORKLOADS.length);
  assert.equal(WORKLOADS.indexOf('small-ls-l-warm'), WORKLOADS.indexOf('small-ls-l-cold') + 1);
  assert.equal(WORKLOADS.indexOf('bigdir-ls-l-warm'), WORKLOADS.indexOf('bigdir-ls-l-cold') + 1);
});

test('the prepared directories: 10,000 files flat, and 10,000 files in 161 directories', () => {
  const flat = bigDirKeys();
  assert.equal(new Set(flat).size, BIGDIR_FILES);
  assert.ok(flat.every((k) => /^bigdir\/[^/]+$/.test(k)));
  const tree = bigTreeKeys();
  assert.equal(new Set(tree).size, BIGTREE_FILES);
  const dirs = new Set<string>();
  for (const k of tree) {
    const parts = k.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  assert.equal(dirs.size, BIGTREE_DIRS);
  // a file name is never also a directory name
  assert.ok(tree.every((k) => !dirs.has(k)));
});

test('emptying a bucket keeps only the prepared prefixes', () => {
  assert.ok(isKept('bigdir/f00001') && isKept('bigtree/d1/s02/f003') && isKept('par/p1'));
  assert.ok(!isKept('big') && !isKept('small/f0001') && !isKept('bigdirx/f') && !isKept('pw1') && !isKept('w8k'));
});

test('the md5 of a repeated block, also when the size is not a multiple of it', () => {
  const block = Buffer.from('0123456789');
  assert.equal(repeatedMd5(block, 25), createHash('md5').update('0123456789012345678901234').digest('hex'));
  assert.equal(repeatedMd5(block, 0), createHash('md5').digest('hex'));
});

test('inParallel waits for each command and fails when one does (a bare wait would not)', () => {
  const run = (commands: string[]) => spawnSync('bash', ['-euo', 'pipefail', '-c', inParallel(commands)], { encoding: 'utf8' });
  const ok = run(['sleep 0.2; echo a', 'echo b']);
  assert.equal(ok.status, 0);
  assert.deepEqual(ok.stdout.trim().split('\n').sort(), ['a', 'b']);
  assert.notEqual(run(['true', 'sleep 0.1; false', 'true']).status, 0);
});

test('the cost table shows each filesystem\'s peak RSS per workload, in MiB (the unit of --maxcache)', () => {
  const s = (target: Sample['target'], workload: Sample['workload'], peakRss?: number): Sample => ({
    target, workload, repeat: 1, seconds: 1, requests: 2, byMethod: {}, bytesUp: 0, bytesDown: 0, cpuSeconds: 0.5, peakRss,
  });
  const MiB = 2 ** 20;
  const text = costTable([s('qsfs', 'bigdir-ls', 150 * MiB), s('s3fs', 'bigdir-ls', 20 * MiB), s('sdk', 'bigdir-ls'), s('qsfs', 'small-writes-8k', 270e6)],
    ['qsfs', 's3fs', 'sdk'], ['bigdir-ls', 'small-writes-8k']);
  const [header, bigdir, writes] = text.split('\n');
  assert.match(header!, /qsfs rss MiB\s+s3fs rss MiB$/);
  assert.doesNotMatch(header!, /sdk rss/);
  assert.match(bigdir!, /^bigdir-ls\s.*\s150\s+20$/);
  assert.match(writes!, /^small-writes-8k\s.*\s257\s+-$/, '270 MB is 257 MiB');
});

/** A dataset with 3 small files, enough to build the steps and list a local directory. */
function fakeData(): Dataset {
  return {
    dir: '/nonexistent', bigFile: 'big', bigSize: 1, bigMd5: '', smallDir: 'small', smallCount: 3, hundredDir: 'h',
    tarball: 't', tarFiles: 1, treeLeaves: ['a/b/c'], block8k: 'b', smallWriteSize: 8192, smallWriteMd5: '',
    parFiles: ['p1', 'p2', 'p3', 'p4'], parSize: 1, parMd5s: ['', '', '', ''],
  };
}

test('the mount and the SDK steps run in the order of WORKLOADS', () => {
  const mount = mountSteps({ mnt: '/m', bucket: 'b', direct: {} as S3Client, data: fakeData(), remountCold: async () => undefined });
  assert.deepEqual(mount.map((st) => st.workload), [...WORKLOADS]);
  const sdk = sdkSteps({ client: {} as S3Client, bucket: 'b', data: fakeData(), partSize: 1 << 20, parallel: 2 });
  assert.deepEqual(sdk.map((st) => st.workload), [...WORKLOADS]);
});

test('a warm ls -l comes after its cold one in the same mount session, or after one of its own', async () => {
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'bench-unit-'));
  try {
    mkdirSync(path.join(mnt, 'small'));
    for (const f of ['f1', 'f2', 'f3']) writeFileSync(path.join(mnt, 'small', f), 'x');
    let remounts = 0;
    const steps = mountSteps({ mnt, bucket: 'b', direct: {} as S3Client, data: fakeData(), remountCold: async () => { remounts++; } });
    const step = (w: Step['workload']) => steps.find((st) => st.workload === w)!;
    // only the warm one selected: its setup remounts and lists once
    await step('small-ls-l-warm').setup!();
    assert.equal(remounts, 1);
    // the cold one and then the warm one: no remount between them
    await step('small-ls-l-cold').setup!();
    await step('small-ls-l-cold').run();
    assert.equal(remounts, 2);
    await step('small-ls-l-warm').setup!();
    assert.equal(remounts, 2);
    assert.ok((await step('small-ls-l-warm').run()).seconds >= 0);
    // a remount in between (another cold step) makes the warm one list again first
    await step('small-cat-cold').setup!();
    await step('small-ls-l-warm').setup!();
    assert.equal(remounts, 4);
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
});
