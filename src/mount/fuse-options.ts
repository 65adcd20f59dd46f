// The libfuse option string: what qsfs always wants, plus what the user passed with -o.

/** fstab/mount(8) words that are not libfuse options: understood elsewhere, dropped here. */
const MOUNT_ONLY_WORDS = new Set(['_netdev', 'noauto', 'auto', 'user', 'users', 'nouser', 'nofail', 'defaults', 'owner', 'group', 'comment']);

/**
 * libfuse 2 options that libfuse 3 rejects, for fstab lines and scripts written for the old
 * qsfs: what they asked for is what qsfs now always does (big_writes: 1 MiB requests;
 * hard_remove: set in init; nonempty: libfuse 3 mounts over a non-empty directory).
 */
export const LIBFUSE2_ONLY_WORDS = new Set(['big_writes', 'large_read', 'hard_remove', 'nonempty']);

/**
 * Options qsfs refuses, each with why (start.ts logs it). The kernel's writeback cache trusts its
 * own file sizes over the server's, so a file another client changed would be read by a stale
 * size (docs/consistency.md), and 8 KiB writes were no faster with it here.
 */
export const REFUSED_OPTIONS = new Map([
  ['writeback_cache', 'the kernel would trust its own file sizes over the bucket\'s (see docs/consistency.md)'],
]);

export interface FuseOptionSettings {
  bucket: string;
  userOptions: string[];
  fusedbg: boolean;
  /** What the kernel may cache (Freshness.kernelOptions): each applies unless -o sets it. */
  kernelCache?: string[];
}

export function buildFuseOptions(s: FuseOptionSettings): string[] {
  const opts = [
    `fsname=qsfs:${s.bucket}`,
    'subtype=qsfs',
    // Requests of up to 1 MiB (the kernel's default limit of 256 pages).
    'max_write=1048576',
  ];
  if (s.fusedbg) opts.push('debug');
  for (const o of s.userOptions) {
    if (o === '' || MOUNT_ONLY_WORDS.has(o) || o.startsWith('x-') || o.startsWith('comment=') || o.startsWith('user=')) continue;
    if (LIBFUSE2_ONLY_WORDS.has(o) || REFUSED_OPTIONS.has(o)) continue;
    if (!opts.includes(o)) opts.push(o);
  }
  // Other users may enter: the kernel holds them to the mode bits and owners we report (the
  // same rules Linux filesystems follow; new files belong to their caller).
  if ((opts.includes('allow_other') || opts.includes('allow_root')) && !opts.includes('default_permissions')) {
    opts.push('default_permissions');
  }
  // The kernel's attribute and name caches come on top of ours: src/fs/freshness.ts sets them
  // so that the model of docs/consistency.md holds (a user's -o attr_timeout=... wins).
  for (const o of s.kernelCache ?? []) {
    if (!hasFuseOption(opts, o.slice(0, o.indexOf('=')))) opts.push(o);
  }
  return opts;
}

export function hasFuseOption(options: string[], name: string): boolean {
  return options.some((o) => o === name || o.startsWith(`${name}=`));
}
