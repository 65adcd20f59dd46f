// The last resort for dirty data that cannot be uploaded at unmount: a plain copy of the file
// under --diskdir/recovery/<time>/<path>, so that nothing is dropped silently.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { FileData } from '../cache/file-data.js';

const CHUNK = 8 * 1024 * 1024;

export interface Saved {
  file: string;
  /** Byte ranges of the object that were neither cached nor fetchable: written as zeros. */
  missing: Array<[number, number]>;
}

export async function saveForRecovery(data: FileData, filePath: string, diskdir: string): Promise<Saved> {
  const dir = path.join(diskdir, 'recovery', new Date().toISOString().replace(/[:.]/g, '-'));
  const file = path.join(dir, filePath);
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const out = await fsp.open(file, 'w', 0o600);
  const missing: Array<[number, number]> = [];
  try {
    for (let start = 0; start < data.size; start += CHUNK) {
      const end = Math.min(data.size, start + CHUNK);
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
  } finally {
    await out.close();
  }
  return { file, missing };
}
