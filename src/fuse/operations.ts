// The FUSE operations table: thin adapters from fuse-native's callbacks to Filesystem calls.
// Every handler answers: a result, or an errno. An unexpected exception is logged with its
// stack and becomes EIO, so one bad request never takes the mount down.
import { constants } from 'node:os';
import type { Operations } from 'fuse-native';
import type { Logger } from '../log.js';
import type { Filesystem } from '../fs/filesystem.js';
import type { Caller } from '../fs/attributes.js';
import { FsError, errnoOf } from '../fs/errors.js';
import { isStoredXattrName } from '../fs/xattrs.js';
import { StoreError } from '../store/errors.js';

type Reply = (result: number, ...values: unknown[]) => void;

function errnoNumber(err: unknown): number {
  const name = errnoOf(err);
  return -(constants.errno as Record<string, number>)[name === 'ENOTSUP' ? 'EOPNOTSUPP' : name]!;
}

/** How our build of fuse-native's addon (scripts/build-native.mjs) passes UTIME_OMIT and UTIME_NOW. */
const UTIME_OMIT_MS = 2 ** 53;
const UTIME_NOW_MS = 2 ** 53 + 2;

/** A utimens time in ms: undefined for "leave it", now for UTIME_NOW. */
function timeArgument(ms: number): number | undefined {
  if (ms === UTIME_OMIT_MS) return undefined;
  if (ms === UTIME_NOW_MS) return Date.now();
  return ms;
}

/**
 * The operations table. `caller` says who made the request whose handler runs now (the addon
 * publishes it before each dispatch; it must be read before the handler's first await).
 */
/** Sees every operation that reaches JavaScript, with its time (the metrics endpoint). */
export type OperationObserver = (op: string, seconds: number, ok: boolean) => void;

export function createOperations(fs: Filesystem, log: Logger, caller: () => Caller, observe?: OperationObserver): Operations {
  /** Runs an operation; `answer` turns its value into the callback's arguments. */
  function run<T>(op: string, path: string, done: Reply, work: () => Promise<T> | T, answer: (value: T) => unknown[] = () => [0]): void {
    const started = observe ? performance.now() : 0;
    const reply: Reply = observe
      ? (result, ...values) => {
        observe(op, (performance.now() - started) / 1000, result >= 0);
        done(result, ...values);
      }
      : done;
    let promise: Promise<T>;
    try {
      promise = Promise.resolve(work());
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (value) => reply(...(answer(value) as [number, ...unknown[]])),
      (err: unknown) => {
        const errno = errnoNumber(err);
        if (err instanceof FsError) {
          log.debug({ op, path, errno: err.errno }, 'fuse op failed');
        } else if (err instanceof StoreError) {
          // The server failed us after the retries: expected in bad weather, no stack needed.
          log.warn({ op, path, err: err.message }, 'fuse op failed');
        } else {
          log.error({ op, path, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'fuse op failed');
        }
        reply(errno);
      },
    );
  }

  return {
    getattr: (path: string, cb: Reply) => run('getattr', path, cb, () => fs.getattr(path), (st) => [0, st]),
    // Attributes known without a request go with the names (readdirplus entries). The addon
    // reads a stat of zeros (fuse-native's JS makes one of a missing stat) as nothing known, and
    // dev 1 as only the type known.
    readdir: (path: string, cb: Reply) => run('readdir', path, cb, () => fs.readdirPlus(path),
      (r) => [0, r.names, r.stats.map((st) => (st?.typeOnly ? { ...st, dev: 1 } : st))]),
    // New names belong to their caller: read synchronously, before the handler's first await.
    mkdir: (path: string, mode: number, cb: Reply) => {
      const by = caller();
      run('mkdir', path, cb, () => fs.mkdir(path, mode, by));
    },
    rmdir: (path: string, cb: Reply) => run('rmdir', path, cb, () => fs.rmdir(path)),
    create: (path: string, mode: number, cb: Reply) => {
      const by = caller();
      run('create', path, cb, () => fs.create(path, mode, by), (fh) => [0, fh]);
    },
    open: (path: string, flags: number, cb: Reply) => run('open', path, cb, () => fs.open(path, flags), (fh) => [0, fh]),
    // read and write answer the byte count in the first argument, as fuse-native expects.
    read: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply) =>
      run('read', path, cb, () => fs.read(fh, buf, len, pos), (n) => [n]),
    write: (path: string, fh: number, buf: Buffer, len: number, pos: number, cb: Reply) =>
      run('write', path, cb, () => fs.write(fh, buf, len, pos), (n) => [n]),
    flush: (path: string, fh: number, cb: Reply) => run('flush', path, cb, () => fs.flush(fh)),
    fsync: (path: string, _datasync: boolean, fh: number, cb: Reply) => run('fsync', path, cb, () => fs.fsync(fh)),
    release: (path: string, fh: number, cb: Reply) => run('release', path, cb, () => fs.release(fh)),
    truncate: (path: string, size: number, cb: Reply) => run('truncate', path, cb, () => fs.truncate(path, size)),
    ftruncate: (path: string, fh: number, size: number, cb: Reply) => run('ftruncate', path, cb, () => fs.ftruncate(fh, size)),
    unlink: (path: string, cb: Reply) => run('unlink', path, cb, () => fs.unlink(path)),
    rename: (from: string, to: string, cb: Reply) => run('rename', from, cb, () => fs.rename(from, to)),
    symlink: (target: string, path: string, cb: Reply) => {
      const by = caller();
      run('symlink', path, cb, () => fs.symlink(target, path, by));
    },
    readlink: (path: string, cb: Reply) => run('readlink', path, cb, () => fs.readlink(path), (t) => [0, t]),
    link: (_from: string, to: string, cb: Reply) => run('link', to, cb, () => { throw new FsError('EPERM'); }),
    mknod: (path: string, mode: number, dev: number, cb: Reply) => {
      const by = caller();
      run('mknod', path, cb, () => fs.mknod(path, mode, by, dev));
    },
    access: (path: string, _mode: number, cb: Reply) => run('access', path, cb, () => fs.access(path)),
    // The kernel asks for security.capability before every write(2) (FUSE never marks an
    // inode "no security attributes"): answered here at once, without a promise or a lookup.
    getxattr: (path: string, name: string, _position: number, cb: Reply) => {
      if (!isStoredXattrName(name)) return cb(0, null);
      run('getxattr', path, cb, () => fs.getxattr(path, name), (v) => [0, v]);
    },
    listxattr: (path: string, cb: Reply) => run('listxattr', path, cb, () => fs.listxattr(path), (names) => [0, names]),
    setxattr: (path: string, name: string, value: Buffer, _position: number, flags: number, cb: Reply) =>
      run('setxattr', path, cb, () => fs.setxattr(path, name, value, flags)),
    removexattr: (path: string, name: string, cb: Reply) => run('removexattr', path, cb, () => fs.removexattr(path, name)),
    chmod: (path: string, mode: number, cb: Reply) => run('chmod', path, cb, () => fs.chmod(path, mode)),
    chown: (path: string, uid: number, gid: number, cb: Reply) => run('chown', path, cb, () => fs.chown(path, uid, gid)),
    utimens: (path: string, atime: number, mtime: number, cb: Reply) => run('utimens', path, cb, () => fs.utimens(path, timeArgument(atime), timeArgument(mtime))),
    statfs: (path: string, cb: Reply) => run('statfs', path, cb, () => fs.statfs(), (st) => [0, st]),
  };
}
