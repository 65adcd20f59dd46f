// The caller's identity through a real mount with allow_other: what another user (nobody)
// creates belongs to them, in the listing and in the object's metadata; chown and chmod follow
// Linux's rules for a user who is not root; set-user-ID and set-group-ID bits go on write and on
// chown; a set-group-ID directory hands down its group; a sticky directory protects its entries.
// Every operation as nobody runs in a child process (setpriv), the owners are read with stat(1)
// and, for what must persist, from the bucket with the SDK.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import type { TestMount } from '../helpers/mount.js';
import { sh } from '../helpers/shell.js';
import { q, requireCommands, shAsNobody, withMount } from '../helpers/posix.js';

const NOBODY = 65534;
const NOGROUP = 65534;
/** Debian's "users" group: nobody is not a member. */
const USERS = 100;

/** uid, gid and mode of an object as stored (s3fs metadata). */
async function storedOwner(bucket: TestBucket, key: string): Promise<string> {
  const h = await bucket.head(key);
  if (!h) return 'missing';
  const m = h.Metadata ?? {};
  return `${m['uid']}:${m['gid']} ${Number(m['mode']).toString(8)}`;
}

/** nobody must be able to walk to the mountpoint (mkdtemp makes 0700 directories). */
async function openPathFor(m: TestMount): Promise<void> {
  await fsp.chmod(m.work.dir, 0o755);
  for (let dir = path.dirname(m.work.dir); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const st = await fsp.stat(dir);
    if ((st.mode & 0o001) === 0) await fsp.chmod(dir, (st.mode & 0o7777) | 0o001);
  }
}

/** A script as nobody that must succeed: its stdout. */
async function asNobody(script: string): Promise<string> {
  const r = await shAsNobody(script);
  assert.equal(r.code, 0, `as nobody: ${script}\n${r.stderr}`);
  return r.stdout;
}

/** A script as nobody that must fail with `message` (strerror text). */
async function refusedToNobody(script: string, message: RegExp): Promise<void> {
  const r = await shAsNobody(script);
  assert.notEqual(r.code, 0, `as nobody, must fail: ${script}`);
  assert.match(r.stderr, message, `as nobody: ${script}`);
}

describe('the caller owns what it creates (allow_other, a second user)', () => {
  let bucket: TestBucket;

  before(async () => {
    await requireCommands('setpriv', 'stat', 'chown', 'chmod');
    bucket = await TestBucket.create('identity');
  });
  after(async () => {
    await bucket?.destroy();
  });

  test('nobody creates a directory, a file in it and a symlink: all belong to nobody, in stat and in the bucket', { timeout: 60_000 }, async (t) => {
    await withMount(t, bucket.name, 'owners', async (m) => {
      await openPathFor(m);
      await sh(`mkdir -m 0777 ${q(m.p('shared'))}`);
      // The report: mkdir worked, then touch in the new directory failed with EACCES (root's).
      await asNobody(`umask 022; mkdir ${q(m.p('shared', 'd'))} && touch ${q(m.p('shared', 'd', 'f'))} && ln -s f ${q(m.p('shared', 'd', 'l'))} && echo data > ${q(m.p('shared', 'd', 'g'))}`);
      assert.equal(await sh(`stat -c '%n %u:%g %a' ${q(m.p('shared', 'd'))} ${q(m.p('shared', 'd', 'f'))} ${q(m.p('shared', 'd', 'g'))}`),
        [`${m.p('shared', 'd')} ${NOBODY}:${NOGROUP} 755`, `${m.p('shared', 'd', 'f')} ${NOBODY}:${NOGROUP} 644`, `${m.p('shared', 'd', 'g')} ${NOBODY}:${NOGROUP} 644`, ''].join('\n'));
      assert.equal(await sh(`stat -c '%u:%g' ${q(m.p('shared', 'd', 'l'))}`), `${NOBODY}:${NOGROUP}\n`, 'the symlink');
      // The owner's rights: chmod, a group they belong to, rename and remove in their directory.
      await asNobody(`chmod 0600 ${q(m.p('shared', 'd', 'f'))} && chgrp ${NOGROUP} ${q(m.p('shared', 'd', 'f'))} && mv ${q(m.p('shared', 'd', 'g'))} ${q(m.p('shared', 'd', 'h'))}`);
      assert.equal(await sh(`stat -c '%u:%g %a' ${q(m.p('shared', 'd', 'f'))} ${q(m.p('shared', 'd', 'h'))}`), `${NOBODY}:${NOGROUP} 600\n${NOBODY}:${NOGROUP} 644\n`);
      assert.equal(await asNobody(`cat ${q(m.p('shared', 'd', 'h'))}`), 'data\n', 'nobody reads back its own file');
    }, ['-o', 'allow_other']);
    assert.equal(await storedOwner(bucket, 'shared/d/'), `${NOBODY}:${NOGROUP} 40755`, 'the directory marker');
    assert.equal(await storedOwner(bucket, 'shared/d/f'), `${NOBODY}:${NOGROUP} 100600`);
    assert.equal(await storedOwner(bucket, 'shared/d/h'), `${NOBODY}:${NOGROUP} 100644`, 'the renamed file keeps its owner');
    assert.equal(await storedOwner(bucket, 'shared/d/l'), `${NOBODY}:${NOGROUP} 120777`);
    // A fresh mount shows the stored owners.
    await withMount(t, bucket.name, 'owners-again', async (m) => {
      assert.equal(await sh(`stat -c '%u:%g' ${q(m.p('shared', 'd'))} ${q(m.p('shared', 'd', 'f'))} ${q(m.p('shared', 'd', 'l'))}`), `${NOBODY}:${NOGROUP}\n`.repeat(3));
    }, ['-o', 'allow_other']);
  });

  test('chown and chmod by a user who is not root: no giving away, only own groups; set-ID bits cleared on write and chown', { timeout: 60_000 }, async (t) => {
    await withMount(t, bucket.name, 'rules', async (m) => {
      await openPathFor(m);
      await sh(`mkdir -m 0777 ${q(m.p('rules'))} && echo root > ${q(m.p('rules', 'rootfile'))}`);
      const f = m.p('rules', 'f');
      await asNobody(`echo one > ${q(f)}`);
      await refusedToNobody(`chown root ${q(f)}`, /Operation not permitted/);
      await refusedToNobody(`chgrp ${USERS} ${q(f)}`, /Operation not permitted/);
      await refusedToNobody(`chmod 0666 ${q(m.p('rules', 'rootfile'))}`, /Operation not permitted/);
      assert.equal(await sh(`stat -c '%u:%g %a' ${q(f)} ${q(m.p('rules', 'rootfile'))}`), `${NOBODY}:${NOGROUP} 644\n0:0 644\n`, 'nothing changed');
      // Set-ID bits: the owner may set them (nogroup is nobody's group); a write clears them.
      await asNobody(`chmod 6755 ${q(f)}`);
      assert.equal(await sh(`stat -c '%a' ${q(f)}`), '6755\n');
      await asNobody(`echo two >> ${q(f)}`);
      assert.equal(await sh(`stat -c '%a' ${q(f)}`), '755\n', 'a write by a user who is not root clears set-user-ID and set-group-ID');
      await asNobody(`chmod 6755 ${q(f)} && chgrp ${NOGROUP} ${q(f)}`);
      assert.equal(await sh(`stat -c '%a' ${q(f)}`), '755\n', 'chown by a user who is not root clears them too');
      // Root gives the file away.
      await sh(`chown ${USERS}:${USERS} ${q(f)}`);
      assert.equal(await sh(`stat -c '%u:%g' ${q(f)}`), `${USERS}:${USERS}\n`);
      await refusedToNobody(`echo three >> ${q(f)}`, /Permission denied/);
    }, ['-o', 'allow_other']);
    assert.equal(await storedOwner(bucket, 'rules/f'), `${USERS}:${USERS} 100755`);
    assert.equal((await bucket.get('rules/f')).toString(), 'one\ntwo\n');
  });

  test('a set-group-ID directory gives its group to new entries; a sticky directory keeps others from removing or renaming them', { timeout: 60_000 }, async (t) => {
    await withMount(t, bucket.name, 'dirs', async (m) => {
      await openPathFor(m);
      const sgid = m.p('sgid');
      await sh(`mkdir ${q(sgid)} && chown 0:${USERS} ${q(sgid)} && chmod 2777 ${q(sgid)}`);
      await asNobody(`umask 022; echo x > ${q(path.join(sgid, 'f'))} && mkdir ${q(path.join(sgid, 'sub'))}`);
      assert.equal(await sh(`stat -c '%u:%g %a' ${q(path.join(sgid, 'f'))} ${q(path.join(sgid, 'sub'))}`), `${NOBODY}:${USERS} 644\n${NOBODY}:${USERS} 2755\n`,
        'group from the parent; a new directory is set-group-ID too');

      const sticky = m.p('sticky');
      await sh(`mkdir ${q(sticky)} && chmod 1777 ${q(sticky)} && echo r > ${q(path.join(sticky, 'roots'))} && chmod 0666 ${q(path.join(sticky, 'roots'))}`);
      await refusedToNobody(`rm -f ${q(path.join(sticky, 'roots'))}`, /Operation not permitted/);
      await refusedToNobody(`mv ${q(path.join(sticky, 'roots'))} ${q(path.join(sticky, 'stolen'))}`, /Operation not permitted/);
      await asNobody(`echo w >> ${q(path.join(sticky, 'roots'))}`); // writable: only removal is guarded
      await asNobody(`echo n > ${q(path.join(sticky, 'mine'))} && mv ${q(path.join(sticky, 'mine'))} ${q(path.join(sticky, 'mine2'))} && rm ${q(path.join(sticky, 'mine2'))}`);
      assert.equal(await sh(`ls ${q(sticky)}`), 'roots\n');
    }, ['-o', 'allow_other']);
    assert.equal(await storedOwner(bucket, 'sgid/f'), `${NOBODY}:${USERS} 100644`);
    assert.equal(await storedOwner(bucket, 'sgid/sub/'), `${NOBODY}:${USERS} 42755`);
    assert.equal((await bucket.get('sticky/roots')).toString(), 'r\nw\n');
  });
});
