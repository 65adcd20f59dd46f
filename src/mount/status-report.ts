// The one-screen status a running daemon gives to `qsfs --status` and writes on SIGUSR1: what is mounted, what
// is open, what is waiting to be uploaded, what is moving, how full the cache is, and the
// requests sent so far.
import type { RequestStatsSnapshot } from '../store/request-stats.js';

export interface StatusFacts {
  bucket: string;
  prefix: string;
  mountpoint: string;
  endpoint: string;
  startedAt: Date;
  openFiles: string[];
  openFileCount: number;
  dirtyFiles: Array<{ path: string; size: number; stored: number; uploading: boolean }>;
  transfers: { uploads: { active: number; waiting: number }; downloads: { active: number; waiting: number }; multipartOpen: number };
  cache: { memoryBytes: number; maxBytes: number; cachedFiles: number; spilledFiles: number };
  requests: RequestStatsSnapshot;
  rssBytes: number;
  /** States fuse-native has made for libfuse threads: bounded by the most threads alive at once. */
  fuseThreadStates: number;
  /** The log file (none in the foreground: stderr). */
  logFile?: string;
  /** Where the keys come from and which (never the secret). */
  credentials?: string;
  /** The Prometheus endpoint, when one is served. */
  metricsUrl?: string;
  /** Which proxy the requests go through (password redacted), when a proxy is set. */
  proxy?: string;
  /** Server-side encryption: the mode and its key id or key MD5 (never the key). */
  encryption?: string;
}

const MB = 1024 * 1024;

function mb(n: number): string {
  return `${(n / MB).toFixed(1)} MiB`;
}

export function formatStatus(f: StatusFacts, now = new Date()): string {
  const uptime = Math.round((now.getTime() - f.startedAt.getTime()) / 1000);
  const dirtyBytes = f.dirtyFiles.reduce((n, d) => n + d.size, 0);
  const ops = Object.entries(f.requests.byOperation).sort((a, b) => b[1] - a[1])
    .map(([op, n]) => `${op.replace(/Command$/, '')} ${n}`).join(', ');
  const lines = [
    `qsfs status at ${now.toISOString()} (up ${uptime} s, pid ${process.pid}, rss ${mb(f.rssBytes)})`,
    `mount:     ${f.bucket}${f.prefix ? `:/${f.prefix}` : ''} on ${f.mountpoint} via ${f.endpoint}`,
    `log:       ${f.logFile ?? 'stderr (foreground)'}`,
    ...(f.credentials ? [`keys:      ${f.credentials}`] : []),
    ...(f.metricsUrl ? [`metrics:   ${f.metricsUrl}`] : []),
    ...(f.proxy ? [`proxy:     ${f.proxy}`] : []),
    ...(f.encryption ? [`sse:       ${f.encryption}`] : []),
    `open:      ${f.openFileCount} file(s)${f.openFiles.length > 0 ? `: ${f.openFiles.join(', ')}${f.openFileCount > f.openFiles.length ? ', ...' : ''}` : ''}`,
    `dirty:     ${f.dirtyFiles.length} file(s), ${mb(dirtyBytes)} to upload`,
    ...f.dirtyFiles.slice(0, 5).map((d) => `           ${d.path}: ${mb(d.stored)} of ${mb(d.size)} stored${d.uploading ? ' (uploading)' : ''}`),
    `transfers: uploads ${f.transfers.uploads.active} active + ${f.transfers.uploads.waiting} waiting, `
      + `downloads ${f.transfers.downloads.active} active + ${f.transfers.downloads.waiting} waiting, ${f.transfers.multipartOpen} multipart upload(s) open`,
    `cache:     ${mb(f.cache.memoryBytes)} of ${mb(f.cache.maxBytes)} in memory, ${f.cache.cachedFiles} file(s) cached, ${f.cache.spilledFiles} spilled to disk`,
    `fuse:      ${f.fuseThreadStates} thread state(s)`,
    `requests:  ${f.requests.total} sent, ${f.requests.failed} failed, ${mb(f.requests.bytesSent)} out, ${mb(f.requests.bytesReceived)} in${ops ? ` (${ops})` : ''}`,
  ];
  return lines.join('\n');
}
