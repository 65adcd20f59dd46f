// Reads of a file that is not held locally: ranged GETs of whole chunks, a few kept in memory,
// requests for the same chunk shared, and the next chunk fetched ahead for a sequential reader.
import type { ObjectStore } from '../store/object-store.js';

const KEPT_CHUNKS = 4;

export class ChunkReader {
  private readonly chunks = new Map<number, Promise<Buffer>>();
  private lastChunkRead = -1;

  constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly size: number,
    private readonly chunkSize: number,
  ) {}

  /** Copies up to `length` bytes at `position` into `buf`; returns the count (0 at end of file). */
  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(position + length, this.size);
    let copied = 0;
    while (position + copied < end) {
      const at = position + copied;
      const index = Math.floor(at / this.chunkSize);
      const chunk = await this.chunk(index);
      const offset = at - index * this.chunkSize;
      if (offset >= chunk.length) break; // the object is shorter than it was: end of file
      copied += chunk.copy(buf, copied, offset, Math.min(chunk.length, offset + (end - at)));
    }
    return copied;
  }

  private chunk(index: number): Promise<Buffer> {
    const sequential = index === this.lastChunkRead + 1 || index === this.lastChunkRead;
    this.lastChunkRead = index;
    const chunk = this.fetch(index);
    if (sequential && index > 0) void this.fetch(index + 1).catch(() => undefined);
    return chunk;
  }

  private fetch(index: number): Promise<Buffer> {
    const start = index * this.chunkSize;
    if (start >= this.size) return Promise.resolve(Buffer.alloc(0));
    let p = this.chunks.get(index);
    if (p) {
      this.chunks.delete(index); // re-insert: most recently used last
      this.chunks.set(index, p);
      return p;
    }
    p = this.store.getRange(this.key, start, Math.min(this.size, start + this.chunkSize));
    p.catch(() => this.chunks.delete(index));
    this.chunks.set(index, p);
    while (this.chunks.size > KEPT_CHUNKS) this.chunks.delete(this.chunks.keys().next().value as number);
    return p;
  }
}
