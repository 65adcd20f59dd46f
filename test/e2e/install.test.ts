// Packaging: `npm pack` in a fresh checkout builds dist/ and the FUSE addon, ships only what runs
// and leaves `git status` as it was; the tarball installs globally (into a temporary prefix, install
// scripts disabled, dependencies from a loopback registry fed by the npm cache) and the installed
// qsfs mounts a bucket.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { REPO_ROOT, endpointArgs, isMountpoint, makeWorkdir, waitForExit, type Workdir } from '../helpers/mount.js';
import { run, sh, type RunResult } from '../helpers/shell.js';
import { startLocalRegistry, type LocalRegistry } from '../helpers/local-registry.js';

const VERSION = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TARBALL_NAME = `qsfs-${VERSION}.tgz`;
const ADDON = 'dist/native/fuse-native/build/Release/fuse.node';

/** The environment for npm and the installed qsfs: this Node first on PATH, and none of the
 *  npm_* variables that `npm test` hands down (they would steer the nested npm). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  env['PATH'] = `${path.dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/bin:/bin'}`;
  return env;
}

function ok(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what} exited ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`);
  return r;
}

/** The daemon serving a mountpoint and the launcher it runs (by /proc/PID/cmdline). */
async function daemonOf(mountpoint: string): Promise<{ pid: number; launcher: string }> {
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await fsp.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const launcher = args.find((a) => a.endsWith('/bin/qsfs'));
    if (launcher && args.includes(mountpoint)) return { pid: Number(entry), launcher };
  }
  throw new Error(`no qsfs daemon found for ${mountpoint}`);
}

describe('npm pack and npm install -g', () => {
  const env = cleanEnv();
  let dir: string;
  let checkout: string;
  let prefix: string;
  let bucket: TestBucket | undefined;
  let work: Workdir | undefined;
  let registry: LocalRegistry | undefined;
  let tarball: string;
  let daemon: number | undefined;

  before(async () => {
    dir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-install-'));
    checkout = path.join(dir, 'checkout');
    prefix = path.join(dir, 'prefix');
  });

  after(async () => {
    if (work && (await isMountpoint(work.mountpoint))) await run('fusermount', ['-uz', work.mountpoint]);
    if (daemon !== undefined && !(await waitForExit(daemon, 20_000))) process.kill(daemon, 'SIGKILL');
    await registry?.close();
    if (work) await fsp.rm(work.dir, { recursive: true, force: true });
    await fsp.rm(dir, { recursive: true, force: true });
    await bucket?.destroy();
  });

  test('npm pack in a fresh checkout builds what it ships and leaves git status unchanged', async () => {
    // A fresh checkout of the working tree (tracked and new files, none that git ignores: no
    // dist/), sharing the repository's node_modules.
    const files = (await sh('git ls-files -z --cached --others --exclude-standard', REPO_ROOT)).split('\0').filter(Boolean);
    for (const f of files) {
      const from = path.join(REPO_ROOT, f);
      const stat = await fsp.lstat(from).catch(() => null);
      if (!stat || stat.isDirectory()) continue; // removed in the working tree, or a submodule
      await fsp.mkdir(path.dirname(path.join(checkout, f)), { recursive: true });
      await fsp.cp(from, path.join(checkout, f), { verbatimSymlinks: true });
    }
    await fsp.symlink(path.join(REPO_ROOT, 'node_modules'), path.join(checkout, 'node_modules'));
    await sh('git init -q . && echo node_modules >> .git/info/exclude && git add -A && git -c user.name=t -c user.email=t@t commit -q -m checkout', checkout);
    assert.equal(await sh('git status --porcelain', checkout), '', 'the copy is clean');

    // Plain `npm pack`: the tarball lands in the checkout, where .gitignore must cover it.
    ok(await run('npm', ['pack', '--no-audit', '--no-fund'], { cwd: checkout, env, timeoutMs: 120_000 }), 'npm pack');
    tarball = path.join(checkout, TARBALL_NAME);
    assert.equal(await sh('git status --porcelain', checkout), '', 'npm pack leaves git status as it was (dist/ and *.tgz ignored)');

    const list = (await sh(`tar -tzf ${tarball}`)).split('\n').filter(Boolean).map((f) => f.replace(/^package\//, ''));
    for (const want of ['package.json', 'README.md', 'LICENSE', 'bin/qsfs', 'bin/mount.qsfs', 'bin/mount-qsfs.mjs', 'dist/cli/main.js',
      'dist/cli/quiet-warnings.js', ADDON, 'native/fuse3-addon.c', 'native/checksums.c', 'native/binding.gyp', 'scripts/build-native.mjs',
      'scripts/install-addon.mjs', 'scripts/install-helpers.sh', 'scripts/systemd/qsfs@.service']) {
      assert.ok(list.includes(want), `the tarball has ${want}`);
    }
    const unwanted = list.filter((f) => /\.(o|d|mk|gypi|map|ts|tgz)$/.test(f) || /(^|\/)Makefile$/.test(f) || f.endsWith('build.stamp') ||
      /^(test|src|build|docs|node_modules|\.ci|\.github)\//.test(f) || /^scripts\/(benchmark|bench|demo|test\.mjs|rgw-|lib\/|make-bucket)/.test(f) ||
      (f.startsWith('dist/native/') && f !== ADDON));
    assert.deepEqual(unwanted, [], 'nothing in the tarball that does not run');
    // dist/ holds the compiled sources and nothing else: each .js has its src/*.ts.
    for (const f of list.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
      const source = path.join(checkout, 'src', f.slice('dist/'.length).replace(/\.js$/, '.ts'));
      assert.ok(await fsp.access(source).then(() => true, () => false), `${f} is compiled from ${path.relative(checkout, source)}`);
    }
    // The addon links the system's libfuse 3 and carries no path of the machine that built it.
    assert.match(await sh(`ldd ${path.join(checkout, ADDON)}`), /libfuse3\.so\.3 => /);
    const shipped = ok(await run('tar', ['-xzOf', tarball, `package/${ADDON}`]), 'tar -xO');
    assert.ok(shipped.stdout.length > 10_000 && !shipped.stdout.includes(checkout), 'the shipped addon has no build path');
  });

  test('the tarball installs globally with install scripts disabled and its qsfs mounts a bucket', { timeout: 120_000 }, async () => {
    assert.ok(tarball, 'npm pack ran');
    registry = await startLocalRegistry(path.join(REPO_ROOT, 'package-lock.json'), env);
    const install = await run('npm', ['install', '-g', '--prefix', prefix, '--registry', registry.url, '--cache', path.join(dir, 'npm-cache'),
      '--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier', tarball], { env, timeoutMs: 120_000 });
    ok(install, `npm install -g (404s from the loopback registry: ${registry.misses.join(' ') || 'none'})`);
    const qsfs = path.join(prefix, 'bin', 'qsfs');
    const pkg = path.join(prefix, 'lib', 'node_modules', 'qsfs');
    assert.equal(await fsp.realpath(qsfs), path.join(pkg, 'bin', 'qsfs'));
    assert.ok((await fsp.stat(path.join(prefix, 'bin', 'mount.qsfs'))).isFile());

    const help = ok(await run(qsfs, ['--help'], { env, timeoutMs: 30_000 }), 'qsfs --help');
    assert.match(help.stdout + help.stderr, /credentials/);
    // The install step finds the shipped addon loadable: silent, nothing rebuilt.
    const check = ok(await run(process.execPath, [path.join(pkg, 'scripts', 'install-addon.mjs')], { env, timeoutMs: 30_000 }), 'install-addon.mjs');
    assert.equal(check.stderr, '');

    bucket = await TestBucket.create('install');
    work = await makeWorkdir('install');
    ok(await run(qsfs, [bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`],
      { env, timeoutMs: 60_000 }), 'the installed qsfs mounts');
    assert.ok(await isMountpoint(work.mountpoint));
    const d = await daemonOf(work.mountpoint);
    daemon = d.pid;
    assert.equal(d.launcher, path.join(pkg, 'bin', 'qsfs'), 'the daemon runs the installed package');

    await sh(`echo 'installed from the tarball' > ${work.mountpoint}/hello.txt && cat ${work.mountpoint}/hello.txt`);
    assert.equal((await bucket.get('hello.txt')).toString(), 'installed from the tarball\n');

    ok(await run('fusermount', ['-u', work.mountpoint], { timeoutMs: 30_000 }), 'fusermount -u');
    assert.ok(await waitForExit(d.pid, 20_000), 'the daemon exits after the unmount');
    daemon = undefined;
    assert.equal(await isMountpoint(work.mountpoint), false);
  });
});
