// fuse-native lifecycle: mount, notice when the kernel detaches us (fusermount -u, umount),
// shut down cleanly on that or on a signal, and report status on SIGUSR1.
import { promises as fsp } from 'node:fs';
import { libfuseVersion, sessionEnded } from './fuse-binding.js'; // before fuse-native: it chooses the addon
import Fuse, { type Operations } from 'fuse-native';
import type { Logger } from '../log.js';
import type { UnmountLeftovers } from '../fs/key-writer.js';
import { mountedPaths } from './mountpoint.js';

/** fuse-native builds its own short list of -o options; this subclass passes ours verbatim. */
class QsfsFuse extends Fuse {
  constructor(mountpoint: string, ops: Operations, private readonly optionString: string) {
    // No per-operation timeout: fuse-native would answer ETIMEDOUT after 15 s to a close that is
    // still uploading. The store bounds every request with --reqtimeout instead.
    super(mountpoint, ops, { timeout: false });
  }

  protected override _fuseOptions(): string {
    return this.optionString === '' ? '' : `-o${this.optionString}`;
  }
}

export interface MountSettings {
  mountpoint: string;
  fuseOptions: string[];
}

/** What shutdown needs from the filesystem (Filesystem has it all). */
export interface FilesAtShutdown {
  /** Upload what is dirty; says what could not be: saved for recovery, or not saved at all. */
  flushAll(): Promise<UnmountLeftovers>;
  readonly openHandleCount: number;
  /** Date.now() of the last operation on an open file. */
  readonly lastHandleActivity: number;
  openPaths(limit: number): string[];
  dirtyFiles(): Array<{ path: string; size: number; stored: number; uploading: boolean }>;
  abortUnfinishedUploads(): Promise<number>;
}

export interface MountHooks {
  /** SIGUSR1: write the one-screen status. */
  statusSignal(): void;
  /** Last words before exit (closing clients, flushing logs). */
  close(): void;
}

/** Exit codes of the daemon. */
export const EXIT_CLEAN = 0;
/** Some dirty data could not be uploaded and was saved under --diskdir/recovery. */
export const EXIT_DATA_SAVED = 3;
/** Some dirty data could not be uploaded nor saved (no room for it under --diskdir): lost. */
export const EXIT_DATA_NOT_SAVED = 4;
/** An uncaught exception (a bug): logged, dirty data saved if possible. */
export const EXIT_CRASH = 70;
/** After a crash, the attempt to save dirty data gets this long. */
const CRASH_SAVE_MS = 60_000;

const WATCH_INTERVAL_MS = 300;
/** While shutting down: how often long uploads report their progress. */
const PROGRESS_INTERVAL_MS = 5000;
/**
 * Once detached, open files are waited for while their applications keep using them; a file
 * left open and idle this long (a pager, a tail -f) is uploaded as it is and the daemon exits.
 * A second signal stops the wait at once.
 */
const IDLE_GRACE_MS = 30_000;
/**
 * The kernel's read-ahead for this mount. Its default, 128 KiB, makes one large read(2) reach
 * us as a ramp of 128 KiB windows, each waiting for the last; at 1 MiB the kernel sends the
 * pieces of a read up to 1 MiB at once and they share one GET. FUSE cannot raise it
 * (max_readahead only lowers it), so as root we set the mount's BDI through sysfs.
 */
const KERNEL_READAHEAD_KB = 1024;
const LIBFUSE_OPTION_LIMIT = 1000;

/**
 * The life of a mount: mount, notice when the kernel detaches us, and shut down cleanly.
 *
 * Shutdown is the same whatever starts it (fusermount -u, umount, umount -l, SIGTERM, SIGINT):
 * detach from the namespace first (lazily: no new path can be opened, open files keep
 * working), wait for the applications to close their files, upload what is dirty (logging
 * the progress of long uploads), abort multipart uploads left open, and exit: 0, or
 * EXIT_DATA_SAVED when some data could only be saved locally for recovery.
 */
export class MountedFilesystem {
  private fuse: QsfsFuse | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private stopping = false;
  /** A second signal: stop waiting for open files. */
  private hurry = false;
  private exitCode: number | undefined;

  constructor(
    private readonly s: MountSettings,
    private readonly files: FilesAtShutdown,
    private readonly hooks: MountHooks,
    private readonly log: Logger,
  ) {}

  /** How many thread states fuse-native has made (its `_threads`, one per state it allocated). */
  get fuseThreadStates(): number {
    return this.fuse?._threads.size ?? 0;
  }

  async mount(ops: Operations): Promise<void> {
    const optionString = this.s.fuseOptions.join(',');
    if (optionString.length > LIBFUSE_OPTION_LIMIT) throw new Error('the -o options are too long for libfuse (1 KiB)');
    const fuse = new QsfsFuse(this.s.mountpoint, ops, optionString);
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
    this.fuse = fuse;
    const fuseLoop = process.env['QSFS_FUSE_SINGLE_THREAD'] ? 'single-threaded' : 'multithreaded';
    this.log.info({ mountpoint: this.s.mountpoint, fuseOptions: this.s.fuseOptions, fuseLoop, libfuse: libfuseVersion() }, 'mounted');
    await this.raiseReadahead();
    this.watchForUnmount();
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => void this.stop(`signal ${signal}`));
    }
    process.on('SIGUSR1', () => this.hooks.statusSignal());
  }

  private async raiseReadahead(): Promise<void> {
    try {
      const entry = (await mountedPaths()).get(this.s.mountpoint);
      if (!entry) return;
      await fsp.writeFile(`/sys/class/bdi/${entry.device}/read_ahead_kb`, `${KERNEL_READAHEAD_KB}\n`);
      this.log.debug({ device: entry.device, kb: KERNEL_READAHEAD_KB }, 'kernel read-ahead raised');
    } catch (err) {
      // Not root, or no sysfs: reads still work, with the kernel's 128 KiB windows.
      this.log.debug({ err: String(err) }, 'kernel read-ahead left at its default');
    }
  }

  /** fuse-native does not tell us when the kernel unmounts; the mount table does. */
  private watchForUnmount(): void {
    this.watcher = setInterval(() => {
      mountedPaths().then((mounts) => {
        if (!mounts.has(this.s.mountpoint) && !this.stopping) void this.shutDown('unmounted by the system', false);
      }, (err: unknown) => this.log.warn({ err: String(err) }, 'cannot read the mount table'));
    }, WATCH_INTERVAL_MS);
  }

  /** On a signal: detach, then shut down; a second signal cuts the wait for open files short. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) {
      if (!this.hurry) this.log.info({ reason }, 'again: no more waiting for open files');
      this.hurry = true;
      return;
    }
    await this.shutDown(reason, true);
  }

  /** After an uncaught exception: detach, save what is dirty without waiting, exit 70. */
  async crashed(): Promise<void> {
    setTimeout(() => process.exit(EXIT_CRASH), CRASH_SAVE_MS).unref();
    this.exitCode = EXIT_CRASH;
    this.hurry = true;
    if (!this.stopping) await this.shutDown('crash', true);
  }

  private async shutDown(reason: string, detach: boolean): Promise<void> {
    this.stopping = true;
    if (this.watcher) clearInterval(this.watcher);
    this.log.info({ reason, openFiles: this.files.openHandleCount }, 'shutting down');
    if (detach) await this.detach();
    const progress = this.reportProgress();
    try {
      await this.waitForOpenFiles();
      const left = await this.files.flushAll();
      const aborted = await this.files.abortUnfinishedUploads();
      if (aborted > 0) this.log.info({ aborted }, 'aborted unfinished multipart uploads');
      this.finish(left);
    } finally {
      clearInterval(progress);
    }
  }

  /** A lazy unmount (fusermount -uz): gone from the namespace, open files still served. */
  private async detach(): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (err: Error | null): void => {
        if (err) this.log.error({ err: String(err) }, 'unmount failed');
        resolve();
      };
      if (this.fuse) this.fuse.unmount(done);
      else Fuse.unmount(this.s.mountpoint, done);
    });
  }

  private async waitForOpenFiles(): Promise<void> {
    let announced = false;
    while (this.files.openHandleCount > 0 && !this.hurry) {
      if (sessionEnded()) {
        // The kernel closed the connection: the releases of these files will never come.
        this.log.info({ open: this.files.openPaths(20) }, 'the kernel ended the FUSE session with files still open: uploading them as they are');
        return;
      }
      if (Date.now() - this.files.lastHandleActivity > IDLE_GRACE_MS) {
        this.log.warn({ open: this.files.openPaths(20) }, `files still open and idle for ${IDLE_GRACE_MS / 1000} s: uploading them as they are`);
        return;
      }
      if (!announced) this.log.info({ open: this.files.openPaths(20) }, 'waiting for open files to be closed');
      announced = true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Every few seconds while shutting down: each upload under way, its bytes and rate. */
  private reportProgress(): NodeJS.Timeout {
    const last = new Map<string, { stored: number; at: number }>();
    return setInterval(() => {
      const now = Date.now();
      for (const f of this.files.dirtyFiles()) {
        const before = last.get(f.path);
        const rate = before && now > before.at ? ((f.stored - before.stored) / ((now - before.at) / 1000)) : undefined;
        last.set(f.path, { stored: f.stored, at: now });
        this.log.info({
          path: f.path, size: f.size, stored: f.stored, uploading: f.uploading,
          rateMBps: rate === undefined ? undefined : Math.round((rate / 1e6) * 10) / 10,
        }, 'upload progress');
      }
    }, PROGRESS_INTERVAL_MS);
  }

  private finish(left: UnmountLeftovers): void {
    if (left.notSaved.length > 0) this.log.error({ files: left.notSaved, saved: left.saved }, 'exiting with data that could not be uploaded NOR saved');
    else if (left.saved.length > 0) this.log.error({ files: left.saved }, 'exiting with data that could not be uploaded (saved for recovery)');
    else this.log.info('exiting cleanly');
    this.hooks.close();
    const code = left.notSaved.length > 0 ? EXIT_DATA_NOT_SAVED : left.saved.length > 0 ? EXIT_DATA_SAVED : EXIT_CLEAN;
    process.exit(this.exitCode ?? code);
  }
}
