// Each POSIX operation through a real mount, with its errno: attributes (chmod, chown, utimens)
// and where they are stored, symlinks, directories, extended attributes, truncate, open flags,
// access, link, mknod, awkward names, and permissions with allow_other. What must persist is
// checked through a fresh mount (a remount) and in the bucket (SDK). Every file operation on a
// mount runs in a child process: bash, or python3 where the exact errno matters (pyErrno).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { sleep, type TestMount } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';
import { assertSameLines, lines, requireCommands, pyErrno, q, shAsNobody, withMount } from '../helpers/posix.js';

const md5hex = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

// Listings must not depend on the machine's time zone or locale; new entries get 0644 / 0755.
const ENV = 'export TZ=UTC LC_ALL=C; umask 022;';

/** Past the kernel's attribute cache (attr_timeout, 1 s): a stat then asks the daemon. */
const ATTR_CACHE_MS = 1500;

/** The s3fs attribute metadata of an object (mode, uid, gid, mtime), null when it is missing. */
async function s3fsMeta(bucket: TestBucket, key: string): Promise<{ contentType?: string; size?: number; mode?: string; uid?: string; gid?: string; mtime?: string } | null> {
  const h = await bucket.head(key);
  if (!h) return null;
  const m = h.Metadata ?? {};
  return { contentType: h.ContentType, size: h.ContentLength, mode: m['mode'], uid: m['uid'], gid: m['gid'], mtime: m['mtime'] };
}

/** `find` of a tree, relative paths sorted: type (f, d, l), and for symlinks the target. */
const findListing = async (root: string): Promise<string[]> =>
  lines(await sh(`${ENV} cd ${q(root)} && find . -mindepth 1 -printf '%P %y %l\\n' | sort`)).map((l) => l.trimEnd());

describe('POSIX operations through a real mount', () => {
  let bucket: TestBucket;
  let local: string; // scratch files, never on a mount

  before(async () => {
    await requireCommands('python3', 'setfattr', 'getfattr', 'setpriv', 'truncate', 'mkfifo', 'find', 'md5sum');
    bucket = await TestBucket.create('posix-ops');
    local = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-posix-ops-local-'));
  });
  after(async () => {
    await bucket?.destroy();
    if (local) await fsp.rm(local, { recursive: true, force: true });
  });

  test('chmod, chown and utimens on files, directories (marker and implicit) and symlinks: s3fs metadata, kept after a remount', { timeout: 60_000 }, async (t) => {
    await bucket.put('attr/implicit/child', 'child\n'); // a directory with no marker object
    const want = [
      'dir 750 2345 6789 1500000100 directory',
      'file 640 1234 5678 1500000000 regular file',
      'implicit 705 3456 7890 1500000200 directory',
      'link 777 4567 8901 1500000300 symbolic link',
      'monly 644 0 0 1600000000 regular file',
      'ns 644 0 0 1650000000 regular file',
    ];
    const statAll = async (m: TestMount): Promise<string[]> =>
      lines(await sh(`${ENV} cd ${q(m.p('attr'))} && stat -c '%n %a %u %g %Y %F' dir file implicit link monly ns`));

    await withMount(t, bucket.name, 'attr-1', async (m) => {
      await sh(`${ENV} cd ${q(m.p('attr'))}
        printf 'data\\n' > file
        mkdir dir
        ln -s file link
        printf 'm\\n' > monly
        printf 'n\\n' > ns
        chmod 0640 file && chown 1234:5678 file && touch -d @1500000000 file
        chmod 0750 dir && chown 2345:6789 dir && touch -d @1500000100 dir
        chmod 0705 implicit && chown 3456:7890 implicit && touch -d @1500000200 implicit
        chown -h 4567:8901 link && touch -h -d @1500000300 link
        touch -m -d @1600000000 monly
        touch -a -d @1700000000 monly   # atime only: the mtime stays`);
      assert.equal(await pyErrno('os.utime(sys.argv[1], ns=(1650000000000000000, 1650000000123456789))', m.p('attr', 'ns')), 'OK', 'os.utime with ns');
      await sleep(ATTR_CACHE_MS);
      assertSameLines(await statAll(m), want, "stat -c '%n %a %u %g %Y %F' on the mount that made the changes");
    });

    // What s3fs reads: decimal st_mode with the type bits, uid, gid, mtime in seconds.
    const meta = (mode: number, uid: number, gid: number, mtime: number): Record<string, string> => ({ mode: String(mode), uid: String(uid), gid: String(gid), mtime: String(mtime) });
    const pick = (x: Awaited<ReturnType<typeof s3fsMeta>>): Record<string, string | undefined> | null => x && { mode: x.mode, uid: x.uid, gid: x.gid, mtime: x.mtime };
    assert.deepEqual(pick(await s3fsMeta(bucket, 'attr/file')), meta(0o100640, 1234, 5678, 1500000000), 'metadata of attr/file');
    assert.deepEqual(pick(await s3fsMeta(bucket, 'attr/dir/')), meta(0o40750, 2345, 6789, 1500000100), 'metadata of the marker attr/dir/');
    assert.deepEqual(pick(await s3fsMeta(bucket, 'attr/implicit/')), meta(0o40705, 3456, 7890, 1500000200), 'metadata of the marker attr/implicit/ made by chmod of the implicit directory');
    const link = await s3fsMeta(bucket, 'attr/link');
    assert.deepEqual(pick(link), meta(0o120777, 4567, 8901, 1500000300), 'metadata of the symlink attr/link (chown -h, touch -h)');
    assert.equal(link?.contentType, 'application/symlink');
    assert.equal((await s3fsMeta(bucket, 'attr/monly'))?.mtime, '1600000000', 'touch -a left the stored mtime alone');
    assert.match((await s3fsMeta(bucket, 'attr/ns'))?.mtime ?? '', /^1650000000(\.123)?$/, 'mtime of os.utime(ns=...) in seconds (a fraction allowed)');
    assert.equal((await bucket.get('attr/file')).toString(), 'data\n', 'the data of attr/file after the metadata changes');

    await withMount(t, bucket.name, 'attr-2', async (m) => {
      assertSameLines(await statAll(m), want, "stat -c '%n %a %u %g %Y %F' after a remount");
      assert.equal(await pyErrno('print(os.stat(sys.argv[1]).st_mtime_ns)', m.p('attr', 'ns')), '1650000000123000000\nOK', 'st_mtime_ns after os.utime(ns=...) and a remount (milliseconds kept)');
      assert.equal(await sh(`cat ${q(m.p('attr', 'file'))} ${q(m.p('attr', 'implicit', 'child'))}`), 'data\nchild\n', 'the data of the file and of the implicit directory\'s child');
    });
  });

  test('symlinks to a file, to a directory, dangling; objects from other tools with either symlink marker', { timeout: 60_000 }, async (t) => {
    await bucket.put('links/target', 'the target\n');
    await bucket.put('links/by-content-type', 'target', { ContentType: 'application/symlink' });
    await bucket.put('links/by-mode', 'target', { ContentType: 'application/octet-stream', Metadata: { mode: String(0o120777) } });
    const want = [
      'by-content-type l target',
      'by-mode l target',
      'dangling l does/not/exist',
      'dir d',
      'dir/inner f',
      'target f',
      'to-dir l dir',
      'to-file l target',
    ];

    await withMount(t, bucket.name, 'links-1', async (m) => {
      const dir = m.p('links');
      await sh(`cd ${q(dir)}
        ln -s target to-file
        mkdir dir && printf 'inner\\n' > dir/inner
        ln -s dir to-dir
        ln -s does/not/exist dangling`);
      assert.equal(await sh(`cat ${q(path.join(dir, 'to-file'))}`), 'the target\n', 'cat through a symlink to a file');
      assert.equal(await sh(`cd ${q(path.join(dir, 'to-dir'))} && cat inner && ls`), 'inner\ninner\n', 'cd through a symlink to a directory, cat and ls there');
      assert.equal(await sh(`ls ${q(path.join(dir, 'to-dir'))}/`), 'inner\n', 'ls through a symlink to a directory');
      assert.equal(await sh(`readlink ${q(path.join(dir, 'dangling'))}`), 'does/not/exist\n', 'readlink of a dangling symlink');
      assert.equal(await pyErrno('os.stat(sys.argv[1])', path.join(dir, 'dangling')), 'ENOENT', 'stat (following) of a dangling symlink');
      assert.equal(await pyErrno('os.lstat(sys.argv[1])', path.join(dir, 'dangling')), 'OK', 'lstat of a dangling symlink');
      for (const name of ['by-content-type', 'by-mode']) {
        assert.equal(await sh(`stat -c '%F %a' ${q(path.join(dir, name))}`), 'symbolic link 777\n', `stat of ${name} (written by the SDK)`);
        assert.equal(await sh(`readlink ${q(path.join(dir, name))}`), 'target\n', `readlink of ${name}`);
        assert.equal(await sh(`cat ${q(path.join(dir, name))}`), 'the target\n', `cat through ${name}`);
      }
      assertSameLines(await findListing(dir), want, 'find -printf "%P %y %l" of links/ on the mount that made them');
    });

    for (const name of ['to-file', 'to-dir', 'dangling']) {
      const h = await s3fsMeta(bucket, `links/${name}`);
      assert.equal(h?.contentType, 'application/symlink', `Content-Type of the symlink links/${name} written by qsfs`);
      assert.equal(h?.mode, String(0o120777), `x-amz-meta-mode of links/${name} (S_IFLNK | 0777)`);
    }
    assert.equal((await bucket.get('links/to-file')).toString(), 'target', 'the body of a symlink object is its target');

    await withMount(t, bucket.name, 'links-2', async (m) => {
      assertSameLines(await findListing(m.p('links')), want, 'find -printf "%P %y %l" of links/ after a remount');
      assert.equal(await sh(`cat ${q(m.p('links', 'to-dir', 'inner'))}`), 'inner\n', 'a path through a symlink to a directory after a remount');
    });
  });

  test('directories: mkdir -p, rmdir, rename with its POSIX errnos, implicit directories, persistence', { timeout: 60_000 }, async (t) => {
    await bucket.put('dirs/imp-list/only', 'only\n');
    await bucket.put('dirs/imp-move/top', 'top\n');
    await bucket.put('dirs/imp-move/sub/file', 'sub\n');
    await bucket.put('dirs/imp-rm/only', 'x\n');
    // A tree with data, made locally: its md5s after the rename and a remount must match.
    const src = path.join(local, 'dirs-src');
    await fsp.mkdir(src);
    await sh(`${ENV} cd ${q(src)}
      mkdir -p tree/a/b/c tree/d tree/a/empty
      head -c 200000 /dev/urandom > tree/a/b/c/big.bin
      printf 'one\\n' > tree/one.txt
      printf 'two\\n' > tree/a/two.txt
      printf 'three\\n' > tree/d/three.txt
      : > tree/a/b/zero`);
    const md5Listing = async (root: string): Promise<string[]> => lines(await sh(`${ENV} cd ${q(root)} && find . -type f -print0 | sort -z | xargs -0 md5sum`));
    const wantMd5 = await md5Listing(path.join(src, 'tree'));
    const wantTree = await findListing(path.join(src, 'tree'));
    const deep = Array.from({ length: 20 }, (_, i) => `l${i + 1}`).join('/');
    const wantTop = ['deep', 'dir1', 'dst1', 'dst2', 'empty', 'file1', 'full', 'imp-list', 'imp-moved', 'moved', 'r2', 'src2'];

    await withMount(t, bucket.name, 'dirs-1', async (m) => {
      const d = (...p: string[]): string => m.p('dirs', ...p);
      await sh(`${ENV} cd ${q(d())}
        mkdir -p deep/${deep} && printf 'bottom\\n' > deep/${deep}/file
        mkdir full && : > full/f
        cp -r ${q(path.join(src, 'tree'))} tree
        mv tree moved
        mkdir src1 dst1 && printf 'x\\n' > src1/f
        mkdir src2 dst2 && : > src2/a && : > dst2/b
        printf 'file\\n' > file1 && mkdir dir1
        printf 'new\\n' > r1 && printf 'old\\n' > r2 && mv r1 r2
        mkdir empty`);
      assert.equal(await sh(`cat ${q(d('deep', deep, 'file'))}`), 'bottom\n', 'a file 20 directories deep');
      assert.equal(await pyErrno('os.rmdir(sys.argv[1])', d('full')), 'ENOTEMPTY', 'rmdir of a non-empty directory');
      assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', d('src1'), d('dst1')), 'OK', 'rename of a directory onto an empty one');
      assert.equal(await sh(`cat ${q(d('dst1', 'f'))}`), 'x\n', 'the renamed directory replaced the empty one');
      assert.equal(await pyErrno('os.lstat(sys.argv[1])', d('src1')), 'ENOENT', 'the old name of the renamed directory');
      assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', d('src2'), d('dst2')), 'ENOTEMPTY', 'rename of a directory onto a non-empty one');
      assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', d('file1'), d('dir1')), 'EISDIR', 'rename of a file onto a directory');
      assert.equal(await pyErrno('os.rename(sys.argv[1], sys.argv[2])', d('dir1'), d('file1')), 'ENOTDIR', 'rename of a directory onto a file');
      assert.equal(await sh(`cat ${q(d('r2'))}`), 'new\n', 'mv of a file over another replaced it');
      assertSameLines(await findListing(d('moved')), wantTree, 'find of the renamed tree, against the local source');
      // implicit directories (objects under a prefix, no marker)
      assert.equal(await sh(`ls ${q(d('imp-list'))}`), 'only\n', 'ls of an implicit directory');
      assert.equal(await sh(`cd ${q(d('imp-list'))} && cat only && stat -c '%F' .`), 'only\ndirectory\n', 'cd into an implicit directory');
      await sh(`chmod 0700 ${q(d('imp-list'))}`);
      assert.equal((await s3fsMeta(bucket, 'dirs/imp-list/'))?.mode, String(0o40700), 'chmod of an implicit directory makes its marker, with the mode');
      await sh(`mv ${q(d('imp-move'))} ${q(d('imp-moved'))}`);
      assertSameLines(await findListing(d('imp-moved')), ['sub d', 'sub/file f', 'top f'], 'find of the renamed implicit directory');
      await sh(`rm ${q(d('imp-rm', 'only'))} && rmdir ${q(d('imp-rm'))}`);
      assertSameLines(lines(await sh(`${ENV} ls -A ${q(d())}`)), wantTop, 'ls -A of dirs/ after the changes');
    });

    assert.deepEqual(await bucket.keys('dirs/tree/'), [], 'no key left under the old prefix of the renamed directory');
    const movedKeys = wantTree.map((l) => { const [p, type] = l.split(' '); return `dirs/moved/${p}${type === 'd' ? '/' : ''}`; });
    assert.deepEqual((await bucket.keys('dirs/moved/')).sort(), ['dirs/moved/', ...movedKeys].sort(), 'the keys under the new prefix of the renamed directory');
    assert.deepEqual((await bucket.keys('dirs/imp-move/')), [], 'no key left under the old prefix of the renamed implicit directory');
    const impMoved = await bucket.keys('dirs/imp-moved/');
    for (const k of ['dirs/imp-moved/top', 'dirs/imp-moved/sub/file']) assert.ok(impMoved.includes(k), `${k} in the bucket: ${impMoved.join(', ')}`);
    assert.deepEqual(await bucket.keys('dirs/imp-rm/'), [], 'nothing left of the implicit directory removed');
    assert.equal((await bucket.keys('dirs/deep/')).filter((k) => k.endsWith('/')).length, 21, 'markers of mkdir -p deep/l1/.../l20');
    assert.notEqual(await bucket.head('dirs/empty/'), null, 'the marker of the empty directory');

    await withMount(t, bucket.name, 'dirs-2', async (m) => {
      const d = (...p: string[]): string => m.p('dirs', ...p);
      assertSameLines(lines(await sh(`${ENV} ls -A ${q(d())}`)), wantTop, 'ls -A of dirs/ after a remount');
      assertSameLines(await md5Listing(d('moved')), wantMd5, 'md5 of every file of the renamed directory after a remount');
      assertSameLines(await findListing(d('moved')), wantTree, 'find of the renamed directory after a remount');
      assert.equal(await sh(`stat -c '%F' ${q(d('empty'))} && ls -A ${q(d('empty'))}`), 'directory\n', 'the empty directory after a remount');
      assert.equal(await sh(`stat -c '%a' ${q(d('imp-list'))}`), '700\n', 'the mode given to the implicit directory after a remount');
      assert.equal(await sh(`cat ${q(d('deep', deep, 'file'))}`), 'bottom\n', 'the deep file after a remount');
    });
  });

  test('extended attributes: set, get, list, remove on a file and a directory; ENODATA, E2BIG, EEXIST; kept after a remount', { timeout: 60_000 }, async (t) => {
    const xattrs = async (p: string): Promise<string[]> => lines(await sh(`getfattr -d ${q(p)}`)).filter((l) => !l.startsWith('#')).sort();
    const wantFile = ['user.color="blue"', 'user.size="42"'];
    const wantDir = ['user.owner="me"'];

    await withMount(t, bucket.name, 'xattr-1', async (m) => {
      const f = m.p('x', 'f');
      const d = m.p('x', 'd');
      await sh(`mkdir ${q(m.p('x'))} && printf 'data\\n' > ${q(f)} && mkdir ${q(d)}
        setfattr -n user.color -v blue ${q(f)}
        setfattr -n user.size -v 42 ${q(f)}
        setfattr -n user.tmp -v gone ${q(f)}
        setfattr -x user.tmp ${q(f)}
        setfattr -n user.owner -v me ${q(d)}`);
      assertSameLines(await xattrs(f), wantFile, 'getfattr -d of the file');
      assertSameLines(await xattrs(d), wantDir, 'getfattr -d of the directory');
      assert.equal(await sh(`getfattr --only-values -n user.color ${q(f)}`), 'blue', 'getfattr -n of one name');
      const missing = await shResult(`getfattr -n user.missing ${q(f)}`);
      assert.notEqual(missing.code, 0, 'getfattr of a missing name fails');
      assert.match(missing.stderr, /No such attribute/, 'getfattr of a missing name');
      assert.equal(await pyErrno("os.getxattr(sys.argv[1], 'user.missing')", f), 'ENODATA', 'getxattr of a missing name');
      // The kernel's namespaces (labels, ACLs) are not supported: said at once, as setxattr says,
      // so that ls -l stops asking for them after the first file of the mount.
      for (const name of ['security.selinux', 'system.posix_acl_access']) {
        assert.match(await pyErrno(`os.getxattr(sys.argv[1], '${name}')`, f), /^E(OPNOTSUPP|NOTSUP)$/, `getxattr ${name}`);
      }
      const big = await shResult(`setfattr -n user.big -v "$(head -c 2100 /dev/zero | tr '\\0' x)" ${q(f)}`);
      assert.notEqual(big.code, 0, 'setfattr of a 2100-byte value fails');
      assert.match(big.stderr, /Argument list too long/, 'setfattr of a 2100-byte value');
      assert.equal(await pyErrno("os.setxattr(sys.argv[1], 'user.big', b'x' * 2100)", f), 'E2BIG', 'setxattr of a 2100-byte value');
      assert.equal(await pyErrno("os.setxattr(sys.argv[1], 'user.color', b'red', os.XATTR_CREATE)", f), 'EEXIST', 'setxattr XATTR_CREATE of an existing name');
      assert.equal(await pyErrno("os.setxattr(sys.argv[1], 'user.none', b'v', os.XATTR_REPLACE)", f), 'ENODATA', 'setxattr XATTR_REPLACE of a missing name');
      assert.equal(await pyErrno("os.removexattr(sys.argv[1], 'user.none')", f), 'ENODATA', 'removexattr of a missing name');
      assertSameLines(await xattrs(f), wantFile, 'getfattr -d of the file after the failed calls');
      assert.equal(await sh(`cat ${q(f)}`), 'data\n', 'the data of the file');
    });

    const h = await bucket.head('x/f');
    assert.ok(h?.Metadata?.['xattr'], `x-amz-meta-xattr on x/f: ${JSON.stringify(h?.Metadata)}`);
    assert.equal(h?.Metadata?.['mode'], String(0o100644), 'the attributes are kept beside the extended attributes');
    assert.ok((await bucket.head('x/d/'))?.Metadata?.['xattr'], 'x-amz-meta-xattr on the marker x/d/');

    await withMount(t, bucket.name, 'xattr-2', async (m) => {
      assertSameLines(await xattrs(m.p('x', 'f')), wantFile, 'getfattr -d of the file after a remount');
      assertSameLines(await xattrs(m.p('x', 'd')), wantDir, 'getfattr -d of the directory after a remount');
      assert.equal(await sh(`cat ${q(m.p('x', 'f'))}`), 'data\n', 'the data of the file after a remount');
    });
  });

  test('truncate, ftruncate, O_APPEND, O_EXCL, O_TRUNC, access, link, mknod, awkward names, rename while open', { timeout: 60_000 }, async (t) => {
    const names = ['with space.txt', 'héllo wörld ✓', '100%', 'a+b', 'hash#tag', 'what?', 'this&that', 'n'.repeat(255), `${'é'.repeat(127)}n`];
    const tooLong = 'n'.repeat(256);
    const zeros = Buffer.concat([Buffer.from('abc'), Buffer.alloc(7)]);
    const md5Of = async (p: string): Promise<string> => (await sh(`md5sum < ${q(p)}`)).split(' ')[0]!;
    const namesListing = async (dir: string): Promise<string[]> => lines(await sh(`find ${q(dir)} -mindepth 1 -printf '%f\\n'`)).sort();
    let tooLongResults: { create: string; stat: string } | undefined;

    await withMount(t, bucket.name, 'misc-1', async (m) => {
      const f = (...p: string[]): string => m.p('misc', ...p);
      await sh(`mkdir ${q(f())} ${q(f('names'))}`);
      // truncate
      await sh(`printf abc > ${q(f('t'))} && truncate -s 10 ${q(f('t'))}`);
      assert.equal(await md5Of(f('t')), md5hex(zeros), 'truncate -s 10 of "abc": the data then zeros');
      assert.equal(await sh(`stat -c %s ${q(f('t'))}`), '10\n', 'size after truncate -s 10');
      await sh(`truncate -s 2 ${q(f('t'))}`);
      assert.equal(await sh(`cat ${q(f('t'))}`), 'ab', 'truncate -s 2');
      assert.equal(await pyErrno(`
        fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o644)
        os.write(fd, b'hello world')
        os.ftruncate(fd, 5)
        os.close(fd)`, f('ft')), 'OK', 'os.ftruncate');
      assert.equal(await sh(`cat ${q(f('ft'))}`), 'hello', 'content after os.ftruncate');
      // open flags
      await sh(`echo a >> ${q(f('ap'))} && echo b >> ${q(f('ap'))}`);
      assert.equal(await sh(`cat ${q(f('ap'))}`), 'a\nb\n', 'O_APPEND twice');
      assert.equal(await pyErrno('os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)', f('ap')), 'EEXIST', 'O_CREAT|O_EXCL of an existing file');
      assert.equal(await pyErrno('os.close(os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))', f('excl')), 'OK', 'O_CREAT|O_EXCL of a new name');
      await sh(`printf 'long content\\n' > ${q(f('tr'))} && printf 's\\n' > ${q(f('tr'))} && printf 'xyz' > ${q(f('tr2'))}`);
      assert.equal(await sh(`cat ${q(f('tr'))}`), 's\n', 'O_TRUNC by the shell\'s >');
      assert.equal(await pyErrno('os.close(os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC))', f('tr2')), 'OK', 'open O_WRONLY|O_TRUNC');
      assert.equal(await sh(`stat -c %s ${q(f('tr2'))}`), '0\n', 'size after open with O_TRUNC');
      // access(2) as root
      await sh(`printf '#!/bin/sh\\n' > ${q(f('ax'))} && chmod 0755 ${q(f('ax'))}`);
      assert.equal(await pyErrno('print(os.access(sys.argv[1], os.R_OK), os.access(sys.argv[1], os.W_OK), os.access(sys.argv[1], os.X_OK))', f('ax')), 'True True True\nOK', 'access R_OK, W_OK, X_OK of a 0755 file as root');
      assert.equal(await pyErrno('print(os.access(sys.argv[1], os.F_OK), os.access(sys.argv[1], os.R_OK))', f('nope')), 'False False\nOK', 'access of a missing file');
      // link, mknod
      await sh(`printf l > ${q(f('lk'))}`);
      assert.equal(await pyErrno('os.link(sys.argv[1], sys.argv[2])', f('lk'), f('lk2')), 'EPERM', 'link (hard links cannot be objects)');
      const ln = await shResult(`ln ${q(f('lk'))} ${q(f('lk3'))}`);
      assert.match(ln.stderr, /Operation not permitted/, `ln: ${ln.stderr}`);
      // FIFOs, devices and sockets: see special files below.
      assert.equal(await pyErrno('os.mknod(sys.argv[1], 0o640 | stat.S_IFREG)', f('node')), 'OK', 'os.mknod of a regular file');
      assert.equal(await sh(`stat -c '%s %a %F' ${q(f('node'))}`), '0 640 regular empty file\n', 'stat of the file made by mknod');
      // names
      await sh(names.map((n) => `printf '%s\\n' ${q(n)} > ${q(f('names', n))}`).join('\n'));
      assertSameLines(await namesListing(f('names')), [...names].sort(), 'the names listed');
      for (const n of names) assert.equal(await sh(`cat ${q(f('names', n))}`), `${n}\n`, `content of ${JSON.stringify(n)}`);
      // checked at the end, so that a failure here does not hide the rest
      tooLongResults = { create: await pyErrno("open(sys.argv[1], 'w').close()", f(tooLong)), stat: await pyErrno('os.stat(sys.argv[1])', f(tooLong)) };
      // rename while open for writing, then more writes, then close
      assert.equal(await pyErrno(`
        fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        os.write(fd, b'first part\\n')
        os.rename(sys.argv[1], sys.argv[2])
        os.write(fd, b'second part\\n')
        os.close(fd)`, f('rbc-old'), f('rbc-new')), 'OK', 'write, rename, write, close');
      assert.equal(await sh(`cat ${q(f('rbc-new'))}`), 'first part\nsecond part\n', 'the new name has all the data');
      assert.equal(await pyErrno('os.lstat(sys.argv[1])', f('rbc-old')), 'ENOENT', 'the old name is gone');
    });

    assert.deepEqual((await bucket.keys('misc/names/')).sort(), ['misc/names/', ...names.map((n) => `misc/names/${n}`)].sort(), 'the keys of the awkward names');
    for (const n of names) assert.equal((await bucket.get(`misc/names/${n}`)).toString(), `${n}\n`, `object ${JSON.stringify(n)}`);
    const node = await s3fsMeta(bucket, 'misc/node');
    assert.deepEqual([node?.size, node?.mode], [0, String(0o100640)], 'the object made by mknod: empty, mode S_IFREG|0640');
    assert.equal((await bucket.get('misc/rbc-new')).toString(), 'first part\nsecond part\n', 'the object renamed while open');
    assert.equal(await bucket.head('misc/rbc-old'), null, 'no object at the old name');
    for (const k of ['misc/lk2', 'misc/lk3', 'misc/fifo']) assert.equal(await bucket.head(k), null, `no object ${k}`);

    await withMount(t, bucket.name, 'misc-2', async (m) => {
      const f = (...p: string[]): string => m.p('misc', ...p);
      assert.equal(await sh(`cat ${q(f('t'))}; echo; cat ${q(f('ft'))}; echo; cat ${q(f('ap'))} ${q(f('tr'))} ${q(f('rbc-new'))}`), 'ab\nhello\na\nb\ns\nfirst part\nsecond part\n', 'contents after a remount');
      assert.equal(await sh(`stat -c '%s' ${q(f('tr2'))} ${q(f('excl'))} ${q(f('node'))}`), '0\n0\n0\n', 'empty files after a remount');
      await sh(`echo c >> ${q(f('ap'))}`);
      assert.equal(await sh(`cat ${q(f('ap'))}`), 'a\nb\nc\n', 'O_APPEND after a remount');
      assertSameLines(await namesListing(f('names')), [...names].sort(), 'the names listed after a remount');
      for (const n of names) assert.equal(await sh(`cat ${q(f('names', n))}`), `${n}\n`, `content of ${JSON.stringify(n)} after a remount`);
    });
    // Listings skip keys whose names are over 255 bytes: a file made under such a name would
    // vanish from ls at the next mount.
    assert.deepEqual(tooLongResults, { create: 'ENAMETOOLONG', stat: 'ENAMETOOLONG' }, 'creating a 256-byte name, and stat of it');
  });

  test('allow_other: the kernel enforces the mode bits for other users; -o uid=,gid=,umask= apply to every entry', { timeout: 60_000 }, async (t) => {
    // cli-options.test.ts checks uid=/gid=/umask= on one file without metadata, and -u on the
    // mountpoint; here: entries whose stored owners and modes are replaced, of every type.
    await withMount(t, bucket.name, 'perm-1', async (m) => {
      // nobody must be able to reach the mountpoint: the workdir is made by mkdtemp (0700)
      await fsp.chmod(m.work.dir, 0o755);
      for (let dir = path.dirname(m.work.dir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
        const st = await fsp.stat(dir);
        if ((st.mode & 0o001) === 0) await fsp.chmod(dir, (st.mode & 0o7777) | 0o001);
      }
      assert.equal(await sh(`stat -c '%a %u' ${q(m.path)}`), '755 0\n', 'the mountpoint with -u=0022 and allow_other');
      const p = (...x: string[]): string => m.p('perm', ...x);
      await sh(`${ENV} mkdir ${q(p())} && printf 'secret\\n' > ${q(p('p600'))} && chmod 0600 ${q(p('p600'))}
        printf 'public\\n' > ${q(p('p644'))} && chmod 0644 ${q(p('p644'))} && ln -s p644 ${q(p('link'))}`);
      const secret = await shAsNobody(`cat ${q(p('p600'))}`);
      assert.notEqual(secret.code, 0, 'nobody cannot read a 0600 file of root');
      assert.match(secret.stderr, /Permission denied/, `nobody reading a 0600 file: ${secret.stderr}`);
      const pub = await shAsNobody(`cat ${q(p('p644'))} && cat ${q(p('link'))} && ls ${q(p())}`);
      assert.equal(pub.code, 0, `nobody reads a 0644 file, through a symlink, and lists a 0755 directory: ${pub.stderr}`);
      assert.equal(pub.stdout, 'public\npublic\nlink\np600\np644\n');
      const create = await shAsNobody(`: > ${q(p('mine'))}`);
      assert.notEqual(create.code, 0, 'nobody cannot create a file in a 0755 directory of root');
      assert.match(create.stderr, /Permission denied/, `nobody creating a file: ${create.stderr}`);
      const write = await shAsNobody(`echo x >> ${q(p('p644'))}`);
      assert.match(write.stderr, /Permission denied/, `nobody appending to a 0644 file of root: ${write.stderr}`);
      const inRoot = await shAsNobody(`mkdir ${q(m.p('nobodys'))}`);
      assert.match(inRoot.stderr, /Permission denied/, `nobody making a directory in the 0755 mountpoint: ${inRoot.stderr}`);
      assert.equal(await sh(`cat ${q(p('p600'))}`), 'secret\n', 'root still reads the 0600 file');
    }, ['-u=0022', '-o', 'allow_other']);
    assert.deepEqual(await bucket.keys('perm/'), ['perm/', 'perm/link', 'perm/p600', 'perm/p644'], 'nothing made by nobody');

    await withMount(t, bucket.name, 'perm-2', async (m) => {
      // libfuse's umask= replaces the permission bits (0777 & ~027) of every entry
      const got = lines(await sh(`${ENV} cd ${q(m.path)} && stat -c '%n %u %g %a %F' . perm perm/p600 perm/p644 perm/link`));
      assertSameLines(got, [
        '. 1000 1000 750 directory',
        'perm 1000 1000 750 directory',
        'perm/p600 1000 1000 750 regular file',
        'perm/p644 1000 1000 750 regular file',
        'perm/link 1000 1000 750 symbolic link',
      ], "stat -c '%n %u %g %a %F' with -o uid=1000,gid=1000,umask=027");
    }, ['-o', 'uid=1000,gid=1000,umask=027']);
    // the options change what is shown, not what is stored
    const stored = await s3fsMeta(bucket, 'perm/p600');
    assert.deepEqual([stored?.mode, stored?.uid, stored?.gid], [String(0o100600), '0', '0'], 'metadata of perm/p600 after the uid/gid/umask mount');
  });
});
