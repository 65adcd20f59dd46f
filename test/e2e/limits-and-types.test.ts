// What S3 cannot hold answers as the errno Linux gives for it, at once and without a stack trace
// in the log: sizes past 5 TiB (EFBIG at truncate and write), keys past 1024 bytes
// (ENAMETOOLONG); and a new object's Content-Type comes from its name, and is kept by rename and
// metadata changes, and when a file another tool typed is rewritten.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestBucket } from '../helpers/s3.js';
import { TestMount } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';
import { pyErrno, q, requireCommands } from '../helpers/posix.js';

describe('limits as errnos, and Content-Type from the name', () => {
  let bucket: TestBucket;
  let m: TestMount;

  before(async () => {
    await requireCommands('python3', 'truncate');
    bucket = await TestBucket.create('limits');
    m = await TestMount.start(bucket.name, 'limits');
  });
  after(async () => {
    await m?.stop();
    await bucket?.destroy();
  });

  test('a size past what S3 holds: EFBIG at truncate and at write, the file unchanged, no stack trace in the log', async () => {
    const f = m.p('big');
    await sh(`printf 'small' > ${q(f)}`);
    const r = await shResult(`truncate -s 999999999999999 ${q(f)}`);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /File too large/, r.stderr);
    assert.equal(await pyErrno('os.truncate(sys.argv[1], 6 * 1024 ** 4)', f), 'EFBIG', 'truncate to 6 TiB');
    assert.equal(await pyErrno("fd = os.open(sys.argv[1], os.O_WRONLY); os.pwrite(fd, b'x', 5 * 1024 ** 4); os.close(fd)", f), 'EFBIG', 'a write ending past 5 TiB');
    assert.equal(await pyErrno("fd = os.open(sys.argv[1], os.O_RDWR); os.ftruncate(fd, 2 ** 50); os.close(fd)", f), 'EFBIG', 'ftruncate to 1 PiB');
    assert.equal(await sh(`stat -c %s ${q(f)} && cat ${q(f)}`), '5\nsmall');
    assert.equal((await bucket.head('big'))?.ContentLength, 5);
    const log = await m.log();
    assert.doesNotMatch(log, /needs \d+ parts|RangeError|\n\s+at /, 'no stack trace in the log');
  });

  test('a path whose key would pass 1024 bytes: ENAMETOOLONG for stat, create, mkdir and rename; one that fits works', async () => {
    const seg = (c: string): string => c.repeat(200);
    const deep = m.p(seg('a'), seg('b'), seg('c'), seg('d'), seg('e')); // a key of 1004 bytes
    await sh(`mkdir -p ${q(deep)}`);
    assert.equal(await pyErrno("open(sys.argv[1], 'w').write('fits')", `${deep}/${'f'.repeat(19)}`), 'OK', 'a key of 1024 bytes');
    assert.equal(await sh(`cat ${q(`${deep}/${'f'.repeat(19)}`)}`), 'fits');
    const tooLong = `${deep}/${'g'.repeat(20)}`; // 1025 bytes
    assert.equal(await pyErrno('os.stat(sys.argv[1])', tooLong), 'ENAMETOOLONG', 'stat');
    assert.equal(await pyErrno("open(sys.argv[1], 'w').close()", tooLong), 'ENAMETOOLONG', 'create');
    assert.equal(await pyErrno('os.mkdir(sys.argv[1])', `${deep}/${'h'.repeat(19)}`), 'ENAMETOOLONG', 'mkdir: its marker would be 1025 bytes');
    assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', `${deep}/${'f'.repeat(19)}`, tooLong), 'ENAMETOOLONG', 'rename');
    const r = await shResult(`touch ${q(tooLong)}`);
    assert.match(r.stderr, /File name too long/, r.stderr);
  });

  test('Content-Type from the name; kept by rename and chmod; a type set by another tool survives a rewrite', async () => {
    await sh(`cd ${q(m.p())} && mkdir types && cd types && echo '<p>' > a.html && echo 'p{}' > a.css && echo '{}' > a.json && echo x > README && echo x > photo.JPG`);
    const type = async (key: string): Promise<string | undefined> => (await bucket.head(key))?.ContentType;
    assert.equal(await type('types/a.html'), 'text/html');
    assert.equal(await type('types/a.css'), 'text/css');
    assert.equal(await type('types/a.json'), 'application/json');
    assert.equal(await type('types/photo.JPG'), 'image/jpeg');
    assert.equal(await type('types/README'), 'binary/octet-stream', 'no extension: the server\'s default');
    await sh(`cd ${q(m.p('types'))} && mv a.html page.txt && chmod 600 page.txt && touch -d @1500000000 a.css`);
    assert.equal(await type('types/page.txt'), 'text/html', 'a rename keeps the type');
    assert.equal(await type('types/a.css'), 'text/css', 'touch keeps the type');
    await bucket.put('types/custom.html', 'x', { ContentType: 'application/x-custom' });
    await sh(`sleep 1.2; echo rewritten > ${q(m.p('types', 'custom.html'))}`);
    assert.equal(await type('types/custom.html'), 'application/x-custom', 'a type another tool set is kept');
  });
});
