// Points fuse-native's JavaScript at qsfs's own addon (native/fuse3-addon.c, built by
// scripts/build-native.mjs): fuse-native's N-API interface on libfuse 3. Imported before
// fuse-native, whose node-gyp-build reads FUSE_NATIVE_PREBUILD when it loads its binding. The
// package's own prebuild (libfuse 2.9) is never used: qsfs relies on what only ours gives
// (the caller of each operation, readdirplus, 1 MiB requests).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ADDON_DIR as built, ADDON_PATH as addonPath } from '../native-addon.js';

if (!existsSync(addonPath)) {
  throw new Error(`qsfs's FUSE addon is not built (${addonPath}): run npm run build (needs libfuse3-dev)`);
}
process.env['FUSE_NATIVE_PREBUILD'] = built;

/** What the addon gives beyond fuse-native's interface. */
interface AddonExtras {
  /** uid, gid, pid, umask of the caller of the operation being dispatched (valid synchronously). */
  caller: Buffer;
  /** How many FUSE sessions of this process the kernel has ended (a Uint32). */
  sessions_ended: Buffer;
  fuse_native_libfuse_version(): number;
}

// The same module instance fuse-native loads (Node caches addons by path).
const addon = createRequire(import.meta.url)(addonPath) as AddonExtras;
const callerWords = new Uint32Array(addon.caller.buffer, addon.caller.byteOffset, 4);

const sessionsEnded = new Uint32Array(addon.sessions_ended.buffer, addon.sessions_ended.byteOffset, 1);

/**
 * Whether the kernel has ended the FUSE session (after an unmount, or the last file closed after
 * a lazy one): no request comes any more, not even the release of a file it still had open (an
 * unmount drops the releases it had not sent yet).
 */
export function sessionEnded(): boolean {
  return sessionsEnded[0]! > 0;
}

/** Who asked for the operation now being handled. */
export interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/** The caller of the FUSE operation whose handler runs now: read it before the first await. */
export function currentCaller(): Caller {
  return { uid: callerWords[0]!, gid: callerWords[1]!, pid: callerWords[2]! };
}

/** The libfuse version the addon runs against, as "3.14". */
export function libfuseVersion(): string {
  const v = addon.fuse_native_libfuse_version();
  return `${Math.floor(v / 100)}.${v % 100}`;
}
