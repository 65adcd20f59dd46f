// A real qsfs mount of the built CLI for a test: temporary mountpoint, credentials file, log and
// cache directories; mounted in the default background mode, and always taken down again.
import { promises as fsp, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testEndpoint } from './rgw-env.js';
import { mountFiles, type MountFiles } from '../../src/log.js';
import { run, type RunResult } from './shell.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const QSFS_BIN = path.join(REPO_ROOT, 'bin', 'qsfs');
export const MOUNT_HELPER_BIN = path.join(REPO_ROOT, 'bin', 'mount.qsfs');

export interface Workdir {
  dir: string;
  mountpoint: string;
  credentials: string;
  logdir: string;
  diskdir: string;
}

/** A private directory with a mountpoint, a 0600 credentials file for the test server and log/cache dirs. */
export async function makeWorkdir(label: string): Promise<Workdir> {
  const dir = await fsp.mkdtemp(path.join(tmpdir(), `qsfs-${label}-`));
  const w = { dir, mountpoint: path.join(dir, 'mnt'), credentials: path.join(dir, 'cred'), logdir: path.join(dir, 'log'), diskdir: path.join(dir, 'cache') };
  await fsp.mkdir(w.mountpoint);
  const e = testEndpoint();
  await fsp.writeFile(w.credentials, `# test server\n${e.accessKeyId}:${e.secretAccessKey}\n`, { mode: 0o600 });
  return w;
}

/** The files a mount of this workdir keeps in its log directory (named after the mountpoint). */
export function filesOf(work: Workdir, mountpoint = work.mountpoint, logdir = work.logdir): MountFiles {
  return mountFiles(logdir, mountpoint);
}

/** The options that point qsfs at the test server, in the qsfs `-x=VALUE` style. */
export function endpointArgs(): string[] {
  const e = testEndpoint();
  return ['-z=us-east-1', '-H=127.0.0.1', `-P=${e.port}`, '-p=http'];
}

/** Runs the qsfs command itself (it returns once the mount is live, or fails). */
export function runQsfs(args: string[], o: { timeoutMs?: number; env?: NodeJS.ProcessEnv; bin?: string } = {}): Promise<RunResult> {
  const bin = o.bin ?? QSFS_BIN;
  // The shell wrapper (mount.qsfs) runs as itself, the JavaScript launcher under this Node.
  const [command, argv] = bin.endsWith('mount.qsfs') ? [bin, args] : [process.execPath, [bin, ...args]];
  return run(command, argv, { timeoutMs: o.timeoutMs ?? 60_000, env: o.env });
}

export class TestMount {
  private constructor(readonly work: Workdir, readonly bucket: string, readonly pid: number) {}

  get path(): string {
    return this.work.mountpoint;
  }

  /**
   * `o.env`: the daemon's environment instead of this process's (e.g. with HTTP_PROXY);
   * `o.endpoint`: options pointing at another endpoint than the test server's plain HTTP port;
   * `o.awsChain`: no -c, the keys come from the AWS default chain (as `o.env` sets it up).
   */
  static async start(bucket: string, label: string, extraArgs: string[] = [], o: { env?: NodeJS.ProcessEnv; endpoint?: string[]; awsChain?: boolean } = {}): Promise<TestMount> {
    const work = await makeWorkdir(label);
    const r = await runQsfs([bucket, work.mountpoint, ...o.awsChain ? [] : [`-c=${work.credentials}`], ...o.endpoint ?? endpointArgs(), `-l=${work.logdir}`, `-k=${work.diskdir}`, ...extraArgs], { env: o.env });
    if (r.code !== 0) throw new Error(`qsfs failed to mount (exit ${r.code}): ${r.stderr}`);
    const pid = await daemonPid(work.mountpoint);
    return new TestMount(work, bucket, pid);
  }

  /** Path of a file in the mount. */
  p(...parts: string[]): string {
    return path.join(this.work.mountpoint, ...parts);
  }

  /** The daemon's one-screen status (SIGUSR1 writes it next to the log). */
  async status(): Promise<string> {
    const file = filesOf(this.work).status;
    await fsp.rm(file, { force: true });
    process.kill(this.pid, 'SIGUSR1');
    for (let i = 0; i < 50; i++) {
      const text = await fsp.readFile(file, 'utf8').catch(() => '');
      if (text !== '') return text;
      await sleep(100);
    }
    throw new Error(`no status from the daemon of ${this.path} after SIGUSR1`);
  }

  async log(): Promise<string> {
    return fsp.readFile(filesOf(this.work).log, 'utf8').catch(() => '');
  }

  /** fusermount -u, then wait for the daemon to exit; forces both when they hang. */
  async stop(): Promise<{ daemonExited: boolean; log: string }> {
    let unmounted = !(await isMountpoint(this.work.mountpoint));
    for (let i = 0; i < 20 && !unmounted; i++) {
      unmounted = (await run('fusermount', ['-u', this.work.mountpoint])).code === 0;
      if (!unmounted) await sleep(250);
    }
    if (!unmounted) await run('fusermount', ['-uz', this.work.mountpoint]);
    const daemonExited = await waitForExit(this.pid, 20_000);
    if (!daemonExited) process.kill(this.pid, 'SIGKILL');
    const log = await this.log();
    // QSFS_TEST_KEEP_LOGS=DIR keeps every mount's log there for a look after the run.
    const keep = process.env['QSFS_TEST_KEEP_LOGS'];
    if (keep) await fsp.writeFile(path.join(keep, `${path.basename(this.work.dir)}.log`), log).catch(() => undefined);
    await fsp.rm(this.work.dir, { recursive: true, force: true }).catch(() => undefined);
    return { daemonExited, log };
  }
}

export async function isMountpoint(path: string): Promise<boolean> {
  const mounts = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  return mounts.split('\n').some((line) => line.split(' ')[4] === path);
}

/** The daemon serving a mountpoint, found by its command line. */
export async function daemonPid(mountpoint: string): Promise<number> {
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await fsp.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const args = cmdline.split('\0');
    if (args.some((a) => a.endsWith('bin/qsfs')) && args.includes(mountpoint)) return Number(entry);
  }
  throw new Error(`no qsfs daemon found for ${mountpoint}`);
}

/** Alive and not a zombie (an orphaned daemon may never be reaped in a container). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (!isAlive(pid)) return true;
    await sleep(100);
  }
  return !isAlive(pid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** How long a default mount trusts what it learned of the bucket (src/fs/freshness.ts). */
export const METADATA_WINDOW_MS = 1000;

/** Waits out the window of a default mount: what another client changed before shows after. */
export function afterWindow(): Promise<void> {
  return sleep(METADATA_WINDOW_MS + 200);
}
