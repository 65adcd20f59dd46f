#!/usr/bin/env node
// Builds fuse-native's addon from its own source with our fixes, into dist/native/fuse-native
// (src/mount/fuse-binding.ts points fuse-native there). `npm run build` runs it; it does nothing
// when the build is up to date.
//
// Why not the bundled prebuild: fuse-native 2.2.6 hands utimens the access time twice (the
// modification time is lost), so `touch -d`, `cp -a`, `tar x` and `rsync -a` would store wrong
// mtimes. The fixes are textual replacements that must each match exactly once, so a new
// fuse-native release that changes the code fails here loudly instead of building something else.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const source = path.dirname(require.resolve('fuse-native/package.json'));
const out = path.join(root, 'dist', 'native', 'fuse-native');

const FIXES = [
  {
    why: 'utimens: pass the modification time, not the access time again, as the mtime argument',
    from: '  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)\n',
    to: '  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)\n',
  },
  {
    // libfuse 2 drops a utimensat() that sets only one of the times (touch -m, tar, rsync)
    // unless the filesystem says it understands UTIME_OMIT.
    why: 'utimens: ask libfuse for calls that set only one time (flag_utime_omit_ok)',
    from: '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n',
    to: '  if (implemented[op_utimens]) ops.utimens = fuse_native_utimens;\n  ops.flag_utime_omit_ok = 1;\n',
  },
  {
    // ... and then tells UTIME_OMIT and UTIME_NOW apart: 2^53 and 2^53 + 2 ms, exact in a double
    // (src/fuse/operations.ts reads them); both used to come out as 1073 ms after the epoch.
    why: 'utimens: UTIME_OMIT and UTIME_NOW as distinct values',
    from: 'static uint64_t timespec_to_uint64 (const struct timespec* ts) {\n',
    to: 'static uint64_t timespec_to_uint64 (const struct timespec* ts) {\n'
      + '  if (ts->tv_nsec == UTIME_OMIT) return 9007199254740992ULL;\n'
      + '  if (ts->tv_nsec == UTIME_NOW) return 9007199254740994ULL;\n',
  },
  {
    // qsfs -s (single-threaded FUSE): fuse-native always runs libfuse's multithreaded loop.
    why: 'loop: libfuse single-threaded when QSFS_FUSE_SINGLE_THREAD is set (qsfs -s)',
    from: '  fuse_loop_mt(ft->fuse);\n',
    to: '  if (getenv("QSFS_FUSE_SINGLE_THREAD") != NULL) fuse_loop(ft->fuse);\n  else fuse_loop_mt(ft->fuse);\n',
  },
  {
    // libfuse 2.9 ends idle threads beyond 10 and starts new ones when requests pile up (a cold
    // sequential read started 62 in 1 GiB). fuse-native gives every new thread its own state: a
    // call into JS, a Buffer kept forever and a uv_async handle never closed, which every later
    // wakeup of the event loop scans, so a long-running daemon slowed as it aged. A thread's
    // state now outlives the thread and the next new thread takes it over.
    why: 'threads: keep the state of an exited libfuse thread for the next one (declare the spare list)',
    from: 'static pthread_key_t thread_locals_key;\n',
    to: 'static pthread_key_t thread_locals_key;\n'
      + '#define QSFS_SPARE_LOCALS 1024\n'
      + 'static void *qsfs_spare_locals[QSFS_SPARE_LOCALS];\n'
      + 'static int qsfs_spare_count = 0;\n'
      + 'static pthread_mutex_t qsfs_spare_mut = PTHREAD_MUTEX_INITIALIZER;\n'
      + 'static void qsfs_release_locals (void *data) {\n'
      + '  pthread_mutex_lock(&qsfs_spare_mut);\n'
      + '  if (qsfs_spare_count < QSFS_SPARE_LOCALS) qsfs_spare_locals[qsfs_spare_count++] = data;\n'
      + '  pthread_mutex_unlock(&qsfs_spare_mut);\n'
      + '}\n',
  },
  {
    why: 'threads: a new libfuse thread takes a spare state of its mount before asking JS for one',
    from: '  if (data != NULL) {\n    return (fuse_thread_locals_t *) data;\n  }\n',
    to: '  if (data != NULL) {\n    return (fuse_thread_locals_t *) data;\n  }\n'
      + '  pthread_mutex_lock(&qsfs_spare_mut);\n'
      + '  for (int i = qsfs_spare_count - 1; i >= 0; i--) {\n'
      + '    fuse_thread_locals_t *spare = (fuse_thread_locals_t *) qsfs_spare_locals[i];\n'
      + '    if (spare->fuse != ft) continue;\n'
      + '    qsfs_spare_locals[i] = qsfs_spare_locals[--qsfs_spare_count];\n'
      + '    pthread_mutex_unlock(&qsfs_spare_mut);\n'
      + '    pthread_setspecific(thread_locals_key, (void *) spare);\n'
      + '    return spare;\n'
      + '  }\n'
      + '  pthread_mutex_unlock(&qsfs_spare_mut);\n',
  },
  {
    why: 'threads: an exiting libfuse thread hands its state to the spare list',
    from: '  pthread_key_create(&(thread_locals_key), NULL); // TODO: add destructor\n',
    to: '  pthread_key_create(&(thread_locals_key), qsfs_release_locals);\n',
  },
];

function fail(message) {
  process.stderr.write(`build-native: ${message}\n`);
  process.exit(1);
}

const files = ['fuse-native.c', 'semaphore.h', 'binding.gyp', 'package.json'];
let code = readFileSync(path.join(source, 'fuse-native.c'), 'utf8');
for (const fix of FIXES) {
  const n = code.split(fix.from).length - 1;
  if (n !== 1) fail(`the fix "${fix.why}" matches ${n} times in ${source}/fuse-native.c (expected 1): fuse-native changed?`);
  code = code.replace(fix.from, fix.to);
}
const stamp = createHash('sha256').update(code).update(readFileSync(path.join(source, 'binding.gyp'))).update(process.version).digest('hex');
const stampFile = path.join(out, 'build.stamp');
if (existsSync(path.join(out, 'build', 'Release', 'fuse.node')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
  process.exit(0);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of files) copyFileSync(path.join(source, f), path.join(out, f));
writeFileSync(path.join(out, 'fuse-native.c'), code);

// node-gyp comes with npm; headers come from the local Node installation (the machine has no
// route to nodejs.org), found through npm's nodedir setting or the usual /usr prefix.
const npmRoot = execFileSync('npm', ['root', '-g'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
const gyp = [path.join(npmRoot, 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')]
  .find((p) => existsSync(p));
if (!gyp) fail('node-gyp (bundled with npm) not found');
let nodedir = '';
try {
  nodedir = execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
} catch { /* not set */ }
if (!nodedir || nodedir === 'undefined' || nodedir === 'null') {
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  nodedir = existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : '';
}
const args = [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])];
try {
  // The addon's binding.gyp finds napi-macros and fuse-shared-library through node_modules.
  execFileSync(process.execPath, args, { cwd: out, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
} catch (err) {
  fail(`node-gyp failed (needs python3, make and a C compiler): ${String(err.stderr ?? err).trim().split('\n').slice(-5).join(' | ')}`);
}
if (!existsSync(path.join(out, 'build', 'Release', 'fuse.node'))) fail('node-gyp produced no fuse.node');
writeFileSync(stampFile, stamp);
process.stdout.write(`build-native: built ${path.relative(root, out)}/build/Release/fuse.node (${FIXES.length} fixes)\n`);
