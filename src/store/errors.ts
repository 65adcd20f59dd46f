// Typed store errors: the filesystem maps these to errno values, the CLI to one-line messages.

export type StoreErrorKind =
  | 'not-found'        // object or bucket missing
  | 'no-such-bucket'
  | 'access-denied'    // wrong credentials or no permission
  | 'unreachable'      // could not connect / DNS / refused / timed out
  | 'invalid'          // the server refused the request as malformed
  | 'unsupported'      // the server does not implement this request (501 NotImplemented)
  | 'precondition-failed' // 412: an If-Match / If-None-Match condition did not hold (the object changed)
  | 'server';          // 5xx or anything else unexpected

export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly status?: number,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** Failures of the connection rather than answers of the server. */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH',
  'ENETUNREACH', 'EPIPE', 'TimeoutError', 'RequestTimeout', 'AbortError', 'ERR_STREAM_PREMATURE_CLOSE',
]);

interface SdkLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  cause?: unknown;
}

/** Turns whatever the SDK threw into a StoreError, keeping the server's code and status. */
export function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  // A HEAD error has no body, so the SDK can only name it "Unknown" (or the status): drop that.
  const named = e.Code ?? e.code ?? e.name;
  // 'Error' is a bare Error's name (a HEAD answer has no body to name the S3 code): no code.
  const code = named === undefined || named === 'Unknown' || named === 'Error' || /^\d+$/.test(named) ? undefined : named;
  const causeCode = (e.cause as SdkLikeError | undefined)?.code;
  const detail = `${what}: ${code ?? 'error'}${status ? ` (HTTP ${status})` : ''}${e.message && e.message !== named ? `: ${e.message}` : ''}`;
  // The proxy's status, not the server's: a 403 from it says nothing about the credentials.
  if (code === 'ProxyRefused') return new StoreError('unreachable', detail, status, code);
  if (code === 'NoSuchBucket') return new StoreError('no-such-bucket', detail, status, code);
  if (status === 404 || code === 'NotFound' || code === 'NoSuchKey') return new StoreError('not-found', detail, status, code);
  if (status === 403 || code === 'AccessDenied' || code === 'SignatureDoesNotMatch' || code === 'InvalidAccessKeyId') {
    return new StoreError('access-denied', detail, status, code);
  }
  if (status === undefined && ((code !== undefined && NETWORK_CODES.has(code)) || (causeCode !== undefined && NETWORK_CODES.has(causeCode)))) {
    return new StoreError('unreachable', detail, status, code);
  }
  if (status === 412 || code === 'PreconditionFailed') return new StoreError('precondition-failed', detail, status, code);
  if (status === 501 || code === 'NotImplemented') return new StoreError('unsupported', detail, status, code);
  if (status !== undefined && status >= 400 && status < 500) return new StoreError('invalid', detail, status, code);
  return new StoreError(status === undefined ? 'unreachable' : 'server', detail, status, code);
}
