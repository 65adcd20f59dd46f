// No secret in any log at any level: a mount at its most talkative (-d debug level, -U one line
// per request, -g libfuse's debug output, a SIGUSR1 status) does ordinary work and then fails in
// every way the test proxy can make it fail; a start with a wrong secret fails the same way. Not
// one of the files under --logdir nor anything printed holds the secret key or a signature.
//
// (The other security checks have their homes elsewhere: a group- or world-readable credentials
// file in test/e2e/startup-errors.test.ts and test/unit/credentials.test.ts; a second user held to
// the mode bits of a 0600 file under allow_other in test/e2e/posix-ops.test.ts.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { CountingProxy } from '../../scripts/lib/s3-proxy.js';
import { TestBucket } from '../helpers/s3.js';
import { daemonPid, endpointArgs, filesOf, makeWorkdir, runQsfs, sleep, waitForExit, type Workdir } from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { run, shResult } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';

/** What must never be written anywhere: the secret, and the parts of a signed request. */
function leaks(text: string, secret: string): string[] {
  const found: string[] = [];
  if (text.includes(secret)) found.push(`the secret key ${JSON.stringify(secret)}`);
  for (const m of text.matchAll(/Signature=|Credential=|authorization|x-amz-security-token|X-Amz-Signature/gi)) found.push(m[0]);
  return found;
}

/** Every file under the log directory, with its text. */
async function logFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await fsp.readdir(dir).catch(() => [] as string[])) out.set(name, await fsp.readFile(path.join(dir, name), 'utf8'));
  return out;
}

describe('secrets in logs', () => {
  let bucket: TestBucket;
  let proxy: CountingProxy;

  before(async () => {
    bucket = await TestBucket.create('secrets');
    proxy = new CountingProxy('127.0.0.1', testEndpoint().port);
    await proxy.start();
  });
  after(async () => {
    await proxy?.stop();
    await bucket?.destroy();
  });

  test('a debug-level mount that works and then fails every way writes no secret anywhere', { timeout: 300_000 }, async (t) => {
    const e = testEndpoint();
    await bucket.put('remote.txt', 'written by another client\n');
    const work: Workdir = await makeWorkdir('secrets');
    // The credentials come from the environment this time (the file path is covered by the -U test).
    const env = { ...process.env, AWS_ACCESS_KEY_ID: e.accessKeyId, AWS_SECRET_ACCESS_KEY: e.secretAccessKey };
    const args = [bucket.name, work.mountpoint, ...endpointArgs().filter((a) => !a.startsWith('-P=')), `-P=${proxy.port}`,
      `-l=${work.logdir}`, `-k=${work.diskdir}`, '-d', '-U', '-g', '-r=1', '-R=3'];
    const printed: string[] = [];
    try {
      const started = await runQsfs(args, { env });
      printed.push(started.stdout, started.stderr);
      assert.equal(started.code, 0, `the mount starts: ${started.stderr}`);
      const pid = await daemonPid(work.mountpoint);
      const p = (name: string): string => q(path.join(work.mountpoint, name));

      // Ordinary work: every kind of request.
      const ok = await shResult([
        `echo hello > ${p('a.txt')}`, `cat ${p('remote.txt')} ${p('a.txt')} > /dev/null`, `ls -l ${q(work.mountpoint)} > /dev/null`,
        `mkdir ${p('d')}`, `mv ${p('a.txt')} ${p('d/b.txt')}`, `chmod 600 ${p('d/b.txt')}`, `touch ${p('d/b.txt')}`,
        `setfattr -n user.note -v x ${p('d/b.txt')}`, `head -c 7000000 /dev/zero > ${p('big.bin')}`, `rm ${p('big.bin')}`,
      ].join(' && '));
      printed.push(ok.stdout, ok.stderr);
      assert.equal(ok.code, 0, `ordinary work succeeds: ${ok.stderr}`);

      // Failures: 500s, then responses cut off, then nobody listening.
      await bucket.put('remote2.txt', 'another one\n');
      await bucket.put('d2/x', 'x');
      for (const faults of [{ errorShare: 1, errorStatus: 500 as const }, { resetShare: 1 }]) {
        proxy.setFaults(faults);
        const failing = await shResult(`cat ${p('remote2.txt')}; ls ${p('d2')}; echo lost > ${p('new.txt')}; mv ${p('d')} ${p('d3')}; true`);
        printed.push(failing.stdout, failing.stderr);
        proxy.clearFaults();
      }
      await proxy.refuse();
      const refused = await shResult(`echo more > ${p('refused.txt')}; cat ${p('remote.txt')} > /dev/null; true`);
      printed.push(refused.stdout, refused.stderr);
      await proxy.accept();

      process.kill(pid, 'SIGUSR1');
      for (let i = 0; i < 50 && !existsSync(filesOf(work).status); i++) await sleep(100);
      await run('fusermount', ['-u', work.mountpoint]);
      assert.equal(await waitForExit(pid, 60_000), true, 'the daemon exits');

      const files = await logFiles(work.logdir);
      t.diagnostic(`log files: ${[...files].map(([n, text]) => `${n} (${text.length} bytes)`).join(', ')}`);
      const names = filesOf(work);
      for (const file of [names.log, names.fuseDebug, names.status]) assert.ok(files.has(path.basename(file)), `${path.basename(file)} was written`);
      const log = files.get(path.basename(names.log))!;
      assert.match(log, /"level":20/, 'debug-level lines were logged');
      assert.match(log, /"status":500/, 'the injected 500s were logged');
      assert.match(log, /ECONNRESET|socket hang up|cut off/, 'the cut responses were logged');
      assert.match(log, /ECONNREFUSED/, 'the refused connections were logged');
      for (const [name, text] of files) assert.deepEqual(leaks(text, e.secretAccessKey), [], `nothing secret in ${name}`);
      assert.deepEqual(leaks(printed.join('\n'), e.secretAccessKey), [], 'nothing secret printed by qsfs or the failing commands');
    } finally {
      proxy.clearFaults();
      await proxy.accept();
      await run('fusermount', ['-uz', work.mountpoint]);
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });

  test('a start refused for a wrong secret logs and prints no secret, in the foreground at debug level', { timeout: 60_000 }, async () => {
    const work = await makeWorkdir('wrong-secret');
    const wrong = `wrong-${Date.now()}-secret`;
    try {
      await fsp.writeFile(work.credentials, `${testEndpoint().accessKeyId}:${wrong}\n`, { mode: 0o600 });
      const r = await runQsfs([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, '-f', '-d', '-U', '-g'], { timeoutMs: 30_000 });
      assert.equal(r.code, 1, `refused: ${r.stderr}`);
      assert.match(r.stderr, /access denied/);
      assert.deepEqual(leaks(`${r.stdout}\n${r.stderr}`, wrong), [], 'nothing secret printed');
      for (const [name, text] of await logFiles(work.logdir)) assert.deepEqual(leaks(text, wrong), [], `nothing secret in ${name}`);
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });
});
