// Where qsfs's native addon is: native/*.c, built by scripts/build-native.mjs into
// dist/native/fuse-native. One binary holds fuse-native's interface on libfuse 3 (loaded by
// src/mount/fuse-binding.ts) and the CRCs of --checksum (src/transfer/checksums.ts).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const beside = fileURLToPath(new URL('./native/fuse-native', import.meta.url));
// Tests run the sources compiled under build/src/: the addon is still the one in dist/.
const fromTests = fileURLToPath(new URL('../../dist/native/fuse-native', import.meta.url));

export const ADDON_DIR = existsSync(`${beside}/build/Release/fuse.node`) || !existsSync(`${fromTests}/build/Release/fuse.node`) ? beside : fromTests;
export const ADDON_PATH = `${ADDON_DIR}/build/Release/fuse.node`;
