// One file's pages on local disk, under --diskdir, in a sparse file named by a hash of the key
// (never by its base name). Page i lives at offset i * pageSize.
// Synchronous I/O on purpose: a page moves to disk or back in one step, so no request can see
// it half-moved, and it is local disk (page cache), never the mount itself.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';

export class SpillFile {
  private fd: number;
  readonly file: string;

  constructor(diskdir: string, key: string, private readonly pageSize: number) {
    mkdirSync(diskdir, { recursive: true, mode: 0o700 });
    this.file = path.join(diskdir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}-${randomBytes(4).toString('hex')}`);
    this.fd = openSync(this.file, 'w+', 0o600);
  }

  /** Writes `data` into page `index` at `offset` within the page. */
  write(index: number, data: Buffer, offset: number): void {
    let done = 0;
    const at = index * this.pageSize + offset;
    while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, at + done);
  }

  /** Reads `length` bytes of page `index` from `offset` in the page into `target` at `at`. */
  read(index: number, target: Buffer, at: number, offset: number, length: number): void {
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, target, at + done, length - done, index * this.pageSize + offset + done);
      if (n === 0) {
        target.fill(0, at + done, at + length); // never written past here: a hole reads as zeros
        return;
      }
      done += n;
    }
  }

  discard(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    rmSync(this.file, { force: true });
  }
}
