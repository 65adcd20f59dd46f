// The times of directories that this mount changes by adding, removing or renaming entries in
// them: kept here, not stored. Linux moves a directory's mtime and ctime with every entry made
// or removed in it; storing that would cost a CopyObject of the directory's marker (or a PUT of
// a new one, for a directory that has none) on every create, unlink and rename, doubling the
// requests of `cp -r`, `tar x` or `rm -r`. So other clients and the next mount see a directory's
// stored times (those chmod, chown and touch store), and this mount shows the times it made for
// as long as it remembers them (the last 10,000 directories changed).
import { LRUCache } from 'lru-cache';
import type { Stat } from './attributes.js';

interface Times {
  atime?: Date;
  mtime?: Date;
  ctime: Date;
}

const REMEMBERED = 10_000;

export class DirectoryTimes {
  private readonly times = new LRUCache<string, Times>({ max: REMEMBERED });

  constructor(private readonly now: () => number = Date.now) {}

  /** An entry was made, removed or renamed in `dir`. */
  entriesChanged(dir: string): void {
    const t = new Date(this.now());
    this.times.set(dir, { ...this.times.get(dir), mtime: t, ctime: t });
  }

  /** `dir` itself was renamed or its times set where they cannot be stored (the mount's root). */
  changed(dir: string, set: { atime?: Date; mtime?: Date } = {}): void {
    const old = this.times.get(dir);
    this.times.set(dir, { atime: set.atime ?? old?.atime, mtime: set.mtime ?? old?.mtime, ctime: new Date(this.now()) });
  }

  /** Its times are stored now (or it is gone): what the bucket says holds again. */
  forget(dir: string): void {
    this.times.delete(dir);
  }

  /** The directory's attributes with the times this mount gave it, unless the stored ones
   *  changed since (another client touched it later). */
  shown(dir: string, stat: Stat): Stat {
    const t = this.times.peek(dir);
    if (!t || stat.ctime.getTime() > t.ctime.getTime()) return stat;
    return { ...stat, atime: t.atime ?? stat.atime, mtime: t.mtime ?? stat.mtime, ctime: t.ctime };
  }
}
