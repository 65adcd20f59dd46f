// The benchmark's workloads, once through a mounted filesystem (shell tools in child processes)
// and once as the bare SDK doing the same transfers directly: the ceiling.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client,
} from '@aws-sdk/client-s3';
import pLimit, { type LimitFunction } from 'p-limit';
import {
  BIGDIR_FILES, BIGDIR_PREFIX, BIGTREE_DIRS, BIGTREE_FILES, BIGTREE_PREFIX, PAR_PREFIX, listKeys, parKeys,
} from './bucket.js';
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
  /** One 8 KiB block: small-writes-8k writes it over and over, `smallWriteSize` bytes. */
  block8k: string;
  smallWriteSize: number;
  smallWriteMd5: string;
  /** The files of the parallel workloads (4 x 64 MiB) and their md5s. */
  parFiles: string[];
  parSize: number;
  parMd5s: string[];
}

/** In the order they run (and are reported): a warm listing right after its cold one. */
export const WORKLOADS = [
  'seq-write', 'seq-read-cold', 'random-read-cold', 'small-create', 'small-ls-l-cold', 'small-ls-l-warm',
  'small-cat-cold', 'small-rm', 'mkdir-tree', 'find-cold', 'rename-dir-100', 'chmod-100', 'touch-100', 'untar',
  'small-writes-8k', 'parallel-write-4x64', 'parallel-read-4x64', 'bigdir-ls', 'bigdir-ls-l-cold', 'bigdir-ls-l-warm',
  'bigtree-find-cold',
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
/** The write(2) size of small-writes-8k, and how much it writes. */
const BLOCK = 8192;
const SMALL_WRITE_BYTES = 256 * 2 ** 20;
const PAR_COUNT = 4;
const PAR_BYTES = 64 * 2 ** 20;

export async function makeDataset(dir: string, bigMiB: number): Promise<Dataset> {
  await fsp.mkdir(dir, { recursive: true });
  const bigFile = path.join(dir, 'big.bin');
  const bigSize = bigMiB * 1024 * 1024;
  await randomFile(bigFile, bigSize);
  const bigMd5 = await fileMd5(bigFile);
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
  const block8k = await randomFile(path.join(dir, 'block8k.bin'), BLOCK);
  const parFiles: string[] = [];
  for (let i = 1; i <= PAR_COUNT; i++) parFiles.push(await randomFile(path.join(dir, `par${i}.bin`), PAR_BYTES));
  return {
    dir, bigFile, bigSize, bigMd5, smallDir, smallCount: 1000, hundredDir, tarball, tarFiles: list.length, treeLeaves,
    block8k, smallWriteSize: SMALL_WRITE_BYTES, smallWriteMd5: repeatedMd5(await fsp.readFile(block8k), SMALL_WRITE_BYTES),
    parFiles, parSize: PAR_BYTES, parMd5s: await Promise.all(parFiles.map(fileMd5)),
  };
}

/** A file of random bytes, kept from an earlier run when it has the size. */
async function randomFile(file: string, size: number): Promise<string> {
  const have = await fsp.stat(file).then((s) => s.size, () => -1);
  if (have !== size) await bash(`head -c ${size} /dev/urandom > ${file}`);
  return file;
}

async function fileMd5(file: string): Promise<string> {
  return (await exec('md5sum', [file])).stdout.split(' ')[0]!;
}

/** The md5 of `block` repeated to `size` bytes. */
export function repeatedMd5(block: Buffer, size: number): string {
  const hash = createHash('md5');
  for (let done = 0; done < size; done += block.length) hash.update(block.subarray(0, Math.min(block.length, size - done)));
  return hash.digest('hex');
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

/** Remounts, and `ls -l` that remembers the mount session it ran in: a warm listing must come
 *  after its cold one without a remount in between. */
interface Session {
  remountCold(): Promise<void>;
  lsL(dir: string, files: number): Promise<Timing>;
  /** Setup of a warm `ls -l`: nothing after its cold one, else a cold mount and one untimed
   *  `ls -l` (when only the warm workload was selected). */
  afterColdLsL(dir: string, files: number): () => Promise<void>;
}

function session(c: MountContext): Session {
  let current = 0;
  const listedIn = new Map<string, number>();
  const remountCold = async (): Promise<void> => {
    await c.remountCold();
    current++;
  };
  const lsL = async (dir: string, files: number): Promise<Timing> => {
    const r = await bash(`ls -l ${path.join(c.mnt, dir)} | wc -l`);
    // one line more: "total"
    if (Number(r.stdout.trim()) !== files + 1) throw new Error(`ls -l listed ${r.stdout.trim()} lines, expected ${files + 1}`);
    listedIn.set(dir, current);
    return { seconds: r.seconds };
  };
  const afterColdLsL = (dir: string, files: number) => async (): Promise<void> => {
    if (listedIn.get(dir) === current) return;
    await remountCold();
    await lsL(dir, files);
  };
  return { remountCold, lsL, afterColdLsL };
}

export function mountSteps(c: MountContext): Step[] {
  const s = session(c);
  return [...firstMountSteps(c, s), ...bigMountSteps(c, s)];
}

function firstMountSteps(c: MountContext, s: Session): Step[] {
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
      setup: s.remountCold,
      run: async () => {
        const r = await exec('md5sum', [m('big')]);
        if (r.stdout.split(' ')[0] !== d.bigMd5) throw new Error(`md5 mismatch reading ${m('big')}`);
        return { seconds: r.seconds };
      },
    },
    {
      workload: 'random-read-cold',
      setup: s.remountCold,
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
      setup: s.remountCold,
      run: () => s.lsL('small', d.smallCount),
    },
    {
      workload: 'small-ls-l-warm',
      setup: s.afterColdLsL('small', d.smallCount),
      run: () => s.lsL('small', d.smallCount),
    },
    {
      workload: 'small-cat-cold',
      setup: s.remountCold,
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
        await s.remountCold();
        return (await exists(m(`tree/${d.treeLeaves[0]}`))) ? undefined : 'the empty directories did not survive a remount';
      },
    },
    {
      workload: 'find-cold',
      setup: s.remountCold,
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
        await s.remountCold();
        const mode = (await exec('stat', ['-c', '%a', m('mvdst/g001')])).stdout.trim();
        return mode === '600' ? undefined : `not persisted (mode ${mode} after remount)`;
      },
    },
    {
      workload: 'touch-100',
      run: async () => ({ seconds: (await bash(`touch -d '2001-02-03 04:05:06' ${m('mvdst')}/*`)).seconds }),
      check: async () => {
        await s.remountCold();
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

/** The later workloads: many small writes, parallel transfers, and directories of 10,000 files
 *  (prepared in the bucket beforehand, see bucket.ts). */
function bigMountSteps(c: MountContext, s: Session): Step[] {
  const m = (p: string) => path.join(c.mnt, p);
  const d = c.data;
  const pwKeys = d.parFiles.map((_, i) => `pw${i + 1}`);
  return [
    {
      workload: 'small-writes-8k',
      run: () => untilDurable(
        () => exec(process.execPath, [childProgram('small-writer.js'), m('w8k'), d.block8k, String(d.smallWriteSize)]),
        () => untilObject(c.direct, c.bucket, 'w8k', d.smallWriteSize),
      ),
      check: () => differs(c.direct, c.bucket, 'w8k', d.smallWriteMd5),
    },
    {
      workload: 'parallel-write-4x64',
      run: () => untilDurable(
        () => bash(inParallel(d.parFiles.map((f, i) => `dd if=${f} of=${m(pwKeys[i]!)} bs=1M status=none`))),
        () => Promise.all(pwKeys.map((k) => untilObject(c.direct, c.bucket, k, d.parSize))),
      ),
      check: async () => (await Promise.all(pwKeys.map((k, i) => differs(c.direct, c.bucket, k, d.parMd5s[i]!)))).find(Boolean),
    },
    {
      workload: 'parallel-read-4x64',
      setup: s.remountCold,
      run: async () => ({ seconds: (await bash(inParallel(parKeys(d).map((k) => `cat ${m(k)} > /dev/null`)))).seconds }),
      // cat checks nothing: read the files once more (untimed) and compare.
      check: async () => {
        const sums = (await exec('md5sum', parKeys(d).map(m))).stdout.trim().split('\n').map((l) => l.split(' ')[0]);
        return sums.every((sum, i) => sum === d.parMd5s[i]) ? undefined : `md5 mismatch reading ${PAR_PREFIX}`;
      },
    },
    {
      workload: 'bigdir-ls',
      setup: s.remountCold,
      run: async () => {
        const r = await bash(`ls ${m(BIGDIR_PREFIX)} | wc -l`);
        if (Number(r.stdout.trim()) !== BIGDIR_FILES) throw new Error(`ls listed ${r.stdout.trim()} names, expected ${BIGDIR_FILES}`);
        return { seconds: r.seconds };
      },
    },
    { workload: 'bigdir-ls-l-cold', setup: s.remountCold, run: () => s.lsL(BIGDIR_PREFIX, BIGDIR_FILES) },
    { workload: 'bigdir-ls-l-warm', setup: s.afterColdLsL(BIGDIR_PREFIX, BIGDIR_FILES), run: () => s.lsL(BIGDIR_PREFIX, BIGDIR_FILES) },
    {
      workload: 'bigtree-find-cold',
      setup: s.remountCold,
      run: async () => {
        const r = await bash(`find ${m(BIGTREE_PREFIX)} | wc -l`);
        const expected = BIGTREE_DIRS + BIGTREE_FILES;
        if (Number(r.stdout.trim()) !== expected) throw new Error(`find listed ${r.stdout.trim()}, expected ${expected}`);
        return { seconds: r.seconds };
      },
    },
  ];
}

function childProgram(name: string): string {
  return new URL(`./${name}`, import.meta.url).pathname;
}

/** A bash script that runs the commands at once and fails when any of them fails (a bare
 *  `wait` would not). */
export function inParallel(commands: string[]): string {
  return `pids=()\n${commands.map((cmd) => `${cmd} & pids+=($!)`).join('\n')}\nfor p in "\${pids[@]}"; do wait "$p"; done`;
}

/** Times a write until the application's last close returned and until `durable` resolves. */
async function untilDurable(write: () => Promise<unknown>, durable: () => Promise<unknown>): Promise<Timing> {
  const started = performance.now();
  await write();
  const closeSeconds = (performance.now() - started) / 1000;
  await durable();
  return { seconds: (performance.now() - started) / 1000, closeSeconds };
}

/** After a write (untimed): a note when the object in the bucket is not what was written. */
async function differs(client: S3Client, bucket: string, key: string, md5: string): Promise<string | undefined> {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('md5');
  for await (const chunk of r.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex') === md5 ? undefined : `${key} in the bucket differs from what was written`;
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

// ---- the bare SDK -----------------------------------------------------------------------------

export interface SdkContext {
  /** Client through the counting proxy. */
  client: S3Client;
  bucket: string;
  data: Dataset;
  partSize: number;
  parallel: number;
}

async function timed(work: () => Promise<unknown>): Promise<Timing> {
  const started = performance.now();
  await work();
  return { seconds: (performance.now() - started) / 1000 };
}

/** The same transfers, done directly: one PUT or a multipart upload of the same part size and
 *  parallelism as qsfs, parallel ranged GETs, single requests for small files. */
export function sdkSteps(c: SdkContext): Step[] {
  const d = c.data;
  const B = c.bucket;
  const limit = pLimit(c.parallel);
  const put = (Key: string, Body: Buffer) => c.client.send(new PutObjectCommand({ Bucket: B, Key, Body }));
  const smallNames = async () => (await fsp.readdir(d.smallDir)).sort();
  const hundredNames = async () => (await fsp.readdir(d.hundredDir)).sort();
  return [
    { workload: 'seq-write', run: () => timed(() => uploadFile(c, 'big', d.bigFile, d.bigSize)) },
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
    { workload: 'small-ls-l-warm', run: () => timed(() => listKeys(c.client, B, 'small/')) },
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
    ...bigSdkSteps(c, limit),
  ];
}

/** The SDK side of bigMountSteps. */
function bigSdkSteps(c: SdkContext, limit: LimitFunction): Step[] {
  const d = c.data;
  const B = c.bucket;
  const listed = async (prefix: string, count: number): Promise<string[]> => {
    const keys = await listKeys(c.client, B, prefix);
    if (keys.length !== count) throw new Error(`listed ${keys.length} keys under ${prefix}, expected ${count}`);
    return keys;
  };
  // ls -l: the names, then every object's attributes, `parallel` HEADs in flight.
  const listedWithHeads = async (): Promise<void> => {
    const keys = await listed(BIGDIR_PREFIX, BIGDIR_FILES);
    await Promise.all(keys.map((Key) => limit(() => c.client.send(new HeadObjectCommand({ Bucket: B, Key })))));
  };
  return [
    { workload: 'small-writes-8k', run: () => timed(() => multipartUpload(c, 'w8k', d.smallWriteSize, repeatedBlock(d.block8k))) },
    // One limit for the four: `parallel` parts in flight in all, as qsfs's -n.
    { workload: 'parallel-write-4x64', run: () => timed(() => Promise.all(d.parFiles.map((f, i) => uploadFile(c, `pw${i + 1}`, f, d.parSize, limit)))) },
    { workload: 'parallel-read-4x64', run: () => timed(() => Promise.all(parKeys(d).map(async (Key) => {
      const r = await c.client.send(new GetObjectCommand({ Bucket: B, Key }));
      let n = 0;
      for await (const chunk of r.Body as AsyncIterable<Uint8Array>) n += chunk.length;
      if (n !== d.parSize) throw new Error(`short GET of ${Key}: ${n} bytes`);
    }))) },
    { workload: 'bigdir-ls', run: () => timed(() => listed(BIGDIR_PREFIX, BIGDIR_FILES)) },
    { workload: 'bigdir-ls-l-cold', run: () => timed(listedWithHeads) },
    { workload: 'bigdir-ls-l-warm', run: () => timed(listedWithHeads) },
    { workload: 'bigtree-find-cold', run: () => timed(() => listed(BIGTREE_PREFIX, BIGTREE_FILES)) },
  ];
}

/** Parts of the data small-writes-8k writes: its 8 KiB block over and over, made as needed. */
function repeatedBlock(blockFile: string): ReadPart {
  let block: Buffer | undefined;
  return async (offset, length) => {
    block ??= await fsp.readFile(blockFile);
    const at = offset % block.length;
    // fill() repeats its pattern from the start of the part: rotate it to the part's offset.
    return Buffer.alloc(length).fill(Buffer.concat([block.subarray(at), block.subarray(0, at)]));
  };
}

async function replaceMetadata(c: SdkContext, key: string, metadata: Record<string, string>): Promise<void> {
  await c.client.send(new CopyObjectCommand({
    Bucket: c.bucket, Key: key, CopySource: `${c.bucket}/${key}`, MetadataDirective: 'REPLACE', Metadata: metadata,
  }));
}

/** Reads `length` bytes of what is uploaded, from `offset`. */
type ReadPart = (offset: number, length: number) => Promise<Buffer>;

async function uploadFile(c: SdkContext, key: string, file: string, size: number, limit?: LimitFunction): Promise<void> {
  const fh = await fsp.open(file, 'r');
  try {
    await multipartUpload(c, key, size, async (offset, length) => {
      const body = Buffer.allocUnsafe(length);
      await fh.read(body, 0, length, offset);
      return body;
    }, limit);
  } finally {
    await fh.close();
  }
}

/** One PUT, or a multipart upload of the part size with `limit` (by default `parallel`) parts in
 *  flight; each part is read only when it is sent. */
async function multipartUpload(c: SdkContext, key: string, size: number, read: ReadPart, limit = pLimit(c.parallel)): Promise<void> {
  if (size <= c.partSize) {
    await c.client.send(new PutObjectCommand({ Bucket: c.bucket, Key: key, Body: await read(0, size) }));
    return;
  }
  const { UploadId } = await c.client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key: key }));
  const count = Math.ceil(size / c.partSize);
  const parts = await Promise.all(Array.from({ length: count }, (_, i) => limit(async () => {
    const body = await read(i * c.partSize, Math.min(c.partSize, size - i * c.partSize));
    const r = await c.client.send(new UploadPartCommand({ Bucket: c.bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }));
    return { PartNumber: i + 1, ETag: r.ETag };
  })));
  await c.client.send(new CompleteMultipartUploadCommand({ Bucket: c.bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
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
