// Paths in the mount <-> keys in the bucket. `/a/b.txt` is `<prefix>a/b.txt`; the directory
// `/a` is the prefix `<prefix>a/`, which is also the key of its marker object.

export class KeyMapper {
  /** `prefix` is '' or ends with '/'. */
  constructor(readonly prefix: string) {}

  /** Key of the object behind a file path. */
  fileKey(path: string): string {
    return this.prefix + path.slice(1);
  }

  /** Prefix of a directory's children, which is also its marker key ('' + prefix for the root). */
  dirPrefix(path: string): string {
    return path === '/' ? this.prefix : `${this.prefix}${path.slice(1)}/`;
  }
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Longest name in bytes (NAME_MAX; statfs reports it as namemax). */
export const MAX_NAME_BYTES = 255;

/** Whether a listed name can be shown as a POSIX file name; keys that cannot are skipped. */
export function isValidName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0')
    && Buffer.byteLength(name) <= MAX_NAME_BYTES;
}

export interface ListedNames {
  files: string[];
  dirs: string[];
}

/**
 * The names in one page or more of a delimited listing of `prefix`: objects are files, common
 * prefixes directories (the directory's own marker is neither). Keys that cannot be a name are
 * left out and reported to `onInvalid` as listed: the object's key, or the common prefix (which
 * ends in '/'). Names are appended to `into` when given, so that a long listing is sorted page
 * by page and only its names are kept.
 */
export function splitListing(
  prefix: string, objectKeys: Iterable<string>, prefixes: Iterable<string>,
  onInvalid?: (key: string) => void, into: ListedNames = { files: [], dirs: [] },
): ListedNames {
  for (const key of objectKeys) {
    if (key === prefix) continue;
    const name = key.slice(prefix.length);
    if (isValidName(name)) into.files.push(name);
    else onInvalid?.(key);
  }
  for (const p of prefixes) {
    const name = p.slice(prefix.length, -1);
    if (isValidName(name)) into.dirs.push(name);
    else onInvalid?.(p);
  }
  return into;
}

/**
 * Names listed both as a file and as a directory: an object `a` next to keys under `a/`. The
 * directory is what the mount shows (as mountpoint-s3 does): it keeps everything below `a/`
 * reachable, where the file would hide all of it to show one object.
 */
export function namesBothFileAndDir(names: ListedNames): string[] {
  if (names.dirs.length === 0) return [];
  const dirs = new Set(names.dirs);
  return names.files.filter((name) => dirs.has(name));
}
