// The data of one file while it is open (and, clean, for a while after): fixed-size pages in
// memory or spilled to disk, the object they came from, and what changed since the last
// upload. Pages of the object are fetched on demand with ranged GETs; misses arriving together
// share one request, and a sequential reader gets read-ahead.
//
// Page buffers come from the memory budget's pool and go back to it when the page leaves memory
// (buffer-pool.ts, memory-budget.ts). So nothing may hold a page's buffer across an await: a
// reader waiting for a GET leaves a Delivery (where it wants the bytes), and the GET copies into
// it the moment it lands. GETs and writes lease their buffers from the budget before they use
// them, so that memory stays within it while they run.
//
// Regions of the file:
//   [0, baseSize)    the object's bytes, unless a page holds newer ones
//   [baseSize, size) zeros, unless a page holds written bytes
// Invariant: bytes of a page past `size` are zero.
import type { LimitFunction } from 'p-limit';
import type { ObjectStore } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import { md5HexOf } from '../transfer/md5.js';
import type { CachedPage, MemoryBudget, PageOwner } from './memory-budget.js';
import { ReadAhead } from './read-ahead.js';
import { SpillFile } from './spill-file.js';

/** The kernel sends reads and writes of up to 128 KiB: one page each when aligned. */
export const PAGE_SIZE = 128 * 1024;

export class Page implements CachedPage {
  /** PAGE_SIZE bytes in memory (a buffer of the page pool), or null. */
  buf: Buffer | null = null;
  onDisk = false;
  /** Generation of the last change; 0 when the page matches the object. */
  dirtyGen = 0;
  /** Held by a write in progress: not to be evicted meanwhile. */
  pins = 0;
  /** Fetched by read-ahead and not read since (see memory-budget.ts; cleared by it). */
  unread = false;

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
  /** Where page buffers (PAGE_SIZE each) come from and go back to, within the memory limit. */
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
}

/** Where a reader wants bytes of a page: copied into `target` the moment the page arrives. */
interface Delivery {
  target: Buffer;
  at: number;
  offset: number;
  n: number;
  /** Cleared when the reader gave up (another page failed): its target may be gone. */
  reader: { live: boolean };
}

/** A page whose GET is queued or under way, with the readers waiting for it. */
class PendingPage {
  readonly deliveries: Delivery[] = [];
  readonly settled: Promise<void>;
  resolve!: () => void;
  reject!: (err: unknown) => void;

  constructor() {
    this.settled = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.settled.catch(() => undefined);
  }
}

/** A miss waits until no other miss came for this long (ms), or MAX_QUEUE_MS, to share a GET. */
const QUIET_MS = 0.25;
const MAX_QUEUE_MS = 1;
const pageOf = (offset: number): number => Math.floor(offset / PAGE_SIZE);

/** GETs of --bufsize a file removed while open fetches at once (see detachFromObject). */
const DETACH_PARALLEL_CHUNKS = 4;

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
  /** Pages being fetched (queued or under way). */
  private readonly fetches = new Map<number, PendingPage>();
  /** Of those, the ones still waiting in the queue for a GET. */
  private readonly queued = new Set<number>();
  private queueTimer: NodeJS.Immediate | null = null;
  private lastQueuedAt = 0;
  private spillFile: SpillFile | null = null;
  private readonly readAhead: ReadAhead;

  constructor(public key: string, remote: { etag: string; size: number } | null, private readonly env: FileDataEnv) {
    this.etag = remote?.etag ?? '';
    this.remoteSize = remote?.size ?? 0;
    this.size = this.remoteSize;
    this.baseSize = this.remoteSize;
    this.readAhead = new ReadAhead({ pageSize: PAGE_SIZE, prefetchBytes: env.prefetchBytes, chunkSize: env.chunkSize });
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
    await this.copyWhenPresent([buf], end - position, position, end);
    return end - position;
  }

  /** A copy of bytes [start, end) in a buffer of its own (for saving the file at unmount). */
  async bytes(start: number, end: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(end - start);
    if (end > start) await this.copyWhenPresent([out], end - start, start, end);
    return out;
  }

  /**
   * Copies bytes [start, end) into `targets`, `stride` bytes into each in turn: the body of an
   * upload, in buffers of the page pool rather than one buffer its size.
   */
  async copyInto(targets: Buffer[], stride: number, start: number, end: number): Promise<void> {
    if (end > start) await this.copyWhenPresent(targets, stride, start, end);
  }

  /**
   * Copies [start, end) into `targets` (byte i of the range to targets[i / stride] at i % stride):
   * pages here now are copied at once, the others as their GETs land, straight from the fetched
   * bytes. (Waiting until all are cached together could wait forever when other files keep
   * evicting them from a small --maxcache.)
   */
  private async copyWhenPresent(targets: Buffer[], stride: number, start: number, end: number): Promise<void> {
    const reader = { live: true };
    const waits: Array<Promise<void>> = [];
    for (let pos = start; pos < end;) {
      const index = pageOf(pos);
      const offset = pos - index * PAGE_SIZE;
      const rel = pos - start;
      const target = targets[Math.floor(rel / stride)]!;
      const at = rel % stride;
      const n = Math.min(PAGE_SIZE - offset, end - pos, stride - at);
      if (this.pages.has(index) || index * PAGE_SIZE >= this.baseSize) this.copyOut(target, at, pos, pos + n);
      else {
        const pending = this.pendingFor(index);
        pending.deliveries.push({ target, at, offset, n, reader });
        waits.push(pending.settled);
      }
      pos += n;
    }
    if (waits.length === 0) return;
    try {
      await (waits.length === 1 ? waits[0] : Promise.all(waits));
    } finally {
      reader.live = false; // a failed read answers at once: later pages must not land in its buffer
    }
  }

  /** The page's fetch already under way or queued, or a new one queued. */
  private pendingFor(index: number): PendingPage {
    return this.fetches.get(index) ?? this.queueFetch(index);
  }

  /** The page in the cache, fetched if need be; for changing part of it. */
  private async ensurePage(index: number): Promise<Page> {
    const here = this.pages.get(index);
    if (here) return here;
    const fresh = this.env.budget.take();
    const reader = { live: true };
    const pending = this.pendingFor(index);
    pending.deliveries.push({ target: fresh, at: 0, offset: 0, n: PAGE_SIZE, reader });
    try {
      await pending.settled;
    } catch (err) {
      reader.live = false;
      this.env.budget.give(fresh);
      throw err;
    }
    const again = this.pages.get(index);
    if (again) {
      this.env.budget.give(fresh);
      return again;
    }
    // Cached by the GET and evicted since: the copy delivered to `fresh` becomes the page.
    const page = new Page(index);
    page.buf = fresh;
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
    const pages = Math.ceil(this.baseSize / PAGE_SIZE);
    // A window of pages asked for at once: their misses share GETs of --bufsize, which run in
    // parallel (up to -n at a time); window by window, so that memory holds one window in
    // flight while the pages already brought in spill to disk.
    const window = Math.max(1, Math.floor(this.env.chunkSize / PAGE_SIZE)) * DETACH_PARALLEL_CHUNKS;
    for (let from = 0; from < pages; from += window) {
      const indices = Array.from({ length: Math.min(window, pages - from) }, (_, k) => from + k);
      // Each page is marked as soon as it is here: dirty pages are spilled, never dropped.
      await Promise.all(indices.map(async (i) => { (await this.ensurePage(i)).dirtyGen = gen; }));
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
      if (!this.copyPage(index, target, at + pos - start, offset, n)) {
        throw new Error(`internal: page ${index} of ${this.key} is not cached`); // never serve a hole as data
      }
      pos += n;
    }
  }

  /**
   * Copies n bytes of page `index` from `offset` into `target` at `at`: from memory or disk, or
   * zeros past the object. false when the page is not cached and lies within the object.
   */
  private copyPage(index: number, target: Buffer, at: number, offset: number, n: number): boolean {
    const page = this.pages.get(index);
    if (page?.buf) {
      page.buf.copy(target, at, offset, offset + n);
      this.env.budget.markRead(page);
      this.env.budget.touch(page);
    } else if (page?.onDisk) {
      this.spillFile!.read(index, target, at, offset, n);
    } else if (index * PAGE_SIZE < this.baseSize) {
      return false;
    } else {
      target.fill(0, at, at + n); // past the object: zeros
    }
    return true;
  }

  /** Sequential readers get read-ahead (see read-ahead.ts); a random reader fetches only what it asks for. */
  private notePattern(position: number, end: number): void {
    for (const [start, stop] of this.readAhead.note(position, end, this.baseSize, this.env.budget.readAheadRoom)) this.fetchMissing(start, stop);
  }

  /** Starts GETs for the missing pages of [start, end), one per contiguous run. */
  private fetchMissing(start: number, end: number): void {
    let runStart = -1;
    const last = pageOf(end - 1);
    for (let i = pageOf(start); i <= last + 1; i++) {
      const missing = i <= last && !this.pages.has(i) && !this.fetches.has(i);
      if (missing && runStart < 0) runStart = i;
      if (!missing && runStart >= 0) {
        this.startFetch(runStart, i - 1);
        runStart = -1;
      }
    }
  }

  /** Queues one page; misses queued in the same turn of the event loop share GETs. */
  private queueFetch(index: number): PendingPage {
    const pending = new PendingPage();
    this.fetches.set(index, pending);
    this.queued.add(index);
    this.lastQueuedAt = performance.now();
    if (!this.queueTimer) {
      const first = this.lastQueuedAt;
      this.queueTimer = setImmediate(() => this.flushWhenQuiet(first));
    }
    return pending;
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
    const indices = [...this.queued].sort((a, b) => a - b);
    this.queued.clear();
    const maxPages = Math.max(1, Math.floor(this.env.chunkSize / PAGE_SIZE));
    let first = 0;
    for (let i = 1; i <= indices.length; i++) {
      if (i === indices.length || indices[i] !== indices[i - 1]! + 1 || i - first >= maxPages) {
        this.startFetch(indices[first]!, indices[i - 1]!);
        first = i;
      }
    }
  }

  /** One ranged GET for pages [first, last]; readers waiting for them get their bytes as it lands. */
  private startFetch(first: number, last: number): void {
    const pending: PendingPage[] = [];
    for (let i = first; i <= last; i++) {
      let p = this.fetches.get(i);
      if (!p) { // read-ahead: readers that come later join it
        p = new PendingPage();
        this.fetches.set(i, p);
      }
      pending.push(p);
    }
    const done = this.env.downloads(() => this.fetchPages(first, last, pending));
    done.catch((err: unknown) => {
      for (let i = first; i <= last; i++) {
        const p = pending[i - first]!;
        if (this.fetches.get(i) === p) this.fetches.delete(i);
        p.reject(err);
      }
    });
  }

  /**
   * GETs pages [first, last] into buffers leased from the memory budget (waiting while it is
   * full: read-ahead then runs fewer GETs at once), caches them and serves their readers.
   */
  private async fetchPages(first: number, last: number, pending: PendingPage[]): Promise<void> {
    const start = first * PAGE_SIZE;
    const wanted = Math.min((last + 1) * PAGE_SIZE, this.baseSize);
    if (wanted <= start) { // the file shrank below these pages since they were asked for
      this.deliver(first, pending);
      return;
    }
    const lease = await this.env.budget.lease(Math.ceil((wanted - start) / PAGE_SIZE), 'download');
    try {
      const end = Math.min(wanted, this.baseSize); // it may have shrunk while the lease waited
      const buffers = lease.buffers;
      try {
        const received = end > start ? await this.getPinned(start, end, buffers) : 0;
        this.keepFetched(first, start, end, buffers, received); // throws before it keeps any
      } catch (err) {
        for (const buf of buffers) this.env.budget.give(buf);
        throw err;
      }
      // Before the lease ends: its end lets waiting leases make room, which may evict these pages.
      this.deliver(first, pending);
    } finally {
      lease.end();
    }
  }

  /**
   * A GET of [start, end) of the version this file holds, and of no other (If-Match): bytes of a
   * version another client put there since would tear the file. When this mount replaced the
   * object itself while the GET was under way (an upload of this file), the new version holds
   * the same bytes there, and is asked for instead.
   */
  private async getPinned(start: number, end: number, buffers: Buffer[]): Promise<number> {
    const etag = this.etag;
    try {
      return await this.env.store.getRangeInto(this.key, start, end, buffers, etag || undefined);
    } catch (err) {
      if (!(err instanceof StoreError && err.kind === 'precondition-failed') || this.etag === etag) throw err;
      return this.env.store.getRangeInto(this.key, start, end, buffers, this.etag || undefined);
    }
  }

  /**
   * Copies each page's current bytes to the readers waiting for it and settles them: from the
   * cache (memory or disk), or zeros for a page past the object (or past what a GET of an
   * object that shrank under us brought).
   */
  private deliver(first: number, pending: PendingPage[]): void {
    for (let k = 0; k < pending.length; k++) {
      const index = first + k;
      const p = pending[k]!;
      if (this.fetches.get(index) === p) this.fetches.delete(index);
      for (const d of p.deliveries) {
        if (d.reader.live && !this.copyPage(index, d.target, d.at, d.offset, d.n)) d.target.fill(0, d.at, d.at + d.n);
      }
      p.resolve();
    }
  }

  /**
   * Starts fetching the object's bytes [0, end) now, without a reader to wait for them yet: an
   * open of a small file about to be read (the kernel asks for all of it at the first read).
   */
  prefetch(end: number): void {
    const stop = Math.min(end, this.baseSize);
    if (stop > 0) this.fetchMissing(0, stop);
  }

  /**
   * The first bytes of the object, fetched by open() in the same GET that revalidated it:
   * kept as if a read had fetched them.
   */
  adoptFetchedStart(data: Buffer): void {
    const end = Math.min(data.length, this.baseSize);
    const buffers: Buffer[] = [];
    for (let at = 0; at < end; at += PAGE_SIZE) {
      const buf = this.env.budget.take();
      data.copy(buf, 0, at, Math.min(end, at + PAGE_SIZE));
      buffers.push(buf);
    }
    if (end > 0) this.keepFetched(0, 0, end, buffers, end);
  }

  /**
   * Checks the bytes of a GET of [start, end), `received` of them in `buffers` (one per page
   * from page `first`), and caches them; buffers it does not keep go back to the budget.
   */
  private keepFetched(first: number, start: number, end: number, buffers: Buffer[], received: number): void {
    if (received < end - start && end <= this.baseSize) {
      // The object is shorter than the data we believe it holds: another client replaced it
      // (on a server that ignored If-Match). Fail the read rather than ask again and again.
      throw new StoreError('precondition-failed', `GET ${this.key} bytes=${start}-${end - 1}: the object is shorter than expected (changed by another client?)`);
    }
    if (this.env.verifyMd5 && start === 0 && received === this.remoteSize && /^[0-9a-f]{32}$/.test(this.etag)
      && md5HexOf(buffers, received) !== this.etag) {
      throw new StoreError('server', `GET ${this.key}: the data does not match its ETag (MD5)`);
    }
    // The file may have changed while the GET ran: a page now here wins over the fetched bytes,
    // and bytes past the (possibly lowered) base are not the file's.
    const usable = Math.min(received, Math.max(0, this.baseSize - start));
    for (let k = 0; k < buffers.length; k++) {
      const buf = buffers[k]!;
      const from = k * PAGE_SIZE;
      const index = first + k;
      if (from >= usable || this.pages.has(index)) {
        this.env.budget.give(buf);
        continue;
      }
      if (from + PAGE_SIZE > usable) buf.fill(0, usable - from); // pages hold zeros past the object
      const page = new Page(index);
      page.buf = buf;
      page.unread = true; // until a reader copies from it (at once, when one is waiting)
      this.pages.set(index, page);
      this.env.budget.add(page, this);
    }
  }

  // ---- writing ------------------------------------------------------------------------------

  async write(buf: Buffer, length: number, position: number): Promise<void> {
    const end = position + length;
    // A page partly overwritten keeps the rest of its object bytes: those are fetched first, and
    // the page is pinned so that making room below cannot drop it before it is written. A page
    // cached already is pinned at once: the fetch of the write's other page lets the budget make
    // room, and a clean page dropped then would come back as zeros under the write.
    //
    // The pages it adds to the cache are leased first: while the budget is full of other
    // transfers' buffers, the writer waits (full of pages, they are spilled to disk to make room).
    const pinned = new Set<Page>();
    const ends = new Set([pageOf(position), pageOf(end - 1)]);
    try {
      for (;;) {
        for (const index of ends) {
          const page = this.needsFetchBeforeWrite(index, position, end) ? await this.ensurePage(index) : this.pages.get(index);
          if (!page || pinned.has(page)) continue;
          page.pins++;
          pinned.add(page);
        }
        const adding = this.missingPages(position, end);
        if (adding === 0) {
          this.env.budget.trim(); // may spill pages to disk; ENOSPC reaches this writer
          this.writeNow(buf, length, position, []);
          return;
        }
        const lease = await this.env.budget.lease(adding, 'write'); // ENOSPC reaches this writer
        try {
          // While it waited, a page of the object may have left the cache: fetched again first.
          if ([...ends].some((index) => this.needsFetchBeforeWrite(index, position, end))) continue;
          this.writeNow(buf, length, position, lease.buffers);
          return;
        } finally {
          for (const spare of lease.buffers.splice(0)) this.env.budget.give(spare);
          lease.end();
        }
      }
    } finally {
      for (const page of pinned) page.pins--;
    }
  }

  /** Pages of [start, end) not in the cache. */
  private missingPages(start: number, end: number): number {
    let n = 0;
    for (let i = pageOf(start), last = pageOf(end - 1); i <= last; i++) if (!this.pages.has(i)) n++;
    return n;
  }

  /**
   * The write itself: synchronous, so no other request sees it half done. New pages take their
   * buffers from `leased` (taken out of it), or from the budget when it runs short.
   */
  private writeNow(buf: Buffer, length: number, position: number, leased: Buffer[]): void {
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
        const fresh = leased.pop();
        page.buf = fresh === undefined ? (n === PAGE_SIZE ? this.env.budget.take() : this.env.budget.takeZeroed())
          : n === PAGE_SIZE ? fresh : fresh.fill(0);
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
    this.readAhead.forgetPrefetched();
  }

  /** What the cache holds of [start, end), zeros elsewhere, and the ranges it lacked. */
  /** Whether any byte of [start, end) holds data: the object's, or a page written or cached. */
  hasDataIn(start: number, end: number): boolean {
    if (start < this.baseSize) return true;
    const first = pageOf(start);
    const last = pageOf(end - 1);
    // Whichever is fewer: the range's pages, or the pages cached (a part may span 40,000 pages).
    if (last - first > this.pages.size) return [...this.pages.keys()].some((i) => i >= first && i <= last);
    for (let index = first; index <= last; index++) if (this.pages.has(index)) return true;
    return false;
  }

  /**
   * The byte ranges of the file that hold data, in order and merged: the object's bytes still
   * part of it, and every page written or cached. The rest is holes (zeros never written), which
   * a copy of the file can leave out (sparse).
   */
  dataRanges(): Array<[number, number]> {
    const ranges: Array<[number, number]> = [];
    const add = (start: number, end: number): void => {
      const e = Math.min(end, this.size);
      if (e <= start) return;
      const last = ranges[ranges.length - 1];
      if (last && start <= last[1]) last[1] = Math.max(last[1], e);
      else ranges.push([start, e]);
    };
    add(0, this.baseSize);
    // Pages past the object's bytes, in order (those within them are covered already).
    const beyond = [...this.pages.keys()].filter((i) => (i + 1) * PAGE_SIZE > this.baseSize).sort((a, b) => a - b);
    for (const index of beyond) add(index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
    return ranges;
  }

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
    this.releaseMemory(page);
    if (!page.onDisk) this.pages.delete(page.index);
  }

  spill(page: Page): void {
    this.spillFile ??= new SpillFile(this.env.diskdir, this.key, PAGE_SIZE);
    this.spillFile.write(page.index, page.buf!, 0);
    this.releaseMemory(page);
    page.onDisk = true;
  }

  private dropPage(page: Page): void {
    this.releaseMemory(page);
    this.pages.delete(page.index);
  }

  /** The page's buffer goes back to the pool (nobody else holds it: see the top of the file). */
  private releaseMemory(page: Page): void {
    this.env.budget.remove(page, page.memoryBytes);
    if (page.buf) this.env.budget.give(page.buf);
    page.buf = null;
  }

  /** Forgets every page and removes the spill file. */
  discard(): void {
    for (const page of this.pages.values()) this.releaseMemory(page);
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
