// Complete listings of directories: which names a directory holds, and whether each is a file,
// a directory, or both (a key `a` and keys under `a/`: the directory wins, see
// namesBothFileAndDir in fs/keys.ts), with when the server listed them. With a listing recent
// enough, a name not in it costs no request (`cp -r` and `tar x` look up every name before
// creating it) and a second `ls` costs nothing; with any listing, a lookup knows which single
// HEAD to send. This mount's own changes are applied to the listings at once. How long a listing
// answers for the server is fs/freshness.ts's to say: this is the storage.
export interface Listing {
  files: Set<string>;
  dirs: Set<string>;
  /** Files the listing showed too large to be anything but regular files (see namespace.ts). */
  regular: Set<string>;
  /** When the server listed it (Date.now() ms). */
  listedAt: number;
  /** When this mount created the directory, if it did: it started empty, and every name in it since came from here. */
  madeAt?: number;
}

export interface TooBig {
  tooBig: true;
  /** When a listing found it larger than kept. */
  at: number;
}

export interface DirListingSettings {
  /** Directories whose listings are kept (least recently used go first). */
  maxDirs: number;
  /** Larger directories are not kept (their lookups go to the server). */
  maxNames: number;
  /** Names kept in all listings together (least recently used listings go first). */
  maxTotalNames: number;
  /** false: nothing is kept (-e 0, --metadata-ttl 0). */
  enabled: boolean;
}

export class DirListings {
  private readonly map = new Map<string, Listing>();
  private readonly tooBig = new Map<string, TooBig>();
  /** Names in all kept listings (as set; names this mount adds later are not counted). */
  private totalNames = 0;

  constructor(private readonly s: DirListingSettings) {}

  /** The directory's listing, whatever its age, or the mark that it was too big to keep. */
  get(dir: string): Listing | TooBig | undefined {
    const big = this.tooBig.get(dir);
    if (big !== undefined) return big;
    const l = this.map.get(dir);
    if (!l) return undefined;
    this.map.delete(dir); // most recently used last
    this.map.set(dir, l);
    return l;
  }

  /** Keeps a listing the server gave at `listedAt`; false when the directory is too big to keep. */
  set(dir: string, files: Iterable<string>, dirs: Iterable<string>, listedAt: number, madeAt?: number, regular: Iterable<string> = []): boolean {
    if (!this.s.enabled) return false;
    const l: Listing = { files: new Set(files), dirs: new Set(dirs), regular: new Set(regular), listedAt, madeAt };
    if (l.files.size + l.dirs.size > this.s.maxNames) {
      this.setTooBig(dir, listedAt);
      return false;
    }
    this.tooBig.delete(dir);
    this.drop(dir);
    this.map.set(dir, l);
    this.totalNames += sizeOf(l);
    while (this.map.size > this.s.maxDirs || (this.totalNames > this.s.maxTotalNames && this.map.size > 1)) {
      this.drop(this.map.keys().next().value as string);
    }
    return true;
  }

  private drop(dir: string): void {
    const l = this.map.get(dir);
    if (!l) return;
    this.totalNames -= sizeOf(l);
    this.map.delete(dir);
  }

  setTooBig(dir: string, at: number): void {
    if (!this.s.enabled) return;
    this.drop(dir);
    this.tooBig.set(dir, { tooBig: true, at });
    while (this.tooBig.size > this.s.maxDirs) this.tooBig.delete(this.tooBig.keys().next().value as string);
  }

  /** This mount created `name` in `dir`. */
  added(dir: string, name: string, kind: 'file' | 'dir'): void {
    const l = this.map.get(dir);
    if (!l) return;
    (kind === 'file' ? l.files : l.dirs).add(name);
    l.regular.delete(name); // what this mount makes is known by its entry, not by a size
  }

  removed(dir: string, name: string, kind: 'file' | 'dir' | 'both' = 'both'): void {
    const l = this.map.get(dir);
    if (!l) return;
    if (kind !== 'dir') {
      l.files.delete(name);
      l.regular.delete(name);
    }
    if (kind !== 'file') l.dirs.delete(name);
  }

  /** Forgets the listings of a directory and of everything below it. */
  deleteTree(dir: string): void {
    const below = dir === '/' ? '/' : `${dir}/`;
    for (const key of [...this.map.keys()]) if (key === dir || key.startsWith(below)) this.drop(key);
    for (const key of [...this.tooBig.keys()]) if (key === dir || key.startsWith(below)) this.tooBig.delete(key);
  }
}

/** How many names a listing holds (a name both a file and a directory counts twice). */
export function sizeOf(l: Listing): number {
  return l.files.size + l.dirs.size;
}

/** What a listing says `name` is; a name that is both is a directory. */
export function kindIn(l: Listing, name: string): 'file' | 'dir' | 'absent' {
  if (l.dirs.has(name)) return 'dir';
  if (l.files.has(name)) return 'file';
  return 'absent';
}

/** Every name of a listing once, directories first. */
export function namesOf(l: Listing): string[] {
  const unique = new Set(l.dirs);
  for (const name of l.files) unique.add(name);
  return [...unique];
}
