// Directories as Linux filesystems show them: a link count of 2 plus one per subdirectory, from
// what the mount's listing of the directory knows (made here, or listed), kept as subdirectories
// come and go, and the same for a directory another client filled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestBucket } from '../helpers/s3.js';
import { TestMount, afterWindow, sleep } from '../helpers/mount.js';
import { sh } from '../helpers/shell.js';
import { q } from '../helpers/posix.js';

describe('directories', () => {
  let bucket: TestBucket;
  let m: TestMount;

  before(async () => {
    bucket = await TestBucket.create('dirs');
    m = await TestMount.start(bucket.name, 'dirs');
  });
  after(async () => {
    await m?.stop();
    await bucket?.destroy();
  });

  test('link count: 2 + subdirectories, as they are made and removed; files do not count', async () => {
    const links = (p: string): Promise<string> => sh(`stat -c %h ${q(p)}`);
    await sh(`mkdir ${q(m.p('d'))} && mkdir ${q(m.p('d', 'a'))} ${q(m.p('d', 'b'))} ${q(m.p('d', 'c'))} && touch ${q(m.p('d', 'f'))} ${q(m.p('d', 'g'))}`);
    assert.equal(await links(m.p('d')), '5\n');
    assert.equal(await links(m.p('d', 'a')), '2\n', 'an empty directory');
    await sh(`rmdir ${q(m.p('d', 'c'))}`);
    assert.equal(await links(m.p('d')), '4\n', 'after rmdir');
    await sh(`mv ${q(m.p('d', 'b'))} ${q(m.p('b-moved'))}`);
    assert.equal(await links(m.p('d')), '3\n', 'after moving a subdirectory out');
    // find's view agrees: as many subdirectories as the count says.
    assert.equal(await sh(`find ${q(m.p('d'))} -mindepth 1 -maxdepth 1 -type d | wc -l`), '1\n');
  });

  test('link count of a directory another client filled: from the listing, once listed', async () => {
    await Promise.all(['x/1/f', 'x/2/f', 'x/3/4/f', 'x/file'].map((k) => bucket.put(`other/${k}`, 'data')));
    await afterWindow();
    await sh(`ls ${q(m.p('other', 'x'))} > /dev/null`);
    await sleep(1100); // the kernel keeps the attributes of its lookup before the ls for attr_timeout
    assert.equal(await sh(`stat -c %h ${q(m.p('other', 'x'))}`), '5\n', 'implicit subdirectories 1, 2 and 3 (4 is one level down)');
    assert.equal(await sh(`ls ${q(m.p('other', 'x', '3'))} > /dev/null; sleep 1.1; stat -c %h ${q(m.p('other', 'x', '3'))}`), '3\n');
  });
});
