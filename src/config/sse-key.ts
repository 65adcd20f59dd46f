// The SSE-C key file of --sse-c-key: the 256-bit key S3 encrypts each object with, held by the
// client alone. The file is a secret like the credentials file and refused on the same terms.
import { createHash } from 'node:crypto';
import { SecretFileError, readSecretFile } from './secret-file.js';

/** SSE-C keys are AES-256 keys. */
export const SSE_C_KEY_BYTES = 32;

export class SseKeyError extends Error {
  override name = 'SseKeyError';
}

export interface SseCustomerKey {
  /** The 32 key bytes: never logged, never shown. */
  readonly key: Buffer;
  /** Base64 MD5 of the key, as S3 wants it and answers it: no secret, names the key in messages. */
  readonly keyMD5: string;
  /** The file it came from, for messages. */
  readonly file: string;
}

// Base64 of 32 bytes is 44 characters, the last one padding.
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/**
 * The key a file's bytes hold: 32 raw bytes, or their base64 (a trailing newline allowed, as
 * `openssl rand -base64 32 > FILE` writes it). Anything else is one line saying what is expected,
 * which never quotes the file's content.
 */
export function parseSseCustomerKey(bytes: Buffer, file: string): SseCustomerKey {
  let key: Buffer | undefined;
  if (bytes.length === SSE_C_KEY_BYTES) {
    key = Buffer.from(bytes);
  } else {
    const text = bytes.toString('latin1').replace(/\r?\n$/, '');
    if (BASE64_KEY.test(text)) key = Buffer.from(text, 'base64');
  }
  if (key?.length !== SSE_C_KEY_BYTES) {
    throw new SseKeyError(
      `SSE-C key file ${file} holds ${bytes.length} bytes, neither a 256-bit key (32 raw bytes) nor its base64 (44 characters); `
      + `make one with: openssl rand -base64 32 > ${file}`,
    );
  }
  return { key, keyMD5: createHash('md5').update(key).digest('base64'), file };
}

/** The key of `file`, checked now: missing, readable by others, or not a key: SseKeyError. */
export async function readSseCustomerKey(file: string): Promise<SseCustomerKey> {
  let bytes: Buffer;
  try {
    bytes = await readSecretFile(file, 'SSE-C key file');
  } catch (err) {
    if (err instanceof SecretFileError) throw new SseKeyError(err.message);
    throw err;
  }
  try {
    return parseSseCustomerKey(bytes, file);
  } finally {
    bytes.fill(0); // the key's copy lives on in the headers; this one need not
  }
}
