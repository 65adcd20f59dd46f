// Server-side encryption through real mounts: SSE-C (--sse-c-key FILE) on every request that
// touches an object's data, including multipart uploads, renames (CopyObject), metadata changes
// (a copy onto itself) and partial rewrites (UploadPartCopy); a wrong or missing key gives a
// clear reason in the log and an error to the application; SSE-KMS and SSE-S3 (--sse). What the
// mount wrote is checked in the bucket with the SDK, with and without the key.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, isMountpoint, makeWorkdir, endpointArgs, runQsfs } from '../helpers/mount.js';
import { mountedMd5 } from '../helpers/child-io.js';
import { sh, shResult } from '../helpers/shell.js';

const MiB = 1024 * 1024;
const md5hex = (b: Buffer): string => createHash('md5').update(b).digest('hex');
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The SDK's SSE-C parameters of a key. */
function customerKey(key: Buffer): { SSECustomerAlgorithm: string; SSECustomerKey: string; SSECustomerKeyMD5: string } {
  return { SSECustomerAlgorithm: 'AES256', SSECustomerKey: key.toString('base64'), SSECustomerKeyMD5: createHash('md5').update(key).digest('base64') };
}

/** An object's bytes read with the SDK, with `key` when given. */
async function sdkGet(bucket: TestBucket, objectKey: string, key?: Buffer): Promise<Buffer> {
  const r = await bucket.client.send(new GetObjectCommand({ Bucket: bucket.name, Key: objectKey, ...(key ? customerKey(key) : {}) }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

/** The HTTP status an SDK request failed with (it must fail). */
async function failureStatus(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  }
  assert.fail('the request succeeded');
}

describe('SSE-C (--sse-c-key)', () => {
  let bucket: TestBucket;
  let mount: TestMount;
  let dir: string;
  let keyFile: string;
  const key = randomBytes(32);
  const keyMD5 = createHash('md5').update(key).digest('base64');
  const small = randomBytes(10_000);
  // 17 MiB at -b 5: four parts, and above the three parts from which unchanged parts of a
  // rewritten file are copied server side (UploadPartCopy) rather than sent again.
  const big = randomBytes(17 * MiB);

  before(async () => {
    bucket = await TestBucket.create('sse-c');
    dir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-sse-'));
    keyFile = path.join(dir, 'sse-c.key');
    // base64 with a newline, as `openssl rand -base64 32 > FILE` writes it
    await fsp.writeFile(keyFile, `${key.toString('base64')}\n`, { mode: 0o600 });
    await fsp.writeFile(path.join(dir, 'small'), small);
    await fsp.writeFile(path.join(dir, 'big'), big);
    mount = await TestMount.start(bucket.name, 'sse-c', ['-b=5', `--sse-c-key=${keyFile}`]);
  });
  after(async () => {
    const { log } = await mount.stop();
    assert.equal(log.includes(key.toString('base64')), false, 'the key never reaches the log');
    await fsp.rm(dir, { recursive: true, force: true });
    await bucket.destroy();
  });

  test('a small and a multipart file are stored encrypted with the key and read back', async () => {
    await sh(`cp ${q(path.join(dir, 'small'))} ${q(mount.p('small'))} && cp ${q(path.join(dir, 'big'))} ${q(mount.p('big'))}`);
    assert.equal(await mountedMd5(mount.p('small')), md5hex(small));
    assert.equal(await mountedMd5(mount.p('big')), md5hex(big));

    for (const [name, bytes] of [['small', small], ['big', big]] as const) {
      assert.equal(await failureStatus(sdkGet(bucket, name)), 400, `${name}: a GET without the key is refused`);
      assert.equal(md5hex(await sdkGet(bucket, name, key)), md5hex(bytes), `${name}: a GET with the key gives the bytes written`);
      const head = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: name, ...customerKey(key) }));
      assert.equal(head.SSECustomerAlgorithm, 'AES256');
      assert.equal(head.SSECustomerKeyMD5, keyMD5);
    }
    const bigHead = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'big', ...customerKey(key) }));
    assert.match(bigHead.ETag ?? '', /-4"$/, 'the big file went up as a multipart upload of four parts');
  });

  test('mv and chmod keep the object encrypted with the key', async () => {
    await sh(`cp ${q(path.join(dir, 'small'))} ${q(mount.p('tomove'))} && mv ${q(mount.p('tomove'))} ${q(mount.p('moved'))} && chmod 600 ${q(mount.p('moved'))}`);
    assert.equal(await bucket.head('tomove').catch(() => 'refused'), null, 'the source is gone');
    assert.equal(await failureStatus(sdkGet(bucket, 'moved')), 400, 'the renamed object needs the key');
    assert.equal(md5hex(await sdkGet(bucket, 'moved', key)), md5hex(small));
    const head = await bucket.client.send(new HeadObjectCommand({ Bucket: bucket.name, Key: 'moved', ...customerKey(key) }));
    assert.equal(Number(head.Metadata?.['mode']) & 0o777, 0o600, 'chmod stored the mode');
    assert.equal(head.SSECustomerKeyMD5, keyMD5);
    assert.equal((await sh(`stat -c %a ${q(mount.p('moved'))}`)).trim(), '600');
    assert.equal(await mountedMd5(mount.p('moved')), md5hex(small));
  });

  test('a 4 KiB rewrite in the middle of the multipart file copies the other parts server side', async () => {
    const patch = randomBytes(4096);
    const offset = 6 * MiB + 100; // inside part 2 of 4
    await fsp.writeFile(path.join(dir, 'patch'), patch);
    await sh(`dd if=${q(path.join(dir, 'patch'))} of=${q(mount.p('big'))} bs=4096 count=1 oflag=seek_bytes seek=${offset} conv=notrunc status=none`);
    const expected = Buffer.from(big);
    patch.copy(expected, offset);
    assert.equal(md5hex(await sdkGet(bucket, 'big', key)), md5hex(expected), 'the object holds the rewrite, read with the key');
    assert.equal(await failureStatus(sdkGet(bucket, 'big')), 400, 'and still needs the key');
    assert.equal(await mountedMd5(mount.p('big')), md5hex(expected));
    assert.match(await mount.status(), /UploadPartCopy [1-9]/, 'unchanged parts were copied (UploadPartCopy with the source key)');
  });

  test('the status report names the mode and the key MD5, never the key', async () => {
    const status = await mount.status();
    assert.match(status, new RegExp(`sse: +SSE-C \\(--sse-c-key ${keyFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, key MD5 ${keyMD5.replace(/[+/]/g, '\\$&')}\\)`));
    assert.equal(status.includes(key.toString('base64')), false);
  });

  test('a mount with another key cannot read: EACCES, and the log says which key', async () => {
    await sh(`cp ${q(path.join(dir, 'small'))} ${q(mount.p('secret'))}`);
    const otherKey = randomBytes(32);
    const otherFile = path.join(dir, 'other.key');
    await fsp.writeFile(otherFile, otherKey, { mode: 0o600 }); // 32 raw bytes
    const other = await TestMount.start(bucket.name, 'sse-c-wrong', [`--sse-c-key=${otherFile}`]);
    try {
      const r = await shResult(`cat ${q(other.p('secret'))} > /dev/null`);
      assert.notEqual(r.code, 0, 'the read fails');
      assert.match(r.stderr, /Permission denied/);
      const log = await other.log();
      const otherMD5 = createHash('md5').update(otherKey).digest('base64');
      assert.ok(log.includes(`object secret cannot be read with the SSE-C key of --sse-c-key ${otherFile} (key MD5 ${otherMD5})`), log);
      assert.match(log, /encrypted with a different SSE-C key/);
    } finally {
      const { log } = await other.stop();
      assert.equal(log.includes(otherKey.toString('base64')), false, 'the key never reaches the log');
    }
  });

  test('a mount without a key cannot read an SSE-C object, and the log says to give one', async () => {
    const plain = await TestMount.start(bucket.name, 'sse-c-none');
    try {
      const r = await shResult(`cat ${q(plain.p('small'))} > /dev/null`);
      assert.notEqual(r.code, 0, 'the read fails');
      assert.match(r.stderr, /Permission denied/);
      assert.match(await plain.log(), /object small is probably encrypted with SSE-C .*mount with --sse-c-key FILE/);
    } finally {
      await plain.stop();
    }
  });

  test('a key file readable by others, or not a key: one line, nothing mounted', async () => {
    const work = await makeWorkdir('sse-c-refused');
    try {
      const open = path.join(dir, 'open.key');
      await fsp.writeFile(open, key, { mode: 0o644 });
      await fsp.chmod(open, 0o644);
      const notKey = path.join(dir, 'short.key');
      await fsp.writeFile(notKey, 'too short\n', { mode: 0o600 });
      for (const [file, why] of [
        [open, /^qsfs: SSE-C key file .*open\.key is accessible by group or others \(mode 0644\); run: chmod 600 /],
        [notKey, /^qsfs: SSE-C key file .*short\.key holds 10 bytes, neither a 256-bit key \(32 raw bytes\) nor its base64/],
      ] as const) {
        const r = await runQsfs([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, `--sse-c-key=${file}`], { timeoutMs: 30_000 });
        assert.equal(r.code, 1, r.stderr);
        const lines = r.stderr.split('\n').filter(Boolean);
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0]!, why);
        assert.equal(await isMountpoint(work.mountpoint), false, 'nothing mounted');
      }
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });
});

describe('SSE-KMS (--sse aws:kms)', () => {
  let bucket: TestBucket;
  let mount: TestMount;
  let dir: string;

  before(async () => {
    bucket = await TestBucket.create('sse-kms');
    dir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-sse-kms-'));
    // fstab style: the options as -o words
    mount = await TestMount.start(bucket.name, 'sse-kms', ['-b=5', '-o', 'sse=aws:kms,sse-kms-key-id=testkey-1']);
  });
  after(async () => {
    await mount.stop();
    await fsp.rm(dir, { recursive: true, force: true });
    await bucket.destroy();
  });

  test('written objects, multipart ones and metadata copies included, are SSE-KMS with the key id', async () => {
    const small = randomBytes(5000);
    const big = randomBytes(11 * MiB);
    await fsp.writeFile(path.join(dir, 'small'), small);
    await fsp.writeFile(path.join(dir, 'big'), big);
    await sh(`cp ${q(path.join(dir, 'small'))} ${q(mount.p('small'))} && cp ${q(path.join(dir, 'big'))} ${q(mount.p('big'))} && chmod 640 ${q(mount.p('small'))}`);
    for (const [name, bytes] of [['small', small], ['big', big]] as const) {
      const head = await bucket.head(name);
      assert.equal(head?.ServerSideEncryption, 'aws:kms', name);
      assert.equal(head?.SSEKMSKeyId, 'testkey-1', name);
      assert.equal(md5hex(await bucket.get(name)), md5hex(bytes), name);
      assert.equal(await mountedMd5(mount.p(name)), md5hex(bytes), name);
    }
    assert.equal(Number((await bucket.head('small'))?.Metadata?.['mode']) & 0o777, 0o640, 'chmod stored the mode');
    assert.match(await mount.status(), /sse: +SSE-KMS \(--sse aws:kms, key id testkey-1\)\n/, 'every write confirmed');
  });
});

describe('SSE-S3 (--sse AES256)', () => {
  let bucket: TestBucket;

  before(async () => {
    bucket = await TestBucket.create('sse-s3');
  });
  after(async () => {
    await bucket.destroy();
  });

  test('the object is encrypted, or the log and the status say the server did not confirm it', async () => {
    const mount = await TestMount.start(bucket.name, 'sse-s3', ['--sse', 'AES256']);
    try {
      await sh(`echo hello > ${q(mount.p('f'))}`);
      const head = await bucket.head('f');
      const status = await mount.status();
      const log = await mount.log();
      if (head?.ServerSideEncryption === 'AES256') {
        assert.match(status, /sse: +SSE-S3 \(--sse AES256\)\n/);
        assert.doesNotMatch(log, /did not confirm/);
      } else {
        // Ceph RGW 16 without an SSE-S3 backend: it takes the header and stores plain data.
        assert.equal(head?.ServerSideEncryption, undefined);
        assert.match(status, /sse: +SSE-S3 \(--sse AES256\); \d+ write\(s\) NOT confirmed encrypted by the server/);
        assert.match(log, /"request":"PUT f".*the server did not confirm the encryption asked for: it may store objects unencrypted/);
      }
      assert.equal((await bucket.get('f')).toString(), 'hello\n');
    } finally {
      await mount.stop();
    }
  });

  test('--sse and --sse-c-key together, or --sse-kms-key-id without aws:kms: a usage error', async () => {
    for (const [args, why] of [
      [['--sse', 'AES256', '--sse-c-key', '/nonexistent'], /--sse and --sse-c-key both choose/],
      [['--sse', 'AES256', '--sse-kms-key-id', 'k'], /--sse-kms-key-id .* needs --sse aws:kms/],
    ] as const) {
      const r = await runQsfs([bucket.name, '/nonexistent-mountpoint', ...args], { timeoutMs: 30_000 });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, why);
    }
  });
});
