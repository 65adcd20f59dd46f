// rename(2): a file is a copy and a delete of its object; a directory, of every object below it
// (tree-move.ts). The states of open files move with them, and a file replaced at the target
// is retired first, so that nothing of it lands on the key afterwards.
import type { ObjectStore, PutOptions } from '../store/object-store.js';
import type { CachedEntry } from '../cache/stat-cache.js';
import { DIRECTORY_CONTENT_TYPE, extraMetadataOf, metadataOf } from './attributes.js';
import { FsError } from './errors.js';
import type { Freshness } from './freshness.js';
import type { KeyMapper } from './keys.js';
import type { KeyWriter } from './key-writer.js';
import { checkKeyLength, type Namespace } from './namespace.js';
import { copyObject } from './object-copy.js';
import type { OpenFile } from './open-file.js';
import type { OpenFiles } from './open-files.js';
import { moveTree } from './tree-move.js';
import { CreateConflict } from '../transfer/uploader.js';

/** Objects copied at once by a directory rename. */
const MOVE_CONCURRENCY = 16;

export interface RenameParts {
  store: ObjectStore;
  keys: KeyMapper;
  ns: Namespace;
  files: OpenFiles;
  writer: KeyWriter;
  f: Freshness;
  /** The state at a path that is replaced goes (the facade's retire). */
  retire(of: OpenFile): Promise<void>;
}

export class Renames {
  constructor(private readonly s: RenameParts) {}

  /** Renames `from` to `to`; says whether a file (or symlink, or special file) or a directory moved. */
  async rename(from: string, to: string): Promise<'file' | 'dir'> {
    const source = await this.s.ns.lookup(from);
    if (source.kind === 'dir') {
      await this.renameDirectory(from, to, source);
      return 'dir';
    }
    const target = await this.s.ns.lookupOrNull(to);
    if (target?.kind === 'dir') throw new FsError('EISDIR');
    const fromKey = this.s.keys.fileKey(from);
    const toKey = this.s.keys.fileKey(to);
    const of = this.s.files.get(from);
    if (of) {
      try {
        await this.s.writer.flush(of); // the object must hold the latest data before it is copied
      } catch (err) {
        // A file created here whose name another client took first: its data is only here, and
        // the object at `from` is the other client's. The rename stores it under its new name.
        if (!(err instanceof CreateConflict) || target !== null) throw err;
        await this.storeUnderNewName(of, from, to, toKey);
        return 'file';
      }
    }
    const replaced = this.s.files.get(to);
    if (replaced && replaced !== of) await this.s.retire(replaced); // before the copy lands on its key
    // A rename changes the file's ctime. The copy happens anyway: when the metadata is known (an
    // open state, or a HEAD's answer) it is written with the new ctime at no extra cost; when
    // not, the copy keeps the metadata as it is and the new ctime lives in this mount.
    const ctime = new Date(this.s.f.now());
    const stat = { ...source.stat, ctime };
    let options: PutOptions | undefined;
    if (of) {
      of.stat.ctime = ctime;
      options = of.putOptions();
    } else if (source.metadata) {
      options = { contentType: source.contentType, metadata: { ...extraMetadataOf(source.metadata), ...metadataOf(stat) } };
    }
    const etag = await copyObject(this.s.store, fromKey, toKey, options);
    await this.s.store.delete(fromKey);
    if (of) {
      this.s.files.move(of, to, toKey);
      if (etag !== '') of.data.etag = etag;
      await this.s.writer.moved(of);
    }
    this.s.files.forgetRecent(fromKey);
    this.s.files.forgetRecent(toKey);
    this.s.ns.removed(from);
    this.s.ns.remember(to, {
      ...source, stat, metadata: options?.metadata ?? source.metadata, etag: etag !== '' ? etag : source.etag, lastModified: undefined, writtenAt: this.s.f.now(),
    });
    this.s.ns.added(to, 'file');
    return 'file';
  }

  /** A file whose create lost to another client's (see rename): uploaded under `to`, the other
   *  client's object at `from` left alone. When that upload fails too, the file stays at `from`. */
  private async storeUnderNewName(of: OpenFile, from: string, to: string, toKey: string): Promise<void> {
    const fromKey = of.key;
    of.stat.ctime = new Date(this.s.f.now());
    this.s.files.move(of, to, toKey);
    try {
      await this.s.writer.moved(of); // a multipart upload started under the old key is dropped
      await this.s.writer.flush(of);
    } catch (err) {
      this.s.files.move(of, from, fromKey);
      throw err;
    }
    this.s.files.forgetRecent(fromKey);
    this.s.files.forgetRecent(toKey);
    this.s.ns.forget(from); // it names the other client's object: asked for again
    this.s.ns.added(to, 'file');
  }

  /**
   * Moves the directory and everything below it (see tree-move.ts). POSIX: the target may be
   * an empty directory (replaced) but not a non-empty one (ENOTEMPTY) nor a file (ENOTDIR).
   */
  private async renameDirectory(from: string, to: string, source: CachedEntry): Promise<void> {
    const target = await this.s.ns.lookupOrNull(to);
    const toPrefix = this.s.keys.dirPrefix(to);
    checkKeyLength(toPrefix);
    if (target) {
      if (target.kind !== 'dir') throw new FsError('ENOTDIR');
      const page = await this.s.store.listPage(toPrefix, undefined, undefined, 2);
      if (page.objects.some((o) => o.key !== toPrefix) || this.s.files.below(to).length > 0) throw new FsError('ENOTEMPTY');
    }
    const below = this.s.files.below(from);
    for (const of of below) await this.s.writer.flush(of); // objects must hold the latest data first
    const fromPrefix = this.s.keys.dirPrefix(from);
    // The copies' ETags of the open files' objects: their reads ask for their version by it.
    const openKeys = new Set(below.map((of) => toPrefix + of.key.slice(fromPrefix.length)));
    const copied = new Map<string, string>();
    const move = await moveTree(this.s.store, fromPrefix, toPrefix, MOVE_CONCURRENCY, async (a, b) => {
      const etag = await copyObject(this.s.store, a, b);
      if (openKeys.has(b)) copied.set(b, etag);
    });
    // An implicit directory with nothing left in it: only a marker can make it exist at `to`.
    const markerNeeded = move.moved === 0 && !move.hadMarker && !target?.hasMarker;
    if (markerNeeded) {
      await this.s.store.put(toPrefix, Buffer.alloc(0), { contentType: DIRECTORY_CONTENT_TYPE, metadata: metadataOf(source.stat) });
    }
    for (const of of below) {
      const moved = to + of.path.slice(from.length);
      this.s.files.move(of, moved, this.s.keys.fileKey(moved));
      const etag = copied.get(of.key);
      if (etag) of.data.etag = etag;
      await this.s.writer.moved(of);
    }
    this.s.files.forgetRecentUnder(fromPrefix, toPrefix);
    this.s.ns.forgetTree(to);
    this.s.ns.directoryGone(from);
    this.s.ns.remember(to, { ...source, hasMarker: move.hadMarker || markerNeeded || (target?.hasMarker ?? false), lastModified: undefined, writtenAt: this.s.f.now() });
    this.s.ns.added(to, 'dir');
  }
}
