// What other clients put in the bucket that the mount cannot show as it is: keys that cannot be
// file names, attribute metadata that is garbage, a file hidden by a directory of the same name.
// Each is logged once per key per mount: listings and lookups meet the same keys over and over,
// and a warning repeated at every `ls` would drown the rest of the log. The keys already
// reported are remembered up to a cap (the oldest are forgotten first, and would be reported
// again), so that a bucket full of bad keys cannot make the daemon grow without end.

/** The one thing asked of the logger (a pino Logger is one). */
export interface WarningLog {
  warn(fields: object, msg: string): void;
}

/** Keys remembered as already reported, per mount. */
export const REPORTED_KEYS_CAP = 10_000;

/** Metadata values are user input up to 2 KiB: the log shows their start only. */
const MAX_LOGGED_VALUE_CHARS = 64;

/** Answers true the first time it is given a string, false after, within a bounded memory. */
export class OnceSet {
  /** Insertion order is age: the first entry is the oldest. */
  private readonly seen = new Set<string>();

  constructor(private readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError(`capacity must be at least 1, not ${capacity}`);
  }

  /** True when `id` is new (and remembers it), false when it is remembered already. */
  first(id: string): boolean {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.values().next().value as string);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}

export type BucketProblem = 'invalid-name' | 'garbage-metadata' | 'shadowed-file';

export class BucketWarnings {
  private readonly reported: OnceSet;

  constructor(private readonly log: WarningLog, capacity = REPORTED_KEYS_CAP) {
    this.reported = new OnceSet(capacity);
  }

  /** A key (or a common prefix, ending in '/') whose name in its directory cannot be a file
   *  name: empty, '.', '..' or longer than 255 bytes. It is left out of listings. */
  invalidName(key: string): void {
    if (this.isNew('invalid-name', key)) this.log.warn({ key }, 'skipping a key that cannot be a file name');
  }

  /** Attributes in the object's metadata that are garbage (raw values by name): the mount's
   *  defaults and the object's Last-Modified are used instead. */
  garbageMetadata(key: string, fields: Record<string, string>): void {
    if (!this.isNew('garbage-metadata', key)) return;
    const shown: Record<string, string> = {};
    for (const [name, value] of Object.entries(fields)) {
      shown[name] = value.length > MAX_LOGGED_VALUE_CHARS ? `${value.slice(0, MAX_LOGGED_VALUE_CHARS)}...` : value;
    }
    this.log.warn({ key, fields: shown }, 'ignoring garbage metadata of an object; using defaults');
  }

  /** An object `a` next to keys under `a/`: the directory is shown, the object is not (it
   *  stays in the bucket, untouched). */
  shadowedFile(key: string): void {
    if (this.isNew('shadowed-file', key)) this.log.warn({ key, directory: `${key}/` }, 'a key is both a file and a directory: showing the directory, the file is hidden');
  }

  private isNew(problem: BucketProblem, key: string): boolean {
    return this.reported.first(`${problem}\0${key}`);
  }
}
