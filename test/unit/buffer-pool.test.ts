// BufferPool: buffers handed back are handed out again, up to the number it keeps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../../src/cache/buffer-pool.js';

describe('BufferPool', () => {
  test('a buffer given back is the next one taken; takeZeroed clears what it held', () => {
    const pool = new BufferPool(16, 4);
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

  test('keeps at most maxFree idle buffers, and only ones of its size', () => {
    const pool = new BufferPool(8, 2);
    const taken = [pool.take(), pool.take(), pool.take()];
    for (const b of taken) pool.give(b);
    assert.equal(pool.idle, 2, 'the third is left to the GC');
    pool.give(Buffer.alloc(4));
    assert.equal(pool.idle, 2);
    const empty = new BufferPool(8, 0);
    empty.give(empty.take());
    assert.equal(empty.idle, 0);
  });
});
