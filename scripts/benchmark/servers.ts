// The S3 server of a benchmark run, on loopback: Ceph RGW (default) or s3rver, and the
// counting proxy in front of it.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { ProxyCounts } from '../lib/s3-proxy.js';
import { exec } from './shell.js';

export interface RunningServer {
  kind: 'rgw' | 's3rver';
  port: number;
  accessKeyId: string;
  secretAccessKey: string;
  stop(): Promise<void>;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false)).listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** The development RGW's ports (RGW, mon v1, mon v2): a benchmark that took them while that RGW
 *  was down would keep it from starting again. */
const DEV_RGW_PORTS = new Set([7600, 6890, 3401]);

export async function startRgw(repoRoot: string, workdir: string, storeBytes: number): Promise<RunningServer> {
  for (let step = 0; step < 20; step++) {
    const ports = { rgw: 7491 + step * 10, v1: 6800 + step * 10, v2: 3311 + step * 10 };
    if (Object.values(ports).some((p) => DEV_RGW_PORTS.has(p))) continue;
    if (!(await portFree(ports.rgw)) || !(await portFree(ports.v1)) || !(await portFree(ports.v2))) continue;
    const dir = path.join(workdir, 'rgw');
    await exec(path.join(repoRoot, 'scripts', 'rgw-up.sh'), [dir], {
      ...process.env, RGW_PORT: String(ports.rgw), MON_V1_PORT: String(ports.v1), MON_V2_PORT: String(ports.v2),
      RGW_STORE_BYTES: String(storeBytes),
    });
    return {
      kind: 'rgw', port: ports.rgw, accessKeyId: 'TESTKEY', secretAccessKey: 'TESTSECRET',
      stop: async () => { await exec(path.join(repoRoot, 'scripts', 'rgw-down.sh'), [dir]); },
    };
  }
  throw new Error('no free ports for RGW');
}

/** s3rver: a light fake (no UploadPartCopy, other gaps): an option for machines without Ceph. */
export async function startS3rver(workdir: string): Promise<RunningServer> {
  const dir = path.join(workdir, 's3rver');
  await fsp.mkdir(dir, { recursive: true });
  const script = `const S3rver = require('s3rver');
    new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)} }).run().then((a) => console.log('PORT ' + a.port));`;
  // s3rver lists past 1000 keys only with OpenSSL's legacy provider on Node 20.
  const child: ChildProcess = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const m = /PORT (\d+)/.exec(d);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`s3rver exited ${code}`)));
  });
  return {
    kind: 's3rver', port, accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER',
    stop: async () => { child.kill('SIGTERM'); },
  };
}

export interface ProxyHandle {
  port: number;
  take(): Promise<ProxyCounts>;
  stop(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<ProxyHandle> {
  const child = fork(new URL('./proxy-process.js', import.meta.url).pathname, ['127.0.0.1', String(targetPort)], { stdio: 'inherit' });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  return {
    port,
    take: () => new Promise((resolve) => {
      child.once('message', (m: { counts: ProxyCounts }) => resolve(m.counts));
      child.send('take');
    }),
    stop: async () => {
      child.send('stop');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}
