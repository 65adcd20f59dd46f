import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Freshness } from '../../src/fs/freshness.js';
import { buildFuseOptions, hasFuseOption } from '../../src/mount/fuse-options.js';

function build(userOptions: string[], fusedbg = false): string[] {
  return buildFuseOptions({ bucket: 'mybucket', userOptions, fusedbg });
}

function assertNoDuplicates(opts: string[]): void {
  assert.equal(new Set(opts).size, opts.length, `duplicates in ${opts.join(',')}`);
}

describe('buildFuseOptions', () => {
  test('always: fsname, subtype, max_write (1 MiB requests)', () => {
    const opts = build([]);
    assert.ok(opts.includes('fsname=qsfs:mybucket'));
    assert.ok(opts.includes('subtype=qsfs'));
    assert.ok(opts.includes('max_write=1048576'));
    assert.ok(!opts.includes('debug'));
    assertNoDuplicates(opts);
  });

  test('libfuse 2 options that libfuse 3 rejects are dropped (old fstab lines keep mounting)', () => {
    const opts = build(['ro', 'allow_other', 'big_writes', 'nonempty', 'hard_remove', 'large_read']);
    for (const w of ['big_writes', 'nonempty', 'hard_remove', 'large_read']) assert.ok(!opts.includes(w), `${w} in ${opts.join(',')}`);
    assert.ok(!build(['writeback_cache']).includes('writeback_cache'), 'the kernel writeback cache is refused (it would trust its own sizes)');
    assert.ok(opts.includes('ro') && opts.includes('allow_other'));
    assertNoDuplicates(opts);
  });

  test('mount(8)/fstab words are dropped', () => {
    const dropped = ['_netdev', 'noauto', 'auto', 'user', 'users', 'nouser', 'nofail', 'defaults', 'owner', 'group', 'x-systemd.automount', 'comment=qsfs', 'user=alice', ''];
    const opts = build(dropped);
    for (const w of dropped) assert.ok(!opts.includes(w), `${JSON.stringify(w)} kept in ${opts.join(',')}`);
    assert.deepEqual(opts, build([]));
  });

  test('real FUSE options are kept, in order, after the built-in ones', () => {
    const user = ['uid=1000', 'gid=1000', 'umask=022', 'ro'];
    const opts = build(['_netdev', ...user, 'nofail']);
    assert.deepEqual(opts.slice(-user.length), user);
    assert.deepEqual(opts.slice(0, opts.length - user.length), build([]));
  });

  test('the kernel caches what freshness allows, unless -o sets it', () => {
    const kernelCache = new Freshness({}).kernelOptions();
    assert.deepEqual(kernelCache, ['attr_timeout=1', 'entry_timeout=1', 'negative_timeout=0']);
    const opts = buildFuseOptions({ bucket: 'b', userOptions: ['attr_timeout=5'], fusedbg: false, kernelCache });
    assert.ok(opts.includes('attr_timeout=5') && !opts.includes('attr_timeout=1'), 'the user\'s attr_timeout wins');
    assert.ok(opts.includes('entry_timeout=1') && opts.includes('negative_timeout=0'));
    // -e 0 (nothing cached here): nothing in the kernel either; -e 5: names for 1 s at most.
    assert.ok(new Freshness({ statexpire: 0 }).kernelOptions().includes('entry_timeout=0'));
    assert.ok(new Freshness({ statexpire: 5 }).kernelOptions().includes('entry_timeout=1'));
    assert.ok(new Freshness({ metadataTtl: 0.25 }).kernelOptions().includes('entry_timeout=0.25'));
    assertNoDuplicates(opts);
  });

  test('allow_other (or allow_root) brings default_permissions: the kernel checks the mode bits', () => {
    assert.deepEqual(build(['allow_other']).slice(-2), ['allow_other', 'default_permissions']);
    assert.ok(build(['allow_root']).includes('default_permissions'));
    assert.equal(build(['allow_other', 'default_permissions']).filter((o) => o === 'default_permissions').length, 1);
    assert.ok(!build([]).includes('default_permissions'));
  });

  test('fusedbg adds debug, once', () => {
    assert.ok(build([], true).includes('debug'));
    const opts = build(['debug'], true);
    assert.equal(opts.filter((o) => o === 'debug').length, 1);
  });

  test('a user debug without fusedbg is kept', () => {
    assert.ok(build(['debug'], false).includes('debug'));
  });

  test('no duplicates when the user repeats options', () => {
    const opts = build(['allow_other', 'allow_other', 'ro', 'uid=5', 'ro', 'uid=5', 'subtype=qsfs', 'hard_remove']);
    assertNoDuplicates(opts);
    assert.equal(opts.filter((o) => o === 'allow_other').length, 1);
    assert.equal(opts.filter((o) => o === 'uid=5').length, 1);
  });

  test('the bucket name is in fsname', () => {
    assert.ok(buildFuseOptions({ bucket: 'other-bucket', userOptions: [], fusedbg: false }).includes('fsname=qsfs:other-bucket'));
  });
});

describe('hasFuseOption', () => {
  const opts = ['allow_other', 'uid=1000', 'ro', 'max_write=1048576'];

  test('flags and name=value options', () => {
    assert.equal(hasFuseOption(opts, 'allow_other'), true);
    assert.equal(hasFuseOption(opts, 'uid'), true);
    assert.equal(hasFuseOption(opts, 'ro'), true);
    assert.equal(hasFuseOption(opts, 'max_write'), true);
  });

  test('prefixes of other names do not count', () => {
    assert.equal(hasFuseOption(opts, 'allow'), false);
    assert.equal(hasFuseOption(opts, 'u'), false);
    assert.equal(hasFuseOption(opts, 'gid'), false);
    assert.equal(hasFuseOption(opts, 'allow_root'), false);
    assert.equal(hasFuseOption([], 'ro'), false);
  });
});
