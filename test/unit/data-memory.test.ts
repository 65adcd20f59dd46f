// The memory budget as FileData and the Uploader use it, against an object store in memory
// whose requests take a few milliseconds: every buffer of file data (cached pages, GET buffers,
// part bodies) stays within the budget while a large file is written, uploaded and read, fewer
// transfers run at once when the budget is small, and the bytes stay right.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { pino } from 'pino';
import { BufferPool } from '../../src/cache/buffer-pool.js';
import { FileData, PAGE_SIZE, type Page } from '../../src/cache/file-data.js';
import { MemoryBudget } from '../../src/cache/memory-budget.js';
import type { Body, ListPage, ObjectInfo, ObjectStore, PutOptions, UploadedPart } from '../../src/store/object-store.js';
import { PartLayout } from '../../src/transfer/part-layout.js';
import { Uploader, type UploadTarget } from '../../src/transfer/uploader.js';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const log = pino({ level: 'silent' });

/** A pool that remembers the most memory its buffers ever held (lent and idle). */
class MeasuredPool extends BufferPool {
  maxHeld = 0;
  override take(): Buffer {
    const buf = super.take();
    this.maxHeld = Math.max(this.maxHeld, this.heldBytes);
    return buf;
  }
}

const bytesOf = (body: Body): Buffer => (Buffer.isBuffer(body) ? body : Buffer.concat([...body]));
const md5 = (b: Buffer, enc: 'hex' | 'base64'): string => createHash('md5').update(b).digest(enc);
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Objects in memory; each request waits a little, and checks Content-MD5 as a server does. */
class MemoryStore implements ObjectStore {
  readonly bucket = 'memory';
  readonly objects = new Map<string, Buffer>();
  private readonly uploads = new Map<string, Map<number, Buffer>>();
  private nextId = 1;
  /** Requests of each kind in flight now, and the most at once (in number and in bytes). */
  readonly inFlight = { get: 0, part: 0 };
  readonly maxInFlight = { get: 0, part: 0 };
  private bytesInFlight = { get: 0, part: 0 };
  readonly maxBytesInFlight = { get: 0, part: 0 };
  /** Called at the start of each data request (to sample memory then). */
  onRequest: () => void = () => undefined;

  private async busy<T>(kind: 'get' | 'part', bytes: number, work: () => T): Promise<T> {
    this.inFlight[kind]++;
    this.bytesInFlight[kind] += bytes;
    this.maxInFlight[kind] = Math.max(this.maxInFlight[kind], this.inFlight[kind]);
    this.maxBytesInFlight[kind] = Math.max(this.maxBytesInFlight[kind], this.bytesInFlight[kind]);
    this.onRequest();
    try {
      await delay(5);
      return work();
    } finally {
      this.inFlight[kind]--;
      this.bytesInFlight[kind] -= bytes;
    }
  }

  async checkBucket(): Promise<void> {}
  async head(key: string): Promise<ObjectInfo | null> {
    const o = this.objects.get(key);
    return o ? { key, size: o.length, etag: md5(o, 'hex'), lastModified: new Date(), metadata: {} } : null;
  }
  async getRange(): Promise<Buffer> { throw new Error('not used'); }
  async getStart(): Promise<null> { throw new Error('not used'); }
  getRangeInto(key: string, start: number, end: number, into: Buffer[]): Promise<number> {
    return this.busy('get', end - start, () => {
      const o = this.objects.get(key)!;
      const data = o.subarray(start, Math.min(end, o.length));
      let at = 0;
      for (const buf of into) {
        if (at >= data.length) break;
        at += data.copy(buf, 0, at);
      }
      return data.length;
    });
  }
  async put(key: string, body: Body, options: PutOptions = {}): Promise<string> {
    const data = bytesOf(body);
    if (options.contentMD5 !== undefined) assert.equal(options.contentMD5, md5(data, 'base64'), 'Content-MD5 of a PUT');
    this.objects.set(key, data);
    return md5(data, 'hex');
  }
  async listPage(): Promise<ListPage> { throw new Error('not used'); }
  async copy(): Promise<string> { throw new Error('not used'); }
  async delete(key: string): Promise<void> { this.objects.delete(key); }
  async createMultipart(): Promise<string> {
    const id = String(this.nextId++);
    this.uploads.set(id, new Map());
    return id;
  }
  uploadPart(_key: string, uploadId: string, partNumber: number, body: Body, contentMD5?: string): Promise<string> {
    const data = Buffer.from(bytesOf(body)); // a copy: the body's buffers go back to the pool
    if (contentMD5 !== undefined) assert.equal(contentMD5, md5(data, 'base64'), `Content-MD5 of part ${partNumber}`);
    return this.busy('part', data.length, () => {
      this.uploads.get(uploadId)!.set(partNumber, data);
      return md5(data, 'hex');
    });
  }
  async uploadPartCopy(): Promise<{ etag: string }> { throw new Error('not used'); }
  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<string> {
    const stored = this.uploads.get(uploadId)!;
    const data = Buffer.concat([...parts].sort((a, b) => a.partNumber - b.partNumber).map((p) => stored.get(p.partNumber)!));
    this.objects.set(key, data);
    this.uploads.delete(uploadId);
    return `${md5(data, 'hex')}-${parts.length}`;
  }
  async abortMultipart(_key: string, uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
  }
}

interface Rig {
  store: MemoryStore;
  pool: MeasuredPool;
  budget: MemoryBudget<Page>;
  uploader: Uploader;
  diskdir: string;
  fileData(key: string, remote: { etag: string; size: number } | null): FileData;
  /** The most memory in use seen at the start of any request, and after any write. */
  maxInUse: number;
  done(): void;
}

function rig(budgetBytes: number): Rig {
  const store = new MemoryStore();
  const pool = new MeasuredPool(PAGE_SIZE, budgetBytes);
  const budget = new MemoryBudget<Page>(budgetBytes, pool);
  const diskdir = mkdtempSync(path.join(tmpdir(), 'qsfs-data-memory-'));
  const downloads = pLimit(4);
  const r: Rig = {
    store, pool, budget, diskdir, maxInUse: 0,
    uploader: new Uploader({ store, layout: new PartLayout(PART), uploads: pLimit(4), contentMD5: true, bodies: budget, log }),
    fileData: (key, remote) => new FileData(key, remote, {
      store, budget, diskdir, downloads, chunkSize: PART, prefetchBytes: 20 * MiB, verifyMd5: false,
    }),
    done: () => rmSync(diskdir, { recursive: true, force: true }),
  };
  store.onRequest = () => { r.maxInUse = Math.max(r.maxInUse, budget.inUseBytes); };
  return r;
}

/** Writes `content` in 1 MiB writes, starting part uploads as the daemon does after each one
 *  (unless `early` is false: then every part goes at close). */
async function writeAll(r: Rig, t: UploadTarget, content: Buffer, early = true): Promise<void> {
  for (let pos = 0; pos < content.length; pos += MiB) {
    const n = Math.min(MiB, content.length - pos);
    await t.data.write(content.subarray(pos, pos + n), n, pos);
    r.maxInUse = Math.max(r.maxInUse, r.budget.inUseBytes);
    if (early) r.uploader.afterWrite(t, pos + n, {});
    if (pos % (4 * MiB) === 0) await delay(1); // let uploads run meanwhile, as they do beside a writer
  }
}

/** Reads the whole file 128 KiB at a time (as the kernel asks), checking it against `content`. */
async function readAll(data: FileData, content: Buffer): Promise<void> {
  const buf = Buffer.alloc(PAGE_SIZE);
  for (let pos = 0; pos < content.length; pos += PAGE_SIZE) {
    const n = await data.read(buf, PAGE_SIZE, pos);
    assert.equal(n, Math.min(PAGE_SIZE, content.length - pos));
    if (!buf.subarray(0, n).equals(content.subarray(pos, pos + n))) assert.fail(`bytes at ${pos} differ`);
  }
}

describe('file data within the memory budget', () => {
  test('writing and uploading 30 MiB through a 12 MiB budget: memory stays within it, two parts at a time, the object is right', async () => {
    const r = rig(12 * MiB);
    try {
      const content = randomBytes(30 * MiB + 12345);
      const t: UploadTarget = { key: 'big', data: r.fileData('big', null), multipart: null };
      await writeAll(r, t, content);
      const stored = await r.uploader.store(t, {});
      assert.ok(r.store.objects.get('big')!.equals(content), 'the object holds exactly what was written');
      assert.match(stored.etag, /-7$/, 'seven parts of 5 MiB');
      assert.ok(r.pool.maxHeld <= 12 * MiB, `buffers held (pages, bodies, idle) never passed 12 MiB: ${r.pool.maxHeld / MiB} MiB`);
      assert.ok(r.maxInUse <= 12 * MiB);
      assert.ok(readdirSync(r.diskdir).length > 0, 'pages that did not fit went to disk');
      assert.ok(r.store.maxInFlight.part <= 2, `at most two 5 MiB bodies fit in 12 MiB beside the writer: ${r.store.maxInFlight.part} parts went at once`);
      assert.equal(r.budget.leasedBytes, 0, 'every lease ended');
    } finally {
      r.done();
    }
  });

  test('at close, the parts go as many at once as the budget holds: 4 (--numtransfer) in 64 MiB, 2 in 12 MiB', async () => {
    for (const [budget, parallel] of [[64 * MiB, 4], [12 * MiB, 2]] as const) {
      const r = rig(budget);
      try {
        const content = randomBytes(40 * MiB);
        const t: UploadTarget = { key: 'wide', data: r.fileData('wide', null), multipart: null };
        await writeAll(r, t, content, false);
        await r.uploader.store(t, {});
        assert.ok(r.store.objects.get('wide')!.equals(content));
        assert.equal(r.store.maxInFlight.part, parallel, `parts at once under a budget of ${budget / MiB} MiB`);
        assert.ok(r.pool.maxHeld <= budget);
      } finally {
        r.done();
      }
    }
  });

  test('a budget smaller than one part still uploads, one part at a time (-Z 1)', async () => {
    const r = rig(1 * MiB);
    try {
      const content = randomBytes(12 * MiB + 7);
      const t: UploadTarget = { key: 'tiny', data: r.fileData('tiny', null), multipart: null };
      await writeAll(r, t, content);
      await r.uploader.store(t, {});
      assert.ok(r.store.objects.get('tiny')!.equals(content));
      assert.equal(r.store.maxInFlight.part, 1, 'one part at a time');
      assert.ok(r.pool.maxHeld <= 1 * MiB + PART, `over the budget by at most one part body: ${r.pool.maxHeld / MiB} MiB`);
    } finally {
      r.done();
    }
  });

  test('4 cold sequential readers of 24 MiB each through an 8 MiB budget: GETs within it, bytes right', async () => {
    const r = rig(8 * MiB);
    try {
      await Promise.all([1, 2, 3, 4].map(async (i) => {
        const content = randomBytes(24 * MiB + i);
        r.store.objects.set(`obj${i}`, content);
        await readAll(r.fileData(`obj${i}`, { etag: md5(content, 'hex'), size: content.length }), content);
      }));
      assert.ok(r.pool.maxHeld <= 8 * MiB, `buffers held never passed 8 MiB: ${r.pool.maxHeld / MiB} MiB`);
      assert.ok(r.store.maxBytesInFlight.get <= 8 * MiB, `read-ahead shrinks to the GETs that fit: ${r.store.maxBytesInFlight.get / MiB} MiB at once`);
      assert.equal(r.budget.leasedBytes, 0);
      assert.ok(r.budget.usedBytes <= 8 * MiB);
    } finally {
      r.done();
    }
  });

  test('a read with room runs its read-ahead GETs in parallel', async () => {
    const r = rig(64 * MiB);
    try {
      const content = randomBytes(40 * MiB);
      r.store.objects.set('obj', content);
      const data = r.fileData('obj', { etag: md5(content, 'hex'), size: content.length });
      await readAll(data, content);
      assert.ok(r.store.maxInFlight.get >= 2, `${r.store.maxInFlight.get} GETs at most at once`);
      assert.ok(r.store.maxBytesInFlight.get > 8 * MiB, `more read-ahead than an 8 MiB budget allows: ${r.store.maxBytesInFlight.get / MiB} MiB at once`);
      assert.ok(r.pool.maxHeld <= 64 * MiB);
    } finally {
      r.done();
    }
  });

  test('partly rewriting a cached object under a small budget keeps the other bytes', async () => {
    const r = rig(2 * MiB);
    try {
      const content = randomBytes(3 * MiB);
      r.store.objects.set('edit', content);
      const data = r.fileData('edit', { etag: md5(content, 'hex'), size: content.length });
      const t: UploadTarget = { key: 'edit', data, multipart: null };
      const expected = Buffer.from(content);
      for (const at of [100, PAGE_SIZE * 5 + 17, 2 * MiB + 3, 3 * MiB - 60]) {
        const patch = randomBytes(50);
        await data.write(patch, patch.length, at);
        patch.copy(expected, at);
      }
      await r.uploader.store(t, {}, undefined);
      assert.ok(r.store.objects.get('edit')!.equals(expected));
      assert.ok(r.pool.maxHeld <= 2 * MiB + PART, `${r.pool.maxHeld / MiB} MiB`);
    } finally {
      r.done();
    }
  });
});
