// The opt-in Prometheus endpoint (--metrics [HOST:]PORT, on 127.0.0.1 unless a host is given):
// S3 requests by operation and status, their bytes, latency and retries; FUSE operations by
// type with their latency; the data cache in memory and on disk; dirty data and transfers in
// flight; and the process (memory, CPU, event loop lag) from prom-client's default metrics.
// prom-client is loaded only when the endpoint is asked for.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { RequestStats } from '../store/request-stats.js';
import type { OperationObserver } from '../fuse/operations.js';

/** What the gauges read at each scrape. */
export interface MetricsSources {
  requests: RequestStats;
  cacheUse(): { memoryBytes: number; maxBytes: number; cachedFiles: number; spilledFiles: number };
  cacheDiskBytes(): Promise<number>;
  dirtyFiles(): Array<{ size: number; stored: number }>;
  transfers(): { uploads: { active: number; waiting: number }; downloads: { active: number; waiting: number }; multipartOpen: number };
}

export interface MetricsEndpoint {
  /** http://HOST:PORT/metrics */
  url: string;
  /** Give to the FUSE operations table. */
  observeOperation: OperationObserver;
  close(): void;
}

/** Request latencies from a loopback HEAD (a millisecond) to a slow part upload (a minute). */
const S3_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const FUSE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];

/** `9464`, `:9464`, `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464` (every address: said so). */
export function parseListenAddress(text: string): { host: string; port: number } | undefined {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:]*):)?(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port > 65535) return undefined;
  const host = m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1].replace(/^\[|\]$/g, '');
  return { host, port };
}

export async function startMetrics(listen: { host: string; port: number }, sources: MetricsSources, log: Logger): Promise<MetricsEndpoint> {
  const client = await import('prom-client');
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'qsfs_' });
  const registers = [registry];

  const requests = new client.Counter({ name: 'qsfs_s3_requests_total', help: 'S3 requests (HTTP attempts, retries included) by operation and HTTP status or error code', labelNames: ['operation', 'status'] as const, registers });
  const latency = new client.Histogram({ name: 'qsfs_s3_request_duration_seconds', help: 'S3 request latency by operation', labelNames: ['operation'] as const, buckets: S3_BUCKETS, registers });
  const retries = new client.Counter({ name: 'qsfs_s3_retries_total', help: 'S3 requests sent again after a failed attempt, by operation', labelNames: ['operation'] as const, registers });
  const sent = new client.Counter({ name: 'qsfs_s3_sent_bytes_total', help: 'Request body bytes sent to S3', registers });
  const received = new client.Counter({ name: 'qsfs_s3_received_bytes_total', help: 'Response body bytes received from S3', registers });
  sources.requests.observer = {
    request: (r) => {
      requests.inc({ operation: shortName(r.operation), status: String(r.status) });
      latency.observe({ operation: shortName(r.operation) }, r.seconds);
      if (r.sent > 0) sent.inc(r.sent);
      if (r.received > 0) received.inc(r.received);
    },
    retry: (operation) => retries.inc({ operation: shortName(operation) }),
  };

  const operations = new client.Counter({ name: 'qsfs_fuse_operations_total', help: 'FUSE operations answered by qsfs, by type and result', labelNames: ['operation', 'result'] as const, registers });
  const operationLatency = new client.Histogram({ name: 'qsfs_fuse_operation_duration_seconds', help: 'FUSE operation latency inside qsfs, by type', labelNames: ['operation'] as const, buckets: FUSE_BUCKETS, registers });

  new client.Gauge({ name: 'qsfs_cache_memory_bytes', help: 'File data held in memory (the --maxcache budget in use)', registers, collect() { this.set(sources.cacheUse().memoryBytes); } });
  new client.Gauge({ name: 'qsfs_cache_memory_limit_bytes', help: 'The --maxcache budget', registers, collect() { this.set(sources.cacheUse().maxBytes); } });
  new client.Gauge({ name: 'qsfs_cache_disk_bytes', help: 'File data spilled to disk under --diskdir (blocks in use)', registers, async collect() { this.set(await sources.cacheDiskBytes()); } });
  new client.Gauge({ name: 'qsfs_cache_files', help: 'Files with data cached', registers, collect() { this.set(sources.cacheUse().cachedFiles); } });
  new client.Gauge({ name: 'qsfs_dirty_files', help: 'Files with data not yet uploaded', registers, collect() { this.set(sources.dirtyFiles().length); } });
  new client.Gauge({
    name: 'qsfs_dirty_bytes', help: 'Bytes of files with data not yet uploaded, not yet stored', registers,
    collect() { this.set(sources.dirtyFiles().reduce((n, f) => n + Math.max(0, f.size - f.stored), 0)); },
  });
  new client.Gauge({
    name: 'qsfs_transfers', help: 'Uploads and downloads, active or waiting for a slot', labelNames: ['direction', 'state'] as const, registers,
    collect() {
      const t = sources.transfers();
      this.set({ direction: 'upload', state: 'active' }, t.uploads.active);
      this.set({ direction: 'upload', state: 'waiting' }, t.uploads.waiting);
      this.set({ direction: 'download', state: 'active' }, t.downloads.active);
      this.set({ direction: 'download', state: 'waiting' }, t.downloads.waiting);
    },
  });
  new client.Gauge({ name: 'qsfs_multipart_uploads_open', help: 'Multipart uploads begun and not yet completed or aborted', registers, collect() { this.set(sources.transfers().multipartOpen); } });

  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('qsfs: GET /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`qsfs: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref(); // never what keeps the daemon alive
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}/metrics`;
  log.info({ url }, 'Prometheus metrics served');
  return {
    url,
    observeOperation: (op, seconds, ok) => {
      operations.inc({ operation: op, result: ok ? 'ok' : 'error' });
      operationLatency.observe({ operation: op }, seconds);
    },
    close: () => {
      sources.requests.observer = undefined;
      server.close();
    },
  };
}

/** HeadObject rather than HeadObjectCommand: the S3 operation's own name. */
function shortName(operation: string): string {
  return operation.replace(/Command$/, '');
}
