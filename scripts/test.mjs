#!/usr/bin/env node
// Test runner behind `npm test` (which runs `npm run build` first).
//
//   node scripts/test.mjs [FILTER...] [--node-test-option...]
//
// 0. refuses Node.js older than 20 (one line naming how to get a newer one)
// 1. compiles src + test with `tsc -p test/tsconfig.json` into build/ (tests: build/test/**/*.test.js)
// 2. starts a fresh single-node Ceph RADOS Gateway with scripts/rgw-up.sh in a temp dir, on free
//    ports (7481/6790/3301, else the same +100, +200, ...), unless QSFS_TEST_ENDPOINT is set
// 3. runs the test files with `node --test --test-concurrency=1`, exporting QSFS_TEST_ENDPOINT,
//    QSFS_TEST_ACCESS_KEY, QSFS_TEST_SECRET_KEY, QSFS_TEST_ACCESS_KEY2/_SECRET_KEY2 (a second key
//    pair of the same user) and QSFS_TEST_PORT (see test/helpers/rgw-env.ts), and
//    AWS_EC2_METADATA_DISABLED (no instance metadata requests from the SDK's credential chain),
//    and AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true (the AWS SDK's own switch for its
//    "future releases need Node 22" warning, which every test process printed on Node 20).
//    Two reporters: scripts/lib/test-reporter.mjs prints, for people, one line per test file as it
//    finishes (counts, time), each failing test with its error, its diagnostics and the output of
//    its file, and the totals; the full TAP goes to build/test-results/tap.txt (path printed at
//    the end; for CI logs). Passing --test-reporter yourself replaces the first one (given no
//    --test-reporter-destination, yours write to stdout): `npm test -- --test-reporter=tap`
//    prints the TAP as before; the TAP file is written in any case.
// 4. always stops the gateway it started (scripts/rgw-down.sh), also on failure and on
//    SIGINT/SIGTERM, then lazily unmounts FUSE mounts (fuse, fuse.qsfs) under the OS temp dir
//    that appeared during the run and are still there: a test that leaks a mount is a bug
//    (mounts that existed before the run, e.g. another run's, are left alone)
// 5. prints "N passed, N failed" as its very last line, for CI: from the TAP file's closing
//    `# pass N` / `# fail N` / `# cancelled N` (failed = fail + cancelled: node counts a test
//    that timed out, or was cut short by its parent, as cancelled)
// Exits with the test run's exit code (128+N after signal N; 1 if RGW could not start).
// Compiled tests whose source under test/ is gone (tsc never deletes outputs) are skipped.
//
// FILTER: run only test files whose path contains one of the given substrings
//         (`node scripts/test.mjs e2e`). Arguments starting with "-" go to `node --test`
//         (e.g. `npm test -- --test-name-pattern=rename`).
// Env:    QSFS_TEST_ENDPOINT (+ QSFS_TEST_ACCESS_KEY, QSFS_TEST_SECRET_KEY): use that S3 server
//         (then exported QSFS_TEST_THROWAWAY_SERVER is empty: tests clean up all they create)
//         QSFS_TEST_RGW_PORT, QSFS_TEST_MON_V1_PORT, QSFS_TEST_MON_V2_PORT: fixed ports
//         RGW_STORE_BYTES (default here 4 GiB), RGW_OBJECTSTORE, RGW_READY_TIMEOUT, ...: passed
//         on to scripts/rgw-up.sh; RGW_KEEP_ON_FAIL=1 keeps a cluster that failed to start
//         NO_COLOR / FORCE_COLOR: colours of the summary (default: only on a terminal)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_TEST = path.join(ROOT, 'build', 'test');
const TAP_FILE = path.join(ROOT, 'build', 'test-results', 'tap.txt');
const REPORTER = path.join(ROOT, 'scripts', 'lib', 'test-reporter.mjs');

// Before anything else: node 18 would get far enough to fail in confusing ways.
if (Number(process.versions.node.split('.')[0]) < 20) {
  process.stderr.write(
    `scripts/test.mjs: Node.js 20 or newer is needed, this is ${process.version} (${process.execPath}); ` +
      'install Node 22: npm install -g node@22 && hash -r (or from NodeSource: https://github.com/nodesource/distributions)\n',
  );
  process.exit(1);
}
const T0 = Date.now();

const ACCESS_KEY = 'TESTKEY';
const SECRET_KEY = 'TESTSECRET';
const DEFAULT_PORTS = { rgw: 7481, v1: 6790, v2: 3301 };
const PORT_STEP = 100;
const PORT_TRIES = 40;
const STOP_GRACE_MS = 15_000;

function secs(ms) {
  return (ms / 1000).toFixed(2) + 's';
}
function log(msg) {
  process.stdout.write(`[test.mjs +${secs(Date.now() - T0)}] ${msg}\n`);
}
function warn(msg) {
  process.stderr.write(`[test.mjs +${secs(Date.now() - T0)}] WARNING: ${msg}\n`);
}

// ---------------------------------------------------------------- signals and children
let stopSignal = null; // first SIGINT/SIGTERM received
let current = null; // running child: { child, name }
let cleaningUp = false;

function onSignal(sig) {
  if (cleaningUp) {
    warn(`${sig} received while cleaning up; finishing the cleanup first`);
    return;
  }
  if (stopSignal) {
    // second signal: do not wait for the child any longer
    if (current) {
      warn(`${sig} again: killing ${current.name}`);
      killGroup(current.child, 'SIGKILL');
    }
    return;
  }
  stopSignal = sig;
  warn(`${sig} received: stopping, then cleaning up (the S3 server is stopped in any case)`);
  if (current) {
    const c = current;
    killGroup(c.child, sig);
    setTimeout(() => {
      if (current === c) {
        warn(`${c.name} still running ${secs(STOP_GRACE_MS)} after ${sig}: SIGKILL`);
        killGroup(c.child, 'SIGKILL');
      }
    }, STOP_GRACE_MS).unref();
  }
}
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGHUP', () => onSignal('SIGHUP'));

function killGroup(child, sig) {
  // children run in their own process group (detached), so that a terminal's Ctrl-C reaches
  // them only through us, exactly once, and never interrupts the cleanup
  try {
    process.kill(-child.pid, sig);
  } catch {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Runs a command in its own process group. Output is inherited, or (capture) forwarded line by
 * line with a prefix and collected. Resolves to { code, signal, output }.
 */
function run(cmd, args, { env = process.env, capture = null, name = path.basename(cmd) } = {}) {
  return new Promise((resolve) => {
    let output = '';
    let child;
    try {
      child = spawn(cmd, args, {
        cwd: ROOT,
        env,
        detached: true,
        stdio: ['ignore', capture !== null ? 'pipe' : 'inherit', capture !== null ? 'pipe' : 'inherit'],
      });
    } catch (err) {
      resolve({ code: 127, signal: null, output: String(err) });
      return;
    }
    current = { child, name };
    if (capture !== null) {
      const forward = (stream, out) => {
        let rest = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          output += chunk;
          rest += chunk;
          const lines = rest.split('\n');
          rest = lines.pop() ?? '';
          for (const l of lines) out.write(`${capture}${l}\n`);
        });
        stream.on('end', () => {
          if (rest) out.write(`${capture}${rest}\n`);
        });
      };
      forward(child.stdout, process.stdout);
      forward(child.stderr, process.stderr);
    }
    let settled = false;
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      current = null;
      resolve({ code: 127, signal: null, output: output + String(err) });
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      current = null;
      resolve({ code, signal, output });
    });
  });
}

function exitCodeOf(r) {
  if (r.code !== null && r.code !== undefined) return r.code;
  const n = r.signal ? os.constants.signals[r.signal] : undefined;
  return n ? 128 + n : 1;
}

// ---------------------------------------------------------------- test files
function walk(dir, out) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile() && e.name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

/** build/test/a/b.test.js -> does test/a/b.test.{ts,tsx,js} exist? */
function hasSource(file) {
  const rel = path.relative(BUILD_TEST, file).replace(/\.js$/, '');
  return ['.ts', '.tsx', '.js'].some((ext) => fs.existsSync(path.join(ROOT, 'test', rel + ext)));
}

function findTests(filters) {
  let files = walk(BUILD_TEST, []).sort();
  // tsc never deletes outputs: skip compiled tests whose source is gone (renamed/removed),
  // unless no compiled file maps to a source at all (a layout this check does not know)
  const withSource = files.filter(hasSource);
  if (withSource.length > 0 && withSource.length < files.length) {
    for (const f of files) {
      if (!withSource.includes(f)) log(`skipping stale ${path.relative(ROOT, f)} (its source under test/ is gone)`);
    }
    files = withSource;
  }
  if (filters.length > 0) {
    files = files.filter((f) => {
      const rel = path.relative(ROOT, f);
      return filters.some((s) => rel.includes(s));
    });
  }
  return files;
}

// ---------------------------------------------------------------- ports
function canListen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function envPort(name) {
  const v = process.env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`${name}=${v} is not a port`);
  return n;
}

/** Yields candidate port sets: the fixed one from the env, or free sets in +100 steps. */
async function* portSets() {
  const fixed = {
    rgw: envPort('QSFS_TEST_RGW_PORT'),
    v1: envPort('QSFS_TEST_MON_V1_PORT'),
    v2: envPort('QSFS_TEST_MON_V2_PORT'),
  };
  if (fixed.rgw || fixed.v1 || fixed.v2) {
    yield {
      rgw: fixed.rgw ?? DEFAULT_PORTS.rgw,
      v1: fixed.v1 ?? DEFAULT_PORTS.v1,
      v2: fixed.v2 ?? DEFAULT_PORTS.v2,
    };
    return;
  }
  for (let k = 0; k < PORT_TRIES; k++) {
    const set = {
      rgw: DEFAULT_PORTS.rgw + k * PORT_STEP,
      v1: DEFAULT_PORTS.v1 + k * PORT_STEP,
      v2: DEFAULT_PORTS.v2 + k * PORT_STEP,
    };
    if ((await canListen(set.rgw)) && (await canListen(set.v1)) && (await canListen(set.v2))) yield set;
  }
}

// ---------------------------------------------------------------- RGW
function tailFile(file, lines) {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').split('\n').filter(Boolean).slice(-lines);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return [];
  }
}

function printRgwLogs(dir) {
  const logDir = path.join(dir, 'log');
  let names = [];
  try {
    names = fs.readdirSync(logDir).sort();
  } catch {
    return;
  }
  for (const n of names) {
    const lines = tailFile(path.join(logDir, n), 20);
    if (lines.length === 0) continue;
    process.stderr.write(`----- tail of ${path.join(logDir, n)}\n${lines.join('\n')}\n`);
  }
}

/** Starts RGW; returns { dir, ports } or null (after printing why). */
async function startRgw() {
  const up = path.join(ROOT, 'scripts', 'rgw-up.sh');
  let attempt = 0;
  for await (const ports of portSets()) {
    if (stopSignal) return null;
    attempt++;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qsfs-rgw-'));
    const env = {
      ...process.env,
      RGW_PORT: String(ports.rgw),
      MON_V1_PORT: String(ports.v1),
      MON_V2_PORT: String(ports.v2),
      RGW_ACCESS_KEY: ACCESS_KEY,
      RGW_SECRET_KEY: SECRET_KEY,
      RGW_STORE_BYTES: process.env.RGW_STORE_BYTES || String(4 * 1024 ** 3),
    };
    log(`starting RGW in ${dir} (ports rgw ${ports.rgw}, mon ${ports.v1}/${ports.v2})`);
    const t = Date.now();
    const r = await run(up, [dir], { env, capture: '  rgw-up: ', name: 'rgw-up.sh' });
    if (r.code === 0 && !stopSignal) {
      log(`RGW started in ${secs(Date.now() - t)}: http://127.0.0.1:${ports.rgw}`);
      return { dir, ports };
    }
    if (r.code === 0) {
      // interrupted right after a successful start: the caller's cleanup must stop it
      return { dir, ports };
    }
    if (stopSignal) {
      log(`RGW start interrupted after ${secs(Date.now() - t)}`);
    } else {
      warn(`scripts/rgw-up.sh failed (exit ${exitCodeOf(r)}) after ${secs(Date.now() - t)}`);
      printRgwLogs(dir);
    }
    if (process.env.RGW_KEEP_ON_FAIL === '1') {
      warn(`RGW_KEEP_ON_FAIL=1: leaving ${dir} as it is; stop it with scripts/rgw-down.sh ${dir}`);
      return null;
    }
    await stopRgw(dir);
    // lost a race for the ports (another cluster started meanwhile): try the next free set
    if (!stopSignal && /already in use/.test(r.output) && attempt < 3) continue;
    if (!stopSignal) warn('could not start the S3 server (RGW); no tests were run');
    return null;
  }
  if (!stopSignal && attempt === 0) {
    warn(`no free port set found for RGW (tried ${PORT_TRIES} in steps of ${PORT_STEP} from 7481/6790/3301)`);
  }
  return null;
}

async function stopRgw(dir) {
  const t = Date.now();
  const r = await run(path.join(ROOT, 'scripts', 'rgw-down.sh'), [dir], { capture: '  rgw-down: ', name: 'rgw-down.sh' });
  if (r.code !== 0) {
    warn(`scripts/rgw-down.sh ${dir} failed (exit ${exitCodeOf(r)}); ceph daemons may be left running`);
    return false;
  }
  log(`RGW stopped in ${secs(Date.now() - t)}`);
  return true;
}

// ---------------------------------------------------------------- leftover FUSE mounts
function unescapeMount(s) {
  return s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
}

function fuseMountsUnderTmp() {
  let text;
  try {
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const roots = new Set([os.tmpdir()]);
  try {
    roots.add(fs.realpathSync(os.tmpdir()));
  } catch {
    /* ignore */
  }
  const out = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 2) continue;
    const fstype = f[sep + 1];
    if (fstype !== 'fuse' && fstype !== 'fuse.qsfs') continue;
    const mountpoint = unescapeMount(f[4]);
    if (![...roots].some((r) => mountpoint.startsWith(r.endsWith('/') ? r : r + '/'))) continue;
    out.push({ id: f[0], mountpoint, fstype, source: unescapeMount(f[sep + 2] ?? '') });
  }
  return out;
}

async function unmountLeftovers(before) {
  const known = new Set(before.map((m) => m.id));
  const leftovers = fuseMountsUnderTmp()
    .filter((m) => !known.has(m.id))
    .sort((a, b) => b.mountpoint.length - a.mountpoint.length); // nested mounts first
  let ok = true;
  for (const m of leftovers) {
    warn(`leftover FUSE mount ${m.mountpoint} (${m.fstype}, ${m.source}) after the tests: a test leaked it; unmounting`);
    let done = false;
    for (const [cmd, args] of [
      ['fusermount', ['-uz', m.mountpoint]],
      ['fusermount3', ['-uz', m.mountpoint]],
      ['umount', ['-l', m.mountpoint]],
    ]) {
      const r = await run(cmd, args, { capture: `  ${cmd}: `, name: cmd });
      if (r.code === 0) {
        done = true;
        break;
      }
    }
    if (!done) {
      warn(`could not unmount ${m.mountpoint}`);
      ok = false;
    }
  }
  return ok;
}

// ---------------------------------------------------------------- main
/**
 * "N passed, N failed" from the closing lines of node's TAP (`# pass N`, `# fail N`,
 * `# cancelled N`), if it wrote them. Cancelled tests (timed out, or cut short by their parent)
 * count as failed.
 */
function countsOf(tap) {
  const last = (k) => [...tap.matchAll(new RegExp(`^# ${k} (\\d+)$`, 'gm'))].pop()?.[1];
  const pass = last('pass');
  const fail = last('fail');
  if (pass === undefined || fail === undefined) return null;
  return `${pass} passed, ${Number(fail) + Number(last('cancelled') ?? 0)} failed`;
}

/**
 * The reporter options for `node --test`: ours on stdout and TAP into the file; reporters given
 * on the command line replace ours (writing to stdout unless they name destinations).
 */
function reporterArgs(nodeOpts) {
  const isReporter = (a) => a === '--test-reporter' || a.startsWith('--test-reporter=');
  const isDest = (a) => a === '--test-reporter-destination' || a.startsWith('--test-reporter-destination=');
  const rest = [];
  const reporters = [];
  const dests = [];
  for (let i = 0; i < nodeOpts.length; i++) {
    const a = nodeOpts[i];
    const list = isReporter(a) ? reporters : isDest(a) ? dests : null;
    if (!list) {
      rest.push(a);
    } else if (a.includes('=')) {
      list.push(a.slice(a.indexOf('=') + 1));
    } else if (i + 1 < nodeOpts.length) {
      list.push(nodeOpts[++i]);
    }
  }
  if (reporters.length === 0) {
    reporters.push(REPORTER);
    dests.length = 0;
  }
  while (dests.length < reporters.length) dests.push('stdout');
  const pairs = reporters.map((r, k) => [`--test-reporter=${r}`, `--test-reporter-destination=${dests[k]}`]).flat();
  return { rest, reporter: [...pairs, '--test-reporter=tap', `--test-reporter-destination=${TAP_FILE}`] };
}

/** The test counts, printed last of all: CI reads the closing lines. */
let summary = null;

async function main() {
  const argv = process.argv.slice(2);
  const nodeOpts = argv.filter((a) => a.startsWith('-'));
  const filters = argv.filter((a) => !a.startsWith('-'));
  const mountsBefore = fuseMountsUnderTmp();

  // 1. compile the tests
  const tsconfig = path.join('test', 'tsconfig.json');
  const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
  log(`compiling tests: tsc -p ${tsconfig}`);
  let t = Date.now();
  const c = await run(tsc, ['-p', tsconfig], { name: 'tsc' });
  if (stopSignal) return 128 + os.constants.signals[stopSignal];
  if (c.code !== 0) {
    warn(`compiling the tests failed (exit ${exitCodeOf(c)})`);
    return exitCodeOf(c) || 1;
  }
  log(`compiled in ${secs(Date.now() - t)}`);

  const files = findTests(filters);
  if (files.length === 0) {
    warn(`no test files under ${path.relative(ROOT, BUILD_TEST)}/` + (filters.length ? ` match ${filters.map((f) => JSON.stringify(f)).join(' or ')}` : ''));
    return 1;
  }
  log(`${files.length} test file(s)`);

  // 2. the S3 server
  let rgw = null;
  let endpoint;
  let accessKey = ACCESS_KEY;
  let secretKey = SECRET_KEY;
  let port;
  let code = 1;
  try {
    if (process.env.QSFS_TEST_ENDPOINT) {
      endpoint = process.env.QSFS_TEST_ENDPOINT.replace(/\/+$/, '');
      accessKey = process.env.QSFS_TEST_ACCESS_KEY || ACCESS_KEY;
      secretKey = process.env.QSFS_TEST_SECRET_KEY || SECRET_KEY;
      const u = new URL(endpoint);
      port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
      log(`using the S3 server at ${endpoint} (QSFS_TEST_ENDPOINT); not starting RGW`);
    } else {
      rgw = await startRgw();
      if (!rgw) return stopSignal ? 128 + os.constants.signals[stopSignal] : 1;
      if (stopSignal) return 128 + os.constants.signals[stopSignal];
      port = rgw.ports.rgw;
      endpoint = `http://127.0.0.1:${port}`;
    }

    // 3. the tests
    const env = {
      ...process.env,
      QSFS_TEST_ENDPOINT: endpoint,
      QSFS_TEST_ACCESS_KEY: accessKey,
      QSFS_TEST_SECRET_KEY: secretKey,
      QSFS_TEST_PORT: String(port),
      // A second key pair of the same user (scripts/rgw-up.sh makes it): renewed credentials.
      QSFS_TEST_ACCESS_KEY2: process.env.QSFS_TEST_ACCESS_KEY2 || 'TESTKEY2',
      QSFS_TEST_SECRET_KEY2: process.env.QSFS_TEST_SECRET_KEY2 || 'TESTSECRET2',
      // The AWS SDK's credential chain never asks an instance metadata service from a test.
      AWS_EC2_METADATA_DISABLED: 'true',
      // The server goes away with this run: tests may leave big fixtures in it rather than
      // spend minutes deleting them (test/helpers/rgw-env.ts serverIsThrowaway).
      QSFS_TEST_THROWAWAY_SERVER: rgw ? '1' : '',
      // The SDK's switch for its NodeVersionSupportWarning (node < 22), printed by every test
      // process that loads it; other warnings stay.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      QSFS_TEST_TAP_FILE: TAP_FILE,
    };
    const { rest, reporter } = reporterArgs(nodeOpts);
    const args = ['--test', '--test-concurrency=1', '--test-timeout=600000', ...reporter, ...rest, ...files];
    fs.mkdirSync(path.dirname(TAP_FILE), { recursive: true });
    fs.rmSync(TAP_FILE, { force: true });
    const shown = args.map((a) => a.replace(ROOT + path.sep, ''));
    log(`node ${shown.length > 12 ? [...shown.slice(0, 10), `... (${files.length} test files)`].join(' ') : shown.join(' ')}`);
    t = Date.now();
    const r = await run(process.execPath, args, { env, name: 'node --test' });
    code = exitCodeOf(r);
    let tap = '';
    try {
      tap = fs.readFileSync(TAP_FILE, 'utf8');
    } catch {
      warn(`node --test wrote no ${path.relative(ROOT, TAP_FILE)}`);
    }
    summary = countsOf(tap);
    if (tap) log(`full TAP output: ${path.relative(ROOT, TAP_FILE)}`);
    log(`tests finished in ${secs(Date.now() - t)} with exit code ${code}`);
    if (stopSignal) code = 128 + os.constants.signals[stopSignal];
    return code;
  } finally {
    // 4. cleanup, whatever happened
    cleaningUp = true;
    if (rgw && !(await stopRgw(rgw.dir))) {
      process.exitCode = 1;
    }
    if (!(await unmountLeftovers(mountsBefore))) process.exitCode = 1;
  }
}

main().then(
  (code) => {
    const rc = code || process.exitCode || 0;
    log(`done in ${secs(Date.now() - T0)}, exit ${rc}`);
    if (summary) process.stdout.write(`${summary}\n`);
    process.exit(rc);
  },
  (err) => {
    process.stderr.write(`[test.mjs] ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
