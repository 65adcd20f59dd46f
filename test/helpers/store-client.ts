// The store layer's own S3 client, built the way the daemon builds it, for tests of the store and
// filesystem layers against the test server; and the assert.rejects predicate for its errors.
import assert from 'node:assert/strict';
import { pino, type Logger } from 'pino';
import { resolveEndpoint } from '../../src/config/endpoint.js';
import { fixedCredentials } from '../../src/config/credentials.js';
import { createS3Client, type S3ClientBundle } from '../../src/store/s3-client.js';
import { StoreError, type StoreErrorKind } from '../../src/store/errors.js';
import { testEndpoint } from './rgw-env.js';

const silent = pino({ level: 'silent' });

export interface StoreClientOptions {
  /** Another port (a proxy, a dead one). */
  port?: number;
  /** A wrong secret. */
  secret?: string;
  reqtimeout?: number;
  /** Parallel transfers (sockets: four times as many, at least 16). */
  numtransfer?: number;
  logger?: Logger;
  logRequests?: boolean;
  /** false: node:http for every request instead of the direct path. */
  directHttp?: boolean;
}

export function storeClient(opts: StoreClientOptions = {}): S3ClientBundle {
  const e = testEndpoint();
  return createS3Client({
    endpoint: resolveEndpoint({ zone: 'us-east-1', host: '127.0.0.1', protocol: 'http', port: opts.port ?? e.port, pathstyle: false }),
    credentials: fixedCredentials({ accessKeyId: e.accessKeyId, secretAccessKey: opts.secret ?? e.secretAccessKey, source: 'test' }),
    retries: 1,
    reqtimeout: opts.reqtimeout ?? 30,
    numtransfer: opts.numtransfer ?? 4,
    logRequests: opts.logRequests ?? false,
    directHttp: opts.directHttp,
  }, opts.logger ?? silent);
}

/** assert.rejects predicate: a StoreError of this kind (and whatever `extra` checks). */
export function storeError(kind: StoreErrorKind, extra?: (e: StoreError) => void) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    assert.equal(err.kind, kind, `kind of "${err.message}"`);
    extra?.(err);
    return true;
  };
}
