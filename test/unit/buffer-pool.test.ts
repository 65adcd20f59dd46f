// BufferPool: buffers handed back are handed out again, and it holds (lent and idle together) no
// more memory than it is given.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/cache/buffer-pool.js';

describe('BufferPool', () => {
  test('a buffer given back is the next one taken; takeZeroed clears what it held', () => {
    const pool = new BufferPool(16, 64);
    const a = pool.take();
    assert.equal(a.length, 16);
    a.fill(7);
    pool.give(a);
    assert.equal(pool.idle, 1);
    const again = pool.take();
    assert.equal(again, a, 'the same buffer, not a new one');
    assert.equal(pool.idle, 0);
    again.fill(9);
    pool.give(again);
    const zeroed = pool.takeZeroed();
    assert.equal(zeroed, a);
    assert.ok(zeroed.equals(Buffer.alloc(16)), 'zeros, not the old bytes');
    assert.ok(pool.takeZeroed().equals(Buffer.alloc(16)), 'a new buffer is zeros too');
  });

  test('counts what it lent and what it holds', () => {
    const pool = new BufferPool(10, 1000);
    const taken = [pool.take(), pool.take(), pool.take()];
    assert.equal(pool.lentCount, 3);
    assert.equal(pool.lentBytes, 30);
    assert.equal(pool.heldBytes, 30);
    pool.give(taken.pop()!);
    assert.equal(pool.lentBytes, 20);
    assert.equal(pool.heldBytes, 30, 'an idle buffer is still memory it holds');
    pool.take();
    assert.equal(pool.heldBytes, 30, 'reused, not allocated');
  });

  test('keeps idle buffers only while lent and idle together fit in maxBytes', () => {
    const pool = new BufferPool(8, 24);
    const taken = [pool.take(), pool.take(), pool.take(), pool.take()]; // lent beyond maxBytes (a lease may be)
    assert.equal(pool.lentBytes, 32);
    pool.give(taken.pop()!);
    assert.equal(pool.idle, 0, '3 lent + 1 idle would be 32 bytes: the buffer is left to the GC');
    pool.give(taken.pop()!);
    assert.equal(pool.idle, 1, '2 lent + 1 idle is 24 bytes: kept');
    pool.give(taken.pop()!);
    pool.give(taken.pop()!);
    assert.equal(pool.idle, 3);
    assert.equal(pool.heldBytes, 24);
    const empty = new BufferPool(8, 0);
    empty.give(empty.take());
    assert.equal(empty.idle, 0);
  });

  test('a buffer of another size is refused', () => {
    const pool = new BufferPool(8, 64);
    pool.take();
    assert.throws(() => pool.give(Buffer.alloc(4)), /internal/);
    assert.equal(pool.lentCount, 1, 'the count is unchanged');
  });
});
