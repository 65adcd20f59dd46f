// The SSE-C key file: 32 raw bytes or their base64, refused with one line otherwise, and refused
// when group or others may read it (the credentials file's rule, the same code).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SseKeyError, parseSseCustomerKey, readSseCustomerKey } from '../../src/config/sse-key.js';

const key = randomBytes(32);
const keyMD5 = createHash('md5').update(key).digest('base64');

/** A predicate for assert.rejects/throws: an SseKeyError of one line matching `message`, without the key. */
function keyError(message: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof SseKeyError, `expected SseKeyError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.message.includes('\n'), false, 'one line');
    assert.equal(err.message.includes(key.toString('base64')), false, 'no key in the message');
    return true;
  };
}

describe('parseSseCustomerKey', () => {
  test('32 raw bytes are the key', () => {
    const k = parseSseCustomerKey(Buffer.from(key), 'f');
    assert.ok(k.key.equals(key));
    assert.equal(k.keyMD5, keyMD5);
    assert.equal(k.file, 'f');
  });

  test('a raw key that happens to end in a newline byte is kept whole', () => {
    const raw = Buffer.concat([key.subarray(0, 31), Buffer.from('\n')]);
    assert.ok(parseSseCustomerKey(raw, 'f').key.equals(raw));
  });

  test('base64 of 32 bytes, with or without a trailing newline (LF or CRLF)', () => {
    for (const text of [key.toString('base64'), `${key.toString('base64')}\n`, `${key.toString('base64')}\r\n`]) {
      const k = parseSseCustomerKey(Buffer.from(text), 'f');
      assert.ok(k.key.equals(key), JSON.stringify(text.slice(-3)));
      assert.equal(k.keyMD5, keyMD5);
    }
  });

  test('anything else is refused, saying what a key file holds', () => {
    const b64 = key.toString('base64');
    for (const bytes of [
      Buffer.alloc(0), Buffer.alloc(31), Buffer.alloc(33), Buffer.from(`${b64}\n\n`), Buffer.from(` ${b64}`),
      Buffer.from(`${randomBytes(16).toString('base64')}\n`), // base64, but of 16 bytes
      Buffer.from(key.toString('hex')), // 64 hex digits: not a form qsfs reads
      Buffer.from(`${b64.slice(0, 42)}*=`),
    ]) {
      assert.throws(() => parseSseCustomerKey(bytes, '/k'), keyError(new RegExp(`^SSE-C key file /k holds ${bytes.length} bytes, neither a 256-bit key \\(32 raw bytes\\) nor its base64 \\(44 characters\\); make one with: openssl rand -base64 32 > /k$`)));
    }
  });
});

describe('readSseCustomerKey', () => {
  let dir: string;
  before(async () => { dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'qsfs-ssekey-')); });
  after(async () => { await fsp.rm(dir, { recursive: true, force: true }); });

  test('a 0600 file (or 0400) is read', async () => {
    for (const mode of [0o600, 0o400]) {
      const file = path.join(dir, `ok-${mode.toString(8)}`);
      await fsp.writeFile(file, `${key.toString('base64')}\n`, { mode });
      const k = await readSseCustomerKey(file);
      assert.ok(k.key.equals(key));
      assert.equal(k.file, file);
    }
  });

  test('a file group or others can access is refused with the chmod that fixes it', async () => {
    for (const mode of [0o644, 0o640, 0o604, 0o601]) {
      const file = path.join(dir, `open-${mode.toString(8)}`);
      await fsp.writeFile(file, key);
      await fsp.chmod(file, mode);
      await assert.rejects(readSseCustomerKey(file), keyError(new RegExp(
        `^SSE-C key file ${file} is accessible by group or others \\(mode 0${mode.toString(8)}\\); run: chmod 600 ${file}$`)));
    }
  });

  test('a missing file, or a directory, is refused', async () => {
    await assert.rejects(readSseCustomerKey(path.join(dir, 'nope')), keyError(/^SSE-C key file .*nope does not exist$/));
    await assert.rejects(readSseCustomerKey(dir), keyError(/^SSE-C key file .* is not a regular file$/));
  });
});
