// Errors of the POSIX layer carry an errno name; the FUSE adapter turns it into a number.
import { StoreError } from '../store/errors.js';

export type Errno =
  | 'EPERM' | 'ENOENT' | 'EIO' | 'EBADF' | 'EACCES' | 'EEXIST' | 'EXDEV' | 'ENOTDIR' | 'EISDIR'
  | 'EINVAL' | 'ENOSPC' | 'EROFS' | 'ENAMETOOLONG' | 'ENOTEMPTY' | 'ENOSYS' | 'ENODATA' | 'E2BIG'
  | 'EFBIG' | 'ENOTSUP' | 'ESTALE';

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
    // The object changed on the server under an open file (a GET pinned to the version the open
    // saw): its bytes are gone, and mixing in the new version's would tear the file.
    if (err.kind === 'precondition-failed') return 'ESTALE';
    return 'EIO';
  }
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'ENOSPC';
  return 'EIO';
}
