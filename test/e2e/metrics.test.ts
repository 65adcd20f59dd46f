// The opt-in Prometheus endpoint on a real mount: scraped before, during and after a copy into
// the mount, its counters move (S3 requests by operation and status, bytes, latencies, FUSE
// operations by type); the gauges of the cache and of transfers are there; a bad address is
// one line at start.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { TestBucket } from '../helpers/s3.js';
import { QSFS_BIN, TestMount, endpointArgs, makeWorkdir, runQsfs } from '../helpers/mount.js';
import { run } from '../helpers/shell.js';
import { promises as fsp } from 'node:fs';

const MiB = 1024 * 1024;

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The sum of a metric's samples whose labels include all of `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(m[3]);
      found = true;
    }
  }
  return found ? sum : NaN;
}

describe('Prometheus metrics (--metrics)', () => {
  let bucket: TestBucket;

  before(async () => {
    bucket = await TestBucket.create('metrics');
  });
  after(async () => {
    await bucket?.destroy();
  });

  test('scraped during a copy: S3 requests, bytes, latencies and FUSE operations move; gauges are there', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const m = await TestMount.start(bucket.name, 'metrics', [`--metrics=${port}`]);
    try {
      const url = `http://127.0.0.1:${port}/metrics`;
      const scrape = async (): Promise<string> => {
        const r = await fetch(url);
        assert.equal(r.status, 200);
        assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
        return r.text();
      };
      const before = await scrape();
      const status = await run(process.execPath, [QSFS_BIN, '--status', m.path]);
      assert.match(status.stdout, new RegExp(`metrics: +http://127\\.0\\.0\\.1:${port}/metrics`), 'on loopback, named by the status');

      // 48 MiB: a multipart upload (parts of 10 MiB by default) while the scrapes go on.
      const copy = spawn('dd', ['if=/dev/urandom', `of=${m.p('copy.bin')}`, `bs=${MiB}`, 'count=48', 'status=none'], { stdio: 'ignore' });
      const copied = new Promise<number | null>((resolve) => copy.on('exit', resolve));
      const during: string[] = [];
      let exited = false;
      void copied.then(() => { exited = true; });
      while (!exited) {
        during.push(await scrape());
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(await copied, 0);
      const after = await scrape();
      assert.ok(during.length >= 1, 'scraped while the copy ran');

      const writes = (t: string): number => sample(t, 'qsfs_fuse_operations_total', { operation: 'write', result: 'ok' });
      assert.ok(writes(after) > (writes(before) || 0), `FUSE writes counted: ${writes(before)} -> ${writes(after)}`);
      assert.ok(sample(after, 'qsfs_fuse_operation_duration_seconds_count', { operation: 'write' }) > 0, 'write latencies observed');
      const parts = (t: string): number => sample(t, 'qsfs_s3_requests_total', { operation: 'UploadPart', status: '200' }) || 0;
      assert.ok(parts(after) >= 4, `UploadPart 200s counted: ${parts(after)}`);
      assert.ok(sample(after, 'qsfs_s3_requests_total', { operation: 'CompleteMultipartUpload', status: '200' }) >= 1);
      assert.ok(sample(after, 'qsfs_s3_sent_bytes_total') - (sample(before, 'qsfs_s3_sent_bytes_total') || 0) >= 48 * MiB, 'the bytes sent');
      assert.ok(sample(after, 'qsfs_s3_request_duration_seconds_count', { operation: 'UploadPart' }) >= 4, 'request latencies');
      assert.ok(sample(after, 'qsfs_s3_request_duration_seconds_bucket', { operation: 'UploadPart', le: '+Inf' }) >= 4);
      for (const gauge of ['qsfs_cache_memory_bytes', 'qsfs_cache_memory_limit_bytes', 'qsfs_cache_disk_bytes', 'qsfs_dirty_bytes', 'qsfs_multipart_uploads_open', 'qsfs_process_resident_memory_bytes']) {
        assert.ok(Number.isFinite(sample(after, gauge)), `${gauge} is there`);
      }
      assert.equal(sample(after, 'qsfs_cache_memory_limit_bytes'), 200 * MiB);
      assert.ok(Number.isFinite(sample(after, 'qsfs_transfers', { direction: 'upload', state: 'active' })));
      assert.ok(sample(after, 'qsfs_s3_retries_total') === 0 || Number.isNaN(sample(after, 'qsfs_s3_retries_total')), 'no retries on a quiet server');
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await m.stop();
    }
  });

  test('a bad --metrics address is one line at start, and nothing is mounted', async () => {
    const work = await makeWorkdir('metrics-bad');
    try {
      const r = await runQsfs([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, '--metrics=localhost:99999']);
      assert.equal(r.code, 1);
      assert.equal(r.stderr.trim(), "qsfs: --metrics: 'localhost:99999' is not [HOST:]PORT (e.g. 9464, or 127.0.0.1:9464)");
      const port = await freePort();
      const busy = net.createServer();
      await new Promise<void>((resolve) => busy.listen(port, '127.0.0.1', resolve));
      try {
        const r2 = await runQsfs([bucket.name, work.mountpoint, `-c=${work.credentials}`, ...endpointArgs(), `-l=${work.logdir}`, `--metrics=127.0.0.1:${port}`]);
        assert.equal(r2.code, 1);
        assert.equal(r2.stderr.trim(), `qsfs: --metrics: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
      } finally {
        busy.close();
      }
      assert.equal((await fsp.readFile('/proc/mounts', 'utf8')).includes(work.mountpoint), false);
    } finally {
      await fsp.rm(work.dir, { recursive: true, force: true });
    }
  });
});
