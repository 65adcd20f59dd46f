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

describe('a walk that needs only names and types', () => {
  let bucket: TestBucket;

  before(async () => {
    bucket = await TestBucket.create('walk-types');
  });
  after(async () => {
    await bucket?.destroy();
  });

  test('find sends no HEAD for objects too large to be symlinks or special files; small ones keep their true types', { timeout: 120_000 }, async () => {
    // Another client's tree: 40 objects of 5000 bytes in two directories, and one small file.
    const big = 'x'.repeat(5000);
    for (const dir of ['a', 'b']) {
      for (let i = 0; i < 20; i++) await bucket.put(`tree/${dir}/big${i}`, big);
    }
    await bucket.put('tree/a/small', 'tiny');
    // A symlink and a FIFO made through a mount: small objects whose type is in their metadata.
    const maker = await TestMount.start(bucket.name, 'walk-maker');
    try {
      await sh(`ln -s big0 ${q(maker.p('tree', 'a', 'link'))} && mkfifo ${q(maker.p('tree', 'a', 'fifo'))}`);
    } finally {
      await maker.stop();
    }
    const m = await TestMount.start(bucket.name, 'walk');
    try {
      const heads = async (): Promise<number> => Number(/HeadObject (\d+)/.exec(await m.status())?.[1] ?? 0);
      const before = await heads();
      assert.equal(await sh(`find ${q(m.p('tree'))} | wc -l`), '46\n', 'tree, a, b, 40 big, small, link, fifo');
      const sent = (await heads()) - before;
      // (a directory's lookup may ask for its marker: tree, a and b have none)
      assert.ok(sent <= 6, `HEADs only for the 3 small objects and the 3 directories, none for the 40 large ones: ${sent}`);
      // The types find reports, from the listing for the large ones and from metadata for the rest.
      assert.equal(await sh(`find ${q(m.p('tree'))} -type f | wc -l`), '41\n');
      assert.equal(await sh(`find ${q(m.p('tree'))} -type l -printf '%f %l\\n'`), 'link big0\n');
      assert.equal(await sh(`find ${q(m.p('tree'))} -type p -printf '%f\\n'`), 'fifo\n');
      assert.equal(await sh(`stat -c '%s %F' ${q(m.p('tree', 'a', 'big7'))}`), '5000 regular file\n', 'a stat still asks');
      // An ls -l wants every name's attributes: its first stat of a large file starts the prefetch.
      const beforeLs = await heads();
      const long = (await sh(`ls -l ${q(m.p('tree', 'b'))}`)).split('\n').filter((l) => l.startsWith('-'));
      assert.equal(long.length, 20);
      assert.ok(long.every((l) => / 5000 /.test(l)), long.join('\n'));
      assert.ok((await heads()) - beforeLs >= 19, 'the other large files were asked for by the prefetch');
    } finally {
      await m.stop();
    }
  });
});
