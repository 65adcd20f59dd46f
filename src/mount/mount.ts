// fuse-native lifecycle: mount, notice when the kernel detaches us (fusermount -u, umount),
// and on SIGTERM/SIGINT upload what is dirty before detaching. The process exits when the
// mount is gone.
import { promises as fsp } from 'node:fs';
import { fixedBinding } from './fuse-binding.js'; // before fuse-native: it chooses the addon
import Fuse, { type Operations } from 'fuse-native';
import type { Logger } from '../log.js';
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

export interface MountHooks {
  /** Called before detaching on a signal, and after the kernel detached us: upload what is dirty. */
  flushAll(): Promise<string[]>;
  /** Last words before exit (closing clients, flushing logs). */
  close(): void;
}

const WATCH_INTERVAL_MS = 300;
/**
 * The kernel's read-ahead for this mount. Its default, 128 KiB, makes one large read(2) reach
 * us as a ramp of 128 KiB windows, each waiting for the last; at 1 MiB the kernel sends the
 * pieces of a read up to 1 MiB at once and they share one GET. libfuse 2 cannot raise it
 * (max_readahead only lowers it), so as root we set the mount's BDI through sysfs.
 */
const KERNEL_READAHEAD_KB = 1024;
const LIBFUSE_OPTION_LIMIT = 1000;

export class MountedFilesystem {
  private fuse: QsfsFuse | null = null;
  private watcher: NodeJS.Timeout | null = null;
  private stopping = false;

  constructor(private readonly s: MountSettings, private readonly hooks: MountHooks, private readonly log: Logger) {}

  async mount(ops: Operations): Promise<void> {
    const optionString = this.s.fuseOptions.join(',');
    if (optionString.length > LIBFUSE_OPTION_LIMIT) throw new Error('the -o options are too long for libfuse (1 KiB)');
    const fuse = new QsfsFuse(this.s.mountpoint, ops, optionString);
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
    this.fuse = fuse;
    this.log.info({ mountpoint: this.s.mountpoint, fuseOptions: this.s.fuseOptions }, 'mounted');
    if (!fixedBinding) this.log.warn('fuse-native runs its prebuilt addon, which loses the mtime of utimens (touch -d, cp -a, tar): run npm run build');
    await this.raiseReadahead();
    this.watchForUnmount();
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.on(signal, () => void this.stop(`signal ${signal}`));
    }
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
        if (!mounts.has(this.s.mountpoint) && !this.stopping) void this.exitAfterUnmount('unmounted by the system');
      }, (err: unknown) => this.log.warn({ err: String(err) }, 'cannot read the mount table'));
    }, WATCH_INTERVAL_MS);
  }

  /** Detach on request: upload dirty data first, then unmount; the watcher then sees it gone. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ reason }, 'unmounting');
    const failed = await this.hooks.flushAll();
    await new Promise<void>((resolve) => {
      const done = (err: Error | null): void => {
        if (err) this.log.error({ err: String(err) }, 'unmount failed');
        resolve();
      };
      if (this.fuse) this.fuse.unmount(done);
      else Fuse.unmount(this.s.mountpoint, done);
    });
    this.finish(failed);
  }

  private async exitAfterUnmount(reason: string): Promise<void> {
    this.stopping = true;
    this.log.info({ reason }, 'mount is gone');
    this.finish(await this.hooks.flushAll());
  }

  private finish(failed: string[]): void {
    if (this.watcher) clearInterval(this.watcher);
    if (failed.length > 0) this.log.error({ files: failed }, 'exiting with data that could not be uploaded');
    else this.log.info('exiting cleanly');
    this.hooks.close();
    process.exit(failed.length > 0 ? 1 : 0);
  }
}
