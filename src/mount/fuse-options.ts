// The libfuse option string: what qsfs always wants, plus what the user passed with -o.

/** fstab/mount(8) words that are not libfuse options: understood elsewhere, dropped here. */
const MOUNT_ONLY_WORDS = new Set(['_netdev', 'noauto', 'auto', 'user', 'users', 'nouser', 'nofail', 'defaults', 'owner', 'group', 'comment']);

export interface FuseOptionSettings {
  bucket: string;
  userOptions: string[];
  fusedbg: boolean;
  /** --statexpire (minutes): 0 means no attribute caching, in the kernel either. */
  statexpire?: number;
}

export function buildFuseOptions(s: FuseOptionSettings): string[] {
  const opts = [
    `fsname=qsfs:${s.bucket}`,
    'subtype=qsfs',
    // libfuse 2.9 sends 4 KiB writes unless asked; the kernel caps big_writes at 128 KiB.
    'big_writes',
    'max_write=1048576',
    'max_read=1048576',
    // qsfs itself keeps the data of a file removed while open; libfuse's rename to
    // .fuse_hidden* would turn every such unlink into a server-side copy.
    'hard_remove',
  ];
  if (s.fusedbg) opts.push('debug');
  for (const o of s.userOptions) {
    if (o === '' || MOUNT_ONLY_WORDS.has(o) || o.startsWith('x-') || o.startsWith('comment=') || o.startsWith('user=')) continue;
    if (!opts.includes(o)) opts.push(o);
  }
  // Other users may enter: the kernel holds them to the mode bits and owners we report (qsfs
  // cannot check itself: fuse-native does not tell an operation who asked).
  if ((opts.includes('allow_other') || opts.includes('allow_root')) && !opts.includes('default_permissions')) {
    opts.push('default_permissions');
  }
  // The kernel caches attributes and names for 1 s by default, never longer than our own stat
  // cache; with -e 0 (no caching) it must not cache either.
  if (s.statexpire === 0) {
    for (const o of ['attr_timeout=0', 'entry_timeout=0', 'negative_timeout=0']) {
      if (!hasFuseOption(opts, o.slice(0, o.indexOf('=')))) opts.push(o);
    }
  }
  return opts;
}

export function hasFuseOption(options: string[], name: string): boolean {
  return options.some((o) => o === name || o.startsWith(`${name}=`));
}
