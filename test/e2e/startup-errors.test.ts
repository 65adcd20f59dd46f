// Every way a mount can fail to start: one line on stderr saying why, a non-zero exit, and no
// mount or daemon left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { MOUNT_HELPER_BIN, QSFS_BIN, TestMount, endpointArgs, isMountpoint, makeWorkdir, runQsfs, type Workdir } from '../helpers/mount.js';
import { run } from '../helpers/shell.js';
import { q, shAsNobody } from '../helpers/posix.js';
import { testEndpoint } from '../helpers/rgw-env.js';

/** Runs qsfs and checks the one-line error and exit code; returns the line. */
async function expectFailure(args: string[], exitCode: number, pattern: RegExp, work?: Workdir): Promise<string> {
  const r = await runQsfs(args, { timeoutMs: 30_000 });
  assert.equal(r.code, exitCode, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0]!, /^qsfs: /);
  assert.match(lines[0]!, pattern);
  assert.equal(r.stderr.includes(testEndpoint().secretAccessKey), false, 'no secret in the message');
  if (work) assert.equal(await isMountpoint(work.mountpoint), false, 'nothing mounted');
  return lines[0]!;
}

describe('startup checks', () => {
  let bucket: TestBucket;
  let work: Workdir;
  let base: (extra?: string[]) => string[];

  before(async () => {
    bucket = await TestBucket.create('startup');
    work = await makeWorkdir('startup');
    base = (extra = []) => [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, ...extra];
  });
  after(async () => {
    await fsp.rm(work.dir, { recursive: true, force: true });
    await bucket.destroy();
  });

  test('missing credentials file', async () => {
    await expectFailure(base([`-c=${work.dir}/nope`]), 1, /credentials file .*nope does not exist/, work);
  });

  test('credentials path that is not a regular file', async () => {
    const dir = path.join(work.dir, 'credsdir');
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await expectFailure(base([`-c=${dir}`]), 1, /credentials file .*credsdir is not a regular file/, work);
  });

  test('credentials file the user cannot read (qsfs run as nobody)', async () => {
    // root reads any file, so the mount command runs as an unprivileged user here
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-unreadable-'));
    try {
      await fsp.chmod(dir, 0o711);
      await fsp.writeFile(path.join(dir, 'cred'), 'A:B\n', { mode: 0o600 });
      const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, QSFS_BIN, 'bkt', dir, `-c=${dir}/cred`, '-f'], { timeoutMs: 30_000 });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr, `qsfs: cannot read credentials file ${dir}/cred: EACCES\n`);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });

  test('credentials file readable by others', async () => {
    const file = path.join(work.dir, 'open-cred');
    await fsp.writeFile(file, 'A:B\n', { mode: 0o644 });
    await fsp.chmod(file, 0o644);
    await expectFailure(base([`-c=${file}`]), 1, /accessible by group or others \(mode 0644\); run: chmod 600/, work);
    await fsp.chmod(file, 0o640);
    await expectFailure(base([`-c=${file}`]), 1, /mode 0640/, work);
  });

  test('malformed credentials file', async () => {
    const file = path.join(work.dir, 'bad-cred');
    await fsp.writeFile(file, '# only a comment\nno-colon-here\n', { mode: 0o600 });
    await expectFailure(base([`-c=${file}`]), 1, /is malformed: expected one line AccessKeyId:SecretKey/, work);
  });

  test('unknown option', async () => {
    await expectFailure(base(['--bogus']), 2, /unknown option '--bogus'/, work);
  });

  test('bad option values', async () => {
    await expectFailure(base(['-n=abc']), 2, /numtransfer.*'abc' is not an integer/, work);
    await expectFailure(base(['-F=0999']), 2, /filemode.*not an octal number/, work);
    await expectFailure(base(['-p=ftp']), 2, /protocol/, work);
  });

  test('bucket not found', async () => {
    await expectFailure(base().map((a) => (a === bucket.name ? `${bucket.name}-missing` : a)), 1, /bucket '.*-missing' does not exist at http:\/\/127\.0\.0\.1:\d+/, work);
  });

  test('access denied with a wrong secret', async () => {
    const file = path.join(work.dir, 'wrong-cred');
    await fsp.writeFile(file, `${testEndpoint().accessKeyId}:not-the-secret\n`, { mode: 0o600 });
    const line = await expectFailure(base([`-c=${file}`]), 1, /access denied to bucket '.*' at http:\/\/127\.0\.0\.1:\d+: check the credentials from .*wrong-cred \(HTTP 403\)/, work);
    assert.equal(line.includes('not-the-secret'), false);
  });

  test('endpoint unreachable fails within seconds', async () => {
    const args = base().filter((a) => !a.startsWith('-P='));
    await expectFailure([...args, '-P=1'], 1, /nothing listens at http:\/\/127\.0\.0\.1:1 \(ECONNREFUSED\): check --host, --port and --protocol/, work);
  });

  test('https to an http port, and an endpoint that never answers, are said in words with the fix', async () => {
    const args = base().filter((a) => !a.startsWith('-p='));
    await expectFailure([...args, '-p=https'], 1, /the S3 endpoint https:\/\/127\.0\.0\.1:\d+ does not speak TLS \(EPROTO\): is this an http port\? try -p=http$/, work);
    // A listener that takes connections and never answers: the bucket check gives up after 10 s.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const line = await expectFailure([...base().filter((a) => !a.startsWith('-P=')), `-P=${port}`], 1,
        /no answer from the S3 endpoint http:\/\/127\.0\.0\.1:\d+ within 10 s \(AbortError\)/, work);
      assert.doesNotMatch(line, /^qsfs: .*\(AbortError\)$/, 'the code is not all it says');
    } finally {
      silent.close();
    }
  });

  test('an option value forgotten before the next option (-z -c=FILE) is named, not eaten', async () => {
    const args = base().filter((a) => !a.startsWith('-z=') && !a.startsWith('-c='));
    await expectFailure([...args, '-z', `-c=${work.credentials}`], 2, /option -z\/--zone: missing value \('-c=.*cred' is an option, not a value; write -z=VALUE\)/, work);
  });

  test('a FUSE option libfuse does not know: its own reason, a hint, and no mount left behind', async () => {
    await expectFailure(base(['-o', 'bogus']), 1, /cannot mount on .*: libfuse refused the mount options: fuse: unknown option\(s\): `-o bogus'; check the -o options/, work);
    // In the foreground libfuse's reason is printed once, in qsfs's line.
    const fg = await runQsfs(base(['-o', 'max_read=abc', '-f']), { timeoutMs: 30_000 });
    assert.equal(fg.code, 1, fg.stderr);
    const said = fg.stderr.split('\n').filter((l) => l.includes('max_read=abc'));
    assert.equal(said.length, 1, `libfuse's reason once:\n${fg.stderr}`);
    assert.match(said[0]!, /^qsfs: cannot mount on .*: libfuse refused the mount options: fuse: invalid parameter in option `max_read=abc'/);
    assert.equal(await isMountpoint(work.mountpoint), false, 'nothing mounted');
    // As in /etc/fstab, through the mount helper: a misspelt qsfs option gets a suggestion.
    const e = testEndpoint();
    const r = await runQsfs([bucket.name, work.mountpoint, '-o', `credentials=${work.credentials},zone=us-east-1,host=127.0.0.1,port=${e.port},protocol=http,logdir=${work.logdir},diskdir=${work.diskdir},retires=5`], { bin: MOUNT_HELPER_BIN, timeoutMs: 30_000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr.trim(), /^qsfs: cannot mount on .*: libfuse refused the mount options: fuse: unknown option\(s\): `-o retires=5'; did you mean retries\?$/);
    assert.equal(await isMountpoint(work.mountpoint), false, 'nothing mounted');
    assert.equal((await run('ls', [work.mountpoint])).code, 0, 'the mountpoint is usable: no dead mount');
  });

  test('mountpoint missing', async () => {
    const args = base().map((a) => (a === work.mountpoint ? `${work.dir}/no-such-dir` : a));
    await expectFailure(args, 1, /mountpoint .*no-such-dir does not exist/);
  });

  test('mountpoint not a directory', async () => {
    const file = path.join(work.dir, 'plain-file');
    await fsp.writeFile(file, '');
    await expectFailure(base().map((a) => (a === work.mountpoint ? file : a)), 1, /mountpoint .*plain-file is not a directory/);
  });

  test('mountpoint already a mount', async () => {
    const first = await TestMount.start(bucket.name, 'already');
    try {
      const args = base().map((a) => (a === work.mountpoint ? first.path : a));
      await expectFailure(args, 1, /mountpoint .* is already a mount point/);
      assert.equal(await isMountpoint(first.path), true, 'the first mount is untouched');
    } finally {
      await first.stop();
    }
  });

  test('a --diskdir or --logdir another user made beforehand, or that every user may write, is refused; nothing is written there', async () => {
    // As in /tmp: a directory every user may create entries in (sticky), where nobody got first.
    const shared = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-shared-'));
    try {
      await fsp.chmod(shared, 0o1777);
      const theirs = path.join(shared, 'qsfs_cache');
      assert.equal((await shAsNobody(`mkdir -m 0755 ${q(theirs)}`)).code, 0, 'nobody makes the directory first');
      await expectFailure(base([`-k=${theirs}`]), 1, /--diskdir .*qsfs_cache is owned by uid 65534, not by you \(uid 0\).*give --diskdir a directory of your own/, work);
      assert.deepEqual(await fsp.readdir(theirs), [], 'nothing written into their directory');
      const loose = path.join(shared, 'loose');
      await fsp.mkdir(loose);
      await fsp.chmod(loose, 0o777);
      await expectFailure(base([`-k=${loose}`]), 1, /--diskdir .*loose is writable by every user \(mode 0777\)/, work);
      await fsp.chmod(loose, 0o770);
      await expectFailure(base([`-l=${loose}`]), 1, /--logdir .*loose is writable by its group \(mode 0770\)/, work);
      assert.deepEqual(await fsp.readdir(loose), [], 'no log written there');
      // One it makes itself is private.
      const fresh = path.join(work.dir, 'fresh-cache');
      const m = await TestMount.start(bucket.name, 'private-dirs', [`-k=${fresh}`]);
      await m.stop();
      assert.equal((await fsp.stat(fresh)).mode & 0o777, 0o700);
    } finally {
      await fsp.rm(shared, { recursive: true, force: true });
    }
  });

  test('no daemon is left behind by failed starts', async () => {
    const r = await runQsfs(['-V']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^qsfs \d+\.\d+\.\d+ \(Node v\d+\.\d+\.\d+, libfuse 3\.\d+\)\n$/);
    const procs = await fsp.readdir('/proc');
    for (const pid of procs.filter((p) => /^\d+$/.test(p))) {
      const cmd = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      assert.equal(cmd.includes(work.mountpoint), false, `process ${pid} still runs for ${work.mountpoint}: ${cmd}`);
    }
  });
});
