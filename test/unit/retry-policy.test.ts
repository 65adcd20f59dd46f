import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, isRetryable } from '../../src/store/retry-policy.js';

test('5xx, throttling, resets and timeouts are retried; 4xx answers are not', () => {
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 503 }, Code: 'SlowDown' }), true);
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 500 } }), true);
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 429 } }), true);
  assert.equal(isRetryable({ code: 'ECONNRESET' }), true);
  assert.equal(isRetryable({ code: 'ECONNREFUSED' }), true);
  assert.equal(isRetryable({ code: 'TimeoutError' }), true);
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 404 }, Code: 'NoSuchKey' }), false);
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 403 }, Code: 'AccessDenied' }), false);
  assert.equal(isRetryable({ $metadata: { httpStatusCode: 400 }, Code: 'InvalidArgument' }), false);
  assert.equal(isRetryable(new Error('a bug')), false);
});

test('backoff grows exponentially, is jittered down to zero, and is capped at 20 s', () => {
  assert.equal(backoffDelay(1, () => 0.999), 99);
  assert.equal(backoffDelay(4, () => 0.999), 799);
  assert.equal(backoffDelay(4, () => 0), 0);
  assert.equal(backoffDelay(30, () => 0.999), 19_980);
});
