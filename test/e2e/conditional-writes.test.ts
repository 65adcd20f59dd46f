// Issue 19, item 5, on real mounts against RGW: two mounts creating one name at once cannot
// overwrite each other (If-None-Match: *; for multipart uploads a HEAD before completing, and
// If-None-Match on the completion where the server judges it): the first close wins, the other
// close fails with EIO and keeps its data, which a rename stores and an unmount saves for
// recovery. And --checksum: the additional checksum goes with the first PUT or part, with the
// right value; a server that ignores it (RGW 16 does) is detected once, logged once, and the
// mount goes on without them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow } from '../helpers/mount.js';
import { sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';
import { TcpForwarder } from '../helpers/tcp-forwarder.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { checksumBase64 } from '../../src/transfer/checksums.js';

const MiB = 1024 * 1024;
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

/** Two processes, one per mount, each create the same name, write, then close in turn: the
 *  output says how each close ended. */
async function raceCreates(first: string, second: string, firstData: string, secondData: string): Promise<string> {
  return sh(`python3 - ${q(first)} ${q(second)} ${q(firstData)} ${q(secondData)} <<'EOF'
import os, sys, errno
a = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
b = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
with open(sys.argv[3], 'rb') as f: os.write(a, f.read())
with open(sys.argv[4], 'rb') as f: os.write(b, f.read())
for name, fd in (('first', a), ('second', b)):
    try:
        os.close(fd)
        print(name, 'OK')
    except OSError as e:
        print(name, errno.errorcode[e.errno])
EOF`);
}

describe('two mounts creating one name at once: the first close wins, the other keeps its data', () => {
  let bucket: TestBucket;
  let a: TestMount;
  let b: TestMount;
  let local: string;

  before(async () => {
    bucket = await TestBucket.create('condwrite');
    a = await TestMount.start(bucket.name, 'cond-a', ['-b=5']);
    b = await TestMount.start(bucket.name, 'cond-b', ['-b=5']);
    local = a.work.dir;
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await bucket?.destroy();
  });

  for (const [label, size] of [['a small file (one PUT, If-None-Match: *)', 1000], ['a 12 MiB file (multipart: a HEAD before completing)', 12 * MiB]] as const) {
    test(`${label}: the second close fails with EIO, the first one's object stays, a rename stores the second`, { timeout: 300_000 }, async () => {
      const name = `race-${size}`;
      const mine = randomBytes(size);
      const theirs = randomBytes(size);
      await fsp.writeFile(path.join(local, `${name}.a`), mine);
      await fsp.writeFile(path.join(local, `${name}.b`), theirs);
      const out = await raceCreates(a.p(name), b.p(name), path.join(local, `${name}.a`), path.join(local, `${name}.b`));
      assert.equal(out.trim(), 'first OK\nsecond EIO', out);
      assert.equal(md5(await bucket.get(name)), md5(mine), 'the bucket holds the first close\'s data, not overwritten');
      const logB = await b.log();
      const refused = logB.split('\n').find((l) => l.includes(`another client created ${name}`));
      assert.ok(refused, 'the second mount\'s log says another client created the name first');
      assert.equal((JSON.parse(refused) as { level: number }).level, 50);
      // The data stays in the second mount: it still reads it, and a rename stores it.
      assert.equal((await sh(`md5sum < ${q(b.p(name))} || true`)).split(' ')[0], md5(theirs), 'the second mount still has its data');
      await sh(`mv ${q(b.p(name))} ${q(b.p(`${name}.second`))}`);
      assert.equal(md5(await bucket.get(`${name}.second`)), md5(theirs), 'the rename stored the second data under its new name');
      assert.equal(md5(await bucket.get(name)), md5(mine), 'and left the first alone');
      await afterWindow();
      assert.equal((await sh(`md5sum < ${q(b.p(name))}`)).split(' ')[0], md5(mine), 'the second mount now shows the first\'s object at the name');
    });
  }

  test('a loser never renamed is saved for recovery at unmount, and named in the log; the winner stays', { timeout: 300_000 }, async () => {
    const c = await TestMount.start(bucket.name, 'cond-c');
    let stopped = false;
    try {
      await sh(`printf 'winner' > ${q(path.join(local, 'w'))} && printf 'kept by the loser' > ${q(path.join(local, 'l'))}`);
      const out = await raceCreates(a.p('unmount-race'), c.p('unmount-race'), path.join(local, 'w'), path.join(local, 'l'));
      assert.equal(out.trim(), 'first OK\nsecond EIO', out);
      const { log } = await c.stop();
      stopped = true;
      const saved = log.split('\n').filter((l) => l.includes('data saved for recovery')).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(saved.length, 1, log);
      assert.equal(saved[0]!['path'], '/unmount-race');
      assert.equal(saved[0]!['bytes'], 'kept by the loser'.length);
      assert.equal((await bucket.get('unmount-race')).toString(), 'winner');
    } finally {
      if (!stopped) await c.stop();
    }
  });
});

describe('--checksum against a server that does not verify additional checksums (RGW 16)', () => {
  let bucket: TestBucket;
  let forwarder: TcpForwarder;

  before(async () => {
    bucket = await TestBucket.create('checksum');
    forwarder = new TcpForwarder(testEndpoint().port);
    await forwarder.listen();
  });
  after(async () => {
    await forwarder?.close();
    await bucket?.destroy();
  });

  test('crc32c: the first PUT carries the right x-amz-checksum-crc32c; RGW answers none back: logged once, then no more; data intact', async () => {
    const m = await TestMount.start(bucket.name, 'crc32c', ['--checksum=crc32c', '-b=5', `-P=${forwarder.port}`]);
    try {
      forwarder.checksumHeaders.clear();
      const first = randomBytes(3000);
      await fsp.writeFile(path.join(m.work.dir, 'first'), first);
      await sh(`cp ${q(path.join(m.work.dir, 'first'))} ${q(m.p('first'))}`);
      assert.deepEqual([...forwarder.checksumHeaders], [`x-amz-checksum-crc32c: ${checksumBase64('crc32c', first)}`]);
      forwarder.checksumHeaders.clear();
      await sh(`cd ${q(m.p())} && for i in 1 2 3; do head -c 5000 /dev/urandom > more$i; done && head -c ${7 * MiB} /dev/urandom > big`);
      assert.deepEqual([...forwarder.checksumHeaders], [], 'no checksum sent after the server showed it ignores them');
      assert.equal(md5(await bucket.get('first')), md5(first));
      assert.equal((await bucket.get('big')).length, 7 * MiB);
      const warnings = (await m.log()).split('\n').filter((l) => l.includes('does not verify additional checksums'));
      assert.equal(warnings.length, 1, 'logged once');
      assert.match(warnings[0]!, /"level":40/);
    } finally {
      await m.stop();
    }
  });

  test('crc64nvme on a multipart file: the upload names CRC64NVME (FULL_OBJECT), its first part carries its checksum; the file is whole', { timeout: 300_000 }, async () => {
    const m = await TestMount.start(bucket.name, 'crc64', ['--checksum=crc64nvme', '-b=5', `-P=${forwarder.port}`]);
    try {
      forwarder.checksumHeaders.clear();
      const data = randomBytes(12 * MiB);
      await fsp.writeFile(path.join(m.work.dir, 'big'), data);
      await sh(`cp ${q(path.join(m.work.dir, 'big'))} ${q(m.p('big'))}`);
      const seen = [...forwarder.checksumHeaders];
      assert.ok(seen.includes('x-amz-checksum-algorithm: CRC64NVME'), JSON.stringify(seen));
      assert.ok(seen.includes('x-amz-checksum-type: FULL_OBJECT'), JSON.stringify(seen));
      const partSums = [0, 1, 2].map((i) => `x-amz-checksum-crc64nvme: ${checksumBase64('crc64nvme', data.subarray(i * 5 * MiB, Math.min(data.length, (i + 1) * 5 * MiB)))}`);
      assert.ok(seen.some((h) => partSums.includes(h)), `a part's checksum among ${JSON.stringify(seen)}`);
      assert.ok(seen.filter((h) => h.startsWith('x-amz-checksum-crc64nvme')).every((h) => partSums.includes(h)), 'every checksum sent is a part\'s');
      assert.equal(md5(await bucket.get('big')), md5(data));
    } finally {
      await m.stop();
    }
  });
});
