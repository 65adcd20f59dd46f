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

/**
 * The names in one page or more of a delimited listing of `prefix`: objects are files, common
 * prefixes directories (the directory's own marker is neither). Keys that cannot be a name are
 * left out and reported to `onInvalid`.
 */
export function splitListing(prefix: string, objectKeys: string[], prefixes: string[], onInvalid?: (name: string) => void): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  const take = (name: string, into: string[]): void => {
    if (isValidName(name)) into.push(name);
    else onInvalid?.(name);
  };
  for (const key of objectKeys) if (key !== prefix) take(key.slice(prefix.length), files);
  for (const p of prefixes) take(p.slice(prefix.length, -1), dirs);
  return { files, dirs };
}
