// Reads and writes through the POSIX layer (no FUSE), for the tests of src/fs.
import assert from 'node:assert/strict';
import type { Filesystem } from '../../src/fs/filesystem.js';

/** Writes all of `data` at `position` through a handle. */
export async function writeAt(fs: Filesystem, fh: number, data: Buffer | string, position: number): Promise<void> {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  assert.equal(await fs.write(fh, buf, buf.length, position), buf.length);
}

/** Up to `length` bytes at `position` through a handle (fewer at the end of the file). */
export async function readAt(fs: Filesystem, fh: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const n = await fs.read(fh, buf, length, position);
  return buf.subarray(0, n);
}
