// Points fuse-native at the addon scripts/build-native.mjs built from its source with our fixes
// (its prebuild passes the access time as the modification time to utimens, and libfuse drops
// calls that set only one of the times). Imported before
// fuse-native: node-gyp-build reads FUSE_NATIVE_PREBUILD when fuse-native loads its binding.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const built = fileURLToPath(new URL('../native/fuse-native', import.meta.url));

/** Whether the fixed addon is in use; without it mtimes set through utimens are wrong or lost. */
export const fixedBinding = existsSync(`${built}/build/Release/fuse.node`);
if (fixedBinding && process.env['FUSE_NATIVE_PREBUILD'] === undefined) process.env['FUSE_NATIVE_PREBUILD'] = built;
