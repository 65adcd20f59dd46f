// One page of a listing without a delimiter, read as the listings of a directory and of every
// directory below it that the page covers. `find`, `ls -R`, `du` and `cp -r` out of the mount
// walk a tree one directory at a time; with these listings at hand, a tree of up to a page of
// keys costs one LIST instead of one per directory (goofys calls this "slurping").
import { isValidName, type ListedNames } from './keys.js';

export interface TreePage {
  /** The names of the directory itself; all of them when the page was not truncated, otherwise
   *  those up to the page's last key (a delimited listing starting after it has the rest). */
  top: ListedNames;
  /** Directories below it, by their prefix relative to it ('a/', 'a/b/'), whose keys all lie on
   *  this page: their listings are complete. */
  complete: Map<string, ListedNames>;
}

/**
 * Splits the keys of one page (in the server's order) under `prefix` into names, directory by
 * directory. A directory's own marker (its prefix as a key) is no name. A key with a component
 * that cannot be a name is reported to `onInvalid` as a delimited listing would report it (the
 * common prefix up to the bad component, or the key) and adds nothing below that component.
 */
export function splitTreePage(prefix: string, keys: readonly string[], truncated: boolean, onInvalid?: (key: string) => void): TreePage {
  const found = new Map<string, { files: Set<string>; dirs: Set<string> }>();
  const namesOf = (rel: string): { files: Set<string>; dirs: Set<string> } => {
    let names = found.get(rel);
    if (!names) found.set(rel, (names = { files: new Set(), dirs: new Set() }));
    return names;
  };
  namesOf('');
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    let rel = '';
    for (let from = 0; ;) {
      const slash = rest.indexOf('/', from);
      const name = slash < 0 ? rest.slice(from) : rest.slice(from, slash);
      if (slash < 0) {
        if (name === '') break; // the marker of `rel`
        if (isValidName(name)) namesOf(rel).files.add(name);
        else onInvalid?.(key);
        break;
      }
      if (!isValidName(name)) {
        onInvalid?.(prefix + rest.slice(0, slash + 1));
        break;
      }
      namesOf(rel).dirs.add(name);
      rel = rest.slice(0, slash + 1);
      namesOf(rel);
      from = slash + 1;
    }
  }
  // Keys come sorted: a directory whose prefix the last key is not under has all its keys here.
  const last = keys.length > 0 ? keys[keys.length - 1]! : '';
  const complete = new Map<string, ListedNames>();
  for (const [rel, names] of found) {
    if (rel === '' || (truncated && last.startsWith(prefix + rel))) continue;
    complete.set(rel, { files: [...names.files], dirs: [...names.dirs] });
  }
  const top = found.get('')!;
  return { top: { files: [...top.files], dirs: [...top.dirs] }, complete };
}
