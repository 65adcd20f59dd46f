// Bad input from the bucket, written there by another client (the SDK) and met through a real
// mount: keys that cannot be POSIX names, attribute metadata that is garbage, a key that is both
// a file and a prefix, and a directory of 100,000 keys. Each is handled (valid neighbours stay
// usable), logged once per key however often it is met, and a huge listing keeps the daemon's
// memory bounded. Every file operation on the mount runs in a child process (bash, python3).
//
// QSFS_TEST_HUGE_DIR_KEYS sets the size of the huge directory (default 100,000): creating (and,
// on a server that outlives the run, deleting) that many objects is most of this file's time.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { TestBucket, testClient } from '../helpers/s3.js';
import { serverIsThrowaway } from '../helpers/rgw-env.js';
import { storeClient } from '../helpers/store-client.js';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { sleep, type TestMount } from '../helpers/mount.js';
import { sh, shResult } from '../helpers/shell.js';
import { assertSameLines, lines, pyErrno, q, requireCommands, withMount } from '../helpers/posix.js';

/** Listings must not depend on the machine's locale. */
const ENV = 'export TZ=UTC LC_ALL=C;';
/** Past the kernel's attribute and entry caches (1 s): the next stat asks the daemon again. */
const KERNEL_CACHE_MS = 1500;

const INVALID_NAME = 'skipping a key that cannot be a file name';
const GARBAGE_METADATA = 'ignoring garbage metadata of an object; using defaults';
const SHADOWED_FILE = 'a key is both a file and a directory: showing the directory, the file is hidden';

interface LogRecord {
  level?: number;
  msg?: string;
  key?: string;
  fields?: Record<string, string>;
  s3?: string;
}

function logRecords(log: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of log.split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as LogRecord);
    } catch {
      /* not a pino line */
    }
  }
  return out;
}

/** How many warnings with this message name each key. */
function warningsByKey(log: string, msg: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of logRecords(log)) {
    if (r.msg === msg && r.level === 40) counts.set(String(r.key), (counts.get(String(r.key)) ?? 0) + 1);
  }
  return counts;
}

/** Fails unless each of `keys` was warned about exactly once, and nothing else was. */
function assertWarnedOnce(log: string, msg: string, keys: string[]): void {
  const counts = warningsByKey(log, msg);
  const seen = [...counts.entries()].map(([key, n]) => `${key} x${n}`).sort();
  assertSameLines(seen, keys.map((key) => `${key} x1`).sort(), `"${msg}" warnings by key`);
}

/** Requests of one S3 operation the daemon logged (-U), of keys starting with `keyPrefix`. */
function requestCount(log: string, operation: string, keyPrefix = ''): number {
  return logRecords(log).filter((r) => r.msg === 's3 request' && r.s3 === operation && (r.key ?? '').startsWith(keyPrefix)).length;
}

/** Runs `fn` on at most `n` items at once. */
async function inParallel<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

/** Resident memory of a process from /proc: now and at its peak, in KiB. */
async function memoryOf(pid: number): Promise<{ rssKiB: number; peakKiB: number }> {
  const status = await fsp.readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), peakKiB: kib('VmHWM') };
}

function hugeDirKeys(): number {
  const raw = process.env['QSFS_TEST_HUGE_DIR_KEYS'];
  if (raw === undefined || raw === '') return 100_000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 2000) throw new Error(`QSFS_TEST_HUGE_DIR_KEYS=${raw}: an integer of at least 2000 (more than a page of 1000)`);
  return n;
}

describe('bad input from the bucket, through a real mount', () => {
  let bucket: TestBucket;
  /** The lean request path with 64 sockets: creating 100,000 objects is bound by CPU, and the
   *  SDK costs about three times as much per request. */
  let writer: S3ClientBundle;
  /** DeleteObjects is not a request qsfs sends: the SDK's client does it. */
  const sdk = testClient();

  before(async () => {
    await requireCommands('python3', 'stat', 'ls', 'wc');
    bucket = await TestBucket.create('bucket-input');
    writer = storeClient({ numtransfer: 16 });
  });
  after(async () => {
    writer?.destroy();
    sdk.destroy();
    await bucket?.destroy();
  });

  /** Empty objects, 64 PUTs at once. */
  function putEmpty(bucketName: string, keys: readonly string[]): Promise<void> {
    const store = new S3ObjectStore(writer, bucketName);
    return inParallel(keys, 64, async (key) => { await store.put(key, Buffer.alloc(0)); });
  }

  /** DeleteObjects in batches of 1000, a few at once. */
  async function deleteKeys(bucketName: string, keys: readonly string[]): Promise<void> {
    const batches: string[][] = [];
    for (let i = 0; i < keys.length; i += 1000) batches.push(keys.slice(i, i + 1000));
    await inParallel(batches, 4, async (batch) => {
      const r = await sdk.send(new DeleteObjectsCommand({ Bucket: bucketName, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      if (r.Errors?.length) throw new Error(`DeleteObjects failed for ${r.Errors.length} keys, first ${r.Errors[0]!.Key}: ${r.Errors[0]!.Code}`);
    });
  }

  test('keys that cannot be names are left out of listings and logged once each; their valid neighbours work', { timeout: 120_000 }, async (t) => {
    const long255 = 'v'.repeat(255); // the longest name there is: shown
    const valid: Record<string, string> = {
      'names/ok-1': 'one\n', 'names/ok-2': 'two\n', 'names/sub/ok-3': 'three\n', [`names/${long255}`]: 'long\n',
    };
    const invalid = [
      'names//empty-segment', // the common prefix names// : an empty name
      'names/./dot', // names/./ : '.'
      'names/../dotdot', // names/../ : '..'
      `names/${'n'.repeat(256)}`, // a file name of 256 bytes
      `names/${'d'.repeat(256)}/inside`, // a directory name of 256 bytes
      'names/sub/./deeper', // '.' one level down
    ];
    for (const [key, body] of Object.entries(valid)) await bucket.put(key, body);
    for (const key of invalid) await bucket.put(key, `content of ${key}\n`);
    const stored = await bucket.keys('names/');
    for (const key of invalid) assert.ok(stored.includes(key), `the server kept ${key} as it is`);
    // What the listings meet: objects by key, the others as common prefixes.
    const reported = [
      'names//', 'names/./', 'names/../', `names/${'n'.repeat(256)}`, `names/${'d'.repeat(256)}/`, 'names/sub/./',
    ];

    // -e 0: no listing nor attribute is kept, so the second `ls` lists the bucket again.
    await withMount(t, bucket.name, 'bad-names', async (m) => {
      const expectedTop = ['.', '..', 'ok-1', 'ok-2', 'sub', long255];
      assertSameLines(lines(await sh(`${ENV} ls -1a ${q(m.p('names'))}`)), expectedTop, 'ls -a names');
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('names', 'sub'))}`)), ['ok-3'], 'ls names/sub');
      const listsBefore = requestCount(await m.log(), 'ListObjectsV2Command');
      await sleep(KERNEL_CACHE_MS);
      assertSameLines(lines(await sh(`${ENV} ls -1a ${q(m.p('names'))}`)), expectedTop, 'ls -a names, again');
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('names', 'sub'))}`)), ['ok-3'], 'ls names/sub, again');
      assert.ok(requestCount(await m.log(), 'ListObjectsV2Command') >= listsBefore + 2, 'the second listings were asked of the server');

      for (const [key, body] of Object.entries(valid)) {
        assert.equal(await sh(`cat ${q(m.p(...key.split('/')))}`), body, `cat ${key}`);
      }
      assert.equal(await pyErrno('os.stat(sys.argv[1])', m.p('names', 'n'.repeat(256))), 'ENAMETOOLONG', 'a 256-byte name');
      assert.equal(await pyErrno('os.stat(sys.argv[1])', m.p('names', 'not-there')), 'ENOENT');

      assertWarnedOnce(await m.log(), INVALID_NAME, reported);
    }, ['-e=0', '-U']);
    // Nothing was changed in the bucket.
    assert.deepEqual((await bucket.keys('names/')).sort(), stored.sort());
  });

  test('garbage attribute metadata: defaults and Last-Modified are shown, reads work, one warning per key', { timeout: 120_000 }, async (t) => {
    const objects: Array<{ key: string; body: string; meta: Record<string, string>; garbage?: Record<string, string> }> = [
      { key: 'meta/bad-mode', body: 'mode\n', meta: { mode: 'abc' }, garbage: { mode: 'abc' } },
      { key: 'meta/bad-mtime', body: 'mtime\n', meta: { mtime: '-5' }, garbage: { mtime: '-5' } },
      { key: 'meta/bad-uid', body: 'uid\n', meta: { uid: '-1', gid: '7' }, garbage: { uid: '-1' } },
      {
        key: 'meta/bad-all', body: 'all\n', meta: { mode: '0x1ff', uid: 'root', gid: '1.5', mtime: 'yesterday' },
        garbage: { mode: '0x1ff', uid: 'root', gid: '1.5', mtime: 'yesterday' },
      },
      // the control: good metadata is used and not reported
      { key: 'meta/good', body: 'good\n', meta: { mode: String(0o100600), uid: '1234', gid: '5678', mtime: '1500000000' } },
    ];
    for (const o of objects) await bucket.put(o.key, o.body, { Metadata: o.meta });
    await bucket.put('meta/dir/', '', { ContentType: 'application/x-directory', Metadata: { mode: 'rwx', mtime: '-1' } });
    await bucket.put('meta/dir/inside', 'inside\n');
    const lastModified = async (key: string): Promise<number> => Math.floor((await bucket.head(key))!.LastModified!.getTime() / 1000);
    const uid = process.getuid!();
    const gid = process.getgid!();
    const expected = [
      `bad-all 644 ${uid} ${gid} ${await lastModified('meta/bad-all')} regular file`,
      `bad-mode 644 ${uid} ${gid} ${await lastModified('meta/bad-mode')} regular file`,
      `bad-mtime 644 ${uid} ${gid} ${await lastModified('meta/bad-mtime')} regular file`,
      `bad-uid 644 ${uid} 7 ${await lastModified('meta/bad-uid')} regular file`,
      `dir 755 ${uid} ${gid} ${await lastModified('meta/dir/')} directory`,
      'good 600 1234 5678 1500000000 regular file',
    ];

    await withMount(t, bucket.name, 'bad-metadata', async (m) => {
      const statAll = async (): Promise<string[]> =>
        lines(await sh(`${ENV} cd ${q(m.p('meta'))} && stat -c '%n %a %u %g %Y %F' bad-all bad-mode bad-mtime bad-uid dir good`));
      assertSameLines(await statAll(), expected, 'stat of the objects with garbage metadata');
      for (const o of objects) assert.equal(await sh(`cat ${q(m.p(...o.key.split('/')))}`), o.body, `cat ${o.key}`);
      assert.equal(await sh(`cat ${q(m.p('meta', 'dir', 'inside'))}`), 'inside\n');
      // -e 0 keeps no attributes: each stat is a new HEAD, which meets the garbage again.
      const headsBefore = requestCount(await m.log(), 'HeadObjectCommand');
      await sleep(KERNEL_CACHE_MS);
      assertSameLines(await statAll(), expected, 'stat again');
      assert.ok(requestCount(await m.log(), 'HeadObjectCommand') >= headsBefore + 6, 'the second stats were asked of the server');

      const log = await m.log();
      assertWarnedOnce(log, GARBAGE_METADATA, [...objects.filter((o) => o.garbage).map((o) => o.key), 'meta/dir/']);
      for (const r of logRecords(log).filter((r) => r.msg === GARBAGE_METADATA)) {
        const want = r.key === 'meta/dir/' ? { mode: 'rwx', mtime: '-1' } : objects.find((o) => o.key === r.key)?.garbage;
        assert.deepEqual(r.fields, want, `the fields named for ${r.key}`);
      }
    }, ['-e=0', '-U']);
    // The mount only read: the garbage is still there for its owner to see.
    assert.equal((await bucket.head('meta/bad-mode'))?.Metadata?.['mode'], 'abc');
  });

  test('a key both a file and a prefix (a and a/b): the directory wins, the file is untouched, one warning', { timeout: 120_000 }, async (t) => {
    await bucket.put('both/a', 'the file a\n');
    await bucket.put('both/a/b', 'b inside a\n');
    await bucket.put('both/c', 'c\n');
    // The same beside more than a page of names: the parent is too big to list at a lookup,
    // and the name is settled by a probe of the keys that start with it.
    const fillers = Array.from({ length: 1001 }, (_, i) => `wide/f${String(i).padStart(4, '0')}`);
    await putEmpty(bucket.name, fillers);
    await bucket.put('wide/a', 'the file wide/a\n');
    await bucket.put('wide/a/b', 'b inside wide/a\n');

    await withMount(t, bucket.name, 'file-and-prefix', async (m) => {
      // A lookup before any listing, then the listings.
      assert.equal((await sh(`stat -c %F ${q(m.p('both', 'a'))}`)).trim(), 'directory', 'stat both/a');
      assert.equal((await sh(`stat -c %F ${q(m.p('wide', 'a'))}`)).trim(), 'directory', 'stat wide/a, too big a parent');
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('both'))}`)), ['a', 'c'], 'ls both');
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('both', 'a'))}`)), ['b'], 'ls both/a');
      assert.match(await sh(`${ENV} ls -l ${q(m.p('both'))} | grep ' a$'`), /^d/, 'ls -l shows a as a directory');
      assert.equal(await sh(`cat ${q(m.p('both', 'a', 'b'))}`), 'b inside a\n');
      assert.equal(await sh(`cat ${q(m.p('wide', 'a', 'b'))}`), 'b inside wide/a\n');
      assert.equal((await sh(`${ENV} ls -1 ${q(m.p('wide'))} | grep -c '^a$'`)).trim(), '1', 'a once in ls wide');
      assert.equal(Number((await sh(`${ENV} ls -1 ${q(m.p('wide'))} | wc -l`)).trim()), 1002, 'ls wide');
      assert.equal(await pyErrno("open(sys.argv[1]).read()", m.p('both', 'a')), 'EISDIR', 'the name opens as a directory');
      await sleep(KERNEL_CACHE_MS);
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('both'))}`)), ['a', 'c'], 'ls both, again');
      assert.equal((await sh(`stat -c %F ${q(m.p('both', 'a'))}`)).trim(), 'directory', 'stat both/a, again');
      assertWarnedOnce(await m.log(), SHADOWED_FILE, ['both/a', 'wide/a']);
    }, ['-e=0']);
    assert.equal((await bucket.get('both/a')).toString(), 'the file a\n', 'the hidden file is untouched');

    // Once the directory is gone (its last key removed through the mount), the file shows again.
    await withMount(t, bucket.name, 'file-after-prefix', async (m) => {
      assertSameLines(lines(await sh(`${ENV} ls -1 ${q(m.p('both'))}`)), ['a', 'c'], 'ls both');
      await sh(`rm ${q(m.p('both', 'a', 'b'))} && rmdir ${q(m.p('both', 'a'))}`);
      assert.equal((await sh(`stat -c %F ${q(m.p('both', 'a'))}`)).trim(), 'regular file', 'stat both/a after rmdir');
      assert.equal(await sh(`cat ${q(m.p('both', 'a'))}`), 'the file a\n');
    });
    assert.equal(await bucket.head('both/a/b'), null);
    assert.equal((await bucket.get('both/a')).toString(), 'the file a\n');
    await deleteKeys(bucket.name, fillers);
  });

  test('a directory of 100,000 keys: ls lists every name, the daemon memory stays bounded, attribute prefetch is capped', { timeout: 600_000 }, async (t) => {
    const count = hugeDirKeys();
    const keys = Array.from({ length: count }, (_, i) => `huge/k${String(i).padStart(6, '0')}`);
    // A bucket of its own: on the test run's throwaway server it is left as it is, which saves
    // deleting 100,000 objects (a minute and a half here).
    const huge = await TestBucket.create('huge-dir');
    const t0 = Date.now();
    try {
      await putEmpty(huge.name, keys);
      const created = Date.now();
      t.diagnostic(`created ${count} objects in ${((created - t0) / 1000).toFixed(1)} s`);

      // -t 20: the stat cache holds 20,000 entries, so without a cap a listing would prefetch
      // the attributes of 10,000 names. -U logs every request, to count those HEADs.
      await withMount(t, huge.name, 'huge-dir', async (m: TestMount) => {
        const before = await memoryOf(m.pid);
        const listStart = Date.now();
        const r = await shResult(`${ENV} ls ${q(m.p('huge'))} | wc -l`);
        const listed = Date.now();
        assert.equal(r.code, 0, r.stderr);
        assert.equal(Number(r.stdout.trim()), count, 'ls | wc -l');
        // The prefetch HEADs run on after ls has its names: wait until they stop.
        let heads = -1;
        for (let i = 0; i < 120; i++) {
          await sleep(1000);
          const n = requestCount(await m.log(), 'HeadObjectCommand', 'huge/k');
          if (n === heads) break;
          heads = n;
        }
        const afterList = await memoryOf(m.pid);
        const mib = (kib: number): string => (kib / 1024).toFixed(0);
        t.diagnostic(`listed in ${((listed - listStart) / 1000).toFixed(1)} s; daemon RSS ${mib(before.rssKiB)} MiB before (peak ${mib(before.peakKiB)}), `
          + `${mib(afterList.rssKiB)} MiB after (peak ${mib(afterList.peakKiB)}); ${heads} attribute HEADs`);
        assert.ok(afterList.peakKiB - before.rssKiB < 200 * 1024, `the daemon's peak RSS grew by ${mib(afterList.peakKiB - before.rssKiB)} MiB listing ${count} keys`);
        assert.ok(heads <= 4096, `${heads} HEADs prefetched attributes after a plain ls (at most 4096)`);
        assert.ok(heads >= 1000, `${heads} HEADs: the names listed first still had their attributes prefetched`);

        // Listed again (too big to keep, so from the server again): nothing piles up.
        const again = await shResult(`${ENV} ls ${q(m.p('huge'))} | wc -l`);
        assert.equal(Number(again.stdout.trim()), count, 'ls | wc -l, again');
        const afterAgain = await memoryOf(m.pid);
        t.diagnostic(`after a second ls: daemon RSS ${mib(afterAgain.rssKiB)} MiB (peak ${mib(afterAgain.peakKiB)})`);
        assert.ok(afterAgain.peakKiB - before.rssKiB < 200 * 1024, `the daemon's peak RSS grew by ${mib(afterAgain.peakKiB - before.rssKiB)} MiB listing ${count} keys twice`);
        // Names from the end of the listing answer too.
        assert.equal((await sh(`stat -c '%s %F' ${q(m.p('huge', `k${String(count - 1).padStart(6, '0')}`))}`)).trim(), '0 regular empty file');
      }, ['-t=20', '-U']);
    } finally {
      const deleteStart = Date.now();
      if (serverIsThrowaway()) {
        huge.client.destroy();
        t.diagnostic(`left the ${count} objects in ${huge.name} on the throwaway server`);
      } else {
        await deleteKeys(huge.name, keys);
        await huge.destroy();
        t.diagnostic(`deleted them in ${((Date.now() - deleteStart) / 1000).toFixed(1)} s`);
      }
    }
  });
});
