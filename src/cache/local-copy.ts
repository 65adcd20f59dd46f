// A file's data on local disk while it is being changed: a sparse temporary file under
// --diskdir, named by a hash of the key (never by its base name, which may collide or leak).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export class LocalCopy {
  private constructor(readonly file: string, private readonly handle: fsp.FileHandle, public size: number) {}

  static async create(diskdir: string, key: string): Promise<LocalCopy> {
    const name = `${createHash('sha256').update(key).digest('hex').slice(0, 32)}-${randomBytes(4).toString('hex')}`;
    const file = path.join(diskdir, name);
    const handle = await fsp.open(file, 'w+', 0o600);
    return new LocalCopy(file, handle, 0);
  }

  /** Copies a stream (a download) to the start of the file. */
  async fill(source: Readable): Promise<void> {
    let offset = 0;
    for await (const chunk of source as AsyncIterable<Buffer>) {
      await this.writeFully(chunk, chunk.length, offset);
      offset += chunk.length;
    }
    this.size = offset;
  }

  async write(buf: Buffer, length: number, position: number): Promise<void> {
    await this.writeFully(buf, length, position);
    this.size = Math.max(this.size, position + length);
  }

  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const want = Math.max(0, Math.min(length, this.size - position));
    let done = 0;
    while (done < want) {
      const { bytesRead } = await this.handle.read(buf, done, want - done, position + done);
      if (bytesRead === 0) break; // a hole at the end of a sparse file reads as zeros below
      done += bytesRead;
    }
    if (done < want) buf.fill(0, done, want);
    return want;
  }

  async truncate(size: number): Promise<void> {
    await this.handle.truncate(size);
    this.size = size;
  }

  /** The file's current content, for an upload. */
  stream(): Readable {
    return createReadStream(this.file, { start: 0, end: Math.max(0, this.size - 1), highWaterMark: 1 << 20, emitClose: true })
      .on('error', () => { /* surfaced to the consumer */ });
  }

  async discard(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await fsp.rm(this.file, { force: true });
  }

  private async writeFully(buf: Buffer, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await this.handle.write(buf, done, length - done, position + done);
      done += bytesWritten;
    }
  }
}
