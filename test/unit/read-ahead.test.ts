// ReadAhead on its own: the GETs a reader's requests earn, fed the way the kernel delivers them
// (out of order within its read-ahead window, with the odd request arriving late).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MIN_STREAM, ReadAhead } from '../../src/cache/read-ahead.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const PAGE = 128 * KiB;
const CHUNK = 10 * MiB;
const settings = { pageSize: PAGE, prefetchBytes: 20 * MiB, chunkSize: CHUNK };

/** A seeded generator, so that a failure can be replayed. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/**
 * The 128 KiB requests of a sequential read of `size` bytes from `from`, shuffled within 1 MiB
 * windows; every 40th request held back for 30 more (about 4 MiB late), as a libfuse thread that
 * lost the CPU delivers its request.
 */
function kernelOrder(from: number, size: number, random: () => number): number[] {
  const inOrder: number[] = [];
  for (let pos = from; pos < from + size; pos += PAGE) inOrder.push(pos);
  const shuffled: number[] = [];
  for (let i = 0; i < inOrder.length; i += 8) {
    const window = inOrder.slice(i, i + 8);
    for (let j = window.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [window[j], window[k]] = [window[k]!, window[j]!];
    }
    shuffled.push(...window);
  }
  const out: number[] = [];
  const late: Array<{ pos: number; due: number }> = [];
  shuffled.forEach((pos, i) => {
    if (i % 40 === 39) late.push({ pos, due: i + 30 });
    else out.push(pos);
    while (late.length > 0 && late[0]!.due <= i) out.push(late.shift()!.pos);
  });
  out.push(...late.map((l) => l.pos));
  return out;
}

function assertDisjoint(ranges: Array<[number, number]>): void {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < sorted.length; i++) {
    assert.ok(sorted[i]![0] >= sorted[i - 1]![1], `ranges ${sorted[i - 1]} and ${sorted[i]} overlap: bytes fetched twice`);
  }
}

describe('ReadAhead', () => {
  test('a 1 GiB sequential read delivered out of order, with late requests, reads ahead in whole --bufsize GETs', () => {
    const size = 1024 * MiB;
    const ra = new ReadAhead(settings);
    const ranges: Array<[number, number]> = [];
    for (const pos of kernelOrder(0, size, lcg(7))) ranges.push(...ra.note(pos, pos + PAGE, size));
    assertDisjoint(ranges);
    const covered = ranges.reduce((n, [a, b]) => n + b - a, 0);
    assert.ok(covered > size - MIN_STREAM - 2 * MiB, `read-ahead covers the file after the first MiBs (covered ${covered})`);
    const steady = ranges.filter(([a]) => a >= 64 * MiB);
    const short = steady.slice(0, -1).filter(([a, b]) => b - a !== CHUNK);
    assert.deepEqual(short, [], 'past the ramp, every GET but the last is one --bufsize long: late requests did not restart the stream');
    assert.ok(ranges.length <= size / CHUNK + 12, `${ranges.length} GETs for ${size / CHUNK} chunks`);
  });

  test('two readers of one file, their requests interleaved: each gets its own read-ahead', () => {
    const size = 1024 * MiB;
    const ra = new ReadAhead(settings);
    const ranges: Array<[number, number]> = [];
    for (let i = 0; i < 400; i++) {
      for (const base of [0, 512 * MiB]) ranges.push(...ra.note(base + i * PAGE, base + (i + 1) * PAGE, size));
    }
    assertDisjoint(ranges);
    const ahead = (lo: number, hi: number) => ranges.filter(([a]) => a >= lo && a < hi).reduce((n, [a, b]) => n + b - a, 0);
    assert.ok(ahead(0, 512 * MiB) >= 40 * MiB, `reader 1 read ahead ${ahead(0, 512 * MiB)} bytes`);
    assert.ok(ahead(512 * MiB, size) >= 40 * MiB, `reader 2 read ahead ${ahead(512 * MiB, size)} bytes`);
  });

  test('random reads of 4 KiB to 1 MiB earn no read-ahead', () => {
    const size = 1024 * MiB;
    const ra = new ReadAhead(settings);
    const random = lcg(12345);
    let ahead = 0;
    for (let i = 0; i < 200; i++) {
      const length = 4 * KiB + Math.floor(random() * (MiB - 4 * KiB));
      const offset = Math.floor(random() * (size - length));
      // The kernel splits a read into 128 KiB requests.
      for (let pos = offset; pos < offset + length; pos = (Math.floor(pos / PAGE) + 1) * PAGE) {
        for (const [a, b] of ra.note(pos, Math.min(offset + length, (Math.floor(pos / PAGE) + 1) * PAGE), size)) ahead += b - a;
      }
    }
    assert.equal(ahead, 0);
  });

  test('the read-ahead window grows with the stream, up to --prefetchsize; none with --prefetchsize 0', () => {
    const size = 256 * MiB;
    const ra = new ReadAhead(settings);
    let maxAhead = 0;
    let fetchedTo = 0;
    for (let pos = 0; pos < 100 * MiB; pos += PAGE) {
      for (const [, b] of ra.note(pos, pos + PAGE, size)) fetchedTo = Math.max(fetchedTo, b);
      maxAhead = Math.max(maxAhead, fetchedTo - (pos + PAGE));
      if (pos + PAGE < MIN_STREAM) assert.equal(fetchedTo, 0, 'no read-ahead below MIN_STREAM');
    }
    assert.ok(maxAhead <= settings.prefetchBytes, `at most --prefetchsize ahead (was ${maxAhead})`);
    assert.ok(maxAhead >= settings.prefetchBytes - CHUNK, `a long reader gets most of the window (was ${maxAhead})`);
    const none = new ReadAhead({ ...settings, prefetchBytes: 0 });
    for (let pos = 0; pos < 50 * MiB; pos += PAGE) assert.deepEqual(none.note(pos, pos + PAGE, size), []);
  });

  test('the end of the object is fetched to the last byte; a request ahead of the read-ahead rides on its GET', () => {
    const size = 30 * MiB + 5000;
    const ra = new ReadAhead(settings);
    const ranges: Array<[number, number]> = [];
    for (let pos = 0; pos < size; pos += PAGE) {
      const got = ra.note(pos, Math.min(size, pos + PAGE), size);
      for (const [a, b] of got) assert.ok(b <= size && a < b);
      ranges.push(...got);
    }
    assertDisjoint(ranges);
    assert.equal(Math.max(...ranges.map(([, b]) => b)), size, 'the last GET ends at the object\'s end');

    // A stream whose reader jumps ahead of its read-ahead, within the slack: the GET starts at
    // the read-ahead's end and covers the request.
    const jump = new ReadAhead(settings);
    for (let pos = 0; pos < 4 * MiB; pos += PAGE) jump.note(pos, pos + PAGE, 1024 * MiB);
    jump.forgetPrefetched();
    const at = 5 * MiB;
    const got = jump.note(at, at + PAGE, 1024 * MiB);
    assert.ok(got.length > 0 && got[0]![0] <= at && got.some(([a, b]) => a <= at && b >= at + PAGE), `the request at ${at} is covered: ${JSON.stringify(got)}`);
  });
  test('read-ahead goes only as far as memory has room; the rest is offered again later, and a waiting reader is always served', () => {
    const size = 256 * MiB;
    const ra = new ReadAhead(settings);
    let fetchedTo = 0;
    let pos = 0;
    for (; pos < 30 * MiB; pos += PAGE) { // a long stream: the full window
      for (const [, b] of ra.note(pos, pos + PAGE, size)) fetchedTo = Math.max(fetchedTo, b);
    }
    assert.ok(fetchedTo - pos >= settings.prefetchBytes - CHUNK, 'with room, most of the window is fetched ahead');
    // Memory is full: reads go on, inside what was fetched, and nothing more is asked for.
    const reached = fetchedTo;
    for (; pos < reached; pos += PAGE) assert.deepEqual(ra.note(pos, pos + PAGE, size, 0), [], `no read-ahead without room (at ${pos})`);
    // The reader is past the read-ahead now: the step it is in is fetched all the same.
    const got = ra.note(pos, pos + PAGE, size, 0);
    assert.equal(got.length, 1, 'just the step holding the request');
    assert.ok(got[0]![0] <= pos && got[0]![1] >= pos + PAGE && got[0]![1] - got[0]![0] <= CHUNK, JSON.stringify(got));
    // Some room: whole steps within it only.
    const some = ra.note(pos + PAGE, pos + 2 * PAGE, size, CHUNK + PAGE);
    assert.equal(some.reduce((n, [a, b]) => n + b - a, 0), CHUNK, 'one whole step fits in the room given');
    // Room again: read-ahead goes on from where it stopped, neither skipping nor fetching again.
    let rest: Array<[number, number]> = [];
    for (let at = pos + 2 * PAGE; rest.length === 0 && at < size; at += PAGE) rest = ra.note(at, at + PAGE, size);
    assert.equal(rest[0]![0], some[some.length - 1]![1], `read-ahead resumes where it stopped: ${JSON.stringify({ some, rest })}`);
    assertDisjoint([...got, ...some, ...rest]);
  });

  test('near the end of the object, the last piece waits for room too', () => {
    const size = 12 * MiB + 5000;
    const ra = new ReadAhead(settings);
    const ranges: Array<[number, number]> = [];
    for (let pos = 0; pos < 3 * MiB; pos += PAGE) ranges.push(...ra.note(pos, pos + PAGE, size, 0));
    assert.ok(Math.max(0, ...ranges.map(([, b]) => b)) < size, 'without room the tail is not fetched ahead');
  });
});
