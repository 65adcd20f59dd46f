// The benchmark's workloads, once through a mounted filesystem (shell tools in child processes)
// and once as the bare SDK doing the same transfers directly: the ceiling.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { randomReads } from './random-plan.js';
import { bash, exec, sleep } from './shell.js';

/** The local data every run uses, made once per benchmark. */
export interface Dataset {
  dir: string;
  bigFile: string;
  bigSize: number;
  bigMd5: string;
  /** 1000 files of 4 KiB. */
  smallDir: string;
  smallCount: number;
  /** 100 files of 4 KiB, moved as a directory. */
  hundredDir: string;
  /** A tarball of a source tree, and how many regular files it holds. */
  tarball: string;
  tarFiles: number;
  /** The leaf directories of the metadata tree, three deep. */
  treeLeaves: string[];
}

export const WORKLOADS = [
  'seq-write', 'seq-read-cold', 'random-read-cold', 'small-create', 'small-ls-l-cold', 'small-cat-cold',
  'small-rm', 'mkdir-tree', 'find-cold', 'rename-dir-100', 'chmod-100', 'touch-100', 'untar',
] as const;
export type Workload = typeof WORKLOADS[number];

export interface Timing {
  /** Until the work is durable in the bucket. */
  seconds: number;
  /** Until the application's last close returned, when that differs. */
  closeSeconds?: number;
  note?: string;
}

const RANDOM_READS = 200;
/** "A source tree of a few thousand files"; more makes a default run outlast 20 minutes. */
const UNTAR_FILES = 2000;
const RANDOM_SEED = 42;
const POLL_MS = 50;

export async function makeDataset(dir: string, bigMiB: number): Promise<Dataset> {
  await fsp.mkdir(dir, { recursive: true });
  const bigFile = path.join(dir, 'big.bin');
  const bigSize = bigMiB * 1024 * 1024;
  const have = await fsp.stat(bigFile).then((s) => s.size, () => -1);
  if (have !== bigSize) await bash(`head -c ${bigSize} /dev/urandom > ${bigFile}`);
  const bigMd5 = (await exec('md5sum', [bigFile])).stdout.split(' ')[0]!;
  const smallDir = path.join(dir, 'small');
  const hundredDir = path.join(dir, 'hundred');
  await bash(`rm -rf ${smallDir} ${hundredDir} && mkdir -p ${smallDir} ${hundredDir}
    for i in $(seq -w 1 1000); do head -c 4096 /dev/urandom > ${smallDir}/f$i; done
    for i in $(seq -w 1 100); do head -c 4096 /dev/urandom > ${hundredDir}/g$i; done`);
  // A real source tree: the first few thousand headers of /usr/include.
  const tarball = path.join(dir, 'tree.tar');
  const list = (await bash('cd /usr && find include -type f | sort')).stdout.trim().split('\n').slice(0, UNTAR_FILES);
  await fsp.writeFile(path.join(dir, 'tree.list'), `${list.join('\n')}\n`);
  await exec('tar', ['cf', tarball, '-C', '/usr', '-T', path.join(dir, 'tree.list')]);
  const treeLeaves: string[] = [];
  for (let a = 0; a < 5; a++) for (let b = 0; b < 5; b++) for (let c = 0; c < 4; c++) treeLeaves.push(`a${a}/b${b}/c${c}`);
  return { dir, bigFile, bigSize, bigMd5, smallDir, smallCount: 1000, hundredDir, tarball, tarFiles: list.length, treeLeaves };
}

// ---- through a mount ------------------------------------------------------------------------

export interface MountContext {
  mnt: string;
  bucket: string;
  /** Direct client to the server (not through the proxy): for durability polls only. */
  direct: S3Client;
  data: Dataset;
  /** Unmounts, drops the kernel's caches and mounts again: the next step starts cold. */
  remountCold(): Promise<void>;
}

/** Each workload's setup runs before it, untimed; `run` is what is measured. */
export interface Step {
  workload: Workload;
  setup?: () => Promise<void>;
  run: () => Promise<Timing>;
  /** After the measurement: e.g. whether a chmod survived a remount. */
  check?: () => Promise<string | undefined>;
}

export function mountSteps(c: MountContext): Step[] {
  const m = (p: string) => path.join(c.mnt, p);
  const d = c.data;
  return [
    {
      workload: 'seq-write',
      run: async () => {
        const started = performance.now();
        await exec('dd', [`if=${d.bigFile}`, `of=${m('big')}`, 'bs=1M', 'status=none']);
        const closeSeconds = (performance.now() - started) / 1000;
        await untilObject(c.direct, c.bucket, 'big', d.bigSize);
        return { seconds: (performance.now() - started) / 1000, closeSeconds };
      },
    },
    {
      workload: 'seq-read-cold',
      setup: c.remountCold,
      run: async () => {
        const r = await exec('md5sum', [m('big')]);
        if (r.stdout.split(' ')[0] !== d.bigMd5) throw new Error(`md5 mismatch reading ${m('big')}`);
        return { seconds: r.seconds };
      },
    },
    {
      workload: 'random-read-cold',
      setup: c.remountCold,
      run: async () => {
        const reader = new URL('./random-reader.js', import.meta.url).pathname;
        const r = await exec(process.execPath, [reader, m('big'), String(d.bigSize), String(RANDOM_READS), String(RANDOM_SEED)]);
        return { seconds: r.seconds };
      },
    },
    {
      workload: 'small-create',
      run: async () => {
        const started = performance.now();
        await exec('cp', ['-r', d.smallDir, m('small')]);
        const closeSeconds = (performance.now() - started) / 1000;
        await untilKeys(c.direct, c.bucket, 'small/', d.smallCount);
        return { seconds: (performance.now() - started) / 1000, closeSeconds };
      },
    },
    {
      workload: 'small-ls-l-cold',
      setup: c.remountCold,
      run: async () => {
        const r = await bash(`ls -l ${m('small')} | wc -l`);
        if (Number(r.stdout.trim()) !== d.smallCount + 1) throw new Error(`ls -l listed ${r.stdout.trim()} lines`);
        return { seconds: r.seconds };
      },
    },
    {
      workload: 'small-cat-cold',
      setup: c.remountCold,
      run: async () => ({ seconds: (await bash(`cat ${m('small')}/* > /dev/null`)).seconds }),
    },
    {
      workload: 'small-rm',
      run: async () => {
        const started = performance.now();
        await exec('rm', ['-rf', m('small')]);
        const closeSeconds = (performance.now() - started) / 1000;
        await untilKeys(c.direct, c.bucket, 'small/', 0);
        return { seconds: (performance.now() - started) / 1000, closeSeconds };
      },
    },
    {
      workload: 'mkdir-tree',
      run: async () => ({ seconds: (await exec('mkdir', ['-p', ...d.treeLeaves.map((l) => m(`tree/${l}`))])).seconds }),
      // Empty directories that vanish at a remount were never stored: such a time does not count.
      check: async () => {
        await c.remountCold();
        return (await exists(m(`tree/${d.treeLeaves[0]}`))) ? undefined : 'the empty directories did not survive a remount';
      },
    },
    {
      workload: 'find-cold',
      setup: c.remountCold,
      run: async () => {
        if (!(await exists(m('tree')))) return { seconds: Number.NaN, note: 'the empty directories of mkdir-tree did not survive a remount' };
        const r = await bash(`find ${m('tree')} | wc -l`);
        const expected = 1 + 5 + 25 + 100;
        if (Number(r.stdout.trim()) !== expected) throw new Error(`find listed ${r.stdout.trim()}, expected ${expected}`);
        return { seconds: r.seconds };
      },
    },
    {
      workload: 'rename-dir-100',
      setup: async () => {
        await exec('cp', ['-r', d.hundredDir, m('mvsrc')]);
        await untilKeys(c.direct, c.bucket, 'mvsrc/', 100);
      },
      run: async () => {
        const started = performance.now();
        await exec('mv', [m('mvsrc'), m('mvdst')]);
        const closeSeconds = (performance.now() - started) / 1000;
        await untilKeys(c.direct, c.bucket, 'mvsrc/', 0);
        return { seconds: (performance.now() - started) / 1000, closeSeconds };
      },
    },
    {
      workload: 'chmod-100',
      run: async () => ({ seconds: (await bash(`chmod 600 ${m('mvdst')}/*`)).seconds }),
      check: async () => {
        await c.remountCold();
        const mode = (await exec('stat', ['-c', '%a', m('mvdst/g001')])).stdout.trim();
        return mode === '600' ? undefined : `not persisted (mode ${mode} after remount)`;
      },
    },
    {
      workload: 'touch-100',
      run: async () => ({ seconds: (await bash(`touch -d '2001-02-03 04:05:06' ${m('mvdst')}/*`)).seconds }),
      check: async () => {
        await c.remountCold();
        const mtime = (await exec('stat', ['-c', '%Y', m('mvdst/g001')])).stdout.trim();
        return mtime === String(Date.UTC(2001, 1, 3, 4, 5, 6) / 1000) ? undefined : 'mtime not persisted';
      },
    },
    {
      workload: 'untar',
      setup: async () => { await fsp.mkdir(m('untar')); },
      run: async () => {
        const started = performance.now();
        await exec('tar', ['xf', d.tarball, '-C', m('untar')]);
        const closeSeconds = (performance.now() - started) / 1000;
        await untilKeys(c.direct, c.bucket, 'untar/include/', d.tarFiles, true);
        return { seconds: (performance.now() - started) / 1000, closeSeconds };
      },
    },
  ];
}

/** Whether a path in a mount exists, asked through a child process. */
async function exists(p: string): Promise<boolean> {
  return exec('test', ['-e', p]).then(() => true, () => false);
}

async function untilObject(client: S3Client, bucket: string, key: string, size: number): Promise<void> {
  for (;;) {
    const length = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })).then((r) => r.ContentLength, () => -1);
    if (length === size) return;
    await sleep(POLL_MS);
  }
}

/** Polls a listing until it holds `count` objects (directory markers excluded when asked). */
async function untilKeys(client: S3Client, bucket: string, prefix: string, count: number, filesOnly = false): Promise<void> {
  for (;;) {
    const keys = await listKeys(client, bucket, prefix);
    if ((filesOnly ? keys.filter((k) => !k.endsWith('/')) : keys.filter((k) => k !== prefix)).length === count) return;
    await sleep(POLL_MS * 4);
  }
}

export async function listKeys(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) keys.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

// ---- the bare SDK -----------------------------------------------------------------------------

export interface SdkContext {
  /** Client through the counting proxy. */
  client: S3Client;
  bucket: string;
  data: Dataset;
  partSize: number;
  parallel: number;
}

/** The same transfers, done directly: one PUT or a multipart upload of the same part size and
 *  parallelism as qsfs, parallel ranged GETs, single requests for small files. */
export function sdkSteps(c: SdkContext): Step[] {
  const d = c.data;
  const B = c.bucket;
  const limit = pLimit(c.parallel);
  const put = (Key: string, Body: Buffer) => c.client.send(new PutObjectCommand({ Bucket: B, Key, Body }));
  const timed = async (work: () => Promise<unknown>): Promise<Timing> => {
    const started = performance.now();
    await work();
    return { seconds: (performance.now() - started) / 1000 };
  };
  const smallNames = async () => (await fsp.readdir(d.smallDir)).sort();
  const hundredNames = async () => (await fsp.readdir(d.hundredDir)).sort();
  return [
    { workload: 'seq-write', run: () => timed(() => multipartUpload(c, 'big')) },
    { workload: 'seq-read-cold', run: () => timed(async () => {
      if ((await parallelDownloadMd5(c, 'big')) !== d.bigMd5) throw new Error('SDK download md5 mismatch');
    }) },
    { workload: 'random-read-cold', run: () => timed(async () => {
      for (const op of randomReads(d.bigSize, RANDOM_READS, RANDOM_SEED)) {
        const r = await c.client.send(new GetObjectCommand({ Bucket: B, Key: 'big', Range: `bytes=${op.offset}-${op.offset + op.length - 1}` }));
        const body = await r.Body!.transformToByteArray();
        if (body.length !== op.length) throw new Error('short ranged GET');
      }
    }) },
    { workload: 'small-create', run: () => timed(async () => {
      for (const name of await smallNames()) await put(`small/${name}`, await fsp.readFile(path.join(d.smallDir, name)));
    }) },
    { workload: 'small-ls-l-cold', run: () => timed(() => listKeys(c.client, B, 'small/')) },
    { workload: 'small-cat-cold', run: () => timed(async () => {
      for (const name of await smallNames()) {
        const r = await c.client.send(new GetObjectCommand({ Bucket: B, Key: `small/${name}` }));
        await r.Body!.transformToByteArray();
      }
    }) },
    { workload: 'small-rm', run: () => timed(async () => {
      for (const name of await smallNames()) await c.client.send(new DeleteObjectCommand({ Bucket: B, Key: `small/${name}` }));
    }) },
    { workload: 'mkdir-tree', run: () => timed(async () => {
      const markers = new Set<string>(['tree/']);
      for (const leaf of d.treeLeaves) {
        const parts = leaf.split('/');
        for (let i = 1; i <= parts.length; i++) markers.add(`tree/${parts.slice(0, i).join('/')}/`);
      }
      for (const key of markers) await put(key, Buffer.alloc(0));
    }) },
    { workload: 'find-cold', run: () => timed(() => listKeys(c.client, B, 'tree/')) },
    {
      workload: 'rename-dir-100',
      setup: async () => { for (const n of await hundredNames()) await put(`mvsrc/${n}`, await fsp.readFile(path.join(d.hundredDir, n))); },
      run: () => timed(async () => {
        await Promise.all((await hundredNames()).map((n) => limit(async () => {
          await c.client.send(new CopyObjectCommand({ Bucket: B, Key: `mvdst/${n}`, CopySource: `${B}/mvsrc/${n}` }));
          await c.client.send(new DeleteObjectCommand({ Bucket: B, Key: `mvsrc/${n}` }));
        })));
      }),
    },
    { workload: 'chmod-100', run: () => timed(async () => {
      for (const n of await hundredNames()) await replaceMetadata(c, `mvdst/${n}`, { mode: String(0o100600) });
    }) },
    { workload: 'touch-100', run: () => timed(async () => {
      for (const n of await hundredNames()) await replaceMetadata(c, `mvdst/${n}`, { mode: String(0o100600), mtime: '981173106' });
    }) },
    { workload: 'untar', run: () => timed(async () => {
      const list = (await fsp.readFile(path.join(d.dir, 'tree.list'), 'utf8')).trim().split('\n');
      for (const rel of list) await put(`untar/${rel}`, await fsp.readFile(path.join('/usr', rel)));
    }) },
  ];
}

async function replaceMetadata(c: SdkContext, key: string, metadata: Record<string, string>): Promise<void> {
  await c.client.send(new CopyObjectCommand({
    Bucket: c.bucket, Key: key, CopySource: `${c.bucket}/${key}`, MetadataDirective: 'REPLACE', Metadata: metadata,
  }));
}

async function multipartUpload(c: SdkContext, key: string): Promise<void> {
  const d = c.data;
  if (d.bigSize <= c.partSize) {
    await c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: key, Body: await fsp.readFile(d.bigFile) }));
    return;
  }
  const { UploadId } = await c.client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key: key }));
  const fh = await fsp.open(d.bigFile, 'r');
  try {
    const limit = pLimit(c.parallel);
    const count = Math.ceil(d.bigSize / c.partSize);
    const parts = await Promise.all(Array.from({ length: count }, (_, i) => limit(async () => {
      const length = Math.min(c.partSize, d.bigSize - i * c.partSize);
      const body = Buffer.allocUnsafe(length);
      await fh.read(body, 0, length, i * c.partSize);
      const r = await c.client.send(new UploadPartCommand({ Bucket: c.bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
      return { PartNumber: i + 1, ETag: r.ETag };
    })));
    await c.client.send(new CompleteMultipartUploadCommand({ Bucket: c.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  } finally {
    await fh.close();
  }
}

/** Ranged GETs of the part size, `parallel` in flight, hashed in order (a bounded window). */
async function parallelDownloadMd5(c: SdkContext, key: string): Promise<string> {
  const size = c.data.bigSize;
  const count = Math.ceil(size / c.partSize);
  const hash = createHash('md5');
  const fetchPart = async (i: number): Promise<Uint8Array> => {
    const start = i * c.partSize;
    const end = Math.min(size, start + c.partSize) - 1;
    const r = await c.client.send(new GetObjectCommand({ Bucket: c.bucket, Key: key, Range: `bytes=${start}-${end}` }));
    return r.Body!.transformToByteArray();
  };
  const window: Promise<Uint8Array>[] = [];
  let next = 0;
  while (next < Math.min(count, c.parallel)) window.push(fetchPart(next++));
  while (window.length > 0) {
    hash.update(await window.shift()!);
    if (next < count) window.push(fetchPart(next++));
  }
  return hash.digest('hex');
}
