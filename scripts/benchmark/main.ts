// scripts/bench: qsfs beside s3fs-fuse, rclone mount and the bare SDK, in one run, against one
// local S3 server (behind a counting proxy). Prints one table and writes the raw samples as JSON.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { emptyBucket, prepareBucket } from './bucket.js';
import { cpuSeconds, peakRssBytes, resetPeakRss } from './proc-stats.js';
import { costTable, notes, timeTable, type Sample, type TargetName } from './report.js';
import { startProxy, startRgw, startS3rver, type ProxyHandle, type RunningServer } from './servers.js';
import { bash, exec } from './shell.js';
import { createTarget, isMounted, unmount, type FsName } from './targets.js';
import { WORKLOADS, makeDataset, mountSteps, sdkSteps, type Step, type Workload } from './workloads.js';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const USAGE = `usage: scripts/bench [options]
  --size MIB          size of the sequential file (default 1024)
  --repeat N          runs of every workload (default 3); medians, min and max are reported
  --server rgw|s3rver the local S3 server (default rgw: Ceph RADOS Gateway)
  --targets LIST      any of qsfs,s3fs,rclone,sdk (default all)
  --workloads LIST    a subset of: ${WORKLOADS.join(',')}
  --part-size MIB     part size for qsfs, s3fs and the SDK (default 10)
  --parallel N        parallel transfers for qsfs, s3fs and the SDK (default 5)
  --qsfs-args "ARGS"  extra qsfs options
  --profile           run qsfs under node --cpu-prof (profiles in WORKDIR/profiles)
  --workdir DIR       data and mounts (default /var/tmp/qsfs-bench)
  --out FILE          raw results as JSON (default WORKDIR/results.json)`;

interface Settings {
  size: number;
  repeat: number;
  server: 'rgw' | 's3rver';
  targets: TargetName[];
  workloads: Workload[];
  partSize: number;
  parallel: number;
  qsfsArgs: string[];
  profile: boolean;
  workdir: string;
  out: string;
}

function settings(): Settings {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: '1024' }, repeat: { type: 'string', default: '3' },
      server: { type: 'string', default: 'rgw' }, targets: { type: 'string', default: 'qsfs,s3fs,rclone,sdk' },
      workloads: { type: 'string', default: WORKLOADS.join(',') }, 'part-size': { type: 'string', default: '10' },
      parallel: { type: 'string', default: '5' }, 'qsfs-args': { type: 'string', default: '' },
      profile: { type: 'boolean', default: false }, workdir: { type: 'string', default: '/var/tmp/qsfs-bench' },
      out: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const targets = values.targets!.split(',') as TargetName[];
  const workloads = values.workloads!.split(',') as Workload[];
  for (const t of targets) if (!['qsfs', 's3fs', 'rclone', 'sdk'].includes(t)) throw new Error(`unknown target ${t}`);
  for (const w of workloads) if (!(WORKLOADS as readonly string[]).includes(w)) throw new Error(`unknown workload ${w}`);
  if (values.server !== 'rgw' && values.server !== 's3rver') throw new Error('--server is rgw or s3rver');
  const workdir = path.resolve(values.workdir!);
  return {
    size: Number(values.size), repeat: Number(values.repeat), server: values.server, targets, workloads,
    partSize: Number(values['part-size']), parallel: Number(values.parallel),
    qsfsArgs: values['qsfs-args']!.split(' ').filter(Boolean), profile: values.profile!, workdir,
    out: path.resolve(values.out ?? path.join(workdir, 'results.json')),
  };
}

/** Undo steps for an interrupted run, newest first. */
const cleanups: Array<() => Promise<unknown>> = [];

async function runCleanups(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function client(port: number, server: RunningServer): S3Client {
  return new S3Client({
    endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** Creates a target's bucket and puts what the big workloads find there (untimed, once). */
async function prepare(c: S3Client, bucket: string, s: Settings, data: Awaited<ReturnType<typeof makeDataset>>): Promise<void> {
  await c.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  const started = performance.now();
  const put = await prepareBucket(c, bucket, data, s.workloads);
  if (put.length > 0) log(`${bucket}: put ${put.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

async function dropCaches(): Promise<void> {
  await bash('sync; echo 3 > /proc/sys/vm/drop_caches').catch(() => log('cannot drop the page cache (not root?)'));
}

/** Runs one step and records what it cost: time, requests through the proxy, daemon CPU and memory. */
async function measure(step: Step, target: TargetName, repeat: number, proxy: ProxyHandle, pid: () => number | undefined): Promise<Sample> {
  if (step.setup) await step.setup();
  await proxy.take();
  const p = pid();
  const cpu0 = p ? await cpuSeconds(p) : 0;
  if (p) await resetPeakRss(p);
  let timing;
  let failure: string | undefined;
  try {
    timing = await step.run();
  } catch (err) {
    failure = `failed: ${(err as Error).message.split('\n')[0]}`;
  }
  const counts = await proxy.take();
  const cpu1 = p ? await cpuSeconds(p).catch(() => cpu0) : 0;
  const peakRss = p ? await peakRssBytes(p).catch(() => 0) : undefined;
  let note = failure ?? timing?.note;
  if (!failure && step.check) note = (await step.check().catch((e: Error) => `check failed: ${e.message}`)) ?? note;
  return {
    target, workload: step.workload, repeat, seconds: timing?.seconds ?? Number.NaN, closeSeconds: timing?.closeSeconds,
    requests: counts.requests, byMethod: counts.byMethod, bytesUp: counts.bytesUp, bytesDown: counts.bytesDown,
    cpuSeconds: p ? cpu1 - cpu0 : undefined, peakRss, note,
  };
}

async function runFilesystem(name: FsName, s: Settings, repeat: number, server: RunningServer, proxy: ProxyHandle, direct: S3Client, data: Awaited<ReturnType<typeof makeDataset>>): Promise<Sample[]> {
  const bucket = `bench-${name}`;
  const mnt = path.join(s.workdir, `mnt-${name}`);
  await fsp.mkdir(mnt, { recursive: true });
  const target = createTarget(name, {
    repoRoot: REPO_ROOT, workdir: s.workdir, partSizeMiB: s.partSize, parallel: s.parallel, qsfsArgs: s.qsfsArgs,
    profileDir: s.profile ? path.join(s.workdir, 'profiles') : undefined,
  });
  const endpoint = { host: '127.0.0.1', port: proxy.port, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  let pid = await target.mount(bucket, mnt, endpoint);
  const remountCold = async (): Promise<void> => {
    await unmount(mnt, pid);
    // A cold read must not come from a cache left on local disk by the writer (rclone keeps
    // written files in its --cache-dir across mounts).
    await fsp.rm(path.join(s.workdir, `${name}-cache`), { recursive: true, force: true });
    await dropCaches();
    pid = await target.mount(bucket, mnt, endpoint);
  };
  const samples: Sample[] = [];
  try {
    for (const step of mountSteps({ mnt, bucket, direct, data, remountCold })) {
      if (!s.workloads.includes(step.workload)) continue;
      const sample = await measure(step, name, repeat, proxy, () => pid);
      log(`${name} #${repeat} ${step.workload}: ${sample.seconds.toFixed(2)} s, ${sample.requests} requests${sample.note ? ` (${sample.note})` : ''}`);
      samples.push(sample);
    }
  } finally {
    if (await isMounted(mnt)) await unmount(mnt, pid).catch(async () => { await exec('fusermount', ['-uz', mnt]).catch(() => undefined); });
  }
  return samples;
}

async function runSdk(s: Settings, repeat: number, server: RunningServer, proxy: ProxyHandle, data: Awaited<ReturnType<typeof makeDataset>>): Promise<Sample[]> {
  const proxied = client(proxy.port, server);
  const samples: Sample[] = [];
  try {
    for (const step of sdkSteps({ client: proxied, bucket: 'bench-sdk', data, partSize: s.partSize * 1024 * 1024, parallel: s.parallel })) {
      if (!s.workloads.includes(step.workload)) continue;
      const sample = await measure(step, 'sdk', repeat, proxy, () => undefined);
      log(`sdk #${repeat} ${step.workload}: ${sample.seconds.toFixed(2)} s, ${sample.requests} requests${sample.note ? ` (${sample.note})` : ''}`);
      samples.push(sample);
    }
  } finally {
    proxied.destroy();
  }
  return samples;
}

async function main(): Promise<void> {
  const s = settings();
  await fsp.mkdir(s.workdir, { recursive: true });
  log(`preparing data in ${s.workdir} (${s.size} MiB file, 1000 small files, source tarball, 4 x 64 MiB files)`);
  const data = await makeDataset(path.join(s.workdir, 'data'), s.size);
  log(`starting ${s.server}`);
  const server = s.server === 'rgw'
    // A cap, not an allocation (memstore): the big file a few times over while RGW's garbage
    // collection catches up, plus 4 GiB for the 64 MiB files and the 256 MiB small-write file.
    ? await startRgw(REPO_ROOT, s.workdir, (Math.max(8, Math.ceil((s.size * 6) / 1024)) + 4) * 1024 ** 3)
    : await startS3rver(s.workdir);
  cleanups.push(() => server.stop());
  const proxy = await startProxy(server.port);
  cleanups.push(() => proxy.stop());
  cleanups.push(async () => {
    for (const t of ['qsfs', 's3fs', 'rclone']) await exec('fusermount', ['-uz', path.join(s.workdir, `mnt-${t}`)]).catch(() => undefined);
  });
  const direct = client(server.port, server);
  const samples: Sample[] = [];
  const started = Date.now();
  try {
    for (const t of s.targets) await prepare(direct, `bench-${t}`, s, data);
    // Repeats go round the targets, so that a slow phase of the machine hits all of them alike.
    for (let repeat = 1; repeat <= s.repeat; repeat++) {
      for (const t of s.targets) {
        samples.push(...(t === 'sdk' ? await runSdk(s, repeat, server, proxy, data) : await runFilesystem(t, s, repeat, server, proxy, direct, data)));
        await emptyBucket(direct, `bench-${t}`);
      }
    }
  } finally {
    direct.destroy();
    await runCleanups();
  }
  const cpus = os.cpus();
  const header = `qsfs benchmark ${new Date().toISOString().slice(0, 10)}: ${cpus.length} x ${cpus[0]?.model ?? 'cpu'}, ` +
    `${Math.round(os.totalmem() / 2 ** 30)} GiB, server ${s.server} on loopback, file ${s.size} MiB, ` +
    `part ${s.partSize} MiB x ${s.parallel}, repeat ${s.repeat}, ${((Date.now() - started) / 60000).toFixed(1)} min`;
  const text = [header, '', timeTable(samples, s.targets, s.workloads), '', costTable(samples, s.targets, s.workloads), ...notes(samples)].join('\n');
  process.stdout.write(`${text}\n`);
  await fsp.writeFile(s.out, JSON.stringify({ header, settings: s, samples }, null, 2));
  log(`raw results: ${s.out}`);
}

// Ctrl-C or a kill still detaches the mounts and stops the proxy and the S3 server.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: cleaning up`);
    void runCleanups().finally(() => process.exit(130));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
