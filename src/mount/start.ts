// The composition root of a mount: options -> logger, credentials, store, filesystem, FUSE.
// Every startup failure becomes a StartupError with one line for the user.
import { promises as fsp } from 'node:fs';
import type { Options } from '../config/options.js';
import { CredentialsError, loadCredentials } from '../config/credentials.js';
import { resolveEndpoint } from '../config/endpoint.js';
import { createLogger, type Logger } from '../log.js';
import { createS3Client } from '../store/s3-client.js';
import { S3ObjectStore } from '../store/s3-store.js';
import { StoreError } from '../store/errors.js';
import { Filesystem } from '../fs/filesystem.js';
import { createOperations } from '../fuse/operations.js';
import { buildFuseOptions, hasFuseOption } from './fuse-options.js';
import { MountedFilesystem } from './mount.js';
import { MountpointError, checkMountpoint } from './mountpoint.js';

export class StartupError extends Error {
  override name = 'StartupError';
}

const MiB = 1024 * 1024;

/** A bucket check that cannot answer within this time means the endpoint is not usable. */
const BUCKET_CHECK_TIMEOUT_MS = 10_000;

export async function startMount(o: Options): Promise<{ logger: Logger; logFile?: string }> {
  const { logger, file } = await createLogger({ foreground: o.foreground, logdir: o.logdir, loglevel: o.loglevel, debug: o.debug, keeplogdir: o.keeplogdir })
    .catch((err: unknown) => { throw new StartupError(`cannot open the log directory ${o.logdir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`); });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception: exiting');
    process.exit(70);
  });

  const credentials = await loadCredentials(o.credentials).catch(rethrowAs(CredentialsError));
  const fuseOptions = buildFuseOptions({ bucket: o.bucket, userOptions: o.fuseOptions, fusedbg: o.fusedbg, statexpire: o.statexpire });
  await checkMountpoint(o.mountpoint, hasFuseOption(fuseOptions, 'nonempty')).catch(rethrowAs(MountpointError));
  await fsp.mkdir(o.diskdir, { recursive: true, mode: 0o700 })
    .catch((err: unknown) => { throw new StartupError(`cannot create the cache directory ${o.diskdir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`); });

  const endpoint = resolveEndpoint(o);
  const s3 = createS3Client({
    endpoint, credentials, retries: o.retries, reqtimeout: o.reqtimeout, numtransfer: o.numtransfer, logRequests: o.curldbg,
  }, logger);
  const store = new S3ObjectStore(s3, o.bucket);
  try {
    await store.checkBucket(AbortSignal.timeout(BUCKET_CHECK_TIMEOUT_MS));
  } catch (err) {
    s3.destroy();
    throw new StartupError(describeBucketFailure(err, o.bucket, endpoint.url, credentials.source));
  }
  logger.info({ bucket: o.bucket, prefix: o.prefix, endpoint: endpoint.url, pathStyle: endpoint.forcePathStyle }, 'bucket reachable');

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
    nodatacache: o.nodatacache,
    maxstat: o.maxstat,
    statexpire: o.statexpire,
    readOnly: hasFuseOption(fuseOptions, 'ro'),
  }, logger);
  const mounted = new MountedFilesystem({ mountpoint: o.mountpoint, fuseOptions }, {
    flushAll: () => fs.flushAll(),
    close: () => {
      logger.info({ requests: s3.stats.snapshot() }, 'request counts');
      s3.destroy();
    },
  }, logger);
  try {
    await mounted.mount(createOperations(fs, logger));
  } catch (err) {
    s3.destroy();
    throw new StartupError(`cannot mount on ${o.mountpoint}: ${err instanceof Error ? err.message : String(err)} (is /dev/fuse available and libfuse2 installed?)`);
  }
  return { logger, logFile: file };
}

function rethrowAs(kind: new (...args: never[]) => Error): (err: unknown) => never {
  return (err: unknown) => {
    if (err instanceof kind) throw new StartupError(err.message);
    throw err;
  };
}

function describeBucketFailure(err: unknown, bucket: string, url: string, credentialsSource: string): string {
  if (!(err instanceof StoreError)) return `cannot check bucket '${bucket}' at ${url}: ${String(err)}`;
  const why = err.code || err.status ? ` (${[err.code, err.status ? `HTTP ${err.status}` : undefined].filter(Boolean).join(', ')})` : '';
  switch (err.kind) {
    case 'no-such-bucket':
    case 'not-found':
      return `bucket '${bucket}' does not exist at ${url}`;
    case 'access-denied':
      return `access denied to bucket '${bucket}' at ${url}: check the credentials from ${credentialsSource}${why}`;
    case 'unreachable':
      return `cannot reach the S3 endpoint ${url}${why}: check --host, --port, --protocol and the network`;
    default:
      return `cannot use bucket '${bucket}' at ${url}${why}`;
  }
}
