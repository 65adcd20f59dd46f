// mount.qsfs: the helper mount(8) runs for `fuse.qsfs` entries in /etc/fstab, called as
//   mount.qsfs SPEC MOUNTPOINT [-sfnv] [-N namespace] [-o options]
// SPEC is `bucket[:/prefix]` (or the `qsfs#bucket` form of `fuse` entries). Options are
// handed to qsfs as one -o list, which understands both qsfs and FUSE options.

/** mount(8) flags that mean nothing to a FUSE filesystem (sloppy, fake, no-mtab, verbose). */
const MOUNT_FLAGS = new Set(['-s', '-f', '-n', '-v']);

export function mountHelperArgs(argv: string[]): string[] {
  const positionals: string[] = [];
  const options: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-o') options.push(argv[++i] ?? '');
    else if (a.startsWith('-o')) options.push(a.slice(2));
    else if (a === '-t' || a === '-N') i++; // type / namespace: not ours to use
    else if (MOUNT_FLAGS.has(a)) continue;
    else positionals.push(a);
  }
  const args = positionals.map((p, i) => (i === 0 ? p.replace(/^qsfs#/, '') : p));
  const list = options.filter((o) => o !== '').join(',');
  return list === '' ? args : [...args, '-o', list];
}
