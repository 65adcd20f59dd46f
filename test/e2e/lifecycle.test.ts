// The daemon's life on a real system: mounted from an fstab file with mount(8) in both styles,
// read-only mounts, shutdown by SIGTERM and by a lazy umount while uploads and writers are
// still busy, the status report, log rotation, a crash, -s and -g, a systemd unit, and a mount
// by an ordinary user.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { TestBucket, testClient } from '../helpers/s3.js';
import {
  QSFS_BIN, REPO_ROOT, TestMount, daemonPid, endpointArgs, filesOf, isAlive, isMountpoint, makeWorkdir, sleep, waitForExit,
} from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { TcpForwarder } from '../helpers/tcp-forwarder.js';
import { startHoldWriter, withTimeout } from '../helpers/child-io.js';
import { dataFor } from '../helpers/random-ops.js';
import { run, sh } from '../helpers/shell.js';
import { logProblems, pyErrno, q, requireCommands } from '../helpers/posix.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

interface LogRecord { msg?: string; level?: number; [k: string]: unknown }
function records(log: string): LogRecord[] {
  return log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogRecord);
}

/** A qsfs daemon run in the foreground as a child, as systemd or a test harness runs it. */
function foreground(args: string[], env: NodeJS.ProcessEnv = process.env): { exited: Promise<number | null>; stderr: () => string; kill: (s: NodeJS.Signals) => void } {
  const child = spawn(process.execPath, [QSFS_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  return { exited, stderr: () => stderr, kill: (s) => child.kill(s) };
}

async function waitForMount(mountpoint: string, ms = 20_000): Promise<boolean> {
  for (let i = 0; i < ms / 100 && !(await isMountpoint(mountpoint)); i++) await sleep(100);
  return isMountpoint(mountpoint);
}

async function unfinishedUploads(bucket: string): Promise<number> {
  const r = await testClient().send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return r.Uploads?.length ?? 0;
}

describe('daemon lifecycle', () => {
  let bucket: TestBucket;

  before(async () => {
    await requireCommands('mount', 'umount', 'fusermount', 'setpriv', 'python3');
    bucket = await TestBucket.create('life');
  });
  after(async () => {
    await bucket.destroy();
  });

  test('fstab, both styles, through mount -T and umount', async (t: TestContext) => {
    // "qsfs#bucket ... fuse" runs FUSE's mount.fuse, which runs `qsfs` from PATH; "fuse.qsfs"
    // runs /sbin/mount.fuse.qsfs, the helper scripts/install-helpers.sh links there.
    const work = await makeWorkdir('fstab');
    // mount.fuse runs `qsfs` with a PATH of its own: the installer's /usr/local/bin link is needed.
    const installer = path.join(REPO_ROOT, 'scripts', 'install-helpers.sh');
    const installed = existsSync('/sbin/mount.fuse.qsfs') && existsSync('/usr/local/bin/qsfs');
    if (!installed) {
      const r = await run('sh', [installer]);
      assert.equal(r.code, 0, r.stderr);
    }
    const a = path.join(work.dir, 'a');
    const b = path.join(work.dir, 'b');
    await fsp.mkdir(a);
    await fsp.mkdir(b);
    const e = testEndpoint();
    // Both share one log directory, as with the default /var/log/qsfs: each keeps its own log.
    const common = `-l=${work.logdir}`;
    const fstab = path.join(work.dir, 'fstab');
    await fsp.writeFile(fstab, [
      '# qsfs test fstab',
      `qsfs#${bucket.name} ${a} fuse _netdev,noauto,-z=us-east-1,-c=${work.credentials},-H=127.0.0.1,-P=${e.port},-p=http,${common},-k=${work.diskdir}a,allow_other 0 0`,
      `${bucket.name} ${b} fuse.qsfs _netdev,noauto,user,rw,zone=us-east-1,credentials=${work.credentials},host=127.0.0.1,port=${e.port},protocol=http,logdir=${work.logdir},diskdir=${work.diskdir}b,allow_other 0 0`,
      '',
    ].join('\n'));
    try {
      for (const mnt of [a, b]) {
        const r = await run('mount', ['-T', fstab, mnt], { timeoutMs: 60_000 });
        assert.equal(r.code, 0, `mount -T fstab ${mnt}: ${r.stderr}`);
        assert.equal(await isMountpoint(mnt), true, `${mnt} is mounted when mount returns`);
      }
      const info = await fsp.readFile('/proc/self/mountinfo', 'utf8');
      for (const mnt of [a, b]) assert.match(info, new RegExp(` ${mnt} .* fuse\\.qsfs qsfs:${bucket.name} .*allow_other`));
      await sh(`echo from-a > ${q(a)}/fstab-file`);
      assert.equal(await sh(`cat ${q(b)}/fstab-file`), 'from-a\n', 'the second mount reads what the first wrote');
      const pids = [await daemonPid(a), await daemonPid(b)];
      // One log directory, two logs: each mount's own, neither removed nor written by the other.
      const logs = [filesOf(work, a).log, filesOf(work, b).log];
      assert.notEqual(logs[0], logs[1]);
      for (const [i, log] of logs.entries()) {
        const text = await fsp.readFile(log, 'utf8');
        assert.match(text, /"msg":"mounted"/, `${log} has its mount's records`);
        assert.ok(text.split('\n').filter(Boolean).every((l) => l.includes(`"pid":${pids[i]}`)), `${log} holds only its own daemon's records`);
      }
      for (const mnt of [a, b]) {
        const r = await run('umount', [mnt]);
        assert.equal(r.code, 0, `umount ${mnt}: ${r.stderr}`);
      }
      for (const pid of pids) assert.equal(await waitForExit(pid, 20_000), true, `daemon ${pid} exits after umount`);
      assert.equal(await isMountpoint(a) || await isMountpoint(b), false);
    } catch (err) {
      t.diagnostic(`logs:\n${logProblems(await fsp.readFile(filesOf(work, a).log, 'utf8').catch(() => ''))}\n${logProblems(await fsp.readFile(filesOf(work, b).log, 'utf8').catch(() => ''))}`);
      throw err;
    } finally {
      for (const mnt of [a, b]) if (await isMountpoint(mnt)) await run('umount', ['-l', mnt]);
      if (!installed) await run('sh', [installer, '--uninstall']);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('-o ro: every write fails with EROFS and nothing is sent', async () => {
    await bucket.put('ro/existing.txt', 'read me');
    const m = await TestMount.start(bucket.name, 'ro', ['-o', 'ro']);
    try {
      assert.equal(await sh(`cat ${q(m.p('ro', 'existing.txt'))}`), 'read me');
      assert.equal(await pyErrno('open(sys.argv[1], "w")', m.p('ro', 'new.txt')), 'EROFS');
      assert.equal(await pyErrno('open(sys.argv[1], "a")', m.p('ro', 'existing.txt')), 'EROFS');
      assert.equal(await pyErrno('os.mkdir(sys.argv[1])', m.p('ro', 'dir')), 'EROFS');
      assert.equal(await pyErrno('os.unlink(sys.argv[1])', m.p('ro', 'existing.txt')), 'EROFS');
      assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', m.p('ro', 'existing.txt'), m.p('ro', 'moved')), 'EROFS');
      assert.equal(await pyErrno('os.chmod(sys.argv[1], 0o600)', m.p('ro', 'existing.txt')), 'EROFS');
      assert.equal(await pyErrno('os.symlink("x", sys.argv[1])', m.p('ro', 'ln')), 'EROFS');
    } finally {
      const { log } = await m.stop();
      const counts = records(log).find((r) => r.msg === 'request counts')?.['requests'] as { byOperation: Record<string, number> } | undefined;
      assert.ok(counts, `request counts at exit:\n${logProblems(log)}`);
      const writes = Object.entries(counts.byOperation).filter(([op]) => !/^(Head|Get|List)/.test(op));
      assert.deepEqual(writes, [], 'only reads were sent');
    }
    assert.deepEqual(await bucket.keys('ro/'), ['ro/existing.txt']);
  });

  test('SIGTERM with a file open: the daemon waits for the close, then exits within seconds (not the 30 s idle grace)', { timeout: 120_000 }, async () => {
    const m = await TestMount.start(bucket.name, 'sigterm-open');
    const writer = startHoldWriter(m.p('sigterm-open.bin'), 64 * 1024, 62);
    try {
      await withTimeout(writer.written, 60_000, 'writing the file');
      process.kill(m.pid, 'SIGTERM');
      await sleep(3000);
      assert.equal(isAlive(m.pid), true, 'the daemon waits while the file is open');
      const closedAt = Date.now();
      writer.close();
      assert.equal((await withTimeout(writer.exited, 60_000, 'close(2)')).code, 0);
      assert.equal(await waitForExit(m.pid, 20_000), true, 'the daemon exits after the close');
      assert.ok(Date.now() - closedAt < 10_000, `exited ${Date.now() - closedAt} ms after the close`);
      assert.equal(md5(await bucket.get('sigterm-open.bin')), md5(dataFor(62, 64 * 1024)));
    } finally {
      writer.kill();
      await m.stop();
    }
  });

  test('SIGTERM while a close waits for its upload: the upload completes, the daemon exits, nothing is left behind', { timeout: 300_000 }, async (t) => {
    const size = 48 * MiB;
    const seed = 61;
    const proxy = new TcpForwarder(testEndpoint().port);
    const port = await proxy.listen();
    const m = await TestMount.start(bucket.name, 'sigterm', ['-b=8', '-n=2', '-R=120', `-P=${port}`]);
    const writer = startHoldWriter(m.p('sigterm.bin'), size, seed);
    try {
      await withTimeout(writer.written, 120_000, 'writing the file');
      proxy.pause(); // every request in flight now hangs: the upload is stuck mid-way
      writer.close();
      await sleep(500);
      process.kill(m.pid, 'SIGTERM');
      await sleep(6000); // long enough for a progress report
      assert.equal(isAlive(m.pid), true, 'the daemon waits for the upload');
      proxy.resume();
      const r = await withTimeout(writer.exited, 120_000, 'close(2) after the server came back');
      assert.equal(r.code, 0, `close(2) succeeded: ${r.stderr}`);
      assert.equal(await waitForExit(m.pid, 60_000), true, 'the daemon exits after SIGTERM');
      assert.equal(await isMountpoint(m.path), false, 'no stale mount');
      const log = await m.log();
      t.diagnostic(logProblems(log));
      const recs = records(log);
      assert.ok(recs.some((r) => r.msg === 'upload progress' && r['path'] === '/sigterm.bin'), 'long uploads report their progress');
      assert.ok(recs.some((r) => r.msg === 'exiting cleanly'), 'exit 0: nothing left unsaved');
      assert.equal(md5(await bucket.get('sigterm.bin')), md5(dataFor(seed, size)), 'the whole object is in the bucket');
      assert.equal(await unfinishedUploads(bucket.name), 0, 'no multipart upload left open');
    } finally {
      proxy.resume();
      writer.kill();
      await m.stop();
      await proxy.close();
    }
  });

  test('umount -l while a writer still has its file open: the daemon serves it to the end, uploads, and exits', { timeout: 300_000 }, async () => {
    const size = 12 * MiB;
    const seed = 62;
    const m = await TestMount.start(bucket.name, 'lazy', ['-b=5']);
    const writer = startHoldWriter(m.p('lazy.bin'), size, seed);
    try {
      await withTimeout(writer.written, 120_000, 'writing the file');
      const r = await run('umount', ['-l', m.path]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMountpoint(m.path), false, 'detached from the namespace at once');
      await sleep(1500);
      assert.equal(isAlive(m.pid), true, 'the daemon still serves the open file');
      writer.close();
      const w = await withTimeout(writer.exited, 120_000, 'close(2) after umount -l');
      assert.equal(w.code, 0, `close(2) succeeded: ${w.stderr}`);
      assert.equal(await waitForExit(m.pid, 60_000), true, 'the daemon exits once the file is closed');
      assert.equal(md5(await bucket.get('lazy.bin')), md5(dataFor(seed, size)));
      assert.ok(records(await m.log()).some((rec) => rec.msg === 'exiting cleanly'));
    } finally {
      writer.kill();
      await m.stop();
    }
  });

  test('SIGUSR1 writes a one-screen status next to the log', async () => {
    const m = await TestMount.start(bucket.name, 'status');
    const writer = startHoldWriter(m.p('status-open.bin'), 3 * MiB, 63);
    try {
      await withTimeout(writer.written, 60_000, 'writing');
      await sh(`ls -l ${q(m.path)} > /dev/null`);
      const status = await m.status();
      const lines = status.trim().split('\n');
      assert.ok(lines.length <= 24, `one screen: ${lines.length} lines`);
      assert.match(status, new RegExp(`mount: +${bucket.name} on ${m.path} via http://127\\.0\\.0\\.1:\\d+`));
      assert.match(status, /open: +1 file\(s\): \/status-open\.bin/);
      assert.match(status, /dirty: +1 file\(s\), 3\.0 MiB to upload/);
      assert.match(status, /transfers: +uploads \d+ active/);
      assert.match(status, /cache: +[\d.]+ MiB of [\d.]+ MiB in memory/);
      assert.match(status, /requests: +[1-9]\d* sent, \d+ failed.*\(.*List/);
      writer.close();
      assert.equal((await writer.exited).code, 0);
    } finally {
      writer.kill();
      await m.stop();
    }
  });

  test('libfuse threads that come and go under bursts of reads reuse their states (the status counts them)', { timeout: 300_000 }, async () => {
    // libfuse 2.9 ends idle threads beyond 10 and starts new ones when requests pile up; each
    // new thread used to get a state of its own that was never freed (with a uv_async handle
    // every event-loop wakeup scans): 18 states after one burst of readers, 66 after five.
    const m = await TestMount.start(bucket.name, 'threads');
    try {
      const files = Array.from({ length: 16 }, (_, i) => m.p(`t${i}.bin`));
      await sh(files.map((f) => `head -c ${4 * MiB} /dev/urandom > ${q(f)} &`).join(' ') + ' wait');
      const threadStates = async (): Promise<number> => {
        const line = /fuse: +(\d+) thread state\(s\)/.exec(await m.status());
        assert.ok(line, 'the status has a fuse line');
        return Number(line[1]);
      };
      // O_DIRECT: every read reaches the daemon, 16 readers at once.
      const burst = (): Promise<unknown> => sh(files.map((f) => `dd if=${q(f)} of=/dev/null bs=128k iflag=direct status=none &`).join(' ') + ' wait');
      await burst();
      const first = await threadStates();
      for (let i = 0; i < 4; i++) await burst();
      const last = await threadStates();
      assert.ok(first >= 11, `a burst of 16 readers needs more than libfuse's 10 idle threads (${first} states)`);
      assert.ok(last - first <= 4, `thread states after 1 burst: ${first}, after 5: ${last}`);
      // At most one per thread alive at once: 16 writers or readers and the kernel's 12
      // background requests (without reuse, 16 parallel writers alone made over 200).
      assert.ok(last <= 64, `${last} thread states for at most about 30 threads at once`);
    } finally {
      await m.stop();
    }
  });

  test('the log rotates by size, and earlier logs are removed at start unless -K', async () => {
    const work = await makeWorkdir('rotate');
    const env = { ...process.env, QSFS_LOG_MAX_BYTES: '4000' };
    const args = [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, '-U'];
    let mounts = 0;
    const mountOnce = async (extra: string[] = []): Promise<void> => {
      mounts++;
      const r = await run(process.execPath, [QSFS_BIN, ...args, ...extra], { env, timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const pid = await daemonPid(work.mountpoint);
      // Requests to fill the log with -U lines: files written (a missing name in a directory
      // listed a moment ago costs none).
      for (let i = 0; i < 15; i++) await sh(`echo ${i} > ${q(work.mountpoint)}/rotate-${mounts}-${i}`);
      await run('fusermount', ['-u', work.mountpoint]);
      assert.equal(await waitForExit(pid, 20_000), true);
    };
    try {
      await mountOnce();
      const log = path.basename(filesOf(work).log);
      let names = (await fsp.readdir(work.logdir)).sort();
      assert.ok(names.includes(`${log}.1`), `rotated: ${names.join(' ')}`);
      assert.ok(names.length <= 6, `at most 5 rotated logs beside ${log}: ${names.join(' ')}`);
      for (const n of names) assert.ok((await fsp.stat(path.join(work.logdir, n))).size <= 4000 + 1000, `${n} stays near the limit`);
      const holdsOldLog = async (): Promise<boolean> => {
        const texts = await Promise.all((await fsp.readdir(work.logdir)).map((n) => fsp.readFile(path.join(work.logdir, n), 'utf8')));
        return texts.some((text) => text.includes('an old log'));
      };
      await fsp.writeFile(path.join(work.logdir, `${log}.3`), 'an old log\n');
      await mountOnce(['-K']);
      assert.equal(await holdsOldLog(), true, '-K keeps earlier logs');
      await mountOnce();
      assert.equal(await holdsOldLog(), false, 'without -K the earlier logs are gone');
    } finally {
      if (await isMountpoint(work.mountpoint)) await run('fusermount', ['-uz', work.mountpoint]);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('a crash writes its reason to the log, saves what is dirty, and leaves no stale mount', { timeout: 120_000 }, async () => {
    const work = await makeWorkdir('crash');
    // A test-only preload: SIGUSR2 throws from a timer, an exception nothing catches.
    const hook = path.join(work.dir, 'crash-hook.mjs');
    await fsp.writeFile(hook, "process.on('SIGUSR2', () => setImmediate(() => { throw new Error('injected crash for the test'); }));\n");
    const env = { ...process.env, NODE_OPTIONS: `--import=${hook}` };
    const daemon = foreground([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-k=${work.diskdir}`, '-f'], env);
    let writer: ReturnType<typeof startHoldWriter> | undefined;
    try {
      assert.equal(await waitForMount(work.mountpoint), true, daemon.stderr());
      writer = startHoldWriter(path.join(work.mountpoint, 'crash.bin'), 2 * MiB, 64);
      await withTimeout(writer.written, 60_000, 'writing');
      const pid = await daemonPid(work.mountpoint);
      process.kill(pid, 'SIGUSR2');
      const code = await withTimeout(daemon.exited, 90_000, 'the crashed daemon');
      assert.equal(code, 70, `exit code 70 after a crash; stderr:\n${daemon.stderr()}`);
      // In the foreground the log is read by a person: one readable line per record.
      const fatal = daemon.stderr().split('\n').find((l) => / FATAL \(\d+\): /.test(l));
      assert.ok(fatal, `a fatal record on the log:\n${daemon.stderr()}`);
      assert.match(fatal, /uncaught exception/);
      // The record goes on with the error (its message and stack) until the next record.
      const record = daemon.stderr().slice(daemon.stderr().indexOf(fatal)).split(/\n(?=\[\d{4}-)/)[0]!;
      assert.match(record, /injected crash for the test/);
      assert.equal(await isMountpoint(work.mountpoint), false, 'no stale mount');
      assert.equal(md5(await bucket.get('crash.bin')), md5(dataFor(64, 2 * MiB)), 'the dirty file was uploaded on the way down');
    } finally {
      writer?.kill();
      daemon.kill('SIGKILL');
      if (await isMountpoint(work.mountpoint)) await run('fusermount', ['-uz', work.mountpoint]);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('qsfs --status MOUNTPOINT prints the daemon\'s report once; in the foreground SIGUSR1 prints it once, in readable log lines', { timeout: 120_000 }, async () => {
    const m = await TestMount.start(bucket.name, 'status');
    try {
      await sh(`echo x > ${q(m.p('status-file'))}`);
      const r = await run(process.execPath, [QSFS_BIN, '--status', m.path]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((r.stdout.match(/^qsfs status at /gm) ?? []).length, 1, r.stdout);
      assert.match(r.stdout, new RegExp(`pid ${m.pid}, `));
      assert.match(r.stdout, new RegExp(`on ${m.path} via http://127\\.0\\.0\\.1`));
      assert.match(r.stdout, new RegExp(`log: +${filesOf(m.work).log}`));
      assert.match(r.stdout, /requests: +\d+ sent/);
      const relative = await run(process.execPath, [QSFS_BIN, '--status', path.basename(m.path)], { cwd: path.dirname(m.path) });
      assert.equal(relative.code, 0, `a relative mountpoint works too: ${relative.stderr}`);
      const none = await run(process.execPath, [QSFS_BIN, '--status', m.work.dir]);
      assert.equal(none.code, 1);
      assert.match(none.stderr.trim(), /^qsfs: no qsfs mounted by root answers for .*\(not a qsfs mountpoint, or mounted by another user: ask as that user\)$/);
    } finally {
      await m.stop();
    }
    const gone = await run(process.execPath, [QSFS_BIN, '--status', m.path]);
    assert.equal(gone.code, 1, 'no answer once unmounted');

    const work = await makeWorkdir('status-fg');
    const daemon = foreground([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-k=${work.diskdir}`, '-f']);
    try {
      assert.equal(await waitForMount(work.mountpoint), true, daemon.stderr());
      process.kill(await daemonPid(work.mountpoint), 'SIGUSR1');
      for (let i = 0; i < 50 && !daemon.stderr().includes('requests:'); i++) await sleep(100);
      await sleep(300);
      assert.equal((daemon.stderr().match(/qsfs status at /g) ?? []).length, 1, `once:\n${daemon.stderr()}`);
      const mounted = daemon.stderr().split('\n').find((l) => l.includes('mounted'));
      assert.match(mounted ?? '', /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO \(\d+\): mounted /, `a readable line, not JSON:\n${daemon.stderr()}`);
    } finally {
      await run('fusermount', ['-u', work.mountpoint]);
      await withTimeout(daemon.exited, 30_000, 'the foreground daemon');
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('-s runs the FUSE loop single-threaded; -g keeps libfuse debug output in the log directory', async () => {
    const m = await TestMount.start(bucket.name, 'single', ['-s', '-g']);
    try {
      await sh(`for i in 1 2 3 4 5 6; do (echo s$i > ${q(m.path)}/s$i) & done; wait`);
      assert.equal(await sh(`cat ${q(m.path)}/s1 ${q(m.path)}/s6`), 's1\ns6\n');
      const mounted = records(await m.log()).find((r) => r.msg === 'mounted');
      assert.equal(mounted?.['fuseLoop'], 'single-threaded');
      const debug = await fsp.readFile(filesOf(m.work).fuseDebug, 'utf8');
      assert.match(debug, /INIT: 7\.\d+/, 'libfuse debug output');
      assert.match(debug, /unique: \d+, opcode: (CREATE|LOOKUP)/);
    } finally {
      await m.stop();
    }
    const m2 = await TestMount.start(bucket.name, 'multi');
    try {
      assert.equal(records(await m2.log()).find((r) => r.msg === 'mounted')?.['fuseLoop'], 'multithreaded');
      assert.equal(existsSync(filesOf(m2.work).fuseDebug), false, 'no debug output without -g');
    } finally {
      await m2.stop();
    }
  });

  test('the systemd unit example: ExecStart mounts in the foreground, SIGTERM (systemctl stop) unmounts cleanly', async () => {
    const unit = await fsp.readFile(path.join(REPO_ROOT, 'scripts', 'systemd', 'qsfs@.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    assert.ok(execStart, 'the unit has an ExecStart line');
    assert.match(unit, /^KillSignal=SIGTERM$/m);
    assert.match(unit, /^Type=notify$|^Type=simple$|^Type=exec$/m);
    const work = await makeWorkdir('systemd');
    // The unit reads its settings from an environment file: fill in the test's.
    const e = testEndpoint();
    const settings: Record<string, string> = {
      BUCKET: bucket.name, MOUNTPOINT: work.mountpoint, CREDENTIALS: work.credentials,
      QSFS_OPTIONS: `-z=us-east-1 -H=127.0.0.1 -P=${e.port} -p=http -k=${work.diskdir}`,
    };
    const argv = execStart.split(/\s+/).flatMap((word) => {
      const expanded = word.replace(/\$\{(\w+)\}/g, (_, name: string) => settings[name] ?? '');
      return word === '$QSFS_OPTIONS' ? settings['QSFS_OPTIONS']!.split(' ') : expanded === '' ? [] : [expanded];
    });
    assert.match(argv[0]!, /\/qsfs$/);
    const daemon = foreground(argv.slice(1));
    try {
      assert.equal(await waitForMount(work.mountpoint), true, daemon.stderr());
      await sh(`echo unit > ${q(work.mountpoint)}/unit-file`);
      daemon.kill('SIGTERM');
      assert.equal(await withTimeout(daemon.exited, 60_000, 'stop'), 0, daemon.stderr());
      assert.equal(await isMountpoint(work.mountpoint), false);
      assert.equal((await bucket.get('unit-file')).toString(), 'unit\n');
    } finally {
      daemon.kill('SIGKILL');
      if (await isMountpoint(work.mountpoint)) await run('fusermount', ['-uz', work.mountpoint]);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('an ordinary user mounts with allow_other once /etc/fuse.conf has user_allow_other', { timeout: 120_000 }, async () => {
    const conf = '/etc/fuse.conf';
    const original = await fsp.readFile(conf, 'utf8').catch(() => null);
    const work = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-user-'));
    await fsp.chmod(work, 0o755);
    const mnt = path.join(work, 'mnt');
    const cred = path.join(work, 'cred');
    await fsp.mkdir(mnt);
    const e = testEndpoint();
    await fsp.writeFile(cred, `${e.accessKeyId}:${e.secretAccessKey}\n`, { mode: 0o600 });
    await fsp.mkdir(path.join(work, 'log'));
    await fsp.mkdir(path.join(work, 'cache'));
    await sh(`chown nobody:nogroup ${q(mnt)} ${q(cred)} ${q(work)}/log ${q(work)}/cache`);
    const qsfsAsNobody = `${q(process.execPath)} ${q(QSFS_BIN)} ${bucket.name} ${q(mnt)} -c=${q(cred)} ${endpointArgs().join(' ')} -l=${q(work)}/log -k=${q(work)}/cache -o allow_other`;
    const asNobody = (script: string) => run('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'bash', '-c', `cd / && ${script}`], { timeoutMs: 60_000 });
    // Debian's udev rules make /dev/fuse 0666; a container may not: as Debian has it, for the test.
    const deviceMode = (await fsp.stat('/dev/fuse')).mode & 0o777;
    try {
      await fsp.chmod('/dev/fuse', 0o666);
      await fsp.writeFile(conf, (original ?? '').replace(/^\s*user_allow_other\s*$/m, ''));
      const refused = await asNobody(qsfsAsNobody);
      assert.notEqual(refused.code, 0, 'allow_other without user_allow_other fails');
      assert.match(refused.stderr, /^qsfs: .*user_allow_other.*\/etc\/fuse\.conf/m, refused.stderr);
      assert.equal(await isMountpoint(mnt), false);

      await fsp.writeFile(conf, `${original ?? ''}\nuser_allow_other\n`);
      const r = await asNobody(qsfsAsNobody);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await isMountpoint(mnt), true);
      const owner = await asNobody(`echo mine > ${q(mnt)}/by-nobody && stat -c %U ${q(mnt)}/by-nobody`);
      assert.equal(owner.stdout.trim(), 'nobody', owner.stderr);
      assert.equal(await sh(`cat ${q(mnt)}/by-nobody`), 'mine\n', 'root reads through allow_other');
      const pid = await daemonPid(mnt);
      const u = await asNobody(`fusermount -u ${q(mnt)}`);
      assert.equal(u.code, 0, u.stderr);
      assert.equal(await waitForExit(pid, 20_000), true);
    } finally {
      await fsp.chmod('/dev/fuse', deviceMode);
      if (original === null) await fsp.rm(conf, { force: true });
      else await fsp.writeFile(conf, original);
      if (await isMountpoint(mnt)) await run('fusermount', ['-uz', mnt]);
      await fsp.rm(work, { recursive: true, force: true });
    }
  });
});
