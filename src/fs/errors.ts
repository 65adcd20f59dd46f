// Errors of the POSIX layer carry an errno name; the FUSE adapter turns it into a number.
import { StoreError } from '../store/errors.js';

export type Errno =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EACCES' | 'EEXIST' | 'EXDEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'ENOSPC' | 'EROFS' | 'ENAMETOOLONG' | 'ENOTEMPTY' | 'ENOSYS' | 'ENODATA' | 'E2BIG'
  | 'EFBIG' | 'ENOTSUP';

export class FsError extends Error {
  constructor(readonly errno: Errno, message?: string) {
    super(message ?? errno);
    this.name = 'FsError';
  }
}

/** What an application sees when a store request fails. */
export function errnoOf(err: unknown): Errno {
  if (err instanceof FsError) return err.errno;
  if (err instanceof StoreError) {
    if (err.kind === 'not-found' || err.kind === 'no-such-bucket') return 'ENOENT';
    if (err.kind === 'access-denied') return 'EACCES';
    return 'EIO';
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'ENOSPC';
  return 'EIO';
}
