// The everyday operations through a real FUSE mount of the built CLI, driven by shell tools in
// child processes, with the objects checked directly in the bucket.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow, isAlive, waitForExit } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

describe('a mounted bucket', () => {
  let bucket: TestBucket;
  let mnt: TestMount;

  before(async () => {
    bucket = await TestBucket.create('basics');
    mnt = await TestMount.start(bucket.name, 'basics', ['-d']);
  });
  after(async () => {
    await mnt?.stop();
    await bucket?.destroy();
  });

  test('the mount is live when the command returns', async () => {
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    assert.match(mounts, new RegExp(` ${mnt.path} .* - fuse\\.qsfs qsfs:${bucket.name} `));
    assert.equal(isAlive(mnt.pid), true);
  });

  test('echo and cat round trip, and the object exists', async () => {
    assert.equal(await sh(`echo hi > ${mnt.p('a')} && cat ${mnt.p('a')}`), 'hi\n');
    assert.equal((await bucket.get('a')).toString(), 'hi\n');
  });

  test('a 50 MB file keeps its md5 in and out, and is durable when cp returns', async () => {
    const src = `${mnt.work.dir}/big.src`;
    await sh(`head -c 50000000 /dev/urandom > ${src} && cp ${src} ${mnt.p('big')}`);
    const local = await fsp.readFile(src);
    assert.equal(md5(await bucket.get('big')), md5(local), 'object in the bucket right after cp');
    const listed = await sh(`ls -l ${mnt.p('big')}`);
    assert.match(listed, / 50000000 /);
    const out = await sh(`md5sum < ${mnt.p('big')}`);
    assert.equal(out.split(' ')[0], md5(local));
    await sh(`cp ${mnt.p('big')} ${mnt.work.dir}/big.out && cmp ${src} ${mnt.work.dir}/big.out`);
  });

  test('writes reach the daemon in requests of at least 128 KiB', async () => {
    await sh(`dd if=/dev/zero of=${mnt.p('bw')} bs=1M count=8 status=none`);
    // dd closes a dup of the new file before writing (one upload of 0 bytes): take the last upload.
    const line = (await mnt.log()).split('\n').filter((l) => l.includes('"msg":"uploaded"') && l.includes('"path":"/bw"')).pop();
    assert.ok(line, 'an upload log line for /bw');
    const rec = JSON.parse(line) as { writes: number; largestWrite: number; size: number };
    assert.equal(rec.size, 8 << 20);
    assert.ok(rec.largestWrite >= 128 * 1024, `largest write ${rec.largestWrite}`);
    assert.ok(rec.writes <= 64, `${rec.writes} write requests for 8 MiB`);
  });

  test('8 KiB writes: each read through a second descriptor sees every byte written before it, and the object is whole', async () => {
    // The addon gathers small writes into 1 MiB and hands full ones to JS without waiting: a read
    // (the barrier) must wait for those on their way. 24 MiB in 8 KiB blocks, each block naming its
    // index; every 37th block, and the 1 MiB boundaries around it, are read back at once.
    const out = await sh(`python3 - ${mnt.p('w8k')} <<'EOF'
import os, sys, hashlib
p = sys.argv[1]
w = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
r = os.open(p, os.O_RDONLY)
h = hashlib.md5()
n = 3072
for i in range(n):
    b = (b'%08d' % i) * 1024
    os.write(w, b)
    h.update(b)
    if i % 37 == 0 or i % 128 in (0, 127):
        got = os.pread(r, 8192 * (i + 1), 0)
        assert len(got) == 8192 * (i + 1), (i, len(got))
        assert got[-8192:] == b, i
os.close(w)
os.close(r)
print(h.hexdigest())
EOF`);
    const expected = out.trim();
    assert.match(expected, /^[0-9a-f]{32}$/);
    assert.equal(md5(await bucket.get('w8k')), expected);
  });

  test('a gathered 1 MiB of 8 KiB writes the daemon refuses (past 5 TiB) fails a later write or close with EFBIG', async () => {
    // The first 8 KiB write starts a gathered buffer 1 MiB - 8 KiB short of S3's 5 TiB; the
    // buffer fills past the limit, goes to JS on its own, and JS refuses it: the error must come
    // back to the application, on a write after it or at close, never dropped.
    const out = await sh(`python3 - ${mnt.p('efbig')} <<'EOF'
import os, sys, errno
p = sys.argv[1]
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
start = 5 * 1024 ** 4 - (1024 * 1024 - 8192)
err = None
try:
    for i in range(512):
        os.pwrite(fd, b'x' * 8192, start + i * 8192)
except OSError as e:
    err = 'write %d: %s' % (i, errno.errorcode[e.errno])
try:
    os.close(fd)
except OSError as e:
    err = err or 'close: ' + errno.errorcode[e.errno]
print(err)
EOF`);
    assert.match(out.trim(), /^(write \d+|close): EFBIG$/);
    assert.equal((await bucket.head('efbig'))?.ContentLength ?? 0, 0, 'nothing past 5 TiB was uploaded');
  });

  test('mkdir -p creates markers; rm -r removes everything under it', async () => {
    await sh(`mkdir -p ${mnt.p('d1/b/c')} && echo f > ${mnt.p('d1/b/c/f')}`);
    const dirMarker = await bucket.head('d1/b/');
    assert.equal(dirMarker?.ContentType, 'application/x-directory');
    assert.deepEqual((await bucket.keys('d1/')).sort(), ['d1/', 'd1/b/', 'd1/b/c/', 'd1/b/c/f']);
    assert.equal(await sh(`ls ${mnt.p('d1/b')}`), 'c\n');
    await sh(`rm -r ${mnt.p('d1')}`);
    assert.deepEqual(await bucket.keys('d1'), []);
    assert.equal((await shResult(`ls ${mnt.p('d1')}`)).code, 2);
  });

  test('rmdir of a non-empty directory fails with ENOTEMPTY', async () => {
    await sh(`mkdir ${mnt.p('full')} && touch ${mnt.p('full/x')}`);
    const r = await shResult(`rmdir ${mnt.p('full')}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Directory not empty/);
    await sh(`rm ${mnt.p('full/x')} && rmdir ${mnt.p('full')}`);
    assert.deepEqual(await bucket.keys('full'), []);
  });

  test('mv, append and truncate behave as on a local disk', async () => {
    await sh(`cd ${mnt.path} && printf 'one\\n' > f && mv f g && echo x >> g`);
    assert.equal(await sh(`cat ${mnt.p('g')}`), 'one\nx\n');
    assert.equal(await bucket.head('f'), null);
    assert.equal((await bucket.get('g')).toString(), 'one\nx\n');
    await sh(`truncate -s 0 ${mnt.p('g')}`);
    assert.equal((await bucket.get('g')).length, 0);
    assert.match(await sh(`stat -c %s ${mnt.p('g')}`), /^0\n$/);
    await sh(`truncate -s 5 ${mnt.p('g')}`);
    assert.deepEqual(await bucket.get('g'), Buffer.alloc(5));
    await sh(`printf 'abc' | dd of=${mnt.p('g')} bs=1 seek=1 conv=notrunc status=none`);
    assert.equal((await bucket.get('g')).toString('hex'), '0061626300');
  });

  test('mv over an existing file replaces it', async () => {
    await sh(`cd ${mnt.path} && echo new > m1 && echo old > m2 && mv m1 m2`);
    assert.equal(await sh(`cat ${mnt.p('m2')}`), 'new\n');
    assert.equal(await bucket.head('m1'), null);
  });

  test('objects put by another client show up, including under prefixes with no marker', async () => {
    await bucket.put('ext/file.txt', 'from sdk');
    await bucket.put('ext/deep/er/leaf', 'leaf');
    await bucket.put('ext/withmode', 'm', { Metadata: { mode: String(0o100600), uid: '1234', gid: '5678', mtime: '1600000000' } });
    await afterWindow(); // the mount listed the root a moment ago (docs/consistency.md)
    assert.deepEqual((await sh(`ls ${mnt.p('ext')}`)).split('\n').filter(Boolean), ['deep', 'file.txt', 'withmode']);
    assert.equal(await sh(`cat ${mnt.p('ext/deep/er/leaf')}`), 'leaf');
    assert.equal(await sh(`stat -c '%F %a' ${mnt.p('ext/deep')} ${mnt.p('ext/file.txt')}`), 'directory 755\nregular file 644\n');
    assert.equal(await sh(`stat -c '%a %u %g %Y' ${mnt.p('ext/withmode')}`), '600 1234 5678 1600000000\n');
    // entering and listing an implicit directory
    assert.equal(await sh(`cd ${mnt.p('ext/deep')} && ls`), 'er\n');
  });

  test('-F and -D set the modes of objects without metadata', async () => {
    await bucket.put('modes/plain', 'x');
    const other = await TestMount.start(bucket.name, 'modes', ['-F=0600', '-D=0700']);
    try {
      assert.equal(await sh(`stat -c '%a' ${other.p('modes')} ${other.p('modes/plain')}`), '700\n600\n');
    } finally {
      await other.stop();
    }
  });

  test('a listing of more than one page shows every key', async () => {
    const names = Array.from({ length: 1050 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((n) => bucket.put(`many/${n}`, '')));
    }
    const listed = (await sh(`ls ${mnt.p('many')}`)).split('\n').filter(Boolean);
    assert.equal(listed.length, 1050);
    assert.deepEqual(listed, names);
  });

  test('a file that is only read is never uploaded', async () => {
    await bucket.put('ro-file', 'read me');
    const before = (await bucket.head('ro-file'))!.LastModified!.getTime();
    await afterWindow();
    assert.equal(await sh(`cat ${mnt.p('ro-file')} && cat ${mnt.p('ro-file')} > /dev/null`), 'read me');
    const uploads = (await mnt.log()).split('\n').filter((l) => l.includes('"msg":"uploaded"') && l.includes('"path":"/ro-file"'));
    assert.deepEqual(uploads, []);
    assert.equal((await bucket.head('ro-file'))!.LastModified!.getTime(), before);
  });

  test('statfs reports the capacity given with -y', async () => {
    const other = await TestMount.start(bucket.name, 'fscap', ['-y=2048']);
    try {
      const out = await sh(`df -B1G --output=size ${other.path} | tail -1`);
      assert.equal(out.trim(), '2048');
    } finally {
      await other.stop();
    }
  });

  test('fusermount -u detaches and the daemon exits', async () => {
    const other = await TestMount.start(bucket.name, 'umount');
    await sh(`echo bye > ${other.p('bye')}`);
    const r = await shResult(`fusermount -u ${other.path}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await waitForExit(other.pid, 10_000), true, 'daemon exited');
    const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
    assert.equal(mounts.includes(` ${other.path} `), false);
    await other.stop();
  });
});
