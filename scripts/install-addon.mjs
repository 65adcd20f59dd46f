#!/usr/bin/env node
// npm's install step (package.json "install"). A package made by `npm pack` carries qsfs's FUSE
// addon, built when it was packed (dist/native/fuse-native/build/Release/fuse.node): when that
// addon loads here and runs on libfuse 3.12 or newer, there is nothing to do. When it does not
// load (another CPU architecture or C library, an older libfuse), it is rebuilt from native/ with
// scripts/build-native.mjs, which needs libfuse3-dev, pkg-config, make, g++ and python3 and says
// which is missing. Without libfuse 3 at all, the addon is kept and the step only says to install
// fuse3. In a checkout there is no addon yet: nothing to do, `prepare` (npm run build) builds it.
// The same rebuild by hand: npm run rebuild-addon, in the installed package's directory.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'dist', 'native', 'fuse-native', 'build', 'Release', 'fuse.node');
/** fuse_loop_cfg_set_max_threads, which the addon calls, came with libfuse 3.12. */
const MIN_LIBFUSE = 312;

function say(message) {
  process.stderr.write(`qsfs install: ${message}\n`);
}

if (!existsSync(addon)) process.exit(0);

// In a child: a broken addon may fail in ways a process does not survive.
const probe = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(require(process.argv[1]).fuse_native_libfuse_version()))', addon], { encoding: 'utf8' });
const version = Number(probe.stdout);
if (probe.status === 0 && version >= MIN_LIBFUSE) process.exit(0);

const why = probe.status === 0 ? `it runs on libfuse ${Math.floor(version / 100)}.${version % 100}, qsfs needs 3.12 or newer` : (probe.stderr.split('\n').find((l) => /Error:/.test(l)) ?? probe.stderr.trim()).trim();
if (/libfuse3\.so\.3/.test(why)) {
  say(`libfuse 3 is not installed (${why}); install it before mounting: apt-get install fuse3`);
  process.exit(0);
}
say(`the FUSE addon in the package does not load here (${why}); rebuilding it from native/`);
// build-native.mjs skips a build whose stamp matches: this one must run.
rmSync(path.join(root, 'dist', 'native', 'fuse-native', 'build.stamp'), { force: true });
try {
  execFileSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { stdio: 'inherit' });
} catch {
  say('could not rebuild the FUSE addon (see above); install what it names, then run npm run rebuild-addon in this package directory');
  process.exit(1);
}
