// The last resort for dirty data that cannot be uploaded at unmount: a copy of the file under
// --diskdir/recovery/<time>/<path>, so that nothing is dropped silently, and without hurting
// the machine: the copy is sparse (holes the file has stay holes: a 1 TB file truncated up and
// written in one place takes a page of disk), and it is made only when the disk keeps room to
// spare after it. What does not fit is not written at all; the caller names it in the log.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { FileData } from '../cache/file-data.js';

const CHUNK = 8 * 1024 * 1024;

/** Free space a recovery copy leaves on --diskdir's filesystem at least: 2% of it, and never
 *  less than 64 MiB (logs, other mounts' caches and the rest of the machine live there too). */
const RESERVE_FRACTION = 0.02;
const RESERVE_MIN = 64 * 1024 * 1024;

export interface Saved {
  file: string;
  /** Bytes of data written (holes left out). */
  bytes: number;
  /** Byte ranges of the object that were neither cached nor fetchable: left as holes (zeros). */
  missing: Array<[number, number]>;
}

/** The copy would not leave the reserve free: nothing was written. */
export class NoRoomForRecovery extends Error {
  constructor(readonly needed: number, readonly available: number) {
    super(`needs ${needed} bytes on the disk of --diskdir, which has ${available} to spare`);
    this.name = 'NoRoomForRecovery';
  }
}

/** Bytes --diskdir's filesystem can take while keeping its reserve free. */
export async function roomForRecovery(diskdir: string): Promise<number> {
  const st = await fsp.statfs(diskdir);
  const reserve = Math.max(RESERVE_MIN, st.blocks * st.bsize * RESERVE_FRACTION);
  return Math.max(0, st.bavail * st.bsize - reserve);
}

export async function saveForRecovery(data: FileData, filePath: string, diskdir: string): Promise<Saved> {
  const ranges = data.dataRanges();
  const needed = ranges.reduce((n, [start, end]) => n + (end - start), 0);
  const available = await roomForRecovery(diskdir);
  if (needed > available) throw new NoRoomForRecovery(needed, available);
  const dir = path.join(diskdir, 'recovery', new Date().toISOString().replace(/[:.]/g, '-'));
  const file = path.join(dir, filePath);
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const out = await fsp.open(file, 'w', 0o600);
  const missing: Array<[number, number]> = [];
  try {
    for (const [from, to] of ranges) {
      for (let start = from; start < to; start += CHUNK) {
        const end = Math.min(to, start + CHUNK);
        let chunk: Buffer;
        try {
          chunk = await data.bytes(start, end);
        } catch {
          // The server is gone: take what the cache holds; the rest is unknown.
          const part = data.cachedBytes(start, end);
          chunk = part.buf;
          missing.push(...part.missing);
        }
        await out.write(chunk, 0, chunk.length, start);
      }
    }
    await out.truncate(data.size); // the file's length, past its last data (a hole, on disk)
  } catch (err) {
    await out.close().catch(() => undefined);
    await fsp.rm(file, { force: true }); // half a copy (the disk filled meanwhile) helps no one
    throw err;
  }
  await out.close();
  return { file, bytes: needed, missing };
}
