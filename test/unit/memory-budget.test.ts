// MemoryBudget on its own: fake pages and a fake owner that records what the budget asks of it
// (evict / spill) and, like FileData, tells the budget the page left memory.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBudget, type CachedPage, type PageOwner } from '../../src/cache/memory-budget.js';

class FakePage implements CachedPage {
  memoryBytes: number;
  dirty: boolean;
  pinned: boolean;

  constructor(readonly name: string, memoryBytes: number, o: { dirty?: boolean; pinned?: boolean } = {}) {
    this.memoryBytes = memoryBytes;
    this.dirty = o.dirty ?? false;
    this.pinned = o.pinned ?? false;
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
    this.budget.remove(page, page.memoryBytes);
    page.memoryBytes = 0;
  }

  spill(page: FakePage): void {
    assert.equal(page.dirty, true, `spill was asked for the clean page ${page.name}`);
    this.calls.push(`spill:${page.name}`);
    if (this.spillError) throw this.spillError;
    this.spilled.push(page.name);
    this.budget.remove(page, page.memoryBytes);
    page.memoryBytes = 0;
  }
}

function setup(limit: number): { budget: MemoryBudget<FakePage>; owner: FakeOwner } {
  const budget = new MemoryBudget<FakePage>(limit);
  const owner = new FakeOwner();
  owner.budget = budget;
  return { budget, owner };
}

/** Adds pages in order (oldest first). */
function addAll(budget: MemoryBudget<FakePage>, owner: FakeOwner, pages: FakePage[]): void {
  for (const p of pages) budget.add(p, owner);
}

describe('MemoryBudget', () => {
  test('the limit is the one given', () => {
    assert.equal(new MemoryBudget<FakePage>(12345).limitBytes, 12345);
  });

  test('usedBytes follows add and remove', () => {
    const { budget, owner } = setup(1000);
    assert.equal(budget.usedBytes, 0);
    const a = new FakePage('a', 100);
    const b = new FakePage('b', 250, { dirty: true });
    const c = new FakePage('c', 7);
    addAll(budget, owner, [a, b, c]);
    assert.equal(budget.usedBytes, 357);
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
    const pages = [new FakePage('a', 100), new FakePage('b', 100, { dirty: true }), new FakePage('c', 100)];
    addAll(budget, owner, pages);
    budget.trim();
    assert.deepEqual(owner.calls, [], 'exactly at the limit: nothing evicted or spilled');
    assert.equal(budget.usedBytes, 300);
    budget.remove(pages[2]!, 100);
    budget.trim();
    assert.deepEqual(owner.calls, []);
    assert.equal(budget.usedBytes, 200);
  });

  test('over the limit, clean pages are evicted oldest first, just enough to fit', () => {
    const { budget, owner } = setup(300);
    const pages = ['a', 'b', 'c', 'd', 'e'].map((n) => new FakePage(n, 100));
    addAll(budget, owner, pages);
    assert.equal(budget.usedBytes, 500);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a', 'b'], 'the two oldest pages go, no more');
    assert.deepEqual(owner.spilled, []);
    assert.equal(budget.usedBytes, 300);
    // the evicted pages left the order: going over again evicts the next oldest
    budget.add(new FakePage('f', 100), owner);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a', 'b', 'c']);
    assert.equal(budget.usedBytes, 300);
  });

  test('touch moves a page to the newest end', () => {
    const { budget, owner } = setup(300);
    const pages = ['a', 'b', 'c', 'd', 'e'].map((n) => new FakePage(n, 100));
    addAll(budget, owner, pages);
    budget.touch(pages[0]!); // a is now the newest
    budget.touch(pages[2]!); // then c
    budget.trim();
    assert.deepEqual(owner.evicted, ['b', 'd'], 'a and c were used lately: b and d are the oldest');
    assert.equal(budget.usedBytes, 300);
  });

  test('touch of a page not in the budget neither adds nor counts it', () => {
    const { budget, owner } = setup(100);
    const a = new FakePage('a', 100);
    budget.add(a, owner);
    const stranger = new FakePage('stranger', 100);
    budget.touch(stranger);
    assert.equal(budget.usedBytes, 100);
    budget.add(new FakePage('b', 100), owner);
    budget.trim();
    assert.deepEqual(owner.evicted, ['a'], 'the stranger was never in the order, so it is never evicted');
  });

  test('pinned clean pages are never evicted, even when the budget stays over its limit', () => {
    const { budget, owner } = setup(200);
    const a = new FakePage('a', 100, { pinned: true });
    const b = new FakePage('b', 100);
    const c = new FakePage('c', 100, { pinned: true });
    const d = new FakePage('d', 100);
    addAll(budget, owner, [a, b, c, d]);
    budget.trim();
    assert.deepEqual(owner.evicted, ['b', 'd'], 'the pinned a and c are skipped');
    assert.equal(budget.usedBytes, 200);

    const all = setup(100);
    const pinned = ['p', 'q', 'r'].map((n) => new FakePage(n, 100, { pinned: true }));
    addAll(all.budget, all.owner, pinned);
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
    const pages = [
      new FakePage('d1', 100, { dirty: true }),
      new FakePage('d2', 100, { dirty: true }),
      new FakePage('c1', 100),
      new FakePage('c2', 100),
      new FakePage('c3', 100),
    ];
    addAll(budget, owner, pages);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'evict:c2'], 'the two oldest clean pages go; the dirty ones stay in memory');
    assert.equal(budget.usedBytes, 300);
  });

  test('dirty pages are spilled (oldest first) only once every evictable clean page is gone', () => {
    const { budget, owner } = setup(100);
    const pages = [
      new FakePage('d1', 100, { dirty: true }),
      new FakePage('c1', 100),
      new FakePage('d2', 100, { dirty: true }),
      new FakePage('p1', 100, { pinned: true }), // clean and pinned: neither evicted nor spilled
      new FakePage('d3', 100, { dirty: true }),
      new FakePage('c2', 100),
    ];
    addAll(budget, owner, pages);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'evict:c2', 'spill:d1', 'spill:d2', 'spill:d3'],
      'every clean unpinned page is evicted first, then dirty pages move to disk oldest first');
    assert.deepEqual(owner.evicted, ['c1', 'c2'], 'no dirty page is ever evicted');
    assert.equal(budget.usedBytes, 100, 'only the pinned clean page is left in memory');
  });

  test('spilling stops as soon as memory fits', () => {
    const { budget, owner } = setup(250);
    const pages = [
      new FakePage('c1', 100),
      new FakePage('d1', 100, { dirty: true }),
      new FakePage('d2', 100, { dirty: true }),
      new FakePage('d3', 100, { dirty: true }),
    ];
    addAll(budget, owner, pages);
    budget.trim();
    assert.deepEqual(owner.calls, ['evict:c1', 'spill:d1']);
    assert.equal(budget.usedBytes, 200);
  });

  test('a dirty page in use by a write (pinned) may still be spilled', () => {
    const { budget, owner } = setup(0);
    const a = new FakePage('a', 100, { dirty: true, pinned: true });
    budget.add(a, owner);
    budget.trim();
    assert.deepEqual(owner.calls, ['spill:a'], 'pinning protects from eviction only: a dirty page can always move to disk');
    assert.equal(budget.usedBytes, 0);
  });

  test('an owner that cannot spill (ENOSPC) makes trim throw, and nothing is lost from the count', () => {
    const { budget, owner } = setup(100);
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    owner.spillError = enospc;
    const pages = [new FakePage('c1', 100), new FakePage('d1', 100, { dirty: true }), new FakePage('d2', 100, { dirty: true })];
    addAll(budget, owner, pages);
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
    addAll(budget, owner, [new FakePage('d1', 100, { dirty: true }), new FakePage('c1', 100), new FakePage('d2', 100, { dirty: true })]);
    assert.doesNotThrow(() => budget.trim(), 'a full disk does not matter while memory can be freed by eviction');
    assert.deepEqual(owner.calls, ['evict:c1']);
    assert.equal(budget.usedBytes, 200);
  });

  test('pages of several owners share one order', () => {
    const budget = new MemoryBudget<FakePage>(200);
    const one = new FakeOwner();
    const two = new FakeOwner();
    one.budget = budget;
    two.budget = budget;
    budget.add(new FakePage('1a', 100), one);
    budget.add(new FakePage('2a', 100), two);
    budget.add(new FakePage('1b', 100), one);
    budget.add(new FakePage('2b', 100, { dirty: true }), two);
    budget.trim();
    assert.deepEqual(one.evicted, ['1a'], 'the oldest page overall belongs to the first owner');
    assert.deepEqual(two.evicted, ['2a'], 'its own owner is asked to evict each page');
    assert.equal(budget.usedBytes, 200);
  });
});
