// Faults between the daemon and the S3 server: the test proxy (scripts/lib/s3-proxy.ts) sits on
// loopback between a real mount and Ceph RGW and answers 503 SlowDown, cuts responses off,
// stalls, or refuses connections while the tests drive the mount from child processes. What
// reached the bucket is checked with the SDK straight against the server, past the proxy.
//
// Seeds of the proxy's random choices come from QSFS_TEST_SEED when set (failures name them).
// QSFS_TEST_FAULT_SECONDS sets how long the concurrent workers run (default 60).
import { after, before, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CountingProxy } from '../../scripts/lib/s3-proxy.js';
import { TestBucket } from '../helpers/s3.js';
import { REPO_ROOT, TestMount, daemonPid, endpointArgs, filesOf, isAlive, isMountpoint, makeWorkdir, runQsfs, sleep, waitForExit } from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { startHoldWriter, withTimeout, type HoldWriter } from '../helpers/child-io.js';
import { dataFor } from '../helpers/random-ops.js';
import { filesUnder } from '../helpers/local-files.js';
import { run, shResult } from '../helpers/shell.js';
import { logProblems, q, withMount } from '../helpers/posix.js';
import type { WorkerReport } from '../helpers/fault-worker.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const FAULT_WORKER = fileURLToPath(new URL('../helpers/fault-worker.js', import.meta.url));
const SEED = process.env['QSFS_TEST_SEED'] ? Number(process.env['QSFS_TEST_SEED']) : randomInt(1, 2 ** 31);
const WORKER_SECONDS = Number(process.env['QSFS_TEST_FAULT_SECONDS'] ?? 60);
/** What each worker writes at most: the test server (memstore, 4 GiB) frees rewritten data only
 *  after RGW's garbage collection, hours later, and a faster mount used to fill it. */
const WORKER_MAX_BYTES = 192 * 1024 * 1024;

const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** A python3 child that prints lines and reads stdin; for driving a mount step by step. */
function spawnPython(script: string, ...args: string[]): { line(text: string): Promise<void>; send(text: string): void; output(): string } {
  const child = spawn('python3', ['-c', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  return {
    line: (text) => new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (out.includes(`${text}\n`)) resolve();
        else if (child.exitCode !== null) reject(new Error(`python exited (${child.exitCode}) before "${text}": ${out}`));
        else setTimeout(check, 50);
      };
      check();
    }),
    send: (text) => { child.stdin.write(text); },
    output: () => out,
  };
}


async function localMd5s(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await fsp.readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    out.set(path.relative(root, file), md5hex(await fsp.readFile(file)));
  }
  return out;
}

/** Writes a tree of seeded files: small ones, and some that take a multipart upload at -b 5. */
async function makeTree(root: string, seed: number): Promise<number> {
  const sizes = [0, 1, 700, 4 * KiB, 50 * KiB, 300 * KiB, 1 * MiB + 3, 5 * MiB, 6 * MiB + 1, 12 * MiB];
  let total = 0;
  let n = 0;
  for (const dir of ['', 'a', 'a/b', 'c', 'c/d/e']) {
    await fsp.mkdir(path.join(root, dir), { recursive: true });
    for (const size of sizes) {
      if (size > MiB && dir.length > 1) continue; // the large ones once at the top and in a/
      await fsp.writeFile(path.join(root, dir, `file-${n} ${size}.bin`), dataFor(seed * 1000 + n, size));
      total += size;
      n++;
    }
    // and many small ones: most requests of a real tree are for those
    for (let i = 0; i < 25; i++, n++) {
      const size = 1 + ((seed + n * 7919) % (20 * KiB));
      await fsp.writeFile(path.join(root, dir, `small-${n}.txt`), dataFor(seed * 1000 + n, size));
      total += size;
    }
  }
  return total;
}

function sameMd5s(want: Map<string, string>, got: Map<string, string>, what: string): void {
  const problems: string[] = [];
  for (const [name, md5] of want) {
    if (!got.has(name)) problems.push(`${name}: missing`);
    else if (got.get(name) !== md5) problems.push(`${name}: md5 ${got.get(name)}, want ${md5}`);
  }
  for (const name of got.keys()) if (!want.has(name)) problems.push(`${name}: not expected`);
  assert.deepEqual(problems, [], `${what} (seed ${SEED})`);
}

describe('faults between the daemon and the S3 server', () => {
  let bucket: TestBucket;
  let proxy: CountingProxy;
  let work: string;

  before(async () => {
    bucket = await TestBucket.create('faults');
    proxy = new CountingProxy('127.0.0.1', testEndpoint().port);
    await proxy.start();
    work = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-faults-'));
  });
  after(async () => {
    await proxy?.stop();
    await bucket?.destroy();
    if (work) await fsp.rm(work, { recursive: true, force: true });
  });

  /** Mount options that send every request through the proxy. */
  const viaProxy = (...extra: string[]): string[] => [`-P=${proxy.port}`, ...extra];

  /** md5 of each object under `prefix`, read past the proxy, by name relative to it. */
  async function storedMd5s(prefix: string): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const key of await bucket.keys(prefix)) {
      if (!key.endsWith('/')) out.set(key.slice(prefix.length), md5hex(await bucket.get(key)));
    }
    return out;
  }

  test('10% of requests answered 503 SlowDown while a tree is copied in and out: every md5 matches', { timeout: 600_000 }, async (t) => {
    const src = path.join(work, 'tree-in');
    const total = await makeTree(src, SEED);
    const want = await localMd5s(src);
    t.diagnostic(`seed ${SEED}: ${want.size} files, ${(total / MiB).toFixed(1)} MiB`);
    proxy.setFaults({ errorShare: 0.1, errorStatus: 503, seed: SEED });
    try {
      const before = proxy.faultCounts.errors;
      await withMount(t, bucket.name, 'faults-in', async (m) => {
        const r = await shResult(`cp -r ${q(src)} ${q(m.p('tree'))}`);
        assert.equal(r.code, 0, `cp -r into the mount succeeds despite the 503s (seed ${SEED}): ${r.stderr}`);
      }, viaProxy('-r=10', '-b=5'));
      const errorsIn = proxy.faultCounts.errors - before;
      sameMd5s(want, await storedMd5s('tree/'), 'the objects written through the mount under 503s');

      const dst = path.join(work, 'tree-out');
      await withMount(t, bucket.name, 'faults-out', async (m) => {
        const r = await shResult(`cp -r ${q(m.p('tree'))} ${q(dst)}`);
        assert.equal(r.code, 0, `cp -r out of a fresh mount succeeds despite the 503s (seed ${SEED}): ${r.stderr}`);
      }, viaProxy('-r=10', '-b=5'));
      sameMd5s(want, await localMd5s(dst), 'the files read back cold through a fresh mount under 503s');
      const errorsOut = proxy.faultCounts.errors - before - errorsIn;
      t.diagnostic(`503s answered by the proxy: ${errorsIn} while copying in, ${errorsOut} while copying out`);
      assert.ok(errorsIn > 5 && errorsOut > 5, `the proxy did answer 503s both ways (${errorsIn} in, ${errorsOut} out)`);
    } finally {
      proxy.clearFaults();
    }
  });

  test('the server gone for 4 s in the middle of a 200 MB upload: the copy completes intact', { timeout: 600_000 }, async (t) => {
    const size = 200 * MiB;
    const data = dataFor(SEED + 1, size);
    const want = md5hex(data);
    const local = path.join(work, 'big.bin');
    await fsp.writeFile(local, data);
    await withMount(t, bucket.name, 'restart', async (m) => {
      const start = proxy.bytesUpTotal;
      let finished = false;
      const copy = shResult(`cp ${q(local)} ${q(m.p('big.bin'))}`).finally(() => { finished = true; });
      let sent = 0;
      while (!finished && sent < 40 * MiB) {
        await sleep(10);
        sent = proxy.bytesUpTotal - start;
      }
      assert.equal(finished, false, `cp is still running when the server goes away (${(sent / MiB).toFixed(0)} MiB sent)`);
      await proxy.refuse();
      t.diagnostic(`connections refused after ${(sent / MiB).toFixed(0)} MiB had gone up`);
      await sleep(4000);
      await proxy.accept();
      const r = await withTimeout(copy, 300_000, 'cp of 200 MB across the outage');
      assert.equal(r.code, 0, `cp succeeds: the uploads retried across the outage; stderr: ${r.stderr}`);
    }, viaProxy('-r=10', '-b=8'));
    assert.equal(md5hex(await bucket.get('big.bin')), want, 'the object in the bucket holds the 200 MB as written');
    await fsp.rm(local);
  });

  test('the server gone for good: close(2) fails with EIO in bounded time and the data is kept byte for byte', { timeout: 600_000 }, async (t) => {
    const size = 7 * MiB + 5;
    const dataSeed = SEED + 2;
    const want = md5hex(dataFor(dataSeed, size));
    const retries = 2;
    const reqtimeout = 5;
    const m = await TestMount.start(bucket.name, 'gone', viaProxy(`-r=${retries}`, `-R=${reqtimeout}`, '-b=5'));
    let writer: HoldWriter | null = null;
    try {
      writer = startHoldWriter(m.p('gone.bin'), size, dataSeed);
      await withTimeout(writer.written, 120_000, 'writing to the mount');
      await proxy.refuse();
      const started = Date.now();
      writer.close();
      const r = await withTimeout(writer.exited, 300_000, 'close(2) with the server gone');
      const seconds = (Date.now() - started) / 1000;
      t.diagnostic(`close(2) answered after ${seconds.toFixed(1)} s: exit ${r.code}, ${r.stderr.trim()}`);
      assert.equal(r.code, 3, `close(2) fails (exit 3), stderr: ${r.stderr}`);
      assert.match(r.stderr, /close failed: EIO /, 'close(2) fails with EIO');
      // Each request: refused at once, then up to `retries` backoffs of at most 0.1 s x 2^(n-1);
      // the bound leaves room for a slow machine, not for a hang.
      assert.ok(seconds < (retries + 1) * reqtimeout + 30, `close(2) answers in bounded time, not after ${seconds} s`);

      // Unmount with the server still gone: the data goes to --diskdir/recovery, named in the log.
      let unmounted = false;
      for (let i = 0; i < 40 && !unmounted; i++) {
        unmounted = (await run('fusermount', ['-u', m.path])).code === 0 || !(await isMountpoint(m.path));
        if (!unmounted) await sleep(250);
      }
      assert.ok(unmounted, 'fusermount -u succeeds');
      assert.equal(await waitForExit(m.pid, 120_000), true, `the daemon exits; log:\n${logProblems(await m.log())}`);
      const log = await m.log();
      const saved = await filesUnder(path.join(m.work.diskdir, 'recovery'));
      const matching = [];
      for (const f of saved) if (md5hex(await fsp.readFile(f)) === want) matching.push(f);
      assert.equal(matching.length, 1, `one file under --diskdir/recovery holds the data byte for byte (files: ${JSON.stringify(saved)}); log:\n${logProblems(log)}`);
      assert.ok(log.includes(matching[0]!), `the log names the recovery file ${matching[0]}`);
      assert.equal(await bucket.head('gone.bin'), null, 'nothing half-written reached the bucket');
      t.diagnostic(`kept for recovery in ${matching[0]}`);
    } finally {
      writer?.kill();
      await proxy.accept();
      await m.stop();
    }
  });

  test('recovery at unmount with the server gone: a 1 TB sparse file is saved sparse, a file removed while dirty is not saved, what does not fit is named and not written', { timeout: 300_000 }, async (t) => {
    // --diskdir on a filesystem of its own, 200 MiB: 2% of it is less than the 64 MiB kept free,
    // so 136 MiB can be saved.
    const small = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-small-disk-'));
    assert.equal((await run('mount', ['-t', 'tmpfs', '-o', 'size=200m', 'tmpfs', small])).code, 0, 'a 200 MiB tmpfs for --diskdir');
    const m = await TestMount.start(bucket.name, 'recover', viaProxy('-r=1', '-R=5', '-b=5', `-k=${path.join(small, 'cache')}`));
    let child: ReturnType<typeof spawnPython> | undefined;
    try {
      const script = `
import os, sys, time
root = sys.argv[1]
sparse = os.open(root + '/sparse.bin', os.O_CREAT | os.O_RDWR, 0o644)
os.ftruncate(sparse, 10 ** 12)
os.pwrite(sparse, b'start of the terabyte', 0)
os.pwrite(sparse, b'middle of the terabyte', 5 * 10 ** 11)
big = os.open(root + '/too-big.bin', os.O_CREAT | os.O_RDWR, 0o644)
os.write(big, os.urandom(150 * 1024 * 1024))
gone = os.open(root + '/removed.bin', os.O_CREAT | os.O_RDWR, 0o644)
os.write(gone, b'removed while dirty' * 1000)
print('written', flush=True)
sys.stdin.readline()  # the server goes away now
for fd in (sparse, big, gone):
    try:
        os.close(fd)
        print('closed')
    except OSError as e:
        print('close failed', e.errno)
os.unlink(root + '/removed.bin')
print('done', flush=True)
`;
      child = spawnPython(script, m.p());
      const c = child;
      await withTimeout(c.line('written'), 120_000, 'the writes');
      await proxy.refuse();
      c.send('\n');
      await withTimeout(c.line('done'), 180_000, 'close(2) of the three files with the server gone');
      assert.match(c.output(), /close failed 5\n.*close failed 5\n.*close failed 5/s, `every close fails with EIO: ${c.output()}`);
      assert.equal((await run('fusermount', ['-u', m.path])).code, 0);
      assert.equal(await waitForExit(m.pid, 120_000), true, 'the daemon exits');
      const log = await m.log();
      const saved = await filesUnder(path.join(small, 'cache', 'recovery'));
      assert.equal(saved.length, 1, `one recovery copy: ${JSON.stringify(saved)}; log:\n${logProblems(log)}`);
      assert.ok(saved[0]!.endsWith('/sparse.bin'), saved[0]);
      const st = await fsp.stat(saved[0]!);
      assert.equal(st.size, 10 ** 12, 'the copy has the file\'s length');
      assert.ok(st.blocks * 512 < 16 * MiB, `and is sparse: ${st.blocks * 512} bytes on disk`);
      const fd = await fsp.open(saved[0]!, 'r');
      const at = async (pos: number, n: number): Promise<string> => {
        const b = Buffer.alloc(n);
        await fd.read(b, 0, n, pos);
        return b.toString();
      };
      assert.equal(await at(0, 21), 'start of the terabyte');
      assert.equal(await at(5 * 10 ** 11, 22), 'middle of the terabyte');
      assert.equal(await at(10 ** 11, 8), '\0'.repeat(8), 'a hole reads as zeros');
      await fd.close();
      assert.match(log, /"path":"\/too-big.bin".*"size":157286400.*data NOT saved/, 'the file that does not fit is named with its size');
      assert.doesNotMatch(log, /removed\.bin.*saved/, 'the removed file is not saved');
      const exit = /"msg":"exiting with data that could not be uploaded NOR saved"/.test(log);
      assert.ok(exit, 'the exit says data was not saved');
      t.diagnostic(`recovery: ${saved[0]} (${st.blocks * 512} bytes on disk)`);
    } catch (err) {
      t.diagnostic(`python: ${child?.output()}\ndaemon log:\n${logProblems(await m.log())}`);
      throw err;
    } finally {
      await proxy.accept();
      await m.stop();
      await run('umount', ['-l', small]);
      await fsp.rm(small, { recursive: true, force: true }).catch(() => undefined);
    }
  });

  test('a stalled request fails after --reqtimeout while the mount answers other requests', { timeout: 300_000 }, async (t) => {
    await bucket.put('stall/stuck.bin', dataFor(SEED + 3, 200 * KiB));
    await bucket.put('stall/fine.txt', 'still here\n');
    const retries = 1;
    const reqtimeout = 3;
    await withMount(t, bucket.name, 'stall', async (m) => {
      proxy.setFaults({ match: new RegExp(`^GET /${bucket.name}/stall/stuck\\.bin`), stall: true });
      try {
        const started = Date.now();
        let finished = false;
        const stuck = shResult(`cat ${q(m.p('stall', 'stuck.bin'))} > /dev/null`).finally(() => { finished = true; });
        while (proxy.faultCounts.stalled === 0 && Date.now() - started < 30_000) await sleep(20);
        assert.ok(proxy.faultCounts.stalled > 0, 'the read of stuck.bin reached the proxy and stalled');

        // Meanwhile the mount answers everything else.
        const other = await shResult(`ls ${q(m.p('stall'))} && cat ${q(m.p('stall', 'fine.txt'))} && echo new > ${q(m.p('stall', 'new.txt'))} && cat ${q(m.p('stall', 'new.txt'))}`);
        assert.equal(other.code, 0, `other requests are answered during the stall: ${other.stderr}`);
        assert.equal(other.stdout, 'fine.txt\nstuck.bin\nstill here\nnew\n');
        assert.equal(finished, false, 'the stalled read is still waiting meanwhile');

        const r = await withTimeout(stuck, 120_000, 'the stalled read');
        const seconds = (Date.now() - started) / 1000;
        t.diagnostic(`the stalled read failed after ${seconds.toFixed(1)} s: ${r.stderr.trim()}`);
        assert.notEqual(r.code, 0, 'the stalled read fails');
        assert.match(r.stderr, /Input\/output error/, 'with EIO');
        assert.ok(seconds >= reqtimeout, `not before --reqtimeout (${reqtimeout} s) has passed without progress`);
        // Each FUSE read gives up after (retries + 1) attempts of --reqtimeout; the kernel follows a
        // failed read-ahead with one plain read of the page, so a read may take two rounds.
        assert.ok(seconds < 2 * (retries + 1) * reqtimeout + 30, `within 2 x (retries + 1) x --reqtimeout and some slack, not ${seconds} s`);
      } finally {
        proxy.clearFaults();
      }
      // The file reads once the server answers again.
      const again = await shResult(`md5sum < ${q(m.p('stall', 'stuck.bin'))}`);
      assert.equal(again.stdout.split(' ')[0], md5hex(dataFor(SEED + 3, 200 * KiB)), 'and reads intact once the stall is over');
    }, viaProxy(`-r=${retries}`, `-R=${reqtimeout}`));
  });

  test('garbage answers (200s that are not S3) fail the operations with an errno; the daemon lives on', { timeout: 300_000 }, async (t) => {
    await bucket.put('junk/f1', 'the real content\n');
    await bucket.put('junk/d/x', 'x\n');
    await withMount(t, bucket.name, 'garbage', async (m) => {
      const commands = [
        `ls ${q(m.p('junk'))}`, `stat -c '%s %a %Y' ${q(m.p('junk', 'f1'))}`, `cat ${q(m.p('junk', 'f1'))}`, `ls ${q(m.p('junk', 'd'))}`,
        `echo new > ${q(m.p('junk', 'new'))}`, `mv ${q(m.p('junk', 'd'))} ${q(m.p('junk', 'e'))}`, `chmod 600 ${q(m.p('junk', 'f1'))}`,
      ];
      proxy.setFaults({ garbage: true, match: /junk/ });
      const answers: string[] = [];
      try {
        for (const c of commands) {
          const r = await shResult(c);
          answers.push(`${c.split(' ')[0]}: exit ${r.code} ${r.stderr.trim().replace(/^.*: /, '')}`);
        }
      } finally {
        proxy.clearFaults();
      }
      t.diagnostic(`under garbage answers (${proxy.faultCounts.garbage} sent):\n${answers.join('; ')}`);
      assert.ok(proxy.faultCounts.garbage > 0, 'garbage was answered');
      assert.ok(isAlive(m.pid), 'the daemon is alive');
      const log = await m.log();
      assert.doesNotMatch(log, /"msg":"(crashed|uncaught)/i, 'nothing uncaught');

      // Once the server answers properly again, everything works and nothing garbage stuck.
      await sleep(1100); // past the negative and listing trust windows
      const after = await shResult(`ls ${q(m.p('junk'))} && cat ${q(m.p('junk', 'f1'))} && cat ${q(m.p('junk', 'd', 'x'))}`);
      assert.equal(after.code, 0, `the mount works again: ${after.stderr}`);
      assert.match(after.stdout, /^d\nf1\n/);
      assert.match(after.stdout, /the real content\nx\n$/);
    }, viaProxy('-r=1', '-e=0'));
  });

  test('an unexpected exception in an operation is logged with its stack, answers EIO, and the mount stays alive', { timeout: 120_000 }, async () => {
    const work = await makeWorkdir('bug');
    // A test-only preload plants two bugs in the daemon: getattr of */boom throws at once, and
    // readdir of */boom-dir rejects later.
    const hook = path.join(work.dir, 'bug-hook.mjs');
    const filesystemModule = pathToFileURL(path.join(REPO_ROOT, 'dist', 'fs', 'filesystem.js')).href;
    await fsp.writeFile(hook, [
      `import { Filesystem } from ${JSON.stringify(filesystemModule)};`,
      'const getattr = Filesystem.prototype.getattr;',
      "Filesystem.prototype.getattr = function (p) { if (p.endsWith('/boom')) throw new TypeError('injected bug: sync'); return getattr.call(this, p); };",
      'const readdir = Filesystem.prototype.readdir;',
      "Filesystem.prototype.readdir = async function (p) { if (p.endsWith('/boom-dir')) { await null; throw new RangeError('injected bug: async'); } return readdir.call(this, p); };",
    ].join('\n'));
    const env = { ...process.env, NODE_OPTIONS: `--import=${hook}` };
    try {
      const r = await runQsfs([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`], { env });
      assert.equal(r.code, 0, r.stderr);
      const pid = await daemonPid(work.mountpoint);
      // In a directory of its own: the bucket is shared with the other tests of this file.
      const p = (name: string): string => q(path.join(work.mountpoint, 'bug', name));
      const boom = await shResult(`mkdir -p ${p('boom-dir')} && stat ${p('boom')}`);
      assert.match(boom.stderr, /stat: cannot statx? .*boom.*: Input\/output error/, 'the failing getattr answers EIO');
      const boomDir = await shResult(`ls ${p('boom-dir')}`);
      assert.match(boomDir.stderr, /Input\/output error/, 'the failing readdir answers EIO');
      const fine = await shResult(`echo fine > ${p('fine')} && cat ${p('fine')} && ls ${q(path.join(work.mountpoint, 'bug'))}`);
      assert.equal(fine.stdout, 'fine\nboom-dir\nfine\n', `the mount goes on working: ${fine.stderr}`);
      assert.ok(isAlive(pid), 'the daemon is alive');
      const log = await fsp.readFile(filesOf(work).log, 'utf8');
      for (const what of ['sync', 'async']) {
        const line = log.split('\n').find((l) => l.includes(`injected bug: ${what}`));
        assert.ok(line, `the ${what} exception is logged`);
        const rec = JSON.parse(line) as { level: number; err: { stack: string } };
        assert.equal(rec.level, 50, 'at error level');
        assert.match(rec.err.stack, /Error: injected bug.*\n\s+at /, 'with its stack');
      }
      await run('fusermount', ['-u', work.mountpoint]);
      assert.equal(await waitForExit(pid, 30_000), true, 'the daemon exits on unmount');
    } finally {
      await run('fusermount', ['-uz', work.mountpoint]);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test(`8 processes writing and reading their files for ${WORKER_SECONDS} s (at most ${WORKER_MAX_BYTES / 1024 / 1024} MiB each) with faults on: every file checks out`, { timeout: 900_000 }, async (t) => {
    const faults = { errorShare: 0.03, errorStatus: 500 as const, resetShare: 0.03, latencyMs: 2, seed: SEED + 4 };
    proxy.setFaults(faults);
    const before = { ...proxy.faultCounts };
    const reports: WorkerReport[] = [];
    try {
      await withMount(t, bucket.name, 'workers', async (m) => {
        const runs = Array.from({ length: 8 }, (_, i) =>
          run(process.execPath, [FAULT_WORKER, m.p('workers', `w${i}`), String(SEED + 10 + i), String(WORKER_SECONDS), String(WORKER_MAX_BYTES)], { timeoutMs: (WORKER_SECONDS + 300) * 1000 }));
        const results = await Promise.all(runs);
        results.forEach((r, i) => {
          assert.equal(r.code, 0, `worker ${i} (seed ${SEED + 10 + i}) found no failure: ${r.stdout}${r.stderr}`);
          reports.push(JSON.parse(r.stdout) as WorkerReport);
        });
      }, viaProxy('-r=10', '-b=5', '-R=60'));
    } finally {
      proxy.clearFaults();
    }
    const errors = proxy.faultCounts.errors - before.errors;
    const resets = proxy.faultCounts.resets - before.resets;
    const sum = (k: 'writes' | 'appends' | 'reads'): number => reports.reduce((n, r) => n + r[k], 0);
    t.diagnostic(`seed ${SEED}: ${sum('writes')} writes, ${sum('appends')} appends, ${sum('reads')} reads; ${errors} 500s and ${resets} cut responses injected`);
    assert.ok(errors > 10 && resets > 10, `faults were injected (${errors} errors, ${resets} resets)`);

    // After unmount, the bucket holds what each worker wrote last, read past the proxy...
    const want = new Map<string, string>();
    for (const [i, report] of reports.entries()) for (const [name, md5] of Object.entries(report.files)) want.set(`w${i}/${name}`, md5);
    sameMd5s(want, await storedMd5s('workers/'), 'the workers\' files in the bucket');

    // ...and a fresh mount reads every file back intact with the faults still on.
    proxy.setFaults({ ...faults, seed: SEED + 5 });
    try {
      await withMount(t, bucket.name, 'workers-read', async (m) => {
        const r = await shResult(`cd ${q(m.p('workers'))} && find . -type f -print0 | xargs -0 -P 4 -n 8 md5sum`);
        assert.equal(r.code, 0, `every file reads through a fresh mount under faults: ${r.stderr}`);
        const got = new Map(r.stdout.trim().split('\n').map((l) => [l.slice(l.indexOf('  ./') + 4), l.slice(0, 32)] as [string, string]));
        sameMd5s(want, got, 'the workers\' files read back cold through a fresh mount under faults');
      }, viaProxy('-r=10', '-b=5', '-R=60'));
    } finally {
      proxy.clearFaults();
    }
  });
});
