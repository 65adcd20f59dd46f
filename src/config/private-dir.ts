// The local directories qsfs writes (the cache with dirty data and spill files, the logs) must
// be its own: a directory another user owns, or may write into, lets that user delete or
// replace what qsfs keeps there (the default --diskdir is under /tmp, which every user can
// write). As ssh refuses a loose ~/.ssh, qsfs refuses such a directory with a message that says
// what to do, rather than use it; one it creates is made private (0700, or 0750 for logs).
import { promises as fsp } from 'node:fs';

/** A directory that is not safe to use, and why, in one line for the user. */
export class UnsafeDirectoryError extends Error {
  override name = 'UnsafeDirectoryError';
}

/** Creates `dir` (mode `mode`) when missing; refuses it when another user could change it. */
export async function ensurePrivateDirectory(dir: string, option: string, mode: number): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode });
  const me = process.geteuid?.() ?? 0;
  const link = await fsp.lstat(dir);
  const st = await fsp.stat(dir);
  const fix = `remove it or fix its owner and mode (chmod go-w), or give ${option} a directory of your own`;
  if (link.isSymbolicLink() && link.uid !== me && link.uid !== 0) {
    throw new UnsafeDirectoryError(`${option} ${dir} is a symbolic link owned by uid ${link.uid}, not by you (uid ${me}): ${fix}`);
  }
  if (!st.isDirectory()) throw new UnsafeDirectoryError(`${option} ${dir} is not a directory: give ${option} a directory`);
  // root's own directories are trusted by everyone (as ssh trusts them).
  if (st.uid !== me && st.uid !== 0) {
    throw new UnsafeDirectoryError(`${option} ${dir} is owned by uid ${st.uid}, not by you (uid ${me}), who could delete or replace qsfs's files there: ${fix}`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new UnsafeDirectoryError(`${option} ${dir} is writable by ${(st.mode & 0o002) !== 0 ? 'every user' : 'its group'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), who could delete or replace qsfs's files there: ${fix}`);
  }
}
