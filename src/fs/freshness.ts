// Every window after which what this mount learned about the bucket is asked again, in one
// place. The bucket is shared (other machines, other tools), so each cached answer is a claim
// about the server that expires: an object's attributes, a directory's listing, "no such name".
// docs/consistency.md is the user's side of these numbers; keep the two in step.
//
// Within its window an answer costs no request. After it, qsfs asks again, cheaply where it
// can: a directory listed again confirms every cached entry in it whose ETag, size and
// Last-Modified are unchanged, so only new or changed entries cost a HEAD (see namespace.ts).

export interface FreshnessOptions {
  /** --metadata-ttl: seconds, when given. */
  metadataTtl?: number;
  /** -e/--statexpire: minutes, when given (negative: forever, 0: nothing cached). */
  statexpire?: number;
}

/**
 * The default window. About what the kernel itself caches names for (libfuse's entry_timeout),
 * so that a change by another client shows through `ls`, `stat` and `open` within about a
 * second, as it does through s3fs-fuse, while `ls -l` of a directory twice in a row, or the
 * `stat` that comes with every `open`, still costs nothing.
 */
export const DEFAULT_METADATA_TTL_S = 1;

/** With -e given, its old meaning holds: attributes live -e minutes; listings at most 5
 *  minutes and negative entries 3 s, as before --metadata-ttl existed. */
const STATEXPIRE_LISTING_CAP_MS = 5 * 60_000;
const STATEXPIRE_NEGATIVE_MS = 3000;

/**
 * With -e, how long the listing of a directory this mount created answers "no such name" on its
 * own, as before --metadata-ttl: it started empty and this mount applies its own changes to it,
 * so `cp -r` or `tar x` into a directory just made paid no lookup per file, where -e has every
 * other absent name asked for. By default there is no such exception: a directory made here is
 * listed again after the window like any other (about one LIST a second while it is filled).
 */
const STATEXPIRE_NEW_DIRECTORY_MS = 30_000;

/** A directory found too big to keep listed is not listed again for lookups for this long at least. */
const TOO_BIG_MIN_MS = 1000;

/**
 * open(2) revalidates an entry older than this (close-to-open), even when attributes may live
 * longer (-e): the kernel looks a name up right before it opens it, and one answer serves both.
 */
const OPEN_REVALIDATE_MAX_MS = 1000;

/** The kernel's caches (entry_timeout, attr_timeout) never outlive our own window, nor 1 s. */
const KERNEL_CACHE_MAX_S = 1;

export class Freshness {
  /** A file's or directory's attributes answer without a request for this long. */
  readonly attributesMs: number;
  /** A directory's listing answers readdir, and says which names are absent, for this long. */
  readonly listingsMs: number;
  /** "No such name" (a negative entry) answers without a request for this long. */
  readonly negativeMs: number;
  /** A name absent from a listing is taken as missing, without asking, for this long. */
  readonly absenceMs: number;
  /** See STATEXPIRE_NEW_DIRECTORY_MS (0: no exception). */
  readonly newDirectoryMs: number;

  constructor(o: FreshnessOptions, readonly now: () => number = Date.now) {
    if (o.statexpire !== undefined && o.metadataTtl === undefined) {
      this.attributesMs = o.statexpire < 0 ? Infinity : o.statexpire * 60_000;
      this.listingsMs = Math.min(this.attributesMs, STATEXPIRE_LISTING_CAP_MS);
      this.negativeMs = this.attributesMs === 0 ? 0 : STATEXPIRE_NEGATIVE_MS;
      // As before --metadata-ttl: a name absent from a listing was asked for (one narrow LIST).
      this.absenceMs = 0;
      this.newDirectoryMs = this.caching ? STATEXPIRE_NEW_DIRECTORY_MS : 0;
    } else {
      const window = (o.metadataTtl ?? DEFAULT_METADATA_TTL_S) * 1000;
      this.attributesMs = this.listingsMs = this.negativeMs = this.absenceMs = window;
      this.newDirectoryMs = 0;
    }
  }

  /** Whether anything is kept at all (-e 0 and --metadata-ttl 0 ask the server every time). */
  get caching(): boolean {
    return this.attributesMs > 0;
  }

  /** An answer the server gave at `at` (Date.now() ms) may still be given for attributes. */
  attributesFresh(at: number): boolean {
    return this.now() - at < this.attributesMs;
  }

  /** An entry confirmed at `at` may be opened as it is, without asking again. */
  openFresh(at: number): boolean {
    return this.now() - at < Math.min(this.attributesMs, OPEN_REVALIDATE_MAX_MS);
  }

  listingFresh(at: number): boolean {
    return this.now() - at < this.listingsMs;
  }

  negativeFresh(at: number): boolean {
    return this.now() - at < this.negativeMs;
  }

  /** Whether a listing taken at `listedAt` of a directory this mount made at `madeAt` (if it
   *  did) may answer "no such name" without asking. */
  absenceTrusted(listedAt: number, madeAt: number | undefined): boolean {
    const now = this.now();
    return now - listedAt < Math.min(this.listingsMs, this.absenceMs) || (madeAt !== undefined && now - madeAt < this.newDirectoryMs);
  }

  /** A directory marked too big to list for a lookup at `at` still is. */
  tooBigFresh(at: number): boolean {
    return this.now() - at < Math.max(this.listingsMs, TOO_BIG_MIN_MS);
  }

  /**
   * What the kernel may cache, as libfuse options. Names and attributes for at most our own
   * window (and 1 s), absent names not at all. The kernel's attributes then answer `ls -l` (fed
   * by readdirplus), `stat` and `find` without a round trip into qsfs; they may show an answer
   * this mount gave up to that long ago, so a change by another client reaches `stat` within the
   * window plus attr_timeout (docs/consistency.md). The size the kernel reads by is not left to
   * that: every open drops the kernel's attributes (native/fuse3-addon.c), so reads are clamped
   * at the size of the version the open file holds, never at one the kernel kept from before
   * another client replaced the object.
   */
  kernelOptions(): string[] {
    const kernel = Math.min(KERNEL_CACHE_MAX_S, this.attributesMs / 1000);
    return [`attr_timeout=${kernel}`, `entry_timeout=${kernel}`, 'negative_timeout=0'];
  }

  /** For the log at mount time. */
  describe(): Record<string, string> {
    const s = (ms: number): string => (ms === Infinity ? 'forever' : `${ms / 1000} s`);
    return { attributes: s(this.attributesMs), listings: s(this.listingsMs), negative: s(this.negativeMs) };
  }
}
