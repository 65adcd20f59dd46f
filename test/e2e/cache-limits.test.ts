// The limits of the file data cache through real mounts: a 1 MiB memory cache (-Z 1) spills a
// writer's dirty pages to the disk cache and cleans up after itself; a full disk cache is
// ENOSPC for the writer and stores nothing corrupt; and at unmount, data that cannot reach the
// server is saved under <diskdir>/recovery and named in the log.
//
// Mounts are driven from child processes only (shell tools, and test/helpers/random-ops.ts).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, isAlive, isMountpoint, sleep, waitForExit } from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { TcpForwarder } from '../helpers/tcp-forwarder.js';
import { mountedMd5, mountedSize, startHoldWriter, withTimeout, type HoldWriter } from '../helpers/child-io.js';
import { run, sh, shResult } from '../helpers/shell.js';
import { dataFor } from '../helpers/random-ops.js';
import { logProblems, withMount as withBucketMount } from '../helpers/posix.js';

const MiB = 1024 * 1024;

const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** A spill file: named by a hash of the key (32 hex digits, then an optional suffix), never by the file's name. */
const SPILL_NAME = /^[0-9a-f]{32}(?:-[0-9a-f]+)?$/;

interface DirEntryInfo {
  name: string;
  isFile: boolean;
  size: number;
  /** Bytes actually allocated on disk (the spill file is sparse). */
  allocated: number;
}

/** The entries directly in a local directory (never a mount), or [] when it does not exist. */
async function listDir(dir: string): Promise<DirEntryInfo[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  const out: DirEntryInfo[] = [];
  for (const name of names) {
    const st = await fsp.lstat(path.join(dir, name)).catch(() => null);
    if (st) out.push({ name, isFile: st.isFile(), size: st.size, allocated: st.blocks * 512 });
  }
  return out;
}

async function spillFiles(dir: string): Promise<DirEntryInfo[]> {
  return (await listDir(dir)).filter((e) => e.isFile && SPILL_NAME.test(e.name));
}

/** Waits until the directory holds no spill file (release runs after close(2) returns); returns what is left. */
async function waitForNoSpillFiles(dir: string, timeoutMs: number): Promise<DirEntryInfo[]> {
  const end = Date.now() + timeoutMs;
  let left = await spillFiles(dir);
  while (left.length > 0 && Date.now() < end) {
    await sleep(200);
    left = await spillFiles(dir);
  }
  return left;
}



interface LogRecord {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

function logRecords(log: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const l of log.split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as LogRecord);
    } catch {
      /* not JSON */
    }
  }
  return out;
}






// ---------------------------------------------------------------- the tests

describe('cache limits: spill to disk, a full disk, recovery at unmount', () => {
  let bucket: TestBucket;
  let local: string; // local scratch files (never on a mount)

  before(async () => {
    bucket = await TestBucket.create('cachelimits');
    local = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-cachelimits-local-'));
  });
  after(async () => {
    await bucket?.destroy();
    if (local) await fsp.rm(local, { recursive: true, force: true });
  });

  async function objectBytesOrNull(key: string): Promise<Buffer | null> {
    return (await bucket.head(key)) ? bucket.get(key) : null;
  }

  /** A mount of this suite's bucket for the length of fn (see withMount in helpers/posix.ts). */
  const withMount = <T>(t: TestContext, label: string, args: string[], fn: (m: TestMount) => Promise<T>): Promise<T> =>
    withBucketMount(t, bucket.name, label, fn, args);

  // ---- 1
  test('a 24 MiB write through a 1 MiB memory cache spills to the disk cache, which is emptied at close', { timeout: 600_000 }, async (t) => {
    const key = 'spilled-24m';
    const size = 24 * MiB;
    const seed = 2401;
    const want = md5hex(dataFor(seed, size));
    const args = ['-Z=1', '-b=5'];

    await withMount(t, 'spill-w', args, async (m) => {
      const cacheDir = m.work.diskdir;
      const writer = startHoldWriter(m.p(key), size, seed);
      try {
        await withTimeout(writer.written, 240_000, 'writing 24 MiB to the mount');

        // open and dirty: most of it lives in a spill file named by a hash, not by the file's name
        const entries = await listDir(cacheDir);
        const spills = entries.filter((e) => e.isFile && SPILL_NAME.test(e.name));
        t.diagnostic(`cache dir while the file is open: ${JSON.stringify(entries)}`);
        assert.ok(spills.length >= 1,
          `while a 24 MiB file is open and dirty under -Z=1, the cache dir ${cacheDir} holds a spill file (32-hex name); it holds ${JSON.stringify(entries)}`);
        for (const e of entries) {
          assert.ok(!e.name.includes(key), `no cache file is named after the file (${e.name} contains ${key})`);
        }
        const onDisk = spills.reduce((n, e) => n + e.allocated, 0);
        assert.ok(onDisk >= 20 * MiB,
          `with 1 MiB of memory, at least 20 of the 24 MiB written must be on disk while the file is open; spill files allocate ${onDisk} bytes`);

        writer.close();
        const r = await withTimeout(writer.exited, 300_000, 'close(2) of the 24 MiB file');
        assert.equal(r.code, 0, `close(2) succeeds (exit 0); exit ${r.code}, stderr: ${r.stderr}`);
      } finally {
        writer.kill();
        await withTimeout(writer.exited, 10_000, 'the writer').catch(() => undefined);
      }

      const left = await waitForNoSpillFiles(cacheDir, 20_000);
      assert.deepEqual(left.map((e) => e.name), [],
        `after the last close of the clean file, the disk cache cleans up after itself: no spill file in ${cacheDir}; it holds ${JSON.stringify(await listDir(cacheDir))}`);

      const head = await bucket.head(key);
      assert.ok(head, `the object ${key} exists once close(2) has returned`);
      assert.equal(head.ContentLength, size, 'ContentLength of the object');
      assert.equal(md5hex(await bucket.get(key)), want, 'md5 of the object fetched with the SDK');
      assert.equal(await mountedMd5(m.p(key)), want, 'md5 of cat through the mount that wrote it (-Z=1)');
      assert.deepEqual((await spillFiles(cacheDir)).map((e) => e.name), [], 'reading a clean file back leaves no spill file either');
    });

    await withMount(t, 'spill-r', args, async (m) => {
      assert.equal(await mountedSize(m.p(key)), size, 'stat -c %s through a fresh -Z=1 mount');
      assert.equal(await mountedMd5(m.p(key)), want, 'md5 of cat through a fresh -Z=1 mount (cold read through 1 MiB of memory)');
      assert.deepEqual((await spillFiles(m.work.diskdir)).map((e) => e.name), [], 'a cold read of clean data needs no spill file');
    });
  });

  // ---- 2
  describe('a full disk cache (4 MiB tmpfs as -k)', () => {
    let tmpfsDir = '';
    let tmpfsMounted = false;
    let m: TestMount | null = null;

    before(async () => {
      assert.equal(process.getuid?.(), 0, 'mounting a tmpfs for the disk cache needs root');
      tmpfsDir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-cachelimits-tmpfs-'));
      // mode=0700: a tmpfs is 1777 by default, which qsfs refuses as --diskdir (others could
      // replace its files there)
      await sh(`mount -t tmpfs -o size=4m,mode=0700 tmpfs ${q(tmpfsDir)}`);
      tmpfsMounted = true;
    });
    after(async () => {
      // the qsfs mount goes first: its daemon has files open on the tmpfs
      if (m) await m.stop();
      m = null;
      if (tmpfsMounted) {
        let r = await run('umount', [tmpfsDir]);
        for (let i = 0; i < 20 && r.code !== 0; i++) {
          await sleep(250);
          r = await run('umount', [tmpfsDir]);
        }
        if (r.code !== 0) r = await run('umount', ['-l', tmpfsDir]);
        assert.equal(r.code, 0, `umount ${tmpfsDir}: ${r.stderr}`);
        tmpfsMounted = false;
      }
      if (tmpfsDir) await fsp.rmdir(tmpfsDir).catch(() => undefined);
    });

    test('writing 40 MiB fails with ENOSPC, stores only what was written before, and a later write works', { timeout: 600_000 }, async (t) => {
      const key = 'enospc-40m';
      const src = path.join(local, 'enospc.src');
      const small = path.join(local, 'enospc-small.src');
      await fsp.writeFile(src, randomBytes(40 * MiB));
      const written = await fsp.readFile(src);
      const smallData = randomBytes(2 * MiB + 12345);
      await fsp.writeFile(small, smallData);
      const mnt = await TestMount.start(bucket.name, 'enospc', ['-Z=1', '-b=5', `-k=${tmpfsDir}`]);
      m = mnt;
      try {
        const r = await shResult(`dd if=${q(src)} of=${q(mnt.p(key))} bs=1M count=40`);
        t.diagnostic(`dd: exit ${r.code}; stderr: ${r.stderr.trim()}`);
        assert.notEqual(r.code, 0, 'dd of 40 MiB into a mount whose 4 MiB disk cache fills up fails');
        assert.match(r.stderr, /No space left on device/, 'the writer sees ENOSPC (No space left on device)');
        const copied = /(\d+) bytes .*copied/.exec(r.stderr);
        assert.ok(copied, `dd reports the bytes it wrote: ${r.stderr}`);
        const accepted = Number(copied[1]);
        // 1 MiB of memory plus what fits in the 4 MiB tmpfs, and a write never half done
        assert.ok(accepted > 0 && accepted <= 6 * MiB, `the mount took ${accepted} bytes before ENOSPC (1 MiB memory + a 4 MiB disk)`);

        // dd has closed the file: the part that was accepted is stored, and nothing else
        const object = await objectBytesOrNull(key);
        assert.ok(object, `the close after ENOSPC stores what was accepted: the object ${key} exists`);
        assert.equal(object.length, accepted, 'the object holds exactly the bytes dd reports as written');
        assert.ok(object.equals(written.subarray(0, object.length)), 'the object is byte for byte the start of what was written (nothing corrupt)');
        assert.equal(await mountedSize(mnt.p(key)), accepted, 'the size through the mount is what was accepted');

        // the disk cache is emptied once the file is clean and closed
        const left = await waitForNoSpillFiles(tmpfsDir, 20_000);
        assert.deepEqual(left.map((e) => e.name), [], `no spill file is left on the tmpfs after the close: ${JSON.stringify(await listDir(tmpfsDir))}`);

        // room again: a write that needs the disk cache (2 MiB through 1 MiB of memory) works
        const r2 = await shResult(`cp ${q(small)} ${q(mnt.p('after-enospc'))}`);
        assert.equal(r2.code, 0, `a 2 MiB write to another file after the ENOSPC succeeds: ${r2.stderr}\ndaemon log:\n${logProblems(await mnt.log())}`);
        assert.equal(md5hex(await bucket.get('after-enospc')), md5hex(smallData), 'md5 of the later 2 MiB object');
        assert.equal(await mountedMd5(mnt.p('after-enospc')), md5hex(smallData), 'md5 of the later file through the mount');
      } catch (err) {
        t.diagnostic(`daemon log:\n${logProblems(await mnt.log())}`);
        throw err;
      } finally {
        m = null;
        const { daemonExited, log } = await mnt.stop();
        await fsp.rm(src, { force: true });
        await fsp.rm(small, { force: true });
        if (!daemonExited) t.diagnostic(`daemon log:\n${logProblems(log)}`);
        assert.equal(daemonExited, true, 'the daemon exited after fusermount -u');
      }
    });
  });

  // ---- 3
  test('at unmount with the server unreachable, the data is saved under <diskdir>/recovery and named in the log', { timeout: 600_000 }, async (t) => {
    const key = 'recover-7m';
    const size = 7 * MiB;
    const seed = 7007;
    const want = md5hex(dataFor(seed, size));
    const proxy = new TcpForwarder(testEndpoint().port);
    const port = await proxy.listen();
    const m = await TestMount.start(bucket.name, 'recover', ['-r=1', '-R=5', '-b=5', `-P=${port}`]);
    const diskdir = m.work.diskdir;
    let writer: HoldWriter | null = null;
    try {
      writer = startHoldWriter(m.p(key), size, seed);
      await withTimeout(writer.written, 120_000, 'writing 7 MiB to the mount');

      // the server becomes unreachable, and stays so until the end
      await proxy.close();
      writer.close();
      const r = await withTimeout(writer.exited, 300_000, 'close(2) with the server unreachable');
      t.diagnostic(`writer: exit ${r.code}; stderr ${JSON.stringify(r.stderr)}`);
      assert.equal(r.code, 3, `close(2) fails when the upload cannot reach the server (exit 3); exit ${r.code}, stderr: ${r.stderr}`);
      assert.match(r.stderr, /close failed: EIO /, 'close(2) fails with EIO');

      let unmounted = false;
      for (let i = 0; i < 40 && !unmounted; i++) {
        unmounted = (await run('fusermount', ['-u', m.path])).code === 0 || !(await isMountpoint(m.path));
        if (!unmounted) await sleep(250);
      }
      assert.ok(unmounted, 'fusermount -u succeeds once the writer has closed the file');
      assert.equal(await waitForExit(m.pid, 180_000), true, `the daemon exits after fusermount -u, the server still unreachable; log:\n${logProblems(await m.log())}`);

      const log = await m.log();
      t.diagnostic(`daemon log:\n${logProblems(log)}`);
      assert.match(log, /data saved for recovery/, 'the log says the data was saved for recovery');
      const saved = logRecords(log).filter((rec) => typeof rec.msg === 'string' && rec.msg.includes('data saved for recovery'));
      assert.equal(saved.length, 1, `one file saved for recovery: ${JSON.stringify(saved)}`);
      const rec = saved[0]!;
      assert.equal(rec['path'], `/${key}`, 'the log names the file saved');
      const savedAs = rec['savedAs'];
      assert.equal(typeof savedAs, 'string', `the log names the recovery copy (savedAs): ${JSON.stringify(rec)}`);
      const recoveryDir = path.join(diskdir, 'recovery') + path.sep;
      assert.ok((savedAs as string).startsWith(recoveryDir), `the recovery copy ${String(savedAs)} is under ${recoveryDir}`);
      assert.deepEqual(rec['missingRanges'], [], 'nothing of the file was missing: it was all in the cache');

      const copy = await fsp.readFile(savedAs as string);
      assert.equal(copy.length, size, 'the recovery copy has the size written');
      assert.equal(md5hex(copy), want, 'the recovery copy holds exactly the bytes written');
      assert.match(log, /exiting with data that could not be uploaded/, 'the daemon says at exit that data could not be uploaded');
    } finally {
      writer?.kill();
      if (writer) await withTimeout(writer.exited, 10_000, 'the killed writer').catch(() => undefined);
      // a failed test may leave the daemon waiting on the cut server: reconnect it so it can finish
      if (!proxy.listening && isAlive(m.pid)) await proxy.listen(port).catch(() => undefined);
      await m.stop();
      await proxy.close();
    }
  });
});
