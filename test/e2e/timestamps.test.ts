// Timestamps as Linux filesystems keep them, through a real mount: a directory's mtime and
// ctime move with every entry made, removed or renamed in it (kept in this mount; see
// directory-times.ts), touch of the mount's root works, a renamed directory's ctime moves; a
// file's atime is kept and settable, utimensat honours UTIME_NOW and UTIME_OMIT for each time
// and keeps milliseconds; ctime moves with every change of attributes, name or data, and what
// belongs to files persists in the bucket (a fresh mount reads it back).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, sleep } from '../helpers/mount.js';
import { sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';

interface Times { atime: number; mtime: number; ctime: number }

/** atime, mtime and ctime in ms (with their fractions), by lstat in a child process. */
async function times(p: string): Promise<Times> {
  const out = await sh(`python3 -c 'import os, sys; s = os.lstat(sys.argv[1]); print(s.st_atime_ns, s.st_mtime_ns, s.st_ctime_ns)' ${q(p)}`);
  const [a, m, c] = out.trim().split(' ').map((n) => Number(BigInt(n) / 1000n) / 1000);
  return { atime: a!, mtime: m!, ctime: c! };
}

/** Long enough for a time taken after it to be later, whatever the clock's step. */
const tick = (): Promise<void> => sleep(30);

describe('timestamps', () => {
  let bucket: TestBucket;
  let m: TestMount;

  before(async () => {
    bucket = await TestBucket.create('times');
    m = await TestMount.start(bucket.name, 'times');
  });
  after(async () => {
    await m?.stop();
    await bucket?.destroy();
  });

  test('a directory\'s mtime and ctime move with create, mkdir, symlink, mknod, rename in and out, unlink and rmdir', async () => {
    const d = m.p('parent');
    const other = m.p('other');
    await sh(`mkdir ${q(d)} ${q(other)}`);
    const steps: Array<[string, string, string[]]> = [
      ['create', `touch ${q(`${d}/f`)}`, [d]],
      ['mkdir', `mkdir ${q(`${d}/sub`)}`, [d]],
      ['symlink', `ln -s f ${q(`${d}/l`)}`, [d]],
      ['mkfifo', `mkfifo ${q(`${d}/p`)}`, [d]],
      ['rename out', `mv ${q(`${d}/f`)} ${q(`${other}/f`)}`, [d, other]],
      ['rename in', `mv ${q(`${other}/f`)} ${q(`${d}/g`)}`, [d, other]],
      ['unlink', `rm ${q(`${d}/g`)} ${q(`${d}/l`)} ${q(`${d}/p`)}`, [d]],
      ['rmdir', `rmdir ${q(`${d}/sub`)}`, [d]],
    ];
    for (const [what, script, dirs] of steps) {
      const before = await Promise.all(dirs.map(times));
      await tick();
      await sh(script);
      const afterwards = await Promise.all(dirs.map(times));
      dirs.forEach((dir, i) => {
        assert.ok(afterwards[i]!.mtime > before[i]!.mtime, `${what}: mtime of ${dir} ${before[i]!.mtime} -> ${afterwards[i]!.mtime}`);
        assert.ok(afterwards[i]!.ctime > before[i]!.ctime, `${what}: ctime of ${dir}`);
      });
    }
  });

  test('touch of the mount\'s root, and a renamed directory\'s ctime', async () => {
    await sh(`touch -d @1500000000.25 ${q(m.p())}`);
    assert.equal((await times(m.p())).mtime, 1_500_000_000_250);
    await sh(`mkdir ${q(m.p('moving'))}`);
    const before = await times(m.p('moving'));
    await tick();
    await sh(`mv ${q(m.p('moving'))} ${q(m.p('moved'))}`);
    const moved = await times(m.p('moved'));
    assert.ok(moved.ctime > before.ctime, 'ctime moves');
    assert.equal(moved.mtime, before.mtime, 'mtime stays');
  });

  test('utimensat: explicit atime and mtime kept to the millisecond, UTIME_OMIT and UTIME_NOW each alone; persisted', async () => {
    const f = m.p('utime');
    await sh(`echo data > ${q(f)}`);
    // Explicit nanoseconds: kept to the millisecond.
    await sh(`python3 -c 'import os, sys; os.utime(sys.argv[1], ns=(1234567890123456789, 1300000000987654321))' ${q(f)}`);
    let t = await times(f);
    assert.equal(t.atime, 1_234_567_890_123, 'atime');
    assert.equal(t.mtime, 1_300_000_000_987, 'mtime');
    // touch -a: atime now, mtime UTIME_OMIT; touch -m -d: mtime given, atime UTIME_OMIT.
    const start = Date.now();
    await sh(`touch -a ${q(f)}`);
    t = await times(f);
    assert.ok(t.atime >= start - 1000, `atime is now: ${t.atime}`);
    assert.equal(t.mtime, 1_300_000_000_987, 'mtime left (UTIME_OMIT)');
    const atimeNow = t.atime;
    await sh(`touch -m -d @1400000000.5 ${q(f)}`);
    t = await times(f);
    assert.equal(t.mtime, 1_400_000_000_500);
    assert.equal(t.atime, atimeNow, 'atime left (UTIME_OMIT)');
    await sh(`touch -a -d @1100000000 ${q(f)}`);
    const stored = (await bucket.head('utime'))?.Metadata ?? {};
    assert.equal(stored['atime'], '1100000000');
    assert.equal(stored['mtime'], '1400000000.5');
    assert.ok(Number(stored['ctime']) * 1000 >= start - 1000, `ctime stored: ${stored['ctime']}`);
    // A fresh mount reads them back.
    const again = await TestMount.start(bucket.name, 'times-again');
    try {
      const seen = await times(again.p('utime'));
      assert.equal(seen.atime, 1_100_000_000_000);
      assert.equal(seen.mtime, 1_400_000_000_500);
      assert.equal(seen.ctime, Number(stored['ctime']) * 1000);
    } finally {
      await again.stop();
    }
  });

  test('ctime moves with chmod, chown, setfattr, rename and a write; mtime only with the write', async () => {
    const f = m.p('ctime');
    await sh(`echo data > ${q(f)} && touch -m -d @1500000000 ${q(f)}`);
    let last = await times(f);
    const steps: Array<[string, string, boolean]> = [
      ['chmod', `chmod 600 ${q(f)}`, false],
      ['chown', `chown 1234:5678 ${q(f)}`, false],
      ['setfattr', `setfattr -n user.k -v v ${q(f)}`, false],
      ['rename', `mv ${q(f)} ${q(`${f}2`)} && mv ${q(`${f}2`)} ${q(f)}`, false],
      ['write', `echo more >> ${q(f)}`, true],
    ];
    for (const [what, script, dataChanged] of steps) {
      await tick();
      await sh(script);
      const t = await times(f);
      assert.ok(t.ctime > last.ctime, `${what}: ctime ${last.ctime} -> ${t.ctime}`);
      if (dataChanged) assert.ok(t.mtime > last.mtime, `${what}: mtime moves`);
      else assert.equal(t.mtime, 1_500_000_000_000, `${what}: mtime stays`);
      last = t;
    }
    // The rename's ctime is in the object too (the copy wrote it).
    const stored = Number((await bucket.head('ctime'))?.Metadata?.['ctime']) * 1000;
    assert.equal(stored, last.ctime, 'the last ctime, stored with the upload');
  });
});
