// Which failed requests are worth sending again, and how long to wait first.
import { NETWORK_CODES } from './errors.js';

/** Server answers that mean "later", not "never". */
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);
const RETRYABLE_CODES = new Set([
  'SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable',
]);
/** Network failures worth another try (the request may not have reached the server, or its
 *  answer was lost); an unknown host name or a request we aborted ourselves is not. */
const RETRYABLE_NETWORK_CODES = new Set([...NETWORK_CODES].filter((c) => c !== 'ENOTFOUND' && c !== 'AbortError'));

interface FailureLike { code?: string; Code?: string; name?: string; $metadata?: { httpStatusCode?: number } }

export function isRetryable(err: unknown): boolean {
  const e = (err ?? {}) as FailureLike;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && RETRYABLE_STATUS.has(status)) return true;
  if (e.Code !== undefined && RETRYABLE_CODES.has(e.Code)) return true;
  return status === undefined
    && ((e.code !== undefined && RETRYABLE_NETWORK_CODES.has(e.code)) || (e.name !== undefined && RETRYABLE_NETWORK_CODES.has(e.name)));
}

const BASE_DELAY_MS = 100;
const MAX_DELAY_MS = 20_000;

/** Exponential backoff with full jitter: a random wait up to 100 ms x 2^(attempt-1), capped
 *  at 20 s, so clients that failed together do not come back together. */
export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1)));
}
