// The benchmark's buckets: listing, emptying between runs, and the objects big workloads find
// already there, put directly with the SDK (as another tool would have uploaded them: no
// directory markers, no qsfs metadata). Putting 20,000 objects takes longer than listing them,
// so they are put once per bucket, untimed, and kept when the bucket is emptied between targets
// and repeats.
import { promises as fsp } from 'node:fs';
import {
  DeleteObjectsCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client,
} from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Dataset, Workload } from './workloads.js';

export const BIGDIR_PREFIX = 'bigdir/';
export const BIGDIR_FILES = 10_000;
export const BIGTREE_PREFIX = 'bigtree/';
/** 1 + 10 + 150 directories (the tree's root, its children and grandchildren). */
export const BIGTREE_DIRS = 161;
export const BIGTREE_FILES = 10_000;
export const PAR_PREFIX = 'par/';
/** Body of every bigdir and bigtree object: small, as in a directory of many little files. */
const SMALL_BODY = Buffer.from('x'.repeat(99) + '\n');
/** Requests in flight while preparing: setup is not measured, so as many as RGW takes well. */
const PREPARE_PARALLEL = 32;

/** Prefixes kept when a bucket is emptied between targets and repeats. */
export const KEPT_PREFIXES = [BIGDIR_PREFIX, BIGTREE_PREFIX, PAR_PREFIX];

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

export function isKept(key: string): boolean {
  return KEPT_PREFIXES.some((p) => key.startsWith(p));
}

/** Deletes every object but the prepared ones. */
export async function emptyBucket(client: S3Client, bucket: string): Promise<void> {
  const keys = (await listKeys(client, bucket, '')).filter((k) => !isKept(k));
  await deleteKeys(client, bucket, keys);
}

async function deleteKeys(client: S3Client, bucket: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) {
    await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }));
  }
}

export function bigDirKeys(): string[] {
  return Array.from({ length: BIGDIR_FILES }, (_, i) => `${BIGDIR_PREFIX}f${String(i).padStart(5, '0')}`);
}

/** 100 files at the root, 90 in each of 10 directories, 60 in each of their 15 subdirectories:
 *  10,000 files in 161 directories, the shape of a project tree rather than one flat directory. */
export function bigTreeKeys(): string[] {
  const keys: string[] = [];
  const files = (dir: string, n: number): void => {
    for (let i = 0; i < n; i++) keys.push(`${dir}f${String(i).padStart(3, '0')}`);
  };
  files(BIGTREE_PREFIX, 100);
  for (let d = 0; d < 10; d++) {
    const dir = `${BIGTREE_PREFIX}d${d}/`;
    files(dir, 90);
    for (let s = 0; s < 15; s++) files(`${dir}s${String(s).padStart(2, '0')}/`, 60);
  }
  return keys;
}

/** The keys of the parallel-read files, in the order of `Dataset.parFiles`. */
export function parKeys(d: Dataset): string[] {
  return d.parFiles.map((_, i) => `${PAR_PREFIX}p${i + 1}`);
}

/** Makes sure the bucket holds what the selected workloads need; returns what it had to put. */
export async function prepareBucket(client: S3Client, bucket: string, d: Dataset, workloads: readonly Workload[]): Promise<string[]> {
  const done: string[] = [];
  if (workloads.some((w) => w.startsWith('bigdir-'))) {
    const n = await exactly(client, bucket, BIGDIR_PREFIX, bigDirKeys());
    if (n > 0) done.push(`${n} objects in ${BIGDIR_PREFIX}`);
  }
  if (workloads.includes('bigtree-find-cold')) {
    const n = await exactly(client, bucket, BIGTREE_PREFIX, bigTreeKeys());
    if (n > 0) done.push(`${n} objects in ${BIGTREE_PREFIX}`);
  }
  if (workloads.includes('parallel-read-4x64')) {
    const n = await parFiles(client, bucket, d);
    if (n > 0) done.push(`${n} x ${d.parSize / 2 ** 20} MiB in ${PAR_PREFIX}`);
  }
  return done;
}

/** Leaves exactly `keys` under `prefix` (an interrupted run may have left part of them, or a
 *  mount something more); returns how many it put. */
async function exactly(client: S3Client, bucket: string, prefix: string, keys: string[]): Promise<number> {
  const have = new Set(await listKeys(client, bucket, prefix));
  const wanted = new Set(keys);
  await deleteKeys(client, bucket, [...have].filter((k) => !wanted.has(k)));
  const missing = keys.filter((k) => !have.has(k));
  const limit = pLimit(PREPARE_PARALLEL);
  await Promise.all(missing.map((Key) => limit(() => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: SMALL_BODY })))));
  return missing.length;
}

async function parFiles(client: S3Client, bucket: string, d: Dataset): Promise<number> {
  const keys = parKeys(d);
  let put = 0;
  for (let i = 0; i < keys.length; i++) {
    // The ETag of a single PUT is the body's md5: the object is this run's file (s3rver keeps its
    // buckets between runs, and the local files may have been made again).
    const etag = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: keys[i] })).then((r) => r.ETag, () => undefined);
    if (etag === `"${d.parMd5s[i]}"`) continue;
    // One PUT of 64 MiB: how the object got there does not matter to a reader.
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: keys[i], Body: await fsp.readFile(d.parFiles[i]!) }));
    put++;
  }
  return put;
}
