// Options that change how a mount behaves or where it logs, checked on real mounts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import {
  MOUNT_HELPER_BIN, QSFS_BIN, TestMount, daemonPid, endpointArgs, filesOf, isMountpoint, makeWorkdir, runQsfs, sleep, waitForExit,
} from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { sh } from '../helpers/shell.js';

describe('command-line options on a real mount', () => {
  let bucket: TestBucket;

  before(async () => { bucket = await TestBucket.create('cli'); });
  after(async () => { await bucket?.destroy(); });

  test('BUCKET:/prefix mounts a sub-prefix', async () => {
    await bucket.put('sub/dir/inside', 'in');
    await bucket.put('outside', 'out');
    const m = await TestMount.start(`${bucket.name}:/sub`, 'prefix');
    try {
      assert.equal(await sh(`ls ${m.path}`), 'dir\n');
      await sh(`echo new > ${m.p('dir/new')}`);
      assert.equal((await bucket.get('sub/dir/new')).toString(), 'new\n');
    } finally {
      await m.stop();
    }
  });

  test('-o uid=,gid=,umask= reach FUSE; -u sets the mountpoint mode with allow_other', async () => {
    await bucket.put('owned', 'x');
    const m = await TestMount.start(bucket.name, 'fuseopts', ['-o', 'allow_other,uid=1234,gid=2345,umask=027']);
    try {
      // libfuse's umask= replaces the permission bits: 0777 & ~027
      assert.equal(await sh(`stat -c '%u %g %a' ${m.p('owned')}`), '1234 2345 750\n');
    } finally {
      await m.stop();
    }
    const m2 = await TestMount.start(bucket.name, 'umaskmp', ['-u=027', '-o', 'allow_other']);
    try {
      assert.equal(await sh(`stat -c '%a' ${m2.path}`), '750\n');
    } finally {
      await m2.stop();
    }
  });

  test('-U logs one line per S3 request, and no secret reaches the log', async () => {
    const m = await TestMount.start(bucket.name, 'curldbg', ['-U', '-d']);
    // The file read is written by another client: a file just written here may still be open
    // (the kernel's release comes after close returns) and would be read from memory.
    await bucket.put('logged-remote', 'remote data');
    await sh(`echo data > ${m.p('logged')} && cat ${m.p('logged-remote')} > /dev/null`);
    const { log } = await m.stop();
    const lines = log.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === 's3 request');
    const counts = lines.find((l) => l.msg === 'request counts') as { requests: { total: number } } | undefined;
    assert.ok(counts, 'the daemon logs its request counts at exit');
    assert.equal(requests.length, counts.requests.total, 'one line per request');
    const put = requests.filter((l) => l.s3 === 'PutObjectCommand' && l.key === 'logged').pop();
    assert.ok(put, 'a PUT line for the file');
    assert.equal(put.method, 'PUT');
    assert.equal(put.status, 200);
    assert.equal(typeof put.ms, 'number');
    const get = requests.find((l) => l.s3 === 'GetObjectCommand' && l.key === 'logged-remote');
    assert.ok(get, 'a GET line for the file');
    assert.match(String(get.range), /^bytes=0-/);
    const { secretAccessKey } = testEndpoint();
    assert.equal(log.includes(secretAccessKey), false);
    assert.equal(/Signature=|Credential=|authorization/i.test(log), false);
  });

  test('-L sets the lowest level logged', async () => {
    const m = await TestMount.start(bucket.name, 'loglevel', ['-L=WARN']);
    await sh(`ls ${m.path} > /dev/null`);
    const { log } = await m.stop();
    const levels = log.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { level: number }).level);
    assert.equal(levels.filter((l) => l < 40).length, 0, 'nothing below WARN');
    const chatty = await TestMount.start(bucket.name, 'loglevel-info');
    const { log: infoLog } = await chatty.stop();
    assert.match(infoLog, /"msg":"mounted"/);
  });

  test('the log directory is emptied of this mount\'s old logs unless -K; other mounts\' logs stay', async () => {
    const work = await makeWorkdir('logdir');
    try {
      await fsp.mkdir(work.logdir, { recursive: true });
      const log = path.basename(filesOf(work).log);
      const another = path.basename(filesOf(work, '/mnt/another').log);
      await fsp.writeFile(`${work.logdir}/${log}.1`, 'old');
      await fsp.writeFile(`${work.logdir}/${another}`, 'another mount\'s log');
      await fsp.writeFile(`${work.logdir}/unrelated.txt`, 'keep');
      const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`];
      assert.equal((await runQsfs(['-K', ...args])).code, 0);
      await sh(`fusermount -u ${work.mountpoint}`);
      assert.deepEqual((await fsp.readdir(work.logdir)).sort(), [another, log, `${log}.1`, 'unrelated.txt'].sort());
      await sleep(500);
      assert.equal((await runQsfs(args)).code, 0);
      const pid = await daemonPid(work.mountpoint);
      await sh(`fusermount -u ${work.mountpoint}`);
      await waitForExit(pid, 10_000);
      assert.deepEqual((await fsp.readdir(work.logdir)).sort(), [another, log, 'unrelated.txt'].sort());
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('without a credentials file, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are used (the AWS default chain)', async () => {
    assert.equal(await fsp.access('/etc/qsfs.cred').then(() => true, () => false), false, 'this test needs /etc/qsfs.cred to be absent');
    const work = await makeWorkdir('envcred');
    const e = testEndpoint();
    try {
      const args = [bucket.name, work.mountpoint, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`];
      const r = await runQsfs(args, { env: { ...process.env, AWS_ACCESS_KEY_ID: e.accessKeyId, AWS_SECRET_ACCESS_KEY: e.secretAccessKey } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMountpoint(work.mountpoint), true);
      const pid = await daemonPid(work.mountpoint);
      await sh(`fusermount -u ${work.mountpoint}`);
      await waitForExit(pid, 10_000);
      // Nothing for the AWS default chain either (no files; no instance metadata: loopback only).
      const bare = await runQsfs(args, { env: { PATH: process.env.PATH, AWS_EC2_METADATA_DISABLED: 'true', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_CONFIG_FILE: '/nonexistent' } });
      assert.equal(bare.code, 1);
      assert.match(bare.stderr, /no credentials: .*AWS_ACCESS_KEY_ID/);
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('mount.qsfs takes fstab-style options (qsfs and FUSE mixed)', async () => {
    const work = await makeWorkdir('helper');
    const e = testEndpoint();
    try {
      const opts = `rw,_netdev,zone=us-east-1,-c=${work.credentials},host=127.0.0.1,-P=${e.port},protocol=http,logdir=${work.logdir},diskdir=${work.diskdir},allow_other`;
      const r = await runQsfs([`qsfs#${bucket.name}`, work.mountpoint, '-o', opts], { bin: MOUNT_HELPER_BIN });
      assert.equal(r.code, 0, r.stderr);
      const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
      assert.match(mounts, new RegExp(` ${work.mountpoint} .*allow_other`));
      await sh(`echo via-helper > ${work.mountpoint}/helper-file`);
      assert.equal((await bucket.get('helper-file')).toString(), 'via-helper\n');
      const pid = await daemonPid(work.mountpoint);
      await sh(`umount ${work.mountpoint}`);
      assert.equal(await waitForExit(pid, 10_000), true);
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('-f stays in the foreground, logs to stderr, and SIGTERM unmounts cleanly', async () => {
    const work = await makeWorkdir('foreground');
    try {
      const child = spawn(process.execPath, [QSFS_BIN, bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-k=${work.diskdir}`, '-f'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      for (let i = 0; i < 100 && !(await isMountpoint(work.mountpoint)); i++) await sleep(100);
      assert.equal(await isMountpoint(work.mountpoint), true, `mounted; stderr: ${stderr}`);
      await sh(`echo fg > ${work.mountpoint}/fg`);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.equal(await isMountpoint(work.mountpoint), false);
      assert.match(stderr, /^\[[-\d :.]+\] INFO \(\d+\): mounted /m, 'a readable line on stderr');
      assert.equal((await bucket.get('fg')).toString(), 'fg\n');
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });
});
