// The part of fuse-native 2.2.6 that qsfs uses (the package ships no types).
declare module 'fuse-native' {
  type Callback = (result: number, ...values: unknown[]) => void;

  export interface FuseStat {
    mode: number; uid: number; gid: number; size: number; nlink: number; blocks: number; blksize: number;
    mtime: Date; atime: Date; ctime: Date;
  }

  export type Operations = Record<string, (...args: any[]) => void>;

  export interface FuseOptions {
    timeout?: false | number | Record<string, number | false>;
    [name: string]: unknown;
  }

  class Fuse {
    constructor(mountpoint: string, ops: Operations, opts?: FuseOptions);
    readonly mnt: string;
    mount(cb: (err: Error | null) => void): void;
    unmount(cb: (err: Error | null) => void): void;
    static unmount(mountpoint: string, cb: (err: Error | null) => void): void;
    /** Builds the "-o..." argument handed to libfuse; qsfs overrides it to pass any option. */
    protected _fuseOptions(): string;
    /** The Buffers holding the addon's per-thread state, one per state made. */
    readonly _threads: Set<Buffer>;
    [errno: string]: unknown;
  }
  namespace Fuse {
    export type { Callback };
  }
  export default Fuse;
}
