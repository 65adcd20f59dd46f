// The composition root of a mount: options -> logger, credentials, store, filesystem, FUSE.
// Every startup failure becomes a StartupError with one line for the user.
import { constants as fsConstants, promises as fsp, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Options } from '../config/options.js';
import { CredentialsError, loadCredentials } from '../config/credentials.js';
import { resolveEndpoint, type Endpoint } from '../config/endpoint.js';
import { createLogger, mountFiles, type Logger } from '../log.js';
import { UnsafeDirectoryError, ensurePrivateDirectory } from '../config/private-dir.js';
import { createS3Client } from '../store/s3-client.js';
import { S3ObjectStore } from '../store/s3-store.js';
import { StoreError } from '../store/errors.js';
import { ObjectEncryption, type EncryptionChoice } from '../store/encryption.js';
import { SseKeyError, readSseCustomerKey } from '../config/sse-key.js';
import { ProxyConfigError, describeProxyUse, proxyEnvironment, routeFor, type ProxyEnvironment, type ProxyRoute } from '../store/proxy.js';
import { ProxyTunnelAgent } from '../store/proxy-tunnel.js';
import { Filesystem } from '../fs/filesystem.js';
import { Freshness } from '../fs/freshness.js';
import { createOperations } from '../fuse/operations.js';
import { STORED_XATTR_PREFIXES } from '../fs/xattrs.js';
import { currentCaller } from './fuse-binding.js';
import { crc32cInHardware } from '../transfer/checksums.js';
import { REFUSED_OPTIONS, buildFuseOptions, hasFuseOption } from './fuse-options.js';
import { similarOptionName } from '../cli/option-table.js';
import { EXIT_CRASH, MountedFilesystem } from './mount.js';
import { MountpointError, checkMountpoint } from './mountpoint.js';
import { formatStatus } from './status-report.js';
import { serveStatus, type StatusServer } from './status-socket.js';
import { parseListenAddress, startMetrics, type MetricsEndpoint } from '../metrics/prometheus.js';

/**
 * SIGUSR1: the status goes once to stderr with -f, or (in the background) to the mount's status
 * file in --logdir and into the log, whatever the log level.
 */
function writeStatus(text: string, file: string | undefined, logger: Logger): void {
  try {
    // Synchronous on purpose: a few hundred bytes to the log directory, never to the mount.
    if (file) {
      writeFileSync(file, `${text}\n`, { mode: 0o640 });
      logger.info({ status: text }, 'status');
    } else {
      process.stderr.write(`${text}\n`);
    }
  } catch (err) {
    logger.warn({ err: String(err) }, 'cannot write the status file');
  }
}

export class StartupError extends Error {
  override name = 'StartupError';
}

const MiB = 1024 * 1024;

const FUSE_CONF = '/etc/fuse.conf';
const FUSE_DEVICE = '/dev/fuse';

/** A bucket check that cannot answer within this time means the endpoint is not usable. */
const BUCKET_CHECK_TIMEOUT_MS = 10_000;
/** How long the credential chain's AWS clients may take to open a tunnel through the proxy. */
const SDK_TUNNEL_TIMEOUT_MS = 10_000;

export async function startMount(o: Options): Promise<{ logger: Logger; logFile?: string }> {
  const { logger, file } = await createLogger({ foreground: o.foreground, logdir: o.logdir, mountpoint: o.mountpoint, loglevel: o.loglevel, debug: o.debug, keeplogdir: o.keeplogdir })
    .catch((err: unknown) => {
      if (err instanceof UnsafeDirectoryError) throw new StartupError(err.message);
      throw new StartupError(`cannot open the log directory ${o.logdir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    });
  // A bug that escapes every handler: its reason goes to the log, and once mounted, what is
  // dirty is still uploaded or saved for recovery before the process goes (see crashed()).
  let afterCrash = (): void => process.exit(EXIT_CRASH);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception: exiting');
    afterCrash();
  });

  const metricsAddress = o.metrics === undefined ? undefined : parseListenAddress(o.metrics);
  if (o.metrics !== undefined && metricsAddress === undefined) {
    throw new StartupError(`--metrics: '${o.metrics}' is not [HOST:]PORT (e.g. 9464, or 127.0.0.1:9464)`);
  }
  // Read before the credentials: the AWS chain's own requests (STS, SSO) go through the proxy too.
  const proxies = readProxies();
  const sdkAgent = proxies.https ? new ProxyTunnelAgent(proxies, SDK_TUNNEL_TIMEOUT_MS, { keepAlive: false }) : undefined;
  const credentials = await loadCredentials(o.credentials, o.profile, sdkAgent).catch(rethrowAs(CredentialsError));
  const encryption = await encryptionOf(o, logger);
  const freshness = new Freshness({ metadataTtl: o.metadatattl, statexpire: o.statexpire });
  const fuseOptions = buildFuseOptions({ bucket: o.bucket, userOptions: o.fuseOptions, fusedbg: o.fusedbg, kernelCache: freshness.kernelOptions() });
  for (const [option, why] of REFUSED_OPTIONS) {
    if (hasFuseOption(o.fuseOptions, option)) logger.warn({ option }, `-o ${option} is not used: ${why}`);
  }
  await checkMountpoint(o.mountpoint, hasFuseOption(o.fuseOptions, 'nonempty')).catch(rethrowAs(MountpointError));
  await checkUserMount(fuseOptions);
  await ensurePrivateDirectory(o.diskdir, '--diskdir', 0o700).catch((err: unknown) => {
    if (err instanceof UnsafeDirectoryError) throw new StartupError(err.message);
    throw new StartupError(`cannot create the cache directory ${o.diskdir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  });

  const endpoint = resolveEndpoint(o);
  // Where the requests really go: virtual-hosted style puts the bucket in the host name, which
  // NO_PROXY may name.
  const requestUrl = bucketUrl(endpoint, o.bucket);
  const proxyUse = describeProxyUse(proxies, requestUrl);
  if (proxyUse) logger.info(proxyUse);
  const s3 = createS3Client({
    endpoint, credentials, retries: o.retries, reqtimeout: o.reqtimeout, numtransfer: o.numtransfer, logRequests: o.curldbg, proxies,
  }, logger);
  const store = new S3ObjectStore(s3, o.bucket, {
    encryption,
    checksum: o.checksum,
    onChecksumsIgnored: (detail) => logger.warn({ checksum: o.checksum, detail },
      'the server does not verify additional checksums (--checksum): not sent any more; -m (Content-MD5) is what it checks'),
  });
  if (o.checksum) logger.info({ checksum: o.checksum, crc32cInstruction: o.checksum === 'crc32c' ? crc32cInHardware() : undefined }, 'additional checksums with every PUT and part');
  try {
    await store.checkBucket(AbortSignal.timeout(BUCKET_CHECK_TIMEOUT_MS));
  } catch (err) {
    s3.destroy();
    throw new StartupError(describeBucketFailure(err, o.bucket, endpoint.url, credentials.source, routeFor(proxies, requestUrl)));
  }
  logger.info({ bucket: o.bucket, prefix: o.prefix, endpoint: endpoint.url, pathStyle: endpoint.forcePathStyle, trusted: freshness.describe() }, 'bucket reachable');
  if (encryption) logger.info({ encryption: encryption.description }, 'server-side encryption');

  const fs = new Filesystem(store, {
    prefix: o.prefix,
    diskdir: o.diskdir,
    filemode: o.filemode,
    dirmode: o.dirmode,
    umaskmp: o.umaskmp,
    allowOther: hasFuseOption(fuseOptions, 'allow_other'),
    fscap: o.fscap,
    maxlist: o.maxlist,
    partSize: o.bufsize * MiB,
    numtransfer: o.numtransfer,
    maxcacheBytes: o.maxcache * MiB,
    // Read-ahead is on by default for sequential readers (-J is kept for compatibility);
    // -j sets its size and -j 0 turns it off.
    prefetchBytes: o.prefetchsize * MiB,
    contentMD5: o.contentMD5,
    etagIsContentMd5: encryption?.etagIsContentMd5 ?? true,
    nodatacache: o.nodatacache,
    maxstat: o.maxstat,
    freshness,
    readOnly: hasFuseOption(fuseOptions, 'ro'),
  }, logger);
  const startedAt = new Date();
  const statusReport = (): string => formatStatus({
    bucket: o.bucket, prefix: o.prefix, mountpoint: path.resolve(o.mountpoint), endpoint: endpoint.url, startedAt,
    openFiles: fs.openPaths(10), openFileCount: fs.openFileCount, dirtyFiles: fs.dirtyFiles(), transfers: fs.transfers(),
    cache: fs.cacheUse(), requests: s3.stats.snapshot(), rssBytes: process.memoryUsage.rss(), fuseThreadStates: mounted.fuseThreadStates,
    logFile: file, credentials: credentials.describe(), metricsUrl: metrics?.url, proxy: proxyUse, encryption: encryption?.status(),
  });
  let statusServer: StatusServer | undefined;
  const mounted = new MountedFilesystem({ mountpoint: o.mountpoint, fuseOptions }, fs, {
    statusSignal: () => writeStatus(statusReport(), o.foreground ? undefined : mountFiles(o.logdir, o.mountpoint).status, logger),
    close: () => {
      statusServer?.close();
      metrics?.close();
      logger.info({ requests: s3.stats.snapshot() }, 'request counts');
      s3.destroy();
    },
  }, logger);
  // Read by our build of fuse-native's addon (scripts/build-native.mjs) when its loop starts.
  if (o.single) process.env['QSFS_FUSE_SINGLE_THREAD'] = '1';
  // The addon answers getxattr of other names itself (security.capability before every write).
  process.env['QSFS_FUSE_XATTR_PREFIXES'] = STORED_XATTR_PREFIXES.join(',');
  let metrics: MetricsEndpoint | undefined;
  if (metricsAddress) {
    metrics = await startMetrics(metricsAddress, {
      requests: s3.stats, cacheUse: () => fs.cacheUse(), cacheDiskBytes: () => fs.cacheDiskBytes(), dirtyFiles: () => fs.dirtyFiles(), transfers: () => fs.transfers(),
    }, logger).catch((err: unknown) => {
      s3.destroy();
      throw new StartupError(`--metrics: cannot listen on ${o.metrics}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    });
  }
  try {
    await mounted.mount(createOperations(fs, logger, currentCaller, metrics?.observeOperation));
    afterCrash = () => void mounted.crashed();
  } catch (err) {
    metrics?.close();
    s3.destroy();
    throw new StartupError(describeMountFailure(err, o.mountpoint));
  }
  // `qsfs --status MOUNTPOINT` asks here; a mount without it still works (SIGUSR1 remains).
  statusServer = await serveStatus(o.mountpoint, statusReport).catch((err: unknown) => {
    logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'qsfs --status will not answer for this mount (kill -USR1 still does)');
    return undefined;
  });
  return { logger, logFile: file };
}

/**
 * The mount's server-side encryption (none without --sse or --sse-c-key); the SSE-C key file is
 * read and checked now, so a bad one stops the mount with one line. The key is never logged.
 */
async function encryptionOf(o: Options, logger: Logger): Promise<ObjectEncryption | undefined> {
  let choice: EncryptionChoice;
  if (o.sseCKey !== undefined) choice = { kind: 'sse-c', key: await readSseCustomerKey(o.sseCKey).catch(rethrowAs(SseKeyError)) };
  else if (o.sse === 'AES256') choice = { kind: 'sse-s3' };
  else if (o.sse === 'aws:kms') choice = { kind: 'sse-kms', keyId: o.sseKmsKeyId };
  else return undefined;
  return new ObjectEncryption(choice, (what, description) => logger.error({ request: what, encryption: description },
    'the server did not confirm the encryption asked for: it may store objects unencrypted '
    + '(Ceph RGW 16 takes --sse AES256 without an SSE-S3 backend, and encrypts no CopyObject target); further such writes are only counted in qsfs --status'));
}

/**
 * What an ordinary user's mount needs, said in one line before libfuse fails vaguely: access
 * to /dev/fuse, and for allow_other/allow_root a 'user_allow_other' line in /etc/fuse.conf
 * (fusermount says so on a stderr the background daemon does not have).
 */
async function checkUserMount(fuseOptions: string[]): Promise<void> {
  if (process.getuid?.() === 0) return;
  // libfuse 2 opens /dev/fuse itself before it calls fusermount, and only says "fuse failed".
  await fsp.access(FUSE_DEVICE, fsConstants.R_OK | fsConstants.W_OK).catch(() => {
    throw new StartupError(`${FUSE_DEVICE} is not readable and writable by this user: an ordinary user's mount needs it mode 0666, as Debian's udev rules make it (see the README)`);
  });
  const wanted = ['allow_other', 'allow_root'].find((name) => hasFuseOption(fuseOptions, name));
  if (!wanted) return;
  const conf = await fsp.readFile(FUSE_CONF, 'utf8').catch(() => '');
  if (!/^\s*user_allow_other\s*$/m.test(conf)) {
    throw new StartupError(`${wanted} needs a line 'user_allow_other' in ${FUSE_CONF} when mounting as an ordinary user (see the README)`);
  }
}

/** libfuse's own reason (the addon passes it on), and what to do about it. */
function describeMountFailure(err: unknown, mountpoint: string): string {
  const reason = err instanceof Error ? err.message : String(err);
  if (!reason.startsWith('libfuse refused the mount options')) return `cannot mount on ${mountpoint}: ${reason}`;
  // libfuse names the words it did not know: "unknown option(s): `-o retires=5'".
  const unknown = /unknown option\(s\): `-o ([^'=,]+)/.exec(reason)?.[1];
  const meant = unknown === undefined ? undefined : similarOptionName(unknown);
  const hint = meant ? `; did you mean ${meant}?` : '; check the -o options (qsfs -h lists qsfs\'s own, man mount.fuse3 those of FUSE)';
  return `cannot mount on ${mountpoint}: ${reason}${hint}`;
}

function rethrowAs(kind: new (...args: never[]) => Error): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof kind) throw new StartupError(err.message);
    throw err;
  };
}

/** Network failures said in words, each with the likely fix (the code stays, for searching). */
function describeUnreachable(code: string | undefined, url: string): string {
  const https = url.startsWith('https:');
  switch (code) {
    case 'AbortError':
    case 'TimeoutError':
    case 'ETIMEDOUT':
      return `no answer from the S3 endpoint ${url} within ${BUCKET_CHECK_TIMEOUT_MS / 1000} s (${code}): is --host/--port an S3 server, and is a firewall dropping the connection?`;
    case 'EPROTO':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return https
        ? `the S3 endpoint ${url} does not speak TLS (${code}): is this an http port? try -p=http`
        : `the S3 endpoint ${url} did not answer in HTTP (${code}): is this an https port? try -p=https`;
    case 'ECONNREFUSED':
      return `nothing listens at ${url} (ECONNREFUSED): check --host, --port and --protocol, and that the S3 server runs`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve the host of ${url} (${code}): check --host (and --zone, which makes the QingStor host name)`;
    case 'ECONNRESET':
      return `the S3 endpoint ${url} closed the connection (ECONNRESET): ${https ? 'is this an http port? try -p=http' : 'is this an https port? try -p=https'}`;
    default:
      return `cannot reach the S3 endpoint ${url}${code ? ` (${code})` : ''}: check --host, --port, --protocol and the network`;
  }
}

/** HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and ALL_PROXY): a malformed one stops the start. */
function readProxies(): ProxyEnvironment {
  try {
    return proxyEnvironment();
  } catch (err) {
    if (err instanceof ProxyConfigError) throw new StartupError(err.message);
    throw err;
  }
}

/** The URL requests to the bucket go to (the host carries the bucket in virtual-hosted style). */
function bucketUrl(endpoint: Endpoint, bucket: string): string {
  if (endpoint.forcePathStyle) return endpoint.url;
  const url = new URL(endpoint.url);
  url.hostname = `${bucket}.${url.hostname}`;
  return url.origin;
}

/** Failures that name the proxy: the connection to it could not be made. */
const PROXY_CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Why requests through the proxy failed, when it was the proxy: undefined otherwise. */
function describeProxyFailure(err: StoreError, url: string, route: ProxyRoute): string | undefined {
  const proxy = `the proxy ${route.server.display} (from ${route.server.variable})`;
  if (err.code === 'ProxyRefused') {
    const status = err.status ?? 0;
    const hint = status === 407 ? `: check the user and password in ${route.server.variable}`
      : status === 403 ? `: it does not allow ${url}; ask its administrator, or name the host in NO_PROXY if it is reachable directly`
        : status >= 500 ? `: it could not reach ${url}` : '';
    return `${proxy} refused the requests to ${url} (HTTP ${status}${http.STATUS_CODES[status] ? ` ${http.STATUS_CODES[status]}` : ''})${hint}`;
  }
  if (err.code !== undefined && PROXY_CONNECT_CODES.has(err.code)) {
    return `cannot connect to ${proxy} (${err.code}): check ${route.server.variable}, or name ${new URL(url).hostname} in NO_PROXY if it is reachable directly`;
  }
  return undefined;
}

function describeBucketFailure(err: unknown, bucket: string, url: string, credentialsSource: string, route: ProxyRoute | null): string {
  if (!(err instanceof StoreError)) return `cannot check bucket '${bucket}' at ${url}: ${String(err)}`;
  const why = err.code || err.status ? ` (${[err.code, err.status ? `HTTP ${err.status}` : undefined].filter(Boolean).join(', ')})` : '';
  const viaProxy = route ? ` (through the proxy ${route.server.display})` : '';
  if (route) {
    const proxyFailure = describeProxyFailure(err, url, route);
    if (proxyFailure) return proxyFailure;
  }
  switch (err.kind) {
    case 'no-such-bucket':
    case 'not-found':
      return `bucket '${bucket}' does not exist at ${url}`;
    case 'access-denied':
      return `access denied to bucket '${bucket}' at ${url}: check the credentials from ${credentialsSource}${why}`
        + (route?.mode === 'forward' ? `; or the proxy ${route.server.display} refused (its 403 looks like the server's)` : '');
    case 'unreachable':
      return describeUnreachable(err.code, url) + viaProxy;
    default:
      return `cannot use bucket '${bucket}' at ${url}${why}${viaProxy}`;
  }
}
