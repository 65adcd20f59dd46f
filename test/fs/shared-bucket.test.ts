// The bucket shared with other clients, at the POSIX layer (no FUSE) against the real S3 server:
// what another client's change looks like within and after the freshness window, what each
// costs in requests, one state per open path, failed uploads that are deleted, and write
// conflicts. The other client is the SDK. The windows run on a clock of the test's own, so that
// "after the window" is a step of the clock, not a sleep; the e2e test shows the same through a
// real mount on the real clock (test/e2e/consistency.test.ts).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pLimit from 'p-limit';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { pino, type Logger } from 'pino';
import type { S3ClientBundle } from '../../src/store/s3-client.js';
import { S3ObjectStore } from '../../src/store/s3-store.js';
import { Filesystem } from '../../src/fs/filesystem.js';
import { Freshness } from '../../src/fs/freshness.js';
import { errnoOf, type Errno } from '../../src/fs/errors.js';
import { S_IFMT, S_IFREG } from '../../src/fs/attributes.js';
import { CountingProxy } from '../../scripts/lib/s3-proxy.js';
import { TestBucket } from '../helpers/s3.js';
import { storeClient } from '../helpers/store-client.js';
import { readAt, writeAt } from '../helpers/fs-io.js';
import { testEndpoint } from '../helpers/rgw-env.js';

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;
const MiB = 1 << 20;
/** A step of the test's clock past the default window (1 s). */
const PAST_WINDOW_MS = 1500;

/** assert.rejects predicate: an error the FUSE layer answers with this errno. */
function fsError(errno: Errno) {
  return (err: unknown): boolean => {
    assert.equal(errnoOf(err), errno, `expected ${errno}, got ${String(err)}`);
    return true;
  };
}

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'warn' }, sink), lines };
}

describe('a bucket shared with other clients (POSIX layer, default window)', () => {
  let bucket: TestBucket;
  const bundles: S3ClientBundle[] = [];
  const diskdirs: string[] = [];
  let proxy: CountingProxy;

  interface TestFs {
    fs: Filesystem;
    b: S3ClientBundle;
    /** Moves the test's clock on. */
    advance(ms: number): void;
    /** Requests since the last call, by operation. */
    requests(): Record<string, number>;
  }

  async function newFs(o: { port?: number; log?: Logger } = {}): Promise<TestFs> {
    const b = storeClient({ port: o.port });
    bundles.push(b);
    const diskdir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qsfs-shared-test-'));
    diskdirs.push(diskdir);
    let clock = Date.now();
    const fs = new Filesystem(new S3ObjectStore(b, bucket.name), {
      prefix: '', diskdir, filemode: 0o644, dirmode: 0o755, umaskmp: 0, allowOther: false,
      fscap: 1024, maxlist: 0, maxstat: 2, freshness: new Freshness({}, () => clock), readOnly: false,
      partSize: 5 * MiB, numtransfer: 4, maxcacheBytes: 64 * MiB, prefetchBytes: 8 * MiB, contentMD5: false, nodatacache: false,
    }, o.log ?? pino({ level: 'silent' }));
    let last = b.stats.snapshot().byOperation;
    return {
      fs, b,
      advance: (ms) => { clock += ms; },
      requests: () => {
        const now = b.stats.snapshot().byOperation;
        const diff: Record<string, number> = {};
        for (const [op, n] of Object.entries(now)) if (n - (last[op] ?? 0) > 0) diff[op] = n - (last[op] ?? 0);
        last = now;
        return diff;
      },
    };
  }

  /** What `ls -l` asks: the names, then the attributes of each. */
  async function lsl(fs: Filesystem, dir: string): Promise<Map<string, { size: number; mode: number }>> {
    const out = new Map<string, { size: number; mode: number }>();
    for (const name of (await fs.readdir(dir)).slice(2)) {
      const st = await fs.getattr(`${dir}/${name}`);
      out.set(name, { size: st.size, mode: st.mode });
    }
    return out;
  }

  before(async () => {
    bucket = await TestBucket.create('fs-shared');
    proxy = new CountingProxy('127.0.0.1', testEndpoint().port);
    await proxy.start();
  });

  after(async () => {
    for (const b of bundles) b.destroy();
    await proxy?.stop();
    for (const d of diskdirs) await fsp.rm(d, { recursive: true, force: true });
    await bucket?.destroy();
  });

  test('ls -l within the window sends nothing; after it, one LIST and a HEAD only for the names new or changed', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `f${String(i).padStart(2, '0')}`);
    await Promise.all(names.map((n) => bucket.put(`lsl/${n}`, `content of ${n}`)));
    // A HEAD in the same second as the object's write cannot vouch for a listing later (see
    // listedUnchanged in namespace.ts): this mount meets them a second later, as usual.
    await new Promise((r) => setTimeout(r, 1100));
    const t = await newFs();
    await t.fs.getattr('/lsl');
    t.requests();
    const first = await lsl(t.fs, '/lsl');
    assert.equal(first.size, 50);
    const cold = t.requests();
    assert.equal(cold['ListObjectsV2Command'], 1, `cold: ${JSON.stringify(cold)}`);
    assert.ok((cold['HeadObjectCommand'] ?? 0) <= 50, `cold: ${JSON.stringify(cold)}`);

    assert.deepEqual(await lsl(t.fs, '/lsl'), first);
    assert.deepEqual(t.requests(), {}, 'again within the window: no request at all');

    t.advance(PAST_WINDOW_MS);
    await t.fs.getattr('/lsl'); // the kernel looks the directory up first
    t.requests();
    assert.deepEqual(await lsl(t.fs, '/lsl'), first);
    assert.deepEqual(t.requests(), { ListObjectsV2Command: 1 }, 'after the window, nothing changed: one LIST confirms every entry');

    // Another client: new content for f03, a new mode for f04 (a copy onto itself, in a later
    // second than its upload: Last-Modified is what shows it), a new f50, f05 deleted.
    await new Promise((r) => setTimeout(r, 1100));
    await bucket.put('lsl/f03', 'new and longer content of f03');
    await bucket.client.send(new CopyObjectCommand({
      Bucket: bucket.name, Key: 'lsl/f04', CopySource: `${bucket.name}/lsl/f04`, MetadataDirective: 'REPLACE', Metadata: { mode: String(S_IFREG | 0o600) },
    }));
    await bucket.put('lsl/f50', 'a new file');
    await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: 'lsl/f05' }));
    assert.deepEqual(await lsl(t.fs, '/lsl'), first, 'within the window the old picture still holds');
    assert.deepEqual(t.requests(), {});

    t.advance(PAST_WINDOW_MS);
    await t.fs.getattr('/lsl');
    t.requests();
    const after = await lsl(t.fs, '/lsl');
    const cost = t.requests();
    assert.deepEqual(cost, { ListObjectsV2Command: 1, HeadObjectCommand: 3 }, 'one LIST, and HEADs of f03, f04 and f50 only');
    assert.equal(after.size, 50);
    assert.ok(!after.has('f05') && after.has('f50'));
    assert.equal(after.get('f03')?.size, 'new and longer content of f03'.length);
    assert.equal((after.get('f04')?.mode ?? 0) & 0o7777, 0o600);
    assert.equal((after.get('f06')?.mode ?? 0) & 0o7777, 0o644);
  });

  test('lookups after the window in a small directory: one LIST for all of them, no HEAD', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `g${i}`);
    await Promise.all(names.map((n) => bucket.put(`many/${n}`, n)));
    await new Promise((r) => setTimeout(r, 1100));
    const t = await newFs();
    for (const n of names) await t.fs.getattr(`/many/${n}`);
    t.advance(PAST_WINDOW_MS);
    await t.fs.getattr('/many');
    t.requests();
    for (const n of names) assert.equal((await t.fs.getattr(`/many/${n}`)).size, n.length);
    assert.deepEqual(t.requests(), { ListObjectsV2Command: 1 });
  });

  test('a walk of a large directory (ls -l) that outlasts the window: a LIST per window, not a HEAD per name', async () => {
    const names = Array.from({ length: 2500 }, (_, i) => `w${String(i).padStart(4, '0')}`);
    const limit = pLimit(64);
    await Promise.all(names.map((n) => limit(() => bucket.client.send(new PutObjectCommand({ Bucket: bucket.name, Key: `walk/${n}`, Body: 'x' })))));
    await new Promise((r) => setTimeout(r, 1100));
    const t = await newFs();
    await t.fs.readdir('/walk');
    // The cold walk: a HEAD each, at most 64 at once, as the kernel sends them (64 FUSE
    // threads). All 2500 at once made RGW answer 503 (its rgw_max_concurrent_requests).
    await Promise.all(names.map((n) => limit(() => t.fs.getattr(`/walk/${n}`))));
    t.advance(PAST_WINDOW_MS);
    await t.fs.readdir('/walk'); // the second ls -l lists again, confirming every entry...
    t.requests();
    for (const n of names.slice(0, 1000)) await t.fs.getattr(`/walk/${n}`);
    assert.deepEqual(t.requests(), {}, 'within the window of that listing: nothing');
    t.advance(PAST_WINDOW_MS); // ... and the walk outlasts the window
    for (const n of names.slice(1000)) assert.equal((await t.fs.getattr(`/walk/${n}`)).size, 1);
    const sent = t.requests();
    assert.deepEqual(Object.keys(sent), ['ListObjectsV2Command'], `a listing again, no HEADs: ${JSON.stringify(sent)}`);
    assert.ok(sent['ListObjectsV2Command']! <= 4, `one listing of 2500 names: ${JSON.stringify(sent)}`);
  });

  test('a name another client adds: ENOENT and not listed within the window, there after it', async () => {
    await bucket.put('add/existing', 'x');
    const t = await newFs();
    assert.deepEqual(await t.fs.readdir('/add'), ['.', '..', 'existing']);
    await assert.rejects(t.fs.getattr('/add/new'), fsError('ENOENT'));
    await bucket.put('add/new', 'from elsewhere');
    await assert.rejects(t.fs.getattr('/add/new'), fsError('ENOENT'));
    assert.deepEqual(await t.fs.readdir('/add'), ['.', '..', 'existing']);
    t.advance(PAST_WINDOW_MS);
    assert.equal((await t.fs.getattr('/add/new')).size, 'from elsewhere'.length);
    assert.deepEqual((await t.fs.readdir('/add')).sort(), ['.', '..', 'existing', 'new']);
  });

  test('an overwrite: after the window stat has the new size and open reads the new version whole', async () => {
    await bucket.put('over/c', 'old-content!');
    const t = await newFs();
    let fh = await t.fs.open('/over/c', O_RDONLY);
    assert.equal((await readAt(t.fs, fh, 100, 0)).toString(), 'old-content!');
    await t.fs.release(fh);
    await bucket.put('over/c', 'new-content-that-is-longer');
    t.advance(PAST_WINDOW_MS);
    assert.equal((await t.fs.getattr('/over/c')).size, 'new-content-that-is-longer'.length);
    fh = await t.fs.open('/over/c', O_RDONLY);
    assert.equal((await readAt(t.fs, fh, 100, 0)).toString(), 'new-content-that-is-longer');
    await t.fs.release(fh);
  });

  test('deleted by another client: after the window stat and open say ENOENT', async () => {
    await bucket.put('del/x', 'x');
    const t = await newFs();
    await t.fs.getattr('/del/x');
    await bucket.client.send(new DeleteObjectCommand({ Bucket: bucket.name, Key: 'del/x' }));
    t.advance(PAST_WINDOW_MS);
    await assert.rejects(t.fs.getattr('/del/x'), fsError('ENOENT'));
    await assert.rejects(t.fs.open('/del/x', O_RDONLY), fsError('ENOENT'));
  });

  test('replaced while open: the handle reads its own version or fails with ESTALE, never the new bytes', async () => {
    const old = randomBytes(3 * MiB);
    await bucket.put('pin/big', old);
    const t = await newFs();
    const fh = await t.fs.open('/pin/big', O_RDONLY);
    assert.ok((await readAt(t.fs, fh, 64 * 1024, 0)).equals(old.subarray(0, 64 * 1024)));
    await bucket.put('pin/big', randomBytes(4 * MiB));
    // Bytes read already are kept; the rest was in the replaced version only.
    assert.ok((await readAt(t.fs, fh, 64 * 1024, 0)).equals(old.subarray(0, 64 * 1024)));
    await assert.rejects(readAt(t.fs, fh, 64 * 1024, 2 * MiB + 5), fsError('ESTALE'));
    assert.equal((await t.fs.getattr('/pin/big')).size, old.length, 'the open file keeps its size');
    await t.fs.release(fh);
  });

  test('two opens at once share one state: a write through one is read through the other', async () => {
    await bucket.put('two/x', 'hello world');
    const t = await newFs();
    const [a, b] = await Promise.all([t.fs.open('/two/x', O_RDWR), t.fs.open('/two/x', O_RDONLY)]);
    await writeAt(t.fs, a, 'HELLO', 0);
    assert.equal((await readAt(t.fs, b, 100, 0)).toString(), 'HELLO world');
    await t.fs.release(b);
    await t.fs.release(a);
    assert.equal((await bucket.get('two/x')).toString(), 'HELLO world');
  });

  test('ten handles writing disjoint ranges and closing at once: every close returns, one upload stores them all', async () => {
    const t = await newFs();
    const fh0 = await t.fs.create('/ten.bin', 0o644);
    const opens = await Promise.all(Array.from({ length: 9 }, () => t.fs.open('/ten.bin', O_WRONLY)));
    const handles = [fh0, ...opens];
    const chunk = 100_000;
    const reference = randomBytes(chunk * handles.length);
    await Promise.all(handles.map((fh, i) => writeAt(t.fs, fh, reference.subarray(i * chunk, (i + 1) * chunk), i * chunk)));
    t.requests();
    await Promise.all(handles.map((fh) => t.fs.flush(fh)));
    assert.deepEqual(t.requests(), { PutObjectCommand: 1 }, 'ten flushes of the same data: one PUT');
    await Promise.all(handles.map((fh) => t.fs.release(fh)));
    assert.deepEqual(t.requests(), {});
    assert.ok((await bucket.get('ten.bin')).equals(reference));
  });

  test('a new file whose PUT landed but whose answer was lost: the retry finds its own object, no conflict', async () => {
    const t = await newFs({ port: proxy.port });
    proxy.setFaults({ match: /^PUT \/[^?]*lost-answer/, resetCount: 1 });
    try {
      const fh = await t.fs.create('/lost-answer', 0o644);
      await writeAt(t.fs, fh, 'stored once', 0);
      await t.fs.flush(fh); // the retry's If-None-Match: * fails (412): the object there holds exactly these bytes
      await t.fs.release(fh);
      assert.equal(proxy.faultCounts.resets, 1, 'the first PUT\'s answer was lost');
    } finally {
      proxy.clearFaults();
    }
    assert.equal((await bucket.get('lost-answer')).toString(), 'stored once');
  });

  test('a file whose upload failed and that is then deleted is never uploaded, not even at unmount', async () => {
    const t = await newFs({ port: proxy.port });
    proxy.setFaults({ match: /^PUT /, errorShare: 1, errorStatus: 500 });
    try {
      const fh = await t.fs.create('/failed/f', 0o644);
      await writeAt(t.fs, fh, 'unsaved', 0);
      await assert.rejects(t.fs.flush(fh), fsError('EIO'));
      await t.fs.release(fh);
      assert.equal((await t.fs.getattr('/failed/f')).size, 'unsaved'.length, 'the data is kept, and the file shows');
      await t.fs.unlink('/failed/f');
      await assert.rejects(t.fs.getattr('/failed/f'), fsError('ENOENT'));
      // A second one is renamed after its failed close: it goes to its new name only.
      const fh2 = await t.fs.create('/failed/g', 0o644);
      await writeAt(t.fs, fh2, 'renamed data', 0);
      await assert.rejects(t.fs.flush(fh2), fsError('EIO'));
      await t.fs.release(fh2);
    } finally {
      proxy.clearFaults();
    }
    await t.fs.rename('/failed/g', '/failed/h');
    assert.deepEqual(await t.fs.flushAll(), { saved: [], notSaved: [] });
    assert.equal(await bucket.head('failed/f'), null, 'nothing comes back after rm');
    assert.equal(await bucket.head('failed/g'), null);
    assert.equal((await bucket.get('failed/h')).toString(), 'renamed data');
  });

  test('the last close wins, and an object changed since the open is logged with both ETags', async () => {
    await bucket.put('conflict/k', 'version one');
    const { log, lines } = capturingLogger();
    const t = await newFs({ log });
    const fh = await t.fs.open('/conflict/k', O_RDWR);
    assert.equal((await readAt(t.fs, fh, 100, 0)).toString(), 'version one'); // an editor reads it all
    const opened = (await bucket.head('conflict/k'))?.ETag?.replace(/"/g, '');
    await bucket.put('conflict/k', 'their version');
    const theirs = (await bucket.head('conflict/k'))?.ETag?.replace(/"/g, '');
    await writeAt(t.fs, fh, 'MINE', 0);
    await t.fs.flush(fh);
    await t.fs.release(fh);
    assert.equal((await bucket.get('conflict/k')).toString(), 'MINEion one', 'last close wins');
    const warning = lines.find((l) => l['path'] === '/conflict/k' && String(l['msg']).includes('changed on the server'));
    assert.ok(warning, `a warning: ${JSON.stringify(lines)}`);
    assert.equal(warning['level'], 40);
    assert.equal(warning['expectedEtag'], opened);
    assert.equal(warning['foundEtag'], theirs);

    // Created here while another client created the same name first (If-None-Match: *): theirs
    // is not overwritten; the close fails with EIO, the data stays, and a rename stores it.
    const fh2 = await t.fs.create('/conflict/new', 0o644);
    await bucket.put('conflict/new', 'theirs first');
    await writeAt(t.fs, fh2, 'ours', 0);
    await assert.rejects(t.fs.flush(fh2), fsError('EIO'));
    await t.fs.release(fh2);
    assert.equal((await bucket.get('conflict/new')).toString(), 'theirs first', 'the first create stays');
    const refused = lines.find((l) => l['path'] === '/conflict/new' && String(l['err']).includes('another client created conflict/new'));
    assert.ok(refused && refused['level'] === 50, JSON.stringify(lines.filter((l) => l['path'] === '/conflict/new')));
    await t.fs.rename('/conflict/new', '/conflict/new.ours');
    assert.equal((await bucket.get('conflict/new.ours')).toString(), 'ours', 'the rename stored our data under its new name');
    assert.equal((await bucket.get('conflict/new')).toString(), 'theirs first', 'and left theirs alone');

    // No other writer: no warning.
    const count = lines.length;
    const fh3 = await t.fs.open('/conflict/k', O_RDWR);
    await writeAt(t.fs, fh3, 'again', 0);
    await t.fs.release(fh3);
    assert.equal(lines.length, count, JSON.stringify(lines.slice(count)));
  });

  test('ls right after this mount wrote a file shows it, though the listing started before the write landed', async () => {
    const t = await newFs();
    await t.fs.mkdir('/own', 0o755);
    t.advance(60_000); // the new-directory shortcut is over: the listing is asked for
    const fh = await t.fs.create('/own/a', 0o644);
    await writeAt(t.fs, fh, 'a', 0);
    const listing = t.fs.readdir('/own'); // under way while the file is stored and closed
    await t.fs.release(fh);
    assert.ok((await listing).includes('a'));
    assert.ok((await t.fs.readdir('/own')).includes('a'));
    assert.equal((await t.fs.getattr('/own/a')).mode & S_IFMT, S_IFREG);
  });
});
