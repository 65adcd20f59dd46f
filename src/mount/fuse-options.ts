// The libfuse option string: what qsfs always wants, plus what the user passed with -o.

/** fstab/mount(8) words that are not libfuse options: understood elsewhere, dropped here. */
const MOUNT_ONLY_WORDS = new Set(['_netdev', 'noauto', 'auto', 'user', 'users', 'nouser', 'nofail', 'defaults', 'owner', 'group', 'comment']);

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
