// Real workloads through a real mount: tar, rsync, git, an editor's atomic save and cp -a. Each
// one writes through one mount and checks through a fresh one (a remount), so what is checked is
// what reached the bucket, not what the writing daemon still had in its caches (rsync, git and
// the editor check the writing mount too). Every file
// operation on a mount runs in a child process (bash); the test process only touches local
// scratch files and the bucket (SDK).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { sleep } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';
import { assertSameLines, lines, requireCommands, q, withMount } from '../helpers/posix.js';

const md5hex = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

// Listings must not depend on the machine's time zone or locale.
const ENV = 'export TZ=UTC LC_ALL=C;';

/**
 * Gives every entry under `root` its own whole-second mtime (1.5e9 + k days and some seconds),
 * children before their directory, so the directories' times are not changed afterwards.
 */
const setMtimes = (root: string): string => `
n=0
while IFS= read -r -d '' p; do
  touch -h -d "@$((1500000000 + n * 86413))" "$p"
  n=$((n + 1))
done < <(find ${q(root)} -depth -print0)
`;

/**
 * `stat` of every entry under `root` (itself included), sorted by name, with the paths relative
 * to it: mode bits, owner, mtime in seconds, type, and the name with its symlink target.
 */
const statListing = async (root: string): Promise<string[]> =>
  lines(await sh(`${ENV} cd ${q(root)} && find . -print0 | sort -z | xargs -0 stat -c '%a %u %g %Y %F %N'`));

/** `tar tvf` with numeric owners and mtimes to the second, blanks squeezed (column widths vary). */
const tarListing = async (archive: string): Promise<string[]> =>
  lines(await sh(`${ENV} tar -tvf ${q(archive)} --numeric-owner --full-time`)).map((l) => l.replace(/\s+/g, ' '));

describe('POSIX workloads through a real mount', () => {
  let bucket: TestBucket;
  let local: string; // scratch files, never on a mount

  before(async () => {
    await requireCommands('tar', 'rsync', 'git', 'python3', 'find', 'xargs');
    bucket = await TestBucket.create('posix');
    local = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-posix-local-'));
  });
  after(async () => {
    await bucket?.destroy();
    if (local) await fsp.rm(local, { recursive: true, force: true });
  });

  test('tar xpf into the mount, remount, tar cf: both archives list the same names, modes, owners, sizes, mtimes and link targets', { timeout: 120_000 }, async (t) => {
    const src = path.join(local, 'tar-src');
    const orig = path.join(local, 'orig.tar');
    const again = path.join(local, 'again.tar');
    const out = path.join(local, 'tar-out');
    await fsp.mkdir(src);
    await sh(`${ENV} cd ${q(src)}
      mkdir -p tree/docs/sub/deep tree/bin tree/private tree/empty
      printf 'hello\\n' > tree/docs/readme.txt
      printf 'deep\\n' > tree/docs/sub/deep/note.txt
      head -c 300000 /dev/urandom > tree/docs/sub/deep/blob.bin
      : > tree/docs/empty.txt
      printf '#!/bin/sh\\necho hi\\n' > tree/bin/run.sh
      printf 'secret\\n' > tree/private/key
      printf '#!/bin/sh\\nexit 0\\n' > tree/private/tool
      chmod 0644 tree/docs/readme.txt tree/docs/sub/deep/note.txt tree/docs/sub/deep/blob.bin tree/docs/empty.txt
      chmod 0755 tree/bin/run.sh
      chmod 0600 tree/private/key
      chmod 0700 tree/private/tool tree/private
      chmod 0750 tree/docs/sub
      chown 1234:5678 tree/docs/sub/deep/blob.bin tree/docs/sub
      ln -s ../docs/readme.txt tree/bin/readme   # to a file
      ln -s docs/sub tree/sub-link               # to a directory
      ln -s does/not/exist tree/dangling         # to nothing
      ${setMtimes('tree')}
      tar --sort=name --numeric-owner -cf ${q(orig)} tree`);

    await withMount(t, bucket.name, 'tar-x', (m) => sh(`mkdir ${q(m.p('tar'))} && tar --numeric-owner -xpf ${q(orig)} -C ${q(m.p('tar'))}`));
    await withMount(t, bucket.name, 'tar-c', (m) => sh(`tar --sort=name --numeric-owner -cf ${q(again)} -C ${q(m.p('tar'))} tree`));

    const want = await tarListing(orig);
    assert.equal(want.length, 17, `the original archive has 17 entries:\n${want.join('\n')}`);
    assertSameLines(await tarListing(again), want, 'tar tvf of the archive made from the mount after a remount, against the original');
    // the data, byte for byte
    await fsp.mkdir(out);
    await sh(`tar -xf ${q(again)} -C ${q(out)} && diff -r --no-dereference ${q(path.join(src, 'tree'))} ${q(path.join(out, 'tree'))}`);
  });

  test('rsync -a twice: the second run transfers nothing, and neither does a third after a remount', { timeout: 120_000 }, async (t) => {
    const src = path.join(local, 'rsync-src');
    await fsp.mkdir(src);
    await sh(`${ENV} cd ${q(src)}
      mkdir -p a/b c/d/e
      head -c 1500000 /dev/urandom > a/big.bin
      head -c 140000 /dev/urandom > a/b/medium.bin
      printf 'small\\n' > c/small.txt
      : > c/d/empty
      printf '#!/bin/sh\\n' > c/d/e/tool.sh
      printf 'mine\\n' > a/b/owned.txt
      chmod 0755 c/d/e/tool.sh
      chmod 0600 a/b/owned.txt
      chmod 0700 c/d
      chown 1234:5678 a/b/owned.txt
      ln -s ../c/small.txt a/small-link
      ${setMtimes('.')}`);

    // Itemized changes (-i) name every file or attribute rsync had to change: type, size, time,
    // perms, owner... Both runs are checked before failing, so one report tells whether the
    // difference survives a remount.
    const problems: string[] = [];
    const check = async (dst: string, when: string): Promise<void> => {
      const r = await sh(`rsync -a --itemize-changes --stats ${q(src)}/ ${q(dst)}/`);
      const transferred = /Number of regular files transferred: ([\d,]+)/.exec(r);
      assert.ok(transferred, `rsync --stats prints "Number of regular files transferred":\n${r}`);
      const itemized = lines(r).filter((l) => /^[<>ch.*][fdLDS]\S{9} /.test(l));
      if (transferred[1] !== '0') problems.push(`${when}: rsync transferred ${transferred[1]} files again`);
      if (itemized.length) {
        problems.push(`${when}: rsync found attributes to change (YXcstpoguax: c checksum, s size, t mtime, p perms, o owner, g group):\n${itemized.join('\n')}`);
      }
    };

    await withMount(t, bucket.name, 'rsync-1', async (m) => {
      await sh(`rsync -a ${q(src)}/ ${q(m.p('rsync'))}/`);
      // Past the kernel's attribute cache (attr_timeout, 1 s): the second run sees what the daemon
      // itself holds, not what the kernel kept from the replies to rsync's own chmod and utimes.
      await sleep(1500);
      await check(m.p('rsync'), 'the second rsync, on the same mount');
    });
    await withMount(t, bucket.name, 'rsync-2', async (m) => {
      await check(m.p('rsync'), 'a third rsync, after a remount');
      await sh(`diff -r --no-dereference ${q(src)} ${q(m.p('rsync'))}`);
    });
    assert.equal(problems.length, 0, problems.join('\n\n'));
  });

  test('git init, add and commit in the mount: the same commit as on a local disk, status clean and fsck passing, also after a remount', { timeout: 120_000 }, async (t) => {
    const home = path.join(local, 'git-home');
    const reference = path.join(local, 'git-ref');
    await fsp.mkdir(home);
    await fsp.mkdir(reference);
    // Fixed names and dates make the commit's hash a function of the files alone (content, mode, symlinks).
    const git = `${ENV} export HOME=${q(home)} GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=qsfs GIT_AUTHOR_EMAIL=qsfs@example.com \
      GIT_COMMITTER_NAME=qsfs GIT_COMMITTER_EMAIL=qsfs@example.com GIT_AUTHOR_DATE='@1600000000 +0000' GIT_COMMITTER_DATE='@1600000000 +0000';`;
    const makeAndCommit = `${git}
      mkdir -p src/lib docs/a/b
      printf '# readme\\n' > README.md
      printf 'int main(void) { return 0; }\\n' > src/main.c
      printf 'export const x = 1;\\n' > src/lib/x.js
      printf '#!/bin/sh\\necho build\\n' > build.sh
      chmod 0755 build.sh
      printf 'deep\\n' > docs/a/b/c.txt
      seq 1 30000 > docs/numbers.txt
      ln -s README.md README
      git init -q -b main .
      git add .
      git commit -q -m x
      git rev-parse HEAD`;
    const wantHead = (await sh(makeAndCommit, reference)).trim();
    const wantTree = await sh(`${git} git ls-tree -r HEAD`, reference);

    const checkRepo = async (repo: string, when: string): Promise<void> => {
      const tree = await sh(`${git} cd ${q(repo)} && git ls-tree -r HEAD`);
      assertSameLines(lines(tree), lines(wantTree), `${when}: git ls-tree -r HEAD in the mount, against the same commit on a local disk`);
      assert.equal(await sh(`${git} cd ${q(repo)} && git log --format='%H %s'`), `${wantHead} x\n`, `${when}: git log`);
      assert.equal(await sh(`${git} cd ${q(repo)} && git status --porcelain`), '', `${when}: git status --porcelain`);
      const fsck = await shResult(`${git} cd ${q(repo)} && git fsck --full --strict 2>&1`);
      assert.equal(fsck.code, 0, `${when}: git fsck --full --strict failed:\n${fsck.stdout}${fsck.stderr}`);
    };

    await withMount(t, bucket.name, 'git-1', async (m) => {
      await sh(`mkdir ${q(m.p('repo'))}`);
      const head = (await sh(makeAndCommit, m.p('repo'))).trim();
      await sleep(1500); // past the kernel's attribute cache: git status sees the daemon's own attributes
      await checkRepo(m.p('repo'), 'on the mount that committed');
      assert.equal(head, wantHead, 'the commit made in the mount has the hash of the same commit made on a local disk');
    });
    await withMount(t, bucket.name, 'git-2', (m) => checkRepo(m.p('repo'), 'after a remount'));
  });

  test("an editor's save (temp file, fsync, mv -f over the file) replaces content, keeps the mode and leaves no temp file", { timeout: 120_000 }, async (t) => {
    // What vim or an atomic-save library does: write a temp file beside the file, give it the
    // file's mode, fsync it, close it, rename it over the file.
    const save = `
import os, sys
path, src = sys.argv[1], sys.argv[2]
tmp = os.path.join(os.path.dirname(path), '.' + os.path.basename(path) + '.tmp')
mode = os.stat(path).st_mode & 0o7777
with open(src, 'rb') as f:
    data = f.read()
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
view = memoryview(data)
while view:
    view = view[os.write(fd, view):]
os.fchmod(fd, mode)
os.fsync(fd)
os.close(fd)
print(tmp)
`;
    const versions = [1, 2, 3].map((v) => `version ${v}\n${`line of version ${v}\n`.repeat(2000 * v)}`);
    const sources = versions.map((_, i) => path.join(local, `edit-v${i + 1}.txt`));
    for (const [i, s] of sources.entries()) await fsp.writeFile(s, versions[i]!);
    const file = (m: { p(...parts: string[]): string }): string => m.p('edit', 'doc.txt');

    await withMount(t, bucket.name, 'edit-1', async (m) => {
      await sh(`mkdir ${q(m.p('edit'))} && printf 'version 0\\n' > ${q(file(m))} && chmod 0640 ${q(file(m))}`);
      for (const [i, s] of sources.entries()) {
        const tmp = (await sh(`python3 -c ${q(save)} ${q(file(m))} ${q(s)}`)).trim();
        await sh(`mv -f ${q(tmp)} ${q(file(m))}`);
        assert.equal(await sh(`md5sum < ${q(file(m))} | cut -d' ' -f1`), `${md5hex(versions[i]!)}\n`, `content after save ${i + 1}, through the same mount`);
        assert.equal(await sh(`ls -A ${q(m.p('edit'))}`), 'doc.txt\n', `after save ${i + 1}, only the file is left in the directory`);
      }
    });
    const want = versions[versions.length - 1]!;
    await withMount(t, bucket.name, 'edit-2', async (m) => {
      assert.equal(await sh(`md5sum < ${q(file(m))} | cut -d' ' -f1`), `${md5hex(want)}\n`, 'content after a remount');
      assert.equal(await sh(`stat -c '%a %s' ${q(file(m))}`), `640 ${Buffer.byteLength(want)}\n`, 'mode (kept through the saves) and size after a remount');
      assert.equal(await sh(`ls -A ${q(m.p('edit'))}`), 'doc.txt\n', 'only the file is in the directory after a remount');
    });
    assert.equal(md5hex(await bucket.get('edit/doc.txt')), md5hex(want), 'md5 of the object edit/doc.txt fetched with the SDK');
    assert.deepEqual((await bucket.keys('edit/')).sort(), ['edit/', 'edit/doc.txt'], 'the objects under edit/ (no temp file left behind)');
  });

  test('cp -a of a tree keeps modes, owners, mtimes and symlinks (stat after a remount)', { timeout: 120_000 }, async (t) => {
    const src = path.join(local, 'cpa-src');
    await fsp.mkdir(src);
    await sh(`${ENV} cd ${q(src)}
      mkdir -p top/d1/d2 top/locked top/empty
      printf 'plain\\n' > top/plain.txt
      printf '#!/bin/sh\\n' > top/d1/run
      printf 'private\\n' > top/locked/private
      head -c 200000 /dev/urandom > top/d1/d2/data.bin
      : > top/d1/d2/zero
      chmod 0644 top/plain.txt top/d1/d2/data.bin top/d1/d2/zero
      chmod 0755 top/d1/run
      chmod 0600 top/locked/private
      chmod 0700 top/locked
      chmod 0711 top/d1/d2
      chown 1234:5678 top/d1/d2/data.bin top/locked/private
      ln -s plain.txt top/link
      ln -s d1/d2 top/dirlink
      ${setMtimes('top')}`);
    const want = await statListing(path.join(src, 'top'));
    assert.equal(want.length, 12, `the source tree has 12 entries:\n${want.join('\n')}`);

    await withMount(t, bucket.name, 'cpa-1', (m) => sh(`cp -a ${q(path.join(src, 'top'))} ${q(m.p('cpa'))}`));
    await withMount(t, bucket.name, 'cpa-2', async (m) => {
      assertSameLines(await statListing(m.p('cpa')), want, "stat -c '%a %u %g %Y %F %N' of the copy after a remount, against the source");
      await sh(`diff -r --no-dereference ${q(path.join(src, 'top'))} ${q(m.p('cpa'))}`);
    });
  });
});
