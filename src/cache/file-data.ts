// The data of one file while it is open (and, clean, for a while after): fixed-size pages in
// memory or spilled to disk, the object they came from, and what changed since the last
// upload. Pages of the object are fetched on demand with ranged GETs; misses arriving together
// share one request, and a sequential reader gets read-ahead.
//
// Regions of the file:
//   [0, baseSize)    the object's bytes, unless a page holds newer ones
//   [baseSize, size) zeros, unless a page holds written bytes
// Invariant: bytes of a page past `size` are zero.
import type { LimitFunction } from 'p-limit';
import type { Logger } from '../log.js';
import type { ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import { md5Hex } from '../transfer/md5.js';
import type { CachedPage, MemoryBudget, PageOwner } from './memory-budget.js';
import { SpillFile } from './spill-file.js';

/** The kernel sends reads and writes of up to 128 KiB: one page each when aligned. */
export const PAGE_SIZE = 128 * 1024;

export class Page implements CachedPage {
  /** PAGE_SIZE bytes in memory (possibly a view into a larger fetched chunk), or null. */
  buf: Buffer | null = null;
  onDisk = false;
  /** Generation of the last change; 0 when the page matches the object. */
  dirtyGen = 0;
  /** Held by a write in progress: not to be evicted meanwhile. */
  pins = 0;

  constructor(readonly index: number) {}

  get memoryBytes(): number {
    return this.buf ? PAGE_SIZE : 0;
  }

  get dirty(): boolean {
    return this.dirtyGen > 0;
  }

  get pinned(): boolean {
    return this.pins > 0;
  }
}

export interface FileDataEnv {
  store: ObjectStore;
  budget: MemoryBudget<Page>;
  diskdir: string;
  /** Bounds the GETs in flight across all files (--numtransfer). */
  downloads: LimitFunction;
  /** Size of the GETs that serve sequential reads (--bufsize). */
  chunkSize: number;
  /** Read-ahead of a sequential reader, bytes (0: none). */
  prefetchBytes: number;
  /** -m: check whole-object downloads of single-part objects against their ETag. */
  verifyMd5: boolean;
  log: Logger;
}

/** A page's bytes as fetched (PAGE_SIZE long), or null when it lies past the object. */
type PageBytes = Buffer | null;

interface Waiter {
  resolve: (bytes: PageBytes) => void;
  reject: (err: unknown) => void;
}

const MiB = 1024 * 1024;
/**
 * How far out of order a stream's requests may arrive and still count as sequential: the
 * kernel's read-ahead (1 MiB windows, see mount.ts, the next sent before the last is read)
 * keeps up to about 2 MiB of requests in flight, in any order.
 */
const STREAM_SLACK = 16 * PAGE_SIZE;
/**
 * Our read-ahead starts once a stream is this long. Below it the kernel's own read-ahead covers
 * the reader, and a single large random read (up to 1 MiB, arriving as 8 requests at once) is
 * fetched as asked, in one GET, rather than taken for the start of a stream.
 */
const MIN_STREAM = 16 * PAGE_SIZE;
/** A miss waits until no other miss came for this long (ms), or MAX_QUEUE_MS, to share a GET. */
const QUIET_MS = 0.25;
const MAX_QUEUE_MS = 1;
const pageOf = (offset: number): number => Math.floor(offset / PAGE_SIZE);

export class FileData implements PageOwner<Page> {
  size: number;
  /** Bytes at the start of the object that still hold this file's content. */
  baseSize: number;
  /** The object as last seen or stored: its ETag and size ('' and 0 for none). */
  etag: string;
  remoteSize: number;
  generation = 0;
  private cleanGeneration = 0;
  /** Generation of the last truncate: regions past baseSize changed then. */
  baseChangedGen = 0;
  /** Lowest size reached since the upload in progress captured the file. */
  private lowWater = Infinity;
  private readonly pages = new Map<number, Page>();
  private readonly fetches = new Map<number, Promise<PageBytes>>();
  private readonly queued = new Map<number, Waiter>();
  private queueTimer: NodeJS.Immediate | null = null;
  private lastQueuedAt = 0;
  private spillFile: SpillFile | null = null;
  /** The current read stream: where it started and how far it has read. */
  private streamStart = 0;
  private readEnd = -1;
  private prefetchedTo = 0;

  constructor(public key: string, remote: { etag: string; size: number } | null, private readonly env: FileDataEnv) {
    this.etag = remote?.etag ?? '';
    this.remoteSize = remote?.size ?? 0;
    this.size = this.remoteSize;
    this.baseSize = this.remoteSize;
  }

  get dirty(): boolean {
    return this.generation > this.cleanGeneration;
  }

  /** Where the spilled pages are, for messages about unsaved data. */
  get spillPath(): string | undefined {
    return this.spillFile?.file;
  }

  // ---- reading ------------------------------------------------------------------------------

  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(position + length, this.size);
    if (end <= position) return 0;
    this.notePattern(position, end);
    await this.copyWhenPresent(buf, position, end);
    return end - position;
  }

  /** A copy of bytes [start, end): the body of an upload. */
  async bytes(start: number, end: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(end - start);
    await this.copyWhenPresent(out, start, end);
    return out;
  }

  /**
   * Copies [start, end) into `target`: pages here now are copied at once, the others as their
   * GETs arrive, straight from the fetched bytes. (Waiting until all are cached together could
   * wait forever when other files keep evicting them from a small --maxcache.)
   */
  private async copyWhenPresent(target: Buffer, start: number, end: number): Promise<void> {
    const later: Array<{ at: number; offset: number; n: number; bytes: Promise<PageBytes> }> = [];
    for (let pos = start; pos < end;) {
      const index = pageOf(pos);
      const offset = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - offset, end - pos);
      if (this.pages.has(index) || index * PAGE_SIZE >= this.baseSize) this.copyOut(target, pos - start, pos, pos + n);
      else later.push({ at: pos - start, offset, n, bytes: this.fetchPage(index) });
      pos += n;
    }
    for (const part of later) {
      const bytes = await part.bytes;
      if (bytes) bytes.copy(target, part.at, part.offset, part.offset + part.n);
      else target.fill(0, part.at, part.at + part.n);
    }
  }

  /** The page's bytes from a GET already under way, or from a new one. */
  private fetchPage(index: number): Promise<PageBytes> {
    return this.fetches.get(index) ?? this.queueFetch(index);
  }

  /** The page in the cache, fetched if need be; for changing part of it. */
  private async ensurePage(index: number): Promise<Page> {
    const here = this.pages.get(index);
    if (here) return here;
    const bytes = await this.fetchPage(index);
    const again = this.pages.get(index);
    if (again) return again;
    const page = new Page(index);
    page.buf = bytes ?? Buffer.alloc(PAGE_SIZE);
    this.pages.set(index, page);
    this.env.budget.add(page, this);
    return page;
  }

  /**
   * Brings every byte of the object into the cache and pins it there (as if written), for a
   * file whose object is about to be deleted while handles still read it.
   */
  async detachFromObject(): Promise<void> {
    const gen = ++this.generation;
    for (let i = 0; i * PAGE_SIZE < this.baseSize; i++) {
      (await this.ensurePage(i)).dirtyGen = gen; // dirty pages are spilled, never dropped
    }
    this.baseSize = 0;
    this.baseChangedGen = gen;
  }

  private copyOut(target: Buffer, at: number, start: number, end: number): void {
    let pos = start;
    while (pos < end) {
      const index = pageOf(pos);
      const offset = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - offset, end - pos);
      const page = this.pages.get(index);
      if (page?.buf) {
        page.buf.copy(target, at + pos - start, offset, offset + n);
        this.env.budget.touch(page);
      } else if (page?.onDisk) {
        this.spillFile!.read(index, target, at + pos - start, offset, n);
      } else if (index * PAGE_SIZE < this.baseSize) {
        throw new Error(`internal: page ${index} of ${this.key} is not cached`); // never serve a hole as data
      } else {
        target.fill(0, at + pos - start, at + pos - start + n); // past the object: zeros
      }
      pos += n;
    }
  }

  /**
   * Sequential readers get read-ahead; a random reader fetches only what it asks for. The
   * kernel's requests of one stream arrive up to a few pages out of order, so "sequential"
   * means near where the stream is. Past MIN_STREAM the window is as long as the stream has
   * been (up to --prefetchsize), so a long sequential reader soon gets the full window.
   */
  private notePattern(position: number, end: number): void {
    if (Math.abs(position - this.readEnd) > STREAM_SLACK) {
      this.streamStart = position;
      this.readEnd = end;
      this.prefetchedTo = end;
      return;
    }
    this.readEnd = Math.max(this.readEnd, end);
    if (this.env.prefetchBytes === 0) return;
    if (this.readEnd - this.streamStart < MIN_STREAM) return;
    const window = Math.min(this.env.prefetchBytes, Math.max(2 * PAGE_SIZE, this.readEnd - this.streamStart));
    const target = Math.min(this.baseSize, this.readEnd + window);
    // From the page of this request on: a request the read-ahead has not reached yet rides on
    // the read-ahead's GET instead of costing a GET of its own.
    const from = Math.max(this.prefetchedTo, pageOf(position) * PAGE_SIZE);
    if (from >= target) return;
    // Only in pieces worth a request: half the window (1 MiB to --bufsize). Each GET costs a few
    // ms of CPU in the SDK, so fewer, larger GETs read faster than one per transfer slot.
    const share = Math.max(Math.min(window, MiB), Math.floor(window / 2));
    const step = Math.ceil(Math.min(this.env.chunkSize, share) / PAGE_SIZE) * PAGE_SIZE;
    const requestUncovered = from <= position;
    if (!requestUncovered && target - from < step && target < this.baseSize) return;
    for (let c = from; c < target; c += step) this.fetchMissing(c, Math.min(c + step, target));
    this.prefetchedTo = target;
  }

  /** Starts GETs for the missing pages of [start, end), one per contiguous run. */
  private fetchMissing(start: number, end: number): void {
    let runStart = -1;
    const last = pageOf(end - 1);
    for (let i = pageOf(start); i <= last + 1; i++) {
      const missing = i <= last && !this.pages.has(i) && !this.fetches.has(i);
      if (missing && runStart < 0) runStart = i;
      if (!missing && runStart >= 0) {
        this.startFetch(runStart, i - 1, new Map());
        runStart = -1;
      }
    }
  }

  /** Queues one page; misses queued in the same turn of the event loop share GETs. */
  private queueFetch(index: number): Promise<PageBytes> {
    let waiter!: Waiter;
    const p = new Promise<PageBytes>((resolve, reject) => { waiter = { resolve, reject }; });
    p.catch(() => undefined);
    this.fetches.set(index, p);
    this.queued.set(index, waiter);
    this.lastQueuedAt = performance.now();
    if (!this.queueTimer) {
      const first = this.lastQueuedAt;
      this.queueTimer = setImmediate(() => this.flushWhenQuiet(first));
    }
    return p;
  }

  /**
   * The pieces of one large read reach us one libfuse thread at a time, tens to hundreds of
   * microseconds apart (libfuse starts a thread per concurrent request); a miss waits, turn by
   * turn of the event loop, until the misses stop coming, so that they share one GET.
   */
  private flushWhenQuiet(first: number): void {
    const now = performance.now();
    if (now - this.lastQueuedAt < QUIET_MS && now - first < MAX_QUEUE_MS) {
      this.queueTimer = setImmediate(() => this.flushWhenQuiet(first));
      return;
    }
    this.flushQueue();
  }

  private flushQueue(): void {
    this.queueTimer = null;
    const waiters = new Map(this.queued);
    this.queued.clear();
    const indices = [...waiters.keys()].sort((a, b) => a - b);
    const maxPages = Math.max(1, Math.floor(this.env.chunkSize / PAGE_SIZE));
    let first = 0;
    for (let i = 1; i <= indices.length; i++) {
      if (i === indices.length || indices[i] !== indices[i - 1]! + 1 || i - first >= maxPages) {
        this.startFetch(indices[first]!, indices[i - 1]!, waiters);
        first = i;
      }
    }
  }

  /** One ranged GET for pages [first, last]; settles their waiters with each page's bytes. */
  private startFetch(first: number, last: number, waiters: Map<number, Waiter>): void {
    const done = this.env.downloads(() => this.fetchPages(first, last));
    done.catch(() => undefined);
    for (let i = first; i <= last; i++) {
      const waiter = waiters.get(i);
      if (!waiter) {
        const bytes = done.then((pages) => pages.get(i) ?? null); // read-ahead: readers wait on the GET itself
        bytes.catch(() => undefined);
        this.fetches.set(i, bytes);
      }
      const tracked = this.fetches.get(i);
      done.then((pages) => waiter?.resolve(pages.get(i) ?? null), (err: unknown) => waiter?.reject(err)).finally(() => {
        if (this.fetches.get(i) === tracked) this.fetches.delete(i);
      });
    }
  }

  /** GETs pages [first, last] into the cache; returns each page's bytes as they are now. */
  private async fetchPages(first: number, last: number): Promise<Map<number, PageBytes>> {
    const result = new Map<number, PageBytes>();
    const start = first * PAGE_SIZE;
    const end = Math.min((last + 1) * PAGE_SIZE, this.baseSize);
    if (end <= start) return result;
    const data = await this.env.store.getRange(this.key, start, end);
    return this.keepFetched(first, last, start, end, data);
  }

  /**
   * The first bytes of the object, fetched by open() in the same GET that revalidated it:
   * kept as if a read had fetched them.
   */
  adoptFetchedStart(data: Buffer): void {
    const end = Math.min(data.length, this.baseSize);
    if (end > 0) this.keepFetched(0, Math.ceil(end / PAGE_SIZE) - 1, 0, end, data);
  }

  /** Checks the bytes of a GET of [start, end) and caches them as pages [first, last]. */
  private keepFetched(first: number, last: number, start: number, end: number, data: Buffer): Map<number, PageBytes> {
    const result = new Map<number, PageBytes>();
    if (data.length < end - start && end <= this.baseSize) {
      // The object is shorter than the data we believe it holds: another client replaced it.
      // Fail the read (EIO) rather than ask again and again for bytes that are not there.
      throw new StoreError('server', `GET ${this.key} bytes=${start}-${end - 1}: the object is shorter than expected (changed by another client?)`);
    }
    if (this.env.verifyMd5 && start === 0 && data.length === this.remoteSize && /^[0-9a-f]{32}$/.test(this.etag)
      && md5Hex(data) !== this.etag) {
      throw new StoreError('server', `GET ${this.key}: the data does not match its ETag (MD5)`);
    }
    // The file may have changed while the GET ran: a page now here wins over the fetched bytes,
    // and bytes past the (possibly lowered) base are not the file's.
    const usable = Math.min(data.length, Math.max(0, this.baseSize - start));
    for (let i = first; i <= last; i++) {
      const from = (i - first) * PAGE_SIZE;
      const here = this.pages.get(i);
      if (here) {
        result.set(i, this.pageBytes(here));
        continue;
      }
      if (from >= usable) break;
      const page = new Page(i);
      if (from + PAGE_SIZE <= usable) {
        page.buf = data.subarray(from, from + PAGE_SIZE);
      } else {
        page.buf = Buffer.alloc(PAGE_SIZE);
        data.copy(page.buf, 0, from, usable);
      }
      this.pages.set(i, page);
      this.env.budget.add(page, this);
      result.set(i, page.buf);
    }
    this.trimQuietly();
    return result;
  }

  /** A page's current bytes (from memory, or read back from disk). */
  private pageBytes(page: Page): Buffer {
    if (page.buf) return page.buf;
    const copy = Buffer.alloc(PAGE_SIZE);
    this.spillFile!.read(page.index, copy, 0, 0, PAGE_SIZE);
    return copy;
  }

  // ---- writing ------------------------------------------------------------------------------

  async write(buf: Buffer, length: number, position: number): Promise<void> {
    const end = position + length;
    // A page partly overwritten keeps the rest of its object bytes: those are fetched first, and
    // the page is pinned so that making room below cannot drop it before it is written.
    const pinned: Page[] = [];
    for (const index of new Set([pageOf(position), pageOf(end - 1)])) {
      if (!this.needsFetchBeforeWrite(index, position, end)) continue;
      const page = await this.ensurePage(index);
      page.pins++;
      pinned.push(page);
    }
    try {
      this.env.budget.trim(); // may spill pages to disk; ENOSPC reaches this writer
      this.writeNow(buf, length, position);
    } finally {
      for (const page of pinned) page.pins--;
    }
  }

  /** The write itself: synchronous, so no other request sees it half done. */
  private writeNow(buf: Buffer, length: number, position: number): void {
    const end = position + length;
    const gen = ++this.generation;
    let pos = position;
    while (pos < end) {
      const index = pageOf(pos);
      const offset = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - offset, end - pos);
      let page = this.pages.get(index);
      if (!page) {
        page = new Page(index);
        // A whole-page write needs no zeroing; otherwise the rest of the page is zeros.
        page.buf = n === PAGE_SIZE ? Buffer.allocUnsafe(PAGE_SIZE) : Buffer.alloc(PAGE_SIZE);
        this.pages.set(index, page);
        this.env.budget.add(page, this);
      }
      if (page.buf) {
        buf.copy(page.buf, offset, pos - position, pos - position + n);
        this.env.budget.touch(page);
      } else {
        this.spillFile!.write(index, buf.subarray(pos - position, pos - position + n), offset);
      }
      page.dirtyGen = gen;
      pos += n;
    }
    this.size = Math.max(this.size, end);
  }

  private needsFetchBeforeWrite(index: number, start: number, end: number): boolean {
    if (this.pages.has(index)) return false;
    const pageStart = index * PAGE_SIZE;
    const objectEnd = Math.min(pageStart + PAGE_SIZE, this.baseSize);
    if (objectEnd <= pageStart) return false; // nothing of the object in this page
    return start > pageStart || end < objectEnd;
  }

  async truncate(newSize: number): Promise<void> {
    if (newSize === this.size) return;
    const gen = ++this.generation;
    if (newSize < this.size) {
      for (const [index, page] of this.pages) {
        if (index * PAGE_SIZE >= newSize) this.dropPage(page);
      }
      const tail = newSize % PAGE_SIZE;
      const partial = this.pages.get(pageOf(newSize));
      if (partial && tail > 0) {
        if (partial.buf) partial.buf.fill(0, tail);
        else this.spillFile!.write(partial.index, Buffer.alloc(PAGE_SIZE - tail), tail);
        partial.dirtyGen = gen;
      }
      this.baseSize = Math.min(this.baseSize, newSize);
      this.lowWater = Math.min(this.lowWater, newSize);
    }
    this.size = newSize;
    this.baseChangedGen = gen;
  }

  // ---- uploads ------------------------------------------------------------------------------

  /** Newest change within [start, end): the generation a stored copy of it must have. */
  changedGeneration(start: number, end: number): number {
    let gen = end > this.baseSize ? this.baseChangedGen : 0;
    const last = pageOf(end - 1);
    for (let i = pageOf(start); i <= last; i++) gen = Math.max(gen, this.pages.get(i)?.dirtyGen ?? 0);
    return gen;
  }

  /** Whether [start, end) is exactly the object's bytes, so it can be copied server side. */
  isUnchanged(start: number, end: number): boolean {
    return end <= this.baseSize && this.changedGeneration(start, end) === 0;
  }

  /** An upload is about to read the file: from here, track shrinking to know the new base. */
  beginCapture(): { generation: number; size: number } {
    this.lowWater = Infinity;
    return { generation: this.generation, size: this.size };
  }

  /** The upload of the captured state is durable as `etag`. */
  markStored(captured: { generation: number; size: number }, etag: string): void {
    this.cleanGeneration = Math.max(this.cleanGeneration, captured.generation);
    for (const page of this.pages.values()) {
      if (page.dirtyGen <= captured.generation) page.dirtyGen = 0;
    }
    this.etag = etag;
    this.remoteSize = captured.size;
    this.baseSize = Math.min(captured.size, this.lowWater, this.size);
    if (this.baseChangedGen <= captured.generation) this.baseChangedGen = 0;
    this.prefetchedTo = 0;
  }

  /** What the cache holds of [start, end), zeros elsewhere, and the ranges it lacked. */
  cachedBytes(start: number, end: number): { buf: Buffer; missing: Array<[number, number]> } {
    const buf = Buffer.alloc(end - start);
    const missing: Array<[number, number]> = [];
    for (let pos = start; pos < end;) {
      const index = pageOf(pos);
      const n = Math.min((index + 1) * PAGE_SIZE, end) - pos;
      if (this.pages.has(index) || index * PAGE_SIZE >= this.baseSize) this.copyOut(buf, pos - start, pos, pos + n);
      else missing.push([pos, pos + n]);
      pos += n;
    }
    return { buf, missing };
  }

  // ---- memory and disk ----------------------------------------------------------------------

  evict(page: Page): void {
    this.env.budget.remove(page, page.memoryBytes);
    page.buf = null;
    if (!page.onDisk) this.pages.delete(page.index);
  }

  spill(page: Page): void {
    this.spillFile ??= new SpillFile(this.env.diskdir, this.key, PAGE_SIZE);
    this.spillFile.write(page.index, page.buf!, 0);
    this.env.budget.remove(page, page.memoryBytes);
    page.buf = null;
    page.onDisk = true;
  }

  private dropPage(page: Page): void {
    this.env.budget.remove(page, page.memoryBytes);
    page.buf = null;
    this.pages.delete(page.index);
  }

  private trimQuietly(): void {
    try {
      this.env.budget.trim();
    } catch (err) {
      this.env.log.warn({ err: String(err) }, 'cannot move cached pages to disk; memory cache over its limit');
    }
  }

  /** Forgets every page and removes the spill file. */
  discard(): void {
    for (const page of this.pages.values()) this.env.budget.remove(page, page.memoryBytes);
    this.pages.clear();
    this.spillFile?.discard();
    this.spillFile = null;
  }

  /** After the last close of a clean file: pages on disk go (the disk cache cleans up after
   *  itself), pages in memory stay for a reopen until memory is needed. */
  dropDisk(): void {
    for (const page of [...this.pages.values()]) {
      if (page.onDisk && !page.dirty) this.dropPage(page);
    }
    if (![...this.pages.values()].some((p) => p.onDisk)) {
      this.spillFile?.discard();
      this.spillFile = null;
    }
  }
}
