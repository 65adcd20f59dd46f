// A file removed while open keeps working for every open descriptor until the last close (read,
// write, fstat, ftruncate, fchmod), and nothing of it reaches the bucket; the bytes it still
// needs from its object are fetched at the unlink in --bufsize ranges, in parallel, not page by
// page.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow } from '../helpers/mount.js';
import { sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';

const MiB = 1024 * 1024;

describe('a file removed while open', () => {
  let bucket: TestBucket;
  let m: TestMount;

  before(async () => {
    bucket = await TestBucket.create('unlinked');
    m = await TestMount.start(bucket.name, 'unlinked');
  });
  after(async () => {
    await m?.stop();
    await bucket?.destroy();
  });

  /** GetObject requests so far, from the status report. */
  const gets = async (): Promise<number> => Number(/GetObject (\d+)/.exec(await m.status())?.[1] ?? 0);

  test('read, write, fstat, ftruncate, fchmod on the open descriptors until the last close; nothing reaches the bucket', async () => {
    const body = Buffer.alloc(12 * MiB + 12345, 'abcdefghij');
    await bucket.put('doomed', body);
    await afterWindow();
    const before = await gets();
    const script = `
import hashlib, os, stat, sys
p = sys.argv[1]
a = os.open(p, os.O_RDWR)
b = os.open(p, os.O_RDONLY)
os.unlink(p)
assert not os.path.exists(p), 'the name is gone'
st = os.fstat(a)
print('fstat', st.st_size, st.st_nlink)
data = b''
while True:
    chunk = os.read(b, 1 << 20)
    if not chunk: break
    data += chunk
print('md5', hashlib.md5(data).hexdigest())
os.pwrite(a, b'appended', st.st_size)
print('after write', os.fstat(b).st_size, os.pread(b, 8, st.st_size).decode())
os.ftruncate(a, 100)
print('after ftruncate', os.fstat(b).st_size, len(os.pread(b, 1000, 0)))
os.fchmod(a, 0o600)
print('after fchmod', oct(stat.S_IMODE(os.fstat(a).st_mode)))
os.close(a)
print('still readable', os.pread(b, 10, 0).decode())
os.close(b)
`;
    const out = await sh(`python3 -c ${q(script)} ${q(m.p('doomed'))}`);
    assert.equal(out, [
      `fstat ${body.length} 0`,
      `md5 ${createHash('md5').update(body).digest('hex')}`,
      `after write ${body.length + 8} appended`,
      'after ftruncate 100 100',
      'after fchmod 0o600',
      'still readable abcdefghij',
      '',
    ].join('\n'));
    // 12 MiB in --bufsize (10 MiB) ranges: 2 GETs, not 98 of 128 KiB.
    const fetched = (await gets()) - before;
    assert.ok(fetched >= 1 && fetched <= 3, `GETs for the removed file: ${fetched}`);
    assert.equal(await bucket.head('doomed'), null, 'nothing came back');
    await afterWindow();
    assert.deepEqual(await bucket.keys('doomed'), []);
    assert.equal((await sh(`ls -A ${q(m.p())}`)).includes('doomed'), false);
  });

  test('a file created here, written, removed while open, written again: never uploaded', async () => {
    const out = await sh(`python3 -c ${q(`
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.write(fd, b'first')
os.fsync(fd)
os.unlink(p)
os.write(fd, b' second')
print(os.fstat(fd).st_size, os.pread(fd, 100, 0).decode())
os.close(fd)
`)} ${q(m.p('made-here'))}`);
    assert.equal(out, '12 first second\n');
    await afterWindow();
    assert.deepEqual(await bucket.keys('made-here'), []);
  });
});
