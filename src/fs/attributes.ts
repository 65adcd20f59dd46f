// st_mode, owner and times of an object: from the s3fs-compatible user metadata when present
// (`mode`, `uid`, `gid`, `mtime`), otherwise from the mount's defaults and Last-Modified.
import type { ObjectInfo, ObjectMetadata } from '../store/object-store.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFSOCK = 0o140000;

/** FIFOs, devices and sockets: zero-byte objects whose type is in their stored mode (and device
 *  number in `rdev`), as s3fs-fuse stores them. Their kind is 'file' (an object at a file key);
 *  the kernel itself serves them once stat says what they are, and never opens them through us. */
export const SPECIAL_FILE_TYPES: ReadonlySet<number> = new Set([S_IFIFO, S_IFCHR, S_IFBLK, S_IFSOCK]);

export const DIRECTORY_CONTENT_TYPE = 'application/x-directory';
export const SYMLINK_CONTENT_TYPE = 'application/symlink';

export type Kind = 'file' | 'dir' | 'symlink';

export interface Stat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  atime: Date;
  ctime: Date;
  nlink: number;
  blocks: number;
  blksize: number;
  /** Device number of a character or block device (Linux's encoding, as mknod(2) takes it). */
  rdev?: number;
}

/** Who made an operation's request: new names belong to them (the FUSE layer says who). */
export interface Caller {
  uid: number;
  gid: number;
}

export const S_ISGID = 0o2000;

export interface AttributeDefaults {
  filemode: number;
  dirmode: number;
  uid: number;
  gid: number;
}

export const BLOCK_SIZE = 4096;

/** A decimal integer in metadata, or undefined when absent or garbage. */
function metaInt(meta: ObjectMetadata, name: string): number | undefined {
  const raw = meta[name];
  if (raw === undefined || !/^\s*\d+\s*$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A time in seconds, with an optional fraction (s3fs writes integers, rclone floats, qsfs
 *  milliseconds); undefined when absent, garbage, or past what a Date can hold. */
function metaTime(meta: ObjectMetadata, name: 'mtime' | 'atime' | 'ctime' = 'mtime'): Date | undefined {
  const raw = meta[name];
  if (raw === undefined || !/^\s*\d+(\.\d+)?\s*$/.test(raw)) return undefined;
  // Rounded: 1083783754.324 * 1000 is 1083783754323.9999 in floating point.
  const date = new Date(Math.round(Number(raw) * 1000));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const INTEGER_ATTRIBUTES = ['mode', 'uid', 'gid'] as const;

/**
 * The attribute metadata that is present but garbage, raw values by name (undefined when there
 * is none): mode, uid or gid that is not a non-negative decimal integer, an mtime that is not a
 * non-negative number of seconds. statOf ignores exactly these and uses the defaults instead.
 */
export function garbageAttributes(meta: ObjectMetadata): Record<string, string> | undefined {
  let garbage: Record<string, string> | undefined;
  for (const name of INTEGER_ATTRIBUTES) {
    const raw = meta[name];
    if (raw !== undefined && metaInt(meta, name) === undefined) (garbage ??= {})[name] = raw;
  }
  if (meta.mtime !== undefined && metaTime(meta) === undefined) (garbage ??= {}).mtime = meta.mtime;
  return garbage;
}

export function kindOf(info: Pick<ObjectInfo, 'key' | 'contentType' | 'metadata'>): Kind {
  if (info.key.endsWith('/')) return 'dir';
  const mode = metaInt(info.metadata, 'mode');
  if (mode !== undefined && (mode & S_IFMT) === S_IFLNK) return 'symlink';
  if (info.contentType === SYMLINK_CONTENT_TYPE) return 'symlink';
  if (mode !== undefined && (mode & S_IFMT) === S_IFDIR) return 'dir';
  return 'file';
}

const TYPE_BITS: Record<Kind, number> = { file: S_IFREG, dir: S_IFDIR, symlink: S_IFLNK };

export function statOf(kind: Kind, size: number, lastModified: Date, meta: ObjectMetadata, d: AttributeDefaults): Stat {
  const stored = metaInt(meta, 'mode');
  const defaultPerm = kind === 'dir' ? d.dirmode : kind === 'symlink' ? 0o777 : d.filemode;
  const perm = stored !== undefined ? stored & 0o7777 : defaultPerm;
  const mtime = metaTime(meta) ?? lastModified;
  const special = kind === 'file' && stored !== undefined && isSpecialFileMode(stored);
  return {
    mode: (special ? stored & S_IFMT : TYPE_BITS[kind]) | perm,
    uid: metaInt(meta, 'uid') ?? d.uid,
    gid: metaInt(meta, 'gid') ?? d.gid,
    size: kind === 'dir' ? BLOCK_SIZE : size,
    mtime,
    atime: metaTime(meta, 'atime') ?? mtime,
    ctime: metaTime(meta, 'ctime') ?? mtime,
    nlink: kind === 'dir' ? 2 : 1,
    blocks: Math.ceil((kind === 'dir' ? BLOCK_SIZE : size) / 512),
    blksize: BLOCK_SIZE,
    ...(special ? { rdev: metaInt(meta, 'rdev') ?? 0 } : {}),
  };
}

const ATTRIBUTE_NAMES = new Set(['mode', 'uid', 'gid', 'mtime', 'atime', 'ctime']);

/** User metadata other than the attributes: carried over when the attributes are rewritten. */
export function extraMetadataOf(meta: ObjectMetadata | undefined): ObjectMetadata {
  const extra: ObjectMetadata = {};
  for (const [name, value] of Object.entries(meta ?? {})) if (!ATTRIBUTE_NAMES.has(name)) extra[name] = value;
  return extra;
}

/** Seconds with up to three decimals: times are kept to the millisecond (what FUSE carries here). */
function secondsOf(t: Date): string {
  return (t.getTime() / 1000).toFixed(3).replace(/\.?0+$/, '');
}

/** The metadata qsfs writes with an object, in the s3fs names (x-amz-meta-mode, -uid, -gid,
 *  -mtime, -atime, -ctime). */
export function metadataOf(stat: Pick<Stat, 'mode' | 'uid' | 'gid' | 'mtime' | 'atime' | 'ctime'>): ObjectMetadata {
  return {
    mode: String(stat.mode), uid: String(stat.uid), gid: String(stat.gid),
    mtime: secondsOf(stat.mtime), atime: secondsOf(stat.atime), ctime: secondsOf(stat.ctime),
  };
}

/** Whether a mode is a FIFO's, a device's or a socket's. */
export function isSpecialFileMode(mode: number): boolean {
  return SPECIAL_FILE_TYPES.has(mode & S_IFMT);
}
