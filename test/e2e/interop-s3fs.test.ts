// The same bucket through s3fs-fuse (Debian package s3fs, 1.90) and through qsfs: both keep
// mode, owner and mtime in x-amz-meta-mode/-uid/-gid/-mtime and a symlink as an object whose body
// is the target, so what one writes the other must show with the same attributes. One direction
// per test; each reads through fresh mounts of both (what the writer's caches still hold does not
// count). Every file operation on a mount runs in a child process (bash).
//
// s3fs is required, not optional: when it is missing the tests fail (.ci/run installs it).
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TestBucket } from '../helpers/s3.js';
import { isMountpoint, sleep } from '../helpers/mount.js';
import { testEndpoint } from '../helpers/rgw-env.js';
import { run, sh, shResult } from '../helpers/shell.js';
import { lines, listingMismatch, q, withMount } from '../helpers/posix.js';

const md5hex = (b: string): string => createHash('md5').update(b).digest('hex');

/** An s3fs-fuse mount in the foreground (-f), so this process owns the daemon and sees it exit. */
class S3fsMount {
  private constructor(readonly dir: string, readonly path: string, private readonly child: ChildProcess, private readonly exited: Promise<number | null>, private readonly out: { text: string }) {}

  static async start(bucket: string, label: string): Promise<S3fsMount> {
    const e = testEndpoint();
    const dir = await fsp.mkdtemp(path.join(tmpdir(), `qsfs-s3fs-${label}-`));
    const mnt = path.join(dir, 'mnt');
    const passwd = path.join(dir, 'passwd');
    await fsp.mkdir(mnt);
    await fsp.writeFile(passwd, `${e.accessKeyId}:${e.secretAccessKey}\n`, { mode: 0o600 });
    const options = [`url=http://127.0.0.1:${e.port}`, 'use_path_request_style', `passwd_file=${passwd}`, 'endpoint=us-east-1', 'dbglevel=warn'];
    const child = spawn('s3fs', [bucket, mnt, '-f', '-o', options.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { text: '' };
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out.text += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { out.text += d; });
    const exited = new Promise<number | null>((resolve) => {
      child.on('error', (err) => { out.text += `\nspawn s3fs: ${err.message}`; resolve(null); });
      child.on('close', (code) => resolve(code));
    });
    let gone = false;
    void exited.then(() => { gone = true; });
    const end = Date.now() + 30_000;
    while (!(await isMountpoint(mnt))) {
      if (gone || Date.now() > end) {
        child.kill('SIGKILL');
        await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
        throw new Error(`s3fs did not mount ${bucket} (${gone ? 'it exited' : 'not mounted after 30 s'}): s3fs ${bucket} ${mnt} -f -o ${options.join(',')}\n${out.text}`);
      }
      await sleep(100);
    }
    return new S3fsMount(dir, mnt, child, exited, out);
  }

  p(...parts: string[]): string {
    return path.join(this.path, ...parts);
  }

  get output(): string {
    return this.out.text;
  }

  /** fusermount -u (forced when it keeps failing), then waits for s3fs to exit (killed after 20 s). */
  async stop(): Promise<{ exited: boolean; output: string }> {
    for (let i = 0; i < 20 && (await isMountpoint(this.path)); i++) {
      if ((await run('fusermount', ['-u', this.path])).code !== 0) await sleep(250);
    }
    if (await isMountpoint(this.path)) await run('fusermount', ['-uz', this.path]);
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      this.exited.then(() => true),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), 20_000); }),
    ]).finally(() => clearTimeout(timer));
    if (!exited) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    await fsp.rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    return { exited, output: this.out.text };
  }
}

/** An s3fs mount for the length of fn; s3fs must exit on unmount; its output is shown on failure. */
async function withS3fs<T>(t: TestContext, bucket: string, label: string, fn: (m: S3fsMount) => Promise<T>): Promise<T> {
  const m = await S3fsMount.start(bucket, label);
  let result: T;
  try {
    result = await fn(m);
  } catch (err) {
    const { output } = await m.stop();
    t.diagnostic(`s3fs output (${label}):\n${output || '(none)'}`);
    throw err;
  }
  const { exited, output } = await m.stop();
  assert.equal(exited, true, `s3fs (${label}) exited after fusermount -u; its output:\n${output}`);
  return result;
}

// ---------------------------------------------------------------- the tree both write

interface Entry {
  path: string;
  kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'chr' | 'blk' | 'sock';
  /** a device's major and minor numbers */
  dev?: [number, number];
  /** permission bits (symlinks are always 0777) */
  mode?: number;
  /** owner when chown'ed; otherwise the writer's (root) */
  uid?: number;
  gid?: number;
  mtime: number;
  body?: string;
  /** bash that writes the body to stdout (for files too big to spell out) */
  generate?: string;
  target?: string;
}

const TREE: Entry[] = [
  { path: 'empty', kind: 'dir', mode: 0o750, mtime: 1400000000 },
  { path: 'nested', kind: 'dir', mode: 0o755, mtime: 1400000100 },
  { path: 'nested/deeper', kind: 'dir', mode: 0o700, uid: 1234, gid: 5678, mtime: 1400000200 },
  { path: 'nested/deeper/deepest', kind: 'dir', mode: 0o711, mtime: 1400000300 },
  { path: 'nested/deeper/deepest/leaf.txt', kind: 'file', mode: 0o644, mtime: 1400000400, body: 'a leaf\n' },
  { path: 'f640', kind: 'file', mode: 0o640, mtime: 1500000000, body: 'group may read\n' },
  { path: 'x755', kind: 'file', mode: 0o755, mtime: 1500000100, body: '#!/bin/sh\necho hi\n' },
  { path: 'owned', kind: 'file', mode: 0o600, uid: 1234, gid: 5678, mtime: 1500000200, body: 'owned by 1234:5678\n' },
  // a fraction of a second: stored as such (or truncated), read back as the whole second
  { path: 'dated', kind: 'file', mode: 0o644, mtime: 1000000000.75, body: 'from 2001\n' },
  // over 10 MB: both upload it in parts (multipart), so its ETag is no md5
  { path: 'nested/big.bin', kind: 'file', mode: 0o644, mtime: 1500000600, generate: 'head -c 12582917 < <(seq 1 3000000)' },
  { path: 'link', kind: 'symlink', target: 'f640', mtime: 1500000300 },
  { path: 'dirlink', kind: 'symlink', target: 'nested/deeper', mtime: 1500000400 },
  { path: 'dangling', kind: 'symlink', target: 'no/such/file', mtime: 1500000500 },
  // special files: zero-byte objects with their type in the mode, a device's number in rdev
  { path: 'pipe', kind: 'fifo', mode: 0o640, mtime: 1500000700 },
  { path: 'nested/null', kind: 'chr', mode: 0o666, dev: [1, 3], mtime: 1500000800 },
  { path: 'loop', kind: 'blk', mode: 0o660, uid: 1234, gid: 5678, dev: [7, 130], mtime: 1500000900 },
  { path: 'sock', kind: 'sock', mode: 0o755, mtime: 1500001000 },
];

const ROOT_UID = process.getuid?.() ?? 0;
const ROOT_GID = process.getgid?.() ?? 0;

/** Bash that creates TREE under `root` with the tools a user would use: mkdir, printf, ln -s, chmod, chown, touch -d. */
function writeScript(root: string): string {
  const s = [`mkdir ${q(root)}`, `cd ${q(root)}`];
  for (const e of TREE) {
    if (e.kind === 'dir') s.push(`mkdir ${q(e.path)}`);
    else if (e.kind === 'file' && e.generate) s.push(`${e.generate} > ${q(e.path)}`);
    else if (e.kind === 'file') s.push(`printf '%s' ${q(e.body!)} > ${q(e.path)}`);
    else if (e.kind === 'fifo') s.push(`mkfifo ${q(e.path)}`);
    else if (e.kind === 'chr' || e.kind === 'blk') s.push(`mknod ${q(e.path)} ${e.kind === 'chr' ? 'c' : 'b'} ${e.dev![0]} ${e.dev![1]}`);
    else if (e.kind === 'sock') s.push(`python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' ${q(e.path)}`);
    else s.push(`ln -s ${q(e.target!)} ${q(e.path)}`);
  }
  for (const e of TREE) if (e.mode !== undefined) s.push(`chmod ${e.mode.toString(8).padStart(4, '0')} ${q(e.path)}`);
  for (const e of TREE) if (e.uid !== undefined) s.push(`chown ${e.uid}:${e.gid} ${q(e.path)}`);
  // Children before their directories: nothing changes a directory's mtime after it is set.
  const deepestFirst = [...TREE].sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const e of deepestFirst) s.push(`touch -h -d @${e.mtime} ${q(e.path)}`);
  return s.join('\n');
}

const TYPE_NAME = {
  file: 'regular file', dir: 'directory', symlink: 'symbolic link', fifo: 'fifo', chr: 'character special file', blk: 'block special file', sock: 'socket',
} as const;

/**
 * What `view` prints for TREE. `deviceNumbers`: whether devices show their numbers; s3fs-fuse
 * 1.90 neither stores a device's number nor reads x-amz-meta-rdev, so through it (and for the
 * devices it made) they are 0:0; qsfs stores and reads them.
 */
async function expectedView(deviceNumbers: boolean): Promise<string[]> {
  const sorted = [...TREE].sort((a, b) => (a.path < b.path ? -1 : 1));
  const out = sorted.map((e) => {
    const mode = e.kind === 'symlink' ? '777' : e.mode!.toString(8);
    const dev = e.dev && deviceNumbers ? `${e.dev[0].toString(16)}:${e.dev[1].toString(16)}` : '0:0';
    const line = `${e.path} ${mode} ${e.uid ?? ROOT_UID} ${e.gid ?? ROOT_GID} ${Math.floor(e.mtime)} ${TYPE_NAME[e.kind]} ${dev}`;
    return e.kind === 'symlink' ? `${line} -> ${e.target}` : line;
  });
  for (const e of sorted) {
    if (e.kind !== 'file') continue;
    const md5 = e.generate ? (await sh(`${e.generate} | md5sum | cut -d' ' -f1`)).trim() : md5hex(e.body!);
    out.push(`content ${e.path} ${md5}`);
  }
  return out;
}

/**
 * Every entry under `root` as one line: `path mode uid gid mtime type major:minor [-> target]` (stat and
 * readlink), sorted; then `content path md5` for every regular file.
 */
async function view(root: string): Promise<string[]> {
  return lines(await sh(`export LC_ALL=C; cd ${q(root)}
    find . -mindepth 1 -printf '%P\\0' | sort -z | while IFS= read -r -d '' p; do
      line=$(stat -c '%n %a %u %g %Y %F %t:%T' -- "$p")
      if [ -L "$p" ]; then line="$line -> $(readlink -- "$p")"; fi
      printf '%s\\n' "$line"
    done
    find . -mindepth 1 -type f -printf '%P\\0' | sort -z | while IFS= read -r -d '' p; do
      printf 'content %s %s\\n' "$p" "$(md5sum < "$p" | cut -d' ' -f1)"
    done`));
}

describe('interoperability with s3fs-fuse on the same bucket', () => {
  let bucket: TestBucket;

  before(async () => {
    const s3fs = await shResult('command -v s3fs && s3fs --version');
    if (s3fs.code !== 0) throw new Error('s3fs-fuse is not installed (Debian package s3fs; .ci/run installs it): these tests compare qsfs with it and must not be skipped');
    if (ROOT_UID !== 0) throw new Error(`these tests chown files to other users and must run as root (uid ${ROOT_UID})`);
    bucket = await TestBucket.create('interop-s3fs');
  });
  after(async () => {
    await bucket?.destroy();
  });

  /** Each object under `prefix`: key, Content-Type and user metadata, for a failure message. */
  async function rawObjects(prefix: string): Promise<string> {
    const out: string[] = [];
    for (const key of (await bucket.keys(prefix)).sort()) {
      const h = await bucket.head(key);
      out.push(`${key}  Content-Type: ${h?.ContentType}  metadata: ${JSON.stringify(h?.Metadata ?? {})}`);
    }
    return out.join('\n');
  }

  /** Fails with every reader's differences from the expected view, and the objects as stored.
   *  Each view is [who, what it saw, whether device numbers show through it]. */
  async function assertViews(views: Array<[string, string[], boolean]>, prefix: string): Promise<void> {
    const mismatches: string[] = [];
    for (const [who, seen, deviceNumbers] of views) {
      const mismatch = listingMismatch(`${who} sees under ${prefix}`, await expectedView(deviceNumbers), seen);
      if (mismatch) mismatches.push(mismatch);
    }
    if (mismatches.length) {
      throw new Error(`${mismatches.join('\n\n')}\n\n(lines: path mode uid gid mtime type major:minor [-> symlink target]; content path md5)\nthe objects under ${prefix} in the bucket:\n${await rawObjects(prefix)}`);
    }
  }

  test('what qsfs writes (chmod, chown, touch -d, ln -s, mkfifo, mknod, a socket, an empty and a nested directory), s3fs sees the same', { timeout: 120_000 }, async (t) => {
    await withMount(t, bucket.name, 'q2s-write', (m) => sh(writeScript(m.p('q2s'))));
    const bys3fs = await withS3fs(t, bucket.name, 'q2s-read', (m) => view(m.p('q2s')));
    const byQsfs = await withMount(t, bucket.name, 'q2s-reread', (m) => view(m.p('q2s')));
    await assertViews([['s3fs', bys3fs, false], ['qsfs itself, after a remount', byQsfs, true]], 'q2s/');
  });

  test('what s3fs writes (chmod, chown, touch -d, ln -s, mkfifo, mknod, a socket, an empty and a nested directory), qsfs sees the same', { timeout: 120_000 }, async (t) => {
    await withS3fs(t, bucket.name, 's2q-write', (m) => sh(writeScript(m.p('s2q'))));
    const byQsfs = await withMount(t, bucket.name, 's2q-read', (m) => view(m.p('s2q')));
    // s3fs's own reading, after a remount: when it differs too, the expectation is wrong, not qsfs.
    const bys3fs = await withS3fs(t, bucket.name, 's2q-reread', (m) => view(m.p('s2q')));
    await assertViews([['qsfs', byQsfs, false], ['s3fs itself, after a remount', bys3fs, false]], 's2q/');
  });
});
