// MemoryBudget on its own: fake pages holding buffers of a real BufferPool (100 bytes each), and
// a fake owner that records what the budget asks of it (evict / spill) and, like FileData, gives
// the page's buffer back and tells the budget the page left memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/cache/buffer-pool.js';
import {
  MIN_DATA_BUDGET_BYTES, MemoryBudget, PROCESS_OVERHEAD_BYTES, dataBudgetBytes, type CachedPage, type Lease, type PageOwner,
} from '../../src/cache/memory-budget.js';

const UNIT = 100;

class FakePage implements CachedPage {
  buf: Buffer | null;
  /** For pages of another size than the pool's (counting only). */
  private readonly fixedBytes: number | undefined;
  dirty: boolean;
  pinned: boolean;
  unread: boolean;

  /** `from`: the pool its buffer comes from, or a size to count without a buffer. */
  constructor(readonly name: string, from: BufferPool | number, o: { dirty?: boolean; pinned?: boolean; unread?: boolean } = {}) {
    this.buf = typeof from === 'number' ? null : from.take();
    this.fixedBytes = typeof from === 'number' ? from : undefined;
    this.dirty = o.dirty ?? false;
    this.pinned = o.pinned ?? false;
    this.unread = o.unread ?? false;
  }

  get memoryBytes(): number {
    return this.fixedBytes ?? (this.buf ? this.buf.length : 0);
  }
}

class FakeOwner implements PageOwner<FakePage> {
  readonly evicted: string[] = [];
  readonly spilled: string[] = [];
  /** Every call in order, as "evict:a" / "spill:b". */
  readonly calls: string[] = [];
  /** When set, spill throws this (as a full disk does) instead of moving the page. */
  spillError: Error | null = null;
  budget!: MemoryBudget<FakePage>;

  evict(page: FakePage): void {
    assert.equal(page.dirty, false, `evict was asked for the dirty page ${page.name}: dirty pages must never be dropped`);
    assert.equal(page.pinned, false, `evict was asked for the pinned page ${page.name}`);
    this.calls.push(`evict:${page.name}`);
    this.evicted.push(page.name);
    this.release(page);
  }

  spill(page: FakePage): void {
    assert.equal(page.dirty, true, `spill was asked for the clean page ${page.name}`);
    this.calls.push(`spill:${page.name}`);
    if (this.spillError) throw this.spillError;
    this.spilled.push(page.name);
    this.release(page);
  }

  private release(page: FakePage): void {
    this.budget.remove(page, page.memoryBytes);
    if (page.buf) this.budget.give(page.buf);
    page.buf = null;
  }
}

const pools = new WeakMap<MemoryBudget<FakePage>, BufferPool>();

function setup(limit: number, onSpillError?: (err: unknown) => void): { budget: MemoryBudget<FakePage>; owner: FakeOwner; pool: BufferPool } {
  const pool = new BufferPool(UNIT, limit);
  const budget = new MemoryBudget<FakePage>(limit, pool, onSpillError);
  pools.set(budget, pool);
  const owner = new FakeOwner();
  owner.budget = budget;
  return { budget, owner, pool };
}

/** Pages of buffers from the budget's pool, added in order (oldest first) without making room. */
function pagesOf(budget: MemoryBudget<FakePage>, owner: FakeOwner, specs: Array<[string, { dirty?: boolean; pinned?: boolean; unread?: boolean }?]>): FakePage[] {
  const pool = pools.get(budget)!;
  return specs.map(([name, o]) => {
    const page = new FakePage(name, pool, o);
    budget.add(page, owner);
    return page;
  });
}

/** Adds pages in order (oldest first). */
function addAll(budget: MemoryBudget<FakePage>, owner: FakeOwner, pages: FakePage[]): void {
  for (const p of pages) budget.add(p, owner);
}

/** Whether the promise has settled after the microtasks queued now have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(() => { done = true; }, () => { done = true; });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

/** Gives back every buffer of the lease and ends it. */
function giveBack(budget: MemoryBudget<FakePage>, lease: Lease): void {
  for (const buf of lease.buffers) budget.give(buf);
  lease.end();
}

describe('MemoryBudget: cached pages', () => {
  test('the limit is the one given', () => {
    assert.equal(new MemoryBudget<FakePage>(12345, new BufferPool(UNIT, 12345)).limitBytes, 12345);
  });

  test('usedBytes follows add and remove', () => {
    const { budget, owner } = setup(1000);
    assert.equal(budget.usedBytes, 0);
    const a = new FakePage('a', 100);
    const b = new FakePage('b', 250, { dirty: true });
    const c = new FakePage('c', 7);
    addAll(budget, owner, [a, b, c]);
    assert.equal(budget.usedBytes, 357);
    budget.add(a, owner);
    assert.equal(budget.usedBytes, 357, 'adding a page twice counts it once');
    budget.remove(b, 250);
    assert.equal(budget.usedBytes, 107);
    budget.remove(b, 250); // already gone: no change
    assert.equal(budget.usedBytes, 107, 'removing a page twice counts it once');
    budget.remove(new FakePage('stranger', 500), 500); // never added
    assert.equal(budget.usedBytes, 107, 'removing a page never added changes nothing');
    budget.remove(a, 100);
    budget.remove(c, 7);
    assert.equal(budget.usedBytes, 0);
    assert.deepEqual(owner.calls, [], 'add and remove alone never evict or spill');
  });

  test('under or at the limit, trim does nothing', () => {
    const { budget, owner } = setup(300);
    const pages = pagesOf(budget, owner, [['a'], ['b', { dirty: true }], ['c']]);
    budget.trim();
    assert.deepEqual(owner.calls, [], 'exactly at the limit: nothing evicted or spilled');
    assert.equal(budget.usedBytes, 300);
    assert.equal(budget.inUseBytes, 300);
    budget.remove(pages[2]!, 100);
    budget.give(pages[2]!.buf!);
    budget.trim();
    assert.deepEqual(owner.calls, []);
    assert.equal(budget.usedBytes, 200);
    assert.equal(budget.inUseBytes, 200);
  });

  test('over the limit, clean pages are evicted oldest first, just enough to fit', () => {
    const { budget, owner } = setup(300);
    pagesOf(budget, owner, [['a'], ['b'], ['c'], ['d'], ['e']]);
    assert.equal(budget.usedBytes, 500);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a', 'b'], 'the two oldest pages go, no more');
    assert.deepEqual(owner.spilled, []);
    assert.equal(budget.usedBytes, 300);
    // the evicted pages left the order: going over again evicts the next oldest
    pagesOf(budget, owner, [['f']]);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a', 'b', 'c']);
    assert.equal(budget.usedBytes, 300);
    assert.equal(budget.inUseBytes, 300);
  });

  test('touch moves a page to the newest end', () => {
    const { budget, owner } = setup(300);
    const pages = pagesOf(budget, owner, [['a'], ['b'], ['c'], ['d'], ['e']]);
    budget.touch(pages[0]!); // a is now the newest
    budget.touch(pages[2]!); // then c
    budget.trim();
    assert.deepEqual(owner.evicted, ['b', 'd'], 'a and c were used lately: b and d are the oldest');
    assert.equal(budget.usedBytes, 300);
  });

  test('touch of a page not in the budget neither adds nor counts it', () => {
    const { budget, owner } = setup(100);
    pagesOf(budget, owner, [['a']]);
    budget.touch(new FakePage('stranger', 100));
    assert.equal(budget.usedBytes, 100);
    pagesOf(budget, owner, [['b']]);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a'], 'the stranger was never in the order, so it is never evicted');
  });

  test('pinned clean pages are never evicted, even when the budget stays over its limit', () => {
    const { budget, owner } = setup(200);
    pagesOf(budget, owner, [['a', { pinned: true }], ['b'], ['c', { pinned: true }], ['d']]);
    budget.trim();
    assert.deepEqual(owner.evicted, ['b', 'd'], 'the pinned a and c are skipped');
    assert.equal(budget.usedBytes, 200);

    const all = setup(100);
    const pinned = pagesOf(all.budget, all.owner, [['p', { pinned: true }], ['q', { pinned: true }], ['r', { pinned: true }]]);
    all.budget.trim(); // nothing it may do: no error either
    assert.deepEqual(all.owner.calls, [], 'only pinned clean pages: nothing evicted, nothing spilled');
    assert.equal(all.budget.usedBytes, 300, 'memory stays over the limit rather than dropping a pinned page');
    // once unpinned, the oldest can go
    pinned[0]!.pinned = false;
    pinned[1]!.pinned = false;
    all.budget.trim();
    assert.deepEqual(all.owner.evicted, ['p', 'q']);
    assert.equal(all.budget.usedBytes, 100);
  });

  test('dirty pages are not touched while evicting clean ones is enough', () => {
    const { budget, owner } = setup(300);
    // the dirty pages are the oldest: still, clean ones go first
    pagesOf(budget, owner, [['d1', { dirty: true }], ['d2', { dirty: true }], ['c1'], ['c2'], ['c3']]);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'evict:c2'], 'the two oldest clean pages go; the dirty ones stay in memory');
    assert.equal(budget.usedBytes, 300);
  });

  test('dirty pages are spilled (oldest first) only once every evictable clean page is gone', () => {
    const { budget, owner } = setup(100);
    pagesOf(budget, owner, [
      ['d1', { dirty: true }], ['c1'], ['d2', { dirty: true }],
      ['p1', { pinned: true }], // clean and pinned: neither evicted nor spilled
      ['d3', { dirty: true }], ['c2'],
    ]);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'evict:c2', 'spill:d1', 'spill:d2', 'spill:d3'],
      'every clean unpinned page is evicted first, then dirty pages move to disk oldest first');
    assert.deepEqual(owner.evicted, ['c1', 'c2'], 'no dirty page is ever evicted');
    assert.equal(budget.usedBytes, 100, 'only the pinned clean page is left in memory');
  });

  test('spilling stops as soon as memory fits', () => {
    const { budget, owner } = setup(250);
    pagesOf(budget, owner, [['c1'], ['d1', { dirty: true }], ['d2', { dirty: true }], ['d3', { dirty: true }]]);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'spill:d1']);
    assert.equal(budget.usedBytes, 200);
  });

  test('a dirty page in use by a write (pinned) may still be spilled', () => {
    const { budget, owner } = setup(0);
    pagesOf(budget, owner, [['a', { dirty: true, pinned: true }]]);
    budget.trim();
    assert.deepEqual(owner.calls, ['spill:a'], 'pinning protects from eviction only: a dirty page can always move to disk');
    assert.equal(budget.usedBytes, 0);
  });

  test('an owner that cannot spill (ENOSPC) makes trim throw, and nothing is lost from the count', () => {
    const { budget, owner } = setup(100);
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    owner.spillError = enospc;
    pagesOf(budget, owner, [['c1'], ['d1', { dirty: true }], ['d2', { dirty: true }]]);
    assert.throws(() => budget.trim(), (err: unknown) => err === enospc, 'trim throws the spill error itself (ENOSPC reaches the writer)');
    assert.deepEqual(owner.calls, ['evict:c1', 'spill:d1'], 'the clean page went first; the first failing spill stops the trim');
    assert.equal(budget.usedBytes, 200, 'the dirty pages that could not move are still counted in memory');
    // once the disk has room again, the same pages move
    owner.spillError = null;
    budget.trim();
    assert.deepEqual(owner.spilled, ['d1']);
    assert.equal(budget.usedBytes, 100);
  });

  test('a failing spill is not reached when evicting clean pages is enough', () => {
    const { budget, owner } = setup(200);
    owner.spillError = Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
    pagesOf(budget, owner, [['d1', { dirty: true }], ['c1'], ['d2', { dirty: true }]]);
    assert.doesNotThrow(() => budget.trim(), 'a full disk does not matter while memory can be freed by eviction');
    assert.deepEqual(owner.calls, ['evict:c1']);
    assert.equal(budget.usedBytes, 200);
  });

  test('pages of several owners share one order', () => {
    const { budget } = setup(200);
    const one = new FakeOwner();
    const two = new FakeOwner();
    one.budget = budget;
    two.budget = budget;
    pagesOf(budget, one, [['1a']]);
    pagesOf(budget, two, [['2a']]);
    pagesOf(budget, one, [['1b']]);
    pagesOf(budget, two, [['2b', { dirty: true }]]);
    budget.trim();
    assert.deepEqual(one.evicted, ['1a'], 'the oldest page overall belongs to the first owner');
    assert.deepEqual(two.evicted, ['2a'], 'its own owner is asked to evict each page');
    assert.equal(budget.usedBytes, 200);
  });
});

describe('MemoryBudget: every buffer counts', () => {
  test('taking a buffer for a new page makes room for it first', () => {
    const { budget, owner } = setup(300);
    pagesOf(budget, owner, [['a'], ['b'], ['c']]);
    const buf = budget.take();
    assert.equal(buf.length, UNIT);
    assert.deepEqual(owner.evicted, ['a'], 'the oldest page made room for the new buffer');
    assert.equal(budget.inUseBytes, 300, 'the cached pages and the new buffer together are within the limit');
    assert.ok(budget.takeZeroed().equals(Buffer.alloc(UNIT)));
    assert.deepEqual(owner.evicted, ['a', 'b']);
  });

  test('a lease makes room by evicting clean pages, then spilling dirty ones; its buffers count until given back', async () => {
    const { budget, owner, pool } = setup(500);
    pagesOf(budget, owner, [['d1', { dirty: true }], ['c1'], ['d2', { dirty: true }], ['c2'], ['c3']]);
    const lease = await budget.lease(3, 'download');
    assert.equal(lease.buffers.length, 3);
    assert.ok(lease.buffers.every((b) => b.length === UNIT));
    assert.deepEqual(owner.calls, ['evict:c1', 'evict:c2', 'evict:c3'], 'clean pages first, and no more than needed');
    assert.equal(budget.inUseBytes, 500);
    assert.equal(budget.leasedBytes, 300);
    const more = await budget.lease(1, 'upload');
    assert.deepEqual(owner.calls.slice(3), ['spill:d1'], 'then the oldest dirty page goes to disk');
    assert.equal(budget.inUseBytes, 500);
    giveBack(budget, lease);
    giveBack(budget, more);
    assert.equal(budget.leasedBytes, 0);
    assert.equal(budget.inUseBytes, 100, 'only the dirty page still in memory');
    assert.ok(pool.heldBytes <= 500, `lent and idle buffers together stay within the limit (${pool.heldBytes})`);
  });

  test('a lease that finds the memory leased to others waits until one ends, then gets it', async () => {
    const { budget } = setup(400);
    const first = await budget.lease(3, 'upload');
    const second = budget.lease(2, 'upload');
    assert.equal(await settled(second), false, 'no room: 300 of 400 bytes leased, 200 more asked for');
    assert.equal(budget.waitingCount, 1);
    giveBack(budget, first);
    assert.equal(await settled(second), true, 'the end of the first lease lets the second through');
    assert.equal((await second).buffers.length, 2);
    assert.equal(budget.waitingCount, 0);
    assert.equal(budget.inUseBytes, 200);
  });

  test('an upload or write bigger than the whole budget still goes when nothing else is leased (one at a time)', async () => {
    const { budget } = setup(200);
    const big = await budget.lease(5, 'upload');
    assert.equal(big.buffers.length, 5, 'granted over the limit: waiting could only wait for itself');
    const write = budget.lease(1, 'write');
    assert.equal(await settled(write), false, 'a write waits while the upload holds more than the budget');
    giveBack(budget, big);
    assert.equal(await settled(write), true);
    giveBack(budget, await write);
    assert.equal(budget.inUseBytes, 0);
  });

  test('a GET is never held up by uploads (they may be waiting for it), only by another GET', async () => {
    const { budget } = setup(300);
    const upload = await budget.lease(3, 'upload');
    const get = await budget.lease(2, 'download');
    assert.equal(get.buffers.length, 2, 'granted although uploads hold the whole budget: no GET is leased');
    const second = budget.lease(1, 'download');
    assert.equal(await settled(second), false, 'a second GET waits for the first: the exemption is for one GET at a time');
    giveBack(budget, get);
    assert.equal(await settled(second), true, 'once the first GET is done, the next goes');
    giveBack(budget, await second);
    giveBack(budget, upload);
    assert.equal(budget.inUseBytes, 0);
  });

  test('a waiting GET passes a waiting write; uploads and writes keep their order', async () => {
    const { budget } = setup(300);
    const heldGet = await budget.lease(2, 'download');
    const heldUpload = await budget.lease(1, 'upload');
    const order: string[] = [];
    const upload = budget.lease(2, 'upload').then((l) => { order.push('upload'); return l; });
    const write = budget.lease(1, 'write').then((l) => { order.push('write'); return l; });
    const get = budget.lease(1, 'download').then((l) => { order.push('get'); return l; });
    await settled(get);
    assert.equal(order.length, 0, 'all three wait: 300 of 300 bytes leased');
    assert.equal(budget.waitingCount, 3);
    giveBack(budget, heldGet); // 200 bytes free: the upload first in line takes them
    await settled(get);
    assert.deepEqual([...order], ['upload', 'get'], 'the write waits behind the upload; the GET passes it (no other GET is leased)');
    giveBack(budget, heldUpload);
    await settled(write);
    assert.deepEqual([...order], ['upload', 'get'], 'still no room for the write');
    giveBack(budget, await upload);
    await settled(write);
    assert.deepEqual([...order], ['upload', 'get', 'write']);
    giveBack(budget, await get);
    giveBack(budget, await write);
    assert.equal(budget.leasedBytes, 0);
    assert.equal(budget.waitingCount, 0);
  });

  test('a write lease fails with the error of the spill that would have made room; a GET is only slowed', async () => {
    const errors: unknown[] = [];
    const { budget, owner } = setup(200, (err) => errors.push(err));
    const enospc = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    owner.spillError = enospc;
    pagesOf(budget, owner, [['d1', { dirty: true }], ['d2', { dirty: true }]]);
    await assert.rejects(budget.lease(1, 'write'), (err: unknown) => err === enospc, 'ENOSPC reaches the writer');
    assert.equal(budget.leasedBytes, 0, 'a failed lease holds nothing');
    const get = await budget.lease(1, 'download');
    assert.equal(get.buffers.length, 1, 'the GET goes (over the limit) rather than wait for a disk that is full');
    assert.deepEqual(errors, [enospc], 'and the failed spill is reported');
    giveBack(budget, get);
  });

  test('a GET does not evict read-ahead nobody has read yet: it waits for another GET instead', async () => {
    const { budget, owner } = setup(400);
    const other = await budget.lease(1, 'download'); // another GET under way
    pagesOf(budget, owner, [['read1'], ['ahead1', { unread: true }], ['ahead2', { unread: true }]]);
    const get = budget.lease(2, 'download');
    assert.equal(await settled(get), false, 'only unread read-ahead could make room: the GET waits');
    assert.deepEqual(owner.evicted, ['read1'], 'the page already read went');
    const upload = await budget.lease(2, 'upload');
    assert.deepEqual(owner.evicted, ['read1', 'ahead1'], 'an upload may drop read-ahead (it can be fetched again)');
    assert.equal(await settled(get), false);
    giveBack(budget, other);
    assert.equal(await settled(get), true, 'the one GET that may always go takes unread pages too');
    assert.deepEqual(owner.evicted, ['read1', 'ahead1', 'ahead2']);
    assert.equal(budget.inUseBytes, 400, 'and stays within the limit doing so');
    giveBack(budget, await get);
    giveBack(budget, upload);
    assert.equal(budget.inUseBytes, 0);
  });

  test('read-ahead may hold half the budget: unread pages and GETs under way count against it', async () => {
    const { budget, owner } = setup(1000);
    assert.equal(budget.readAheadRoom, 500);
    const [a1, a2] = pagesOf(budget, owner, [['a1', { unread: true }], ['a2', { unread: true }], ['read']]);
    assert.equal(budget.readAheadRoom, 300, 'two unread pages; a page already read does not count');
    const get = await budget.lease(1, 'download');
    assert.equal(budget.readAheadRoom, 200, 'a GET under way counts');
    budget.markRead(a1!);
    budget.markRead(a1!);
    assert.equal(a1!.unread, false);
    assert.equal(budget.readAheadRoom, 300, 'read once, counted once');
    budget.remove(a2!, a2!.memoryBytes);
    budget.give(a2!.buf!);
    assert.equal(budget.readAheadRoom, 400, 'an unread page that left memory no longer counts');
    giveBack(budget, get);
    assert.equal(budget.readAheadRoom, 500);
    const many = pagesOf(budget, owner, Array.from({ length: 7 }, (_, i): [string, { unread: boolean }] => [`u${i}`, { unread: true }]));
    assert.equal(budget.readAheadRoom, 0, 'never below zero');
    for (const p of many) budget.markRead(p);
    assert.equal(budget.readAheadRoom, 500);
  });

  test('a lease ended twice counts once', async () => {
    const { budget } = setup(300);
    const a = await budget.lease(2, 'upload');
    for (const buf of a.buffers) budget.give(buf);
    a.end();
    a.end();
    assert.equal(budget.leasedBytes, 0);
    const b = await budget.lease(1, 'upload');
    assert.equal(budget.leasedBytes, 100);
    giveBack(budget, b);
  });
});

describe('dataBudgetBytes', () => {
  const MiB = 1024 * 1024;

  test('--maxcache less the process overhead, so that RSS stays within --maxcache + 64 MiB', () => {
    assert.equal(dataBudgetBytes(200 * MiB), 200 * MiB - PROCESS_OVERHEAD_BYTES);
    assert.equal(dataBudgetBytes(1024 * MiB), 1024 * MiB - PROCESS_OVERHEAD_BYTES);
    assert.ok(PROCESS_OVERHEAD_BYTES > 0 && PROCESS_OVERHEAD_BYTES < 200 * MiB);
  });

  test('a small --maxcache keeps a floor, and never more than itself', () => {
    assert.equal(dataBudgetBytes(1 * MiB), 1 * MiB, '-Z 1 is 1 MiB of data: what the user asked');
    assert.equal(dataBudgetBytes(PROCESS_OVERHEAD_BYTES), MIN_DATA_BUDGET_BYTES);
    let last = 0;
    for (let mb = 1; mb <= 300; mb++) {
      const b = dataBudgetBytes(mb * MiB);
      assert.ok(b >= last, `the budget never shrinks as --maxcache grows (${mb} MB)`);
      assert.ok(b <= mb * MiB && b > 0);
      last = b;
    }
  });
});
