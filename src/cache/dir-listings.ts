// Complete listings of directories: which names a directory holds, and whether each is a file,
// a directory, or both (a key `a` and keys under `a/`: the directory wins, see
// namesBothFileAndDir in fs/keys.ts). With a listing at hand, a name that is
// not in it costs no request at all (`cp -r` and `tar x` look up every name before creating
// it), a second `ls` costs nothing, and a lookup knows which single HEAD to send. This mount's
// own changes are applied to the listings at once; changes by other clients show up when a
// listing expires.
export interface Listing {
  files: Set<string>;
  dirs: Set<string>;
  /** Until then the listing answers readdir. */
  expires: number;
  /** Until then a name absent from it is taken as missing without asking (a few seconds, like
   *  a negative stat entry, so that a name another client adds can be looked up soon). */
  trustAbsenceUntil: number;
}

export type ListingValue = Listing | 'too-big';

export interface DirListingSettings {
  ttlMs: number;
  /** Directories whose listings are kept (least recently used go first). */
  maxDirs: number;
  /** Larger directories are not kept (their lookups go to the server). */
  maxNames: number;
}

export class DirListings {
  private readonly map = new Map<string, Listing>();
  private readonly tooBig = new Map<string, number>();

  constructor(private readonly s: DirListingSettings) {}

  /** The directory's listing while fresh; 'too-big' when it was too large to keep. */
  get(dir: string): ListingValue | undefined {
    const big = this.tooBig.get(dir);
    if (big !== undefined) {
      if (big > Date.now()) return 'too-big';
      this.tooBig.delete(dir);
    }
    const l = this.map.get(dir);
    if (!l) return undefined;
    if (l.expires <= Date.now()) {
      this.map.delete(dir);
      return undefined;
    }
    this.map.delete(dir); // most recently used last
    this.map.set(dir, l);
    return l;
  }

  set(dir: string, files: Iterable<string>, dirs: Iterable<string>, trustAbsenceMs: number): void {
    if (this.s.ttlMs <= 0) return;
    const now = Date.now();
    const l: Listing = { files: new Set(files), dirs: new Set(dirs), expires: now + this.s.ttlMs, trustAbsenceUntil: now + trustAbsenceMs };
    if (l.files.size + l.dirs.size > this.s.maxNames) {
      this.setTooBig(dir);
      return;
    }
    this.tooBig.delete(dir);
    this.map.delete(dir);
    this.map.set(dir, l);
    while (this.map.size > this.s.maxDirs) this.map.delete(this.map.keys().next().value as string);
  }

  setTooBig(dir: string): void {
    this.map.delete(dir);
    this.tooBig.set(dir, Date.now() + Math.max(this.s.ttlMs, 1000));
    while (this.tooBig.size > this.s.maxDirs) this.tooBig.delete(this.tooBig.keys().next().value as string);
  }

  /** What the listing of `dir` says `name` is, if a listing is at hand (and, for an absent
   *  name, recent enough to trust). A name that is both is a directory. */
  kindOf(dir: string, name: string): 'file' | 'dir' | 'missing' | undefined {
    const l = this.get(dir);
    if (!l || l === 'too-big') return undefined;
    if (l.dirs.has(name)) return 'dir';
    if (l.files.has(name)) return 'file';
    return l.trustAbsenceUntil > Date.now() ? 'missing' : undefined;
  }

  /** This mount created `name` in `dir`. */
  added(dir: string, name: string, kind: 'file' | 'dir'): void {
    const l = this.map.get(dir);
    if (!l) return;
    (kind === 'file' ? l.files : l.dirs).add(name);
  }

  removed(dir: string, name: string, kind: 'file' | 'dir' | 'both' = 'both'): void {
    const l = this.map.get(dir);
    if (!l) return;
    if (kind !== 'dir') l.files.delete(name);
    if (kind !== 'file') l.dirs.delete(name);
  }

  /** Forgets the listings of a directory and of everything below it. */
  deleteTree(dir: string): void {
    const below = dir === '/' ? '/' : `${dir}/`;
    for (const m of [this.map, this.tooBig] as Map<string, unknown>[]) {
      for (const key of [...m.keys()]) if (key === dir || key.startsWith(below)) m.delete(key);
    }
  }
}
