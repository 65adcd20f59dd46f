// The file table: the one state of each path that is open, or holds data not yet stored (an
// upload that failed after the last close), and the handles on them. Concurrent opens of one
// path wait for one open and share what it made. Clean data of files closed lately is kept a
// while too, for the next open of the same version.
import type { FileData } from '../cache/file-data.js';
import type { CachedEntry } from '../cache/stat-cache.js';
import { FsError } from './errors.js';
import { baseName, parentOf } from './keys.js';
import type { OpenFilesView } from './namespace.js';
import type { OpenFile } from './open-file.js';

/** Closed files whose clean data stays cached for a reopen (their pages count against --maxcache). */
const MAX_RECENT_FILES = 256;

export class OpenFiles implements OpenFilesView {
  private readonly byPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, OpenFile>();
  private readonly opening = new Map<string, Promise<OpenFile>>();
  /** Clean data of files closed lately, by key. */
  private readonly recent = new Map<string, FileData>();
  private nextHandle = 1;
  /** When an application last did something with an open file (Date.now() ms). */
  lastActivity = Date.now();

  constructor(private readonly now: () => number = Date.now) {}

  get(path: string): OpenFile | undefined {
    return this.byPath.get(path);
  }

  /**
   * The state at `path`, or the one `make` opens. Opens of a path that arrive while `make` runs
   * wait for it and share its state (one state per path: a write through one handle is seen
   * through every other, and one upload stores them all).
   */
  async join(path: string, make: () => Promise<OpenFile>): Promise<OpenFile> {
    const here = this.byPath.get(path);
    if (here) return here;
    let opening = this.opening.get(path);
    if (!opening) {
      opening = make().then((of) => {
        // A create of the path while the open ran: that is the state there now, to share.
        const there = this.byPath.get(path);
        if (there) {
          of.data.discard();
          return there;
        }
        this.byPath.set(path, of);
        return of;
      }).finally(() => this.opening.delete(path));
      this.opening.set(path, opening);
    }
    return opening;
  }

  /** A state created at `path` (create(2)); returns the one it replaces there, if any. */
  put(of: OpenFile): OpenFile | undefined {
    const replaced = this.byPath.get(of.path);
    this.byPath.set(of.path, of);
    return replaced;
  }

  addHandle(of: OpenFile): number {
    const fh = this.nextHandle++;
    of.refs++;
    this.handles.set(fh, of);
    return fh;
  }

  handle(fh: number): OpenFile {
    this.lastActivity = this.now();
    const of = this.handles.get(fh);
    if (!of) throw new FsError('EBADF');
    return of;
  }

  /** Closes a handle; returns its state (with one reference less). */
  dropHandle(fh: number): OpenFile {
    const of = this.handle(fh);
    this.handles.delete(fh);
    of.refs--;
    return of;
  }

  /** The state leaves its path (closed and stored, deleted, replaced). */
  remove(of: OpenFile): void {
    if (this.byPath.get(of.path) === of) this.byPath.delete(of.path);
  }

  /** Rename: the state now lives at `to` as `toKey`. */
  move(of: OpenFile, to: string, toKey: string): void {
    this.remove(of);
    of.path = to;
    of.key = toKey;
    of.data.key = toKey;
    this.byPath.set(to, of);
  }

  /** States at or below a directory path. */
  below(dir: string): OpenFile[] {
    const below = `${dir}/`;
    return [...this.byPath.values()].filter((of) => of.path.startsWith(below));
  }

  all(): OpenFile[] {
    return [...this.byPath.values()];
  }

  // ---- what the namespace asks (OpenFilesView) -------------------------------------------

  entryFor(path: string): CachedEntry | undefined {
    return this.byPath.get(path)?.asEntry(this.now());
  }

  /** Names in `dir` of files held here: lookups answer for them, so listings show them. */
  pendingNamesIn(dir: string): string[] {
    const names: string[] = [];
    for (const path of this.byPath.keys()) if (parentOf(path) === dir) names.push(baseName(path));
    return names;
  }

  isOpen(path: string): boolean {
    return this.byPath.has(path);
  }

  // ---- clean data of closed files ---------------------------------------------------------

  /** The data kept for `key`, taken out of the keep (the caller owns it now). */
  takeRecent(key: string): FileData | undefined {
    const data = this.recent.get(key);
    this.recent.delete(key);
    return data;
  }

  keepRecent(key: string, data: FileData): void {
    this.forgetRecent(key);
    this.recent.set(key, data);
    while (this.recent.size > MAX_RECENT_FILES) this.forgetRecent(this.recent.keys().next().value as string);
  }

  forgetRecent(key: string): void {
    this.recent.get(key)?.discard();
    this.recent.delete(key);
  }

  /** Forgets the data kept of every key starting with one of `prefixes`. */
  forgetRecentUnder(...prefixes: string[]): void {
    for (const key of [...this.recent.keys()]) if (prefixes.some((p) => key.startsWith(p))) this.forgetRecent(key);
  }

  // ---- counts for shutdown and the status report -----------------------------------------

  get handleCount(): number {
    return this.handles.size;
  }

  get fileCount(): number {
    return this.byPath.size;
  }

  paths(limit: number): string[] {
    return [...this.byPath.keys()].slice(0, limit);
  }

  /** The data of every file held: open, kept after a failed upload, or closed lately. */
  cachedData(): Set<FileData> {
    return new Set([...[...this.byPath.values()].map((of) => of.data), ...this.recent.values()]);
  }
}
