// The header sets of each encryption mode (what each request carries is checked against the
// server in test/store/sse.test.ts), the confirmation of writes, and read failures in words.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { ObjectEncryption, explainReadFailure } from '../../src/store/encryption.js';
import { StoreError } from '../../src/store/errors.js';
import { parseSseCustomerKey } from '../../src/config/sse-key.js';

const raw = randomBytes(32);
const key = parseSseCustomerKey(raw, '/etc/qsfs.ssec');
const b64 = raw.toString('base64');
const md5 = createHash('md5').update(raw).digest('base64');

describe('header sets', () => {
  test('SSE-S3: AES256 where an object is made, nothing else', () => {
    const e = new ObjectEncryption({ kind: 'sse-s3' });
    assert.deepEqual(e.newObject, { 'x-amz-server-side-encryption': 'AES256' });
    assert.equal(e.objectKey, undefined);
    assert.equal(e.copySource, undefined);
    assert.equal(e.etagIsContentMd5, true);
    assert.equal(e.description, 'SSE-S3 (--sse AES256)');
  });

  test('SSE-KMS: with and without a key id', () => {
    const e = new ObjectEncryption({ kind: 'sse-kms', keyId: 'arn:aws:kms:eu-west-1:1:key/abc' });
    assert.deepEqual(e.newObject, { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:eu-west-1:1:key/abc' });
    assert.equal(e.objectKey, undefined);
    assert.equal(e.copySource, undefined);
    assert.equal(e.etagIsContentMd5, false);
    const d = new ObjectEncryption({ kind: 'sse-kms' });
    assert.deepEqual(d.newObject, { 'x-amz-server-side-encryption': 'aws:kms' });
    assert.match(d.description, /the bucket's default KMS key/);
  });

  test('SSE-C: algorithm, base64 key and its MD5, for the object and (renamed) for a copy source', () => {
    const e = new ObjectEncryption({ kind: 'sse-c', key });
    const expected = {
      'x-amz-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-server-side-encryption-customer-key': b64,
      'x-amz-server-side-encryption-customer-key-md5': md5,
    };
    assert.deepEqual(e.newObject, expected);
    assert.deepEqual(e.objectKey, expected);
    assert.deepEqual(e.copySource, {
      'x-amz-copy-source-server-side-encryption-customer-algorithm': 'AES256',
      'x-amz-copy-source-server-side-encryption-customer-key': b64,
      'x-amz-copy-source-server-side-encryption-customer-key-md5': md5,
    });
    assert.equal(e.etagIsContentMd5, false);
    assert.equal(e.description, `SSE-C (--sse-c-key /etc/qsfs.ssec, key MD5 ${md5})`);
    assert.equal(e.status().includes(b64), false, 'the status never shows the key');
  });

  test('the header sets are frozen: a request can only spread them', () => {
    const e = new ObjectEncryption({ kind: 'sse-c', key });
    for (const h of [e.newObject, e.objectKey, e.copySource]) assert.ok(Object.isFrozen(h));
    assert.ok(Object.isFrozen(new ObjectEncryption({ kind: 'sse-kms', keyId: 'k' }).newObject));
  });
});

describe('confirmation of writes', () => {
  test('an answer without the encryption header is reported once, then counted', () => {
    const heard: string[] = [];
    const e = new ObjectEncryption({ kind: 'sse-s3' }, (what) => heard.push(what));
    e.checkWrite({ 'x-amz-server-side-encryption': 'AES256' }, 'PUT a');
    assert.equal(e.status(), 'SSE-S3 (--sse AES256)');
    e.checkWrite({}, 'PUT b');
    e.checkWrite({ 'x-amz-server-side-encryption': 'aws:kms' }, 'PUT c');
    assert.deepEqual(heard, ['PUT b']);
    assert.equal(e.unconfirmedWrites, 2);
    assert.equal(e.status(), 'SSE-S3 (--sse AES256); 2 write(s) NOT confirmed encrypted by the server');
  });

  test('SSE-C is confirmed by the customer algorithm header', () => {
    const heard: string[] = [];
    const e = new ObjectEncryption({ kind: 'sse-c', key }, (what) => heard.push(what));
    e.checkWrite({ 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }, 'PUT a');
    e.checkWrite({ 'x-amz-server-side-encryption': 'AES256' }, 'PUT b');
    assert.deepEqual(heard, ['PUT b']);
  });
});

describe('explainReadFailure', () => {
  const sseC = new ObjectEncryption({ kind: 'sse-c', key });
  const rgwWrongKey = new StoreError('invalid', 'GET k bytes=0-9: InvalidArgument (HTTP 400): The calculated MD5 hash of the key did not match the hash that was provided.', 400, 'InvalidArgument');
  const headNoBody = new StoreError('invalid', 'HEAD k: error (HTTP 400)', 400);
  const awsDenied = new StoreError('access-denied', 'GET k: AccessDenied (HTTP 403): Forbidden', 403, 'AccessDenied');

  test('with a key: 400 and 403 name the key file and MD5, keep the server\'s words, and deny access', () => {
    for (const e of [rgwWrongKey, headNoBody, awsDenied]) {
      const x = explainReadFailure(e, 'dir/k', sseC);
      assert.equal(x.kind, 'access-denied');
      assert.equal(x.status, e.status);
      assert.match(x.message, new RegExp(`^object dir/k cannot be read with the SSE-C key of --sse-c-key /etc/qsfs.ssec \\(key MD5 ${md5.replace(/[+/]/g, '\\$&')}\\): it is encrypted with a different SSE-C key`));
      assert.ok(x.message.endsWith(`[${e.message}]`));
      assert.equal(x.message.includes(b64), false);
    }
  });

  test('without a key: a refused read says to give --sse-c-key; a 403 stays what it was', () => {
    for (const sse of [undefined, new ObjectEncryption({ kind: 'sse-kms', keyId: 'k' })]) {
      const x = explainReadFailure(headNoBody, 'k', sse);
      assert.equal(x.kind, 'access-denied');
      assert.match(x.message, /^object k is probably encrypted with SSE-C .*mount with --sse-c-key FILE/);
      assert.equal(explainReadFailure(awsDenied, 'k', sse), awsDenied);
    }
  });

  test('other failures pass unchanged', () => {
    const others = [
      new StoreError('not-found', 'HEAD k: NotFound (HTTP 404)', 404),
      new StoreError('server', 'GET k: InternalError (HTTP 500)', 500, 'InternalError'),
      new StoreError('invalid', 'GET k: InvalidRange (HTTP 400)', 400, 'InvalidRange'),
      new StoreError('unreachable', 'GET k: ECONNRESET', undefined, 'ECONNRESET'),
    ];
    for (const e of others) {
      assert.equal(explainReadFailure(e, 'k', sseC), e);
      assert.equal(explainReadFailure(e, 'k', undefined), e);
    }
  });
});
