// The filesystems under test, each mounted the way its users would, through the counting proxy.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isRunning } from './proc-stats.js';
import { exec, launchDaemon, sleep } from './shell.js';

export type FsName = 'qsfs' | 's3fs' | 'rclone';

export interface Endpoint {
  host: string;
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface TargetSettings {
  repoRoot: string;
  workdir: string;
  /** Part size and parallel transfers, shared with the SDK ceiling (MiB, count). */
  partSizeMiB: number;
  parallel: number;
  /** Extra qsfs arguments (from --qsfs-args). */
  qsfsArgs: string[];
  /** Directory for qsfs CPU profiles (--profile), or undefined. */
  profileDir?: string;
}

export interface FsTarget {
  name: FsName;
  /** Mounts `bucket` at `mountpoint`; resolves with the daemon's pid once the mount is live. */
  mount(bucket: string, mountpoint: string, endpoint: Endpoint): Promise<number>;
}

export function createTarget(name: FsName, s: TargetSettings): FsTarget {
  switch (name) {
    case 'qsfs': return qsfs(s);
    case 's3fs': return s3fs(s);
    case 'rclone': return rclone(s);
  }
}

function qsfs(s: TargetSettings): FsTarget {
  return {
    name: 'qsfs',
    async mount(bucket, mountpoint, e) {
      const cred = await credentialsFile(s.workdir, 'qsfs.cred', `${e.accessKeyId}:${e.secretAccessKey}\n`);
      const node = s.profileDir ? [`--cpu-prof`, `--cpu-prof-dir=${s.profileDir}`] : [];
      await exec(process.execPath, [...node, path.join(s.repoRoot, 'bin', 'qsfs'), bucket, mountpoint, `-c=${cred}`,
        '-z=us-east-1', `-H=${e.host}`, `-P=${e.port}`, '-p=http', `-l=${path.join(s.workdir, 'qsfs-log')}`, '-K',
        `-k=${path.join(s.workdir, 'qsfs-cache')}`, `-n=${s.parallel}`, `-b=${s.partSizeMiB}`, ...s.qsfsArgs]);
      return waitForDaemon(mountpoint, 'qsfs');
    },
  };
}

function s3fs(s: TargetSettings): FsTarget {
  return {
    name: 's3fs',
    async mount(bucket, mountpoint, e) {
      const passwd = await credentialsFile(s.workdir, 's3fs.passwd', `${e.accessKeyId}:${e.secretAccessKey}\n`);
      await launchDaemon('s3fs', [bucket, mountpoint, '-o', [
        `url=http://${e.host}:${e.port}`, 'use_path_request_style', `passwd_file=${passwd}`, 'endpoint=us-east-1',
        `parallel_count=${s.parallel}`, `multipart_size=${s.partSizeMiB}`,
      ].join(',')]);
      return waitForDaemon(mountpoint, 's3fs');
    },
  };
}

function rclone(s: TargetSettings): FsTarget {
  return {
    name: 'rclone',
    async mount(bucket, mountpoint, e) {
      // rclone's S3 client breaks on AWS_CA_BUNDLE; its remote comes from the environment.
      const env: NodeJS.ProcessEnv = { ...process.env };
      delete env.AWS_CA_BUNDLE;
      Object.assign(env, {
        RCLONE_CONFIG_BENCH_TYPE: 's3', RCLONE_CONFIG_BENCH_PROVIDER: 'Ceph',
        RCLONE_CONFIG_BENCH_ENDPOINT: `http://${e.host}:${e.port}`, RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: e.accessKeyId, RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: e.secretAccessKey,
      });
      await launchDaemon('rclone', ['mount', `bench:${bucket}`, mountpoint, '--vfs-cache-mode', 'writes', '--vfs-write-back', '0s',
        '--cache-dir', path.join(s.workdir, 'rclone-cache'), '--daemon', '--log-file', path.join(s.workdir, 'rclone.log'), '--log-level', 'INFO'], env);
      return waitForDaemon(mountpoint, 'rclone');
    },
  };
}

async function credentialsFile(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await fsp.writeFile(file, text, { mode: 0o600 });
  return file;
}

export async function isMounted(mountpoint: string): Promise<boolean> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[4] === mountpoint);
}

/** Waits until the mount is live and returns the pid of the process serving it. */
async function waitForDaemon(mountpoint: string, program: string): Promise<number> {
  for (let i = 0; i < 200; i++) {
    if (await isMounted(mountpoint)) {
      const pid = await findPid(mountpoint, program);
      if (pid) return pid;
    }
    await sleep(100);
  }
  throw new Error(`${program} did not mount ${mountpoint} within 20 s`);
}

async function findPid(mountpoint: string, program: string): Promise<number | undefined> {
  for (const entry of await fsp.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await fsp.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (args.includes(mountpoint) && args.some((a) => a.includes(program))) return Number(entry);
  }
  return undefined;
}

/** Unmounts and waits for the daemon to exit (it may be finishing uploads). */
export async function unmount(mountpoint: string, pid: number): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (!(await isMounted(mountpoint))) break;
    try {
      await exec('fusermount', ['-u', mountpoint]);
    } catch {
      await sleep(200);
    }
  }
  for (let i = 0; i < 600; i++) {
    if (!(await isRunning(pid))) return;
    await sleep(100);
  }
  throw new Error(`daemon ${pid} did not exit after unmounting ${mountpoint}`);
}
