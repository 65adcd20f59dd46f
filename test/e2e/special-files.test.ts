// FIFOs, character and block devices and UNIX sockets through a real mount: created with the
// tools a user would use, listed, stat-ed, renamed, chmod-ed, chown-ed and removed; stored as
// s3fs-fuse stores them (zero-byte objects, the type in x-amz-meta-mode, the device number in
// x-amz-meta-rdev), read back by a fresh mount. (s3fs-fuse reading them, and the other way round:
// interop-s3fs.test.ts.)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestBucket } from '../helpers/s3.js';
import { sh } from '../helpers/shell.js';
import { q, requireCommands, withMount } from '../helpers/posix.js';

/** size, mode (octal), uid:gid and rdev of an object as stored. */
async function stored(bucket: TestBucket, key: string): Promise<string> {
  const h = await bucket.head(key);
  if (!h) return 'missing';
  const m = h.Metadata ?? {};
  return `${h.ContentLength} ${Number(m['mode']).toString(8)} ${m['uid']}:${m['gid']} rdev=${m['rdev']}`;
}

describe('special files: FIFOs, devices and sockets', () => {
  let bucket: TestBucket;

  before(async () => {
    await requireCommands('mkfifo', 'mknod', 'python3', 'stat');
    bucket = await TestBucket.create('special');
  });
  after(async () => {
    await bucket?.destroy();
  });

  test('made, listed, used, renamed, chmod-ed, chown-ed, removed; stored as s3fs stores them; a fresh mount reads them back', { timeout: 90_000 }, async (t) => {
    const statLine = (p: string): Promise<string> => sh(`stat -c '%F %a %u:%g %s %t:%T' ${q(p)}`);
    await withMount(t, bucket.name, 'special', async (m) => {
      await sh(`mkdir ${q(m.p('s'))} && cd ${q(m.p('s'))} && umask 022 && mkfifo pipe && mknod null c 1 3 && mknod -m 0660 loop b 7 130
        python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' sock`);
      assert.equal(await statLine(m.p('s', 'pipe')), 'fifo 644 0:0 0 0:0\n');
      assert.equal(await statLine(m.p('s', 'null')), 'character special file 644 0:0 0 1:3\n');
      assert.equal(await statLine(m.p('s', 'loop')), 'block special file 660 0:0 0 7:82\n');
      assert.equal(await statLine(m.p('s', 'sock')), 'socket 755 0:0 0 0:0\n');
      // The type letters in ls -l, and the types find sees.
      assert.deepEqual((await sh(`ls -l ${q(m.p('s'))} | tail -n +2 | cut -c1`)).split('\n').filter(Boolean).sort(), ['b', 'c', 'p', 's']);
      assert.equal(await sh(`cd ${q(m.p('s'))} && find . -type p -o -type c -o -type b -o -type s | sort | tr '\\n' ' '`), './loop ./null ./pipe ./sock ');
      // A FIFO carries data between two processes (the kernel's pipe; nothing reaches the bucket).
      assert.equal(await sh(`cd ${q(m.p('s'))} && (printf 'through the pipe' > pipe &) && cat pipe`), 'through the pipe');
      // A listening socket takes connections.
      assert.equal(await sh(`cd ${q(m.p('s'))} && python3 -c '
import os, socket
os.unlink("sock")
s = socket.socket(socket.AF_UNIX); s.bind("sock"); s.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("sock"); a, _ = s.accept(); c.sendall(b"hello"); print(a.recv(5).decode())'`), 'hello\n');
      // rename, chmod, chown keep the type and the device number.
      await sh(`cd ${q(m.p('s'))} && mv pipe pipe2 && chmod 0600 pipe2 && chown 1234:5678 pipe2 && mv null null2 && chmod 0666 null2`);
      assert.equal(await statLine(m.p('s', 'pipe2')), 'fifo 600 1234:5678 0 0:0\n');
      assert.equal(await statLine(m.p('s', 'null2')), 'character special file 666 0:0 0 1:3\n');
      assert.equal(await sh(`ls ${q(m.p('s'))} | tr '\\n' ' '`), 'loop null2 pipe2 sock ');
    });
    // As s3fs-fuse stores them: zero bytes, the type in the mode, the device number in rdev
    // (Linux's encoding: makedev(7, 130) is 0x782).
    assert.equal(await stored(bucket, 's/pipe2'), `0 ${(0o010600).toString(8)} 1234:5678 rdev=0`);
    assert.equal(await stored(bucket, 's/null2'), `0 ${(0o020666).toString(8)} 0:0 rdev=${(1 << 8) | 3}`);
    assert.equal(await stored(bucket, 's/loop'), `0 ${(0o060660).toString(8)} 0:0 rdev=${(7 << 8) | 130}`);
    assert.equal(await stored(bucket, 's/pipe'), 'missing', 'renamed away');
    await withMount(t, bucket.name, 'special-again', async (m) => {
      assert.equal(await statLine(m.p('s', 'pipe2')), 'fifo 600 1234:5678 0 0:0\n');
      assert.equal(await statLine(m.p('s', 'loop')), 'block special file 660 0:0 0 7:82\n');
      await sh(`cd ${q(m.p('s'))} && rm pipe2 null2 loop sock`);
      assert.equal(await sh(`ls -A ${q(m.p('s'))}`), '');
    });
    assert.deepEqual((await bucket.keys('s/')).filter((k) => k !== 's/'), [], 'nothing left in the bucket');
  });
});
