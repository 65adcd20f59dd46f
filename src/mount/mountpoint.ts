// Checks on the mountpoint before mounting, and the kernel's mount table for watching it.
import { promises as fsp } from 'node:fs';

export class MountpointError extends Error {
  override name = 'MountpointError';
}

export interface MountEntry {
  fstype: string;
  /** "major:minor" of the mount's device: names its /sys/class/bdi entry. */
  device: string;
}

/** Mount points from /proc/self/mountinfo (field 5, with the kernel's octal escapes undone). */
export async function mountedPaths(): Promise<Map<string, MountEntry>> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const mounts = new Map<string, MountEntry>();
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const sep = fields.indexOf('-');
    const fstype = sep > 0 ? fields[sep + 1] ?? '' : '';
    mounts.set(unescapeMountPath(fields[4]!), { fstype, device: fields[2]! });
  }
  return mounts;
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function isMounted(path: string): Promise<boolean> {
  return (await mountedPaths()).has(path);
}

/** The mountpoint must be an existing directory that is not already a mount. */
export async function checkMountpoint(path: string, nonempty: boolean): Promise<void> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new MountpointError(`mountpoint ${path} does not exist`);
    if (code === 'ENOTCONN') throw new MountpointError(`mountpoint ${path} is a stale FUSE mount (run: fusermount -u ${path})`);
    throw new MountpointError(`cannot use mountpoint ${path}: ${code ?? String(err)}`);
  }
  if (!st.isDirectory()) throw new MountpointError(`mountpoint ${path} is not a directory`);
  if (await isMounted(path)) throw new MountpointError(`mountpoint ${path} is already a mount point`);
  if (!nonempty && (await fsp.readdir(path)).length > 0) {
    throw new MountpointError(`mountpoint ${path} is not empty (use -o nonempty to mount over it)`);
  }
}
