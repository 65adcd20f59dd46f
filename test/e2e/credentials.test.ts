// Credentials from the AWS SDK's default provider chain, on real mounts: a profile of a shared
// credentials file (--profile), and a credential_process program whose keys expire during the
// mount and are renewed with another key pair of the same RGW user, which the requests after
// the renewal are signed with.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { daemonPid, endpointArgs, makeWorkdir, runQsfs, sleep, waitForExit, type Workdir } from '../helpers/mount.js';
import { run, sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';
import { testEndpoint } from '../helpers/rgw-env.js';

/** The environment of a qsfs that must find its keys through the chain and nowhere else. */
function chainEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], HOME: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' };
  env['AWS_SHARED_CREDENTIALS_FILE'] = '/nonexistent/credentials';
  env['AWS_CONFIG_FILE'] = '/nonexistent/config';
  return { ...env, ...extra };
}

async function statusOf(mountpoint: string): Promise<string> {
  const r = await run(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), '../../../bin/qsfs'), '--status', mountpoint]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

describe('credentials from the AWS default chain', () => {
  let bucket: TestBucket;
  let work: Workdir;

  before(async () => {
    bucket = await TestBucket.create('chain');
    work = await makeWorkdir('chain');
  });
  after(async () => {
    await fsp.rm(work.dir, { recursive: true, force: true });
    await bucket?.destroy();
  });

  async function mountWith(env: NodeJS.ProcessEnv, extra: string[]): Promise<number> {
    const r = await runQsfs([bucket.name, work.mountpoint, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, ...extra], { env });
    assert.equal(r.code, 0, r.stderr);
    return daemonPid(work.mountpoint);
  }

  async function unmount(pid: number): Promise<void> {
    await run('fusermount', ['-u', work.mountpoint]);
    assert.equal(await waitForExit(pid, 20_000), true);
  }

  test('--profile: a profile of a shared credentials file', async () => {
    const e = testEndpoint();
    const file = path.join(work.dir, 'aws-credentials');
    await fsp.writeFile(file, `[default]\naws_access_key_id = WRONG\naws_secret_access_key = wrong\n\n[qsfs-test]\naws_access_key_id = ${e.accessKeyId}\naws_secret_access_key = ${e.secretAccessKey}\n`, { mode: 0o600 });
    const pid = await mountWith(chainEnv({ AWS_SHARED_CREDENTIALS_FILE: file }), ['--profile', 'qsfs-test']);
    try {
      await sh(`echo by-profile > ${q(path.join(work.mountpoint, 'profile.txt'))}`);
      assert.equal((await bucket.get('profile.txt')).toString(), 'by-profile\n');
      assert.match(await statusOf(work.mountpoint), new RegExp(`keys: +the AWS default credential chain \\(profile qsfs-test\\), access key ${e.accessKeyId}`));
    } finally {
      await unmount(pid);
    }
    // A profile that is not there: one line naming it, nothing mounted.
    const r = await runQsfs([bucket.name, work.mountpoint, ...endpointArgs(), `-l=${work.logdir}`, '--profile', 'nope'], { env: chainEnv({ AWS_SHARED_CREDENTIALS_FILE: file }) });
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^qsfs: no credentials: .*profile nope.*; use -c FILE, AWS_ACCESS_KEY_ID\/AWS_SECRET_ACCESS_KEY, or --profile NAME$/);
  });

  test('credential_process: keys that expire during the mount are renewed, and the requests after use the new key pair', { timeout: 120_000 }, async () => {
    const e = testEndpoint();
    const key2 = process.env['QSFS_TEST_ACCESS_KEY2'] ?? 'TESTKEY2';
    const secret2 = process.env['QSFS_TEST_SECRET_KEY2'] ?? 'TESTSECRET2';
    const runs = path.join(work.dir, 'runs');
    const program = path.join(work.dir, 'give-keys.sh');
    // First run: the first key pair, good for 8 s (renewed halfway); then the second, for an hour.
    await fsp.writeFile(program, `#!/bin/sh
n=$(cat ${runs} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > ${runs}
if [ $n = 1 ]; then k=${e.accessKeyId}; s=${e.secretAccessKey}; exp=$(date -u -d '+8 seconds' +%Y-%m-%dT%H:%M:%SZ)
else k=${key2}; s=${secret2}; exp=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ); fi
printf '{"Version":1,"AccessKeyId":"%s","SecretAccessKey":"%s","Expiration":"%s"}' $k $s $exp
`, { mode: 0o700 });
    const config = path.join(work.dir, 'aws-config');
    await fsp.writeFile(config, `[profile proc]\ncredential_process = ${program}\n`, { mode: 0o600 });
    const pid = await mountWith(chainEnv({ AWS_CONFIG_FILE: config }), ['--profile', 'proc']);
    try {
      await sh(`echo before > ${q(path.join(work.mountpoint, 'before.txt'))}`);
      assert.match(await statusOf(work.mountpoint), new RegExp(`access key ${e.accessKeyId}, expires .*, renewed 0 time\\(s\\)`));
      let status = '';
      for (let i = 0; i < 40; i++) {
        await sh(`ls ${q(work.mountpoint)} > /dev/null`); // requests, which renew the keys when due
        status = await statusOf(work.mountpoint);
        if (status.includes(`access key ${key2}`)) break;
        await sleep(500);
      }
      assert.match(status, new RegExp(`access key ${key2}, expires .*, renewed 1 time\\(s\\)`), status);
      await sh(`echo after > ${q(path.join(work.mountpoint, 'after.txt'))}`);
      assert.equal((await bucket.get('before.txt')).toString(), 'before\n');
      assert.equal((await bucket.get('after.txt')).toString(), 'after\n', 'written with the renewed keys');
      assert.equal((await fsp.readFile(runs, 'utf8')).trim(), '2', 'the program ran at the start and once to renew');
    } finally {
      await unmount(pid);
    }
  });
});
