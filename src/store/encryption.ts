// Server-side encryption of a mount: the request headers each S3 operation carries (built once,
// at start, and frozen: a request only spreads them), what the server's answer to a write must
// say for the object to be encrypted, and what a refused key means in words.
//
//   --sse AES256|aws:kms [--sse-kms-key-id ID]: the server holds the key. Only a request that
//     makes an object says how (PUT, CreateMultipartUpload, CopyObject's target); reads need nothing.
//   --sse-c-key FILE (SSE-C): the client holds the key, and every request on an object's data
//     sends it: PUT, CreateMultipartUpload, UploadPart, CompleteMultipartUpload, GET, HEAD, and
//     CopyObject and UploadPartCopy both for their target and (x-amz-copy-source-...) their source.
import type { IncomingHttpHeaders } from 'node:http';
import type { SseCustomerKey } from '../config/sse-key.js';
import { StoreError } from './errors.js';

export type Headers = Readonly<Record<string, string>>;

export type EncryptionChoice =
  | { kind: 'sse-s3' }
  | { kind: 'sse-kms'; keyId?: string }
  | { kind: 'sse-c'; key: SseCustomerKey };

/** What the server's answer to a write says when it encrypted the object as asked. */
interface Confirmation {
  header: string;
  value: string;
}

export class ObjectEncryption {
  /** Headers that make a new object encrypted: PUT, CreateMultipartUpload, CopyObject's target. */
  readonly newObject: Headers;
  /** Headers of every other request on an object's data (GET, HEAD, UploadPart,
   *  CompleteMultipartUpload, UploadPartCopy's target); SSE-C only. */
  readonly objectKey: Headers | undefined;
  /** CopyObject's and UploadPartCopy's source; SSE-C only. */
  readonly copySource: Headers | undefined;
  /** Whether ETags stay MD5s of the content: AWS makes them otherwise under SSE-C and SSE-KMS. */
  readonly etagIsContentMd5: boolean;
  /** The mode for messages and the status report (the KMS key id, the SSE-C key's MD5: no secret). */
  readonly description: string;
  /** Writes whose answer did not confirm the encryption asked for. */
  unconfirmedWrites = 0;
  private readonly confirmation: Confirmation;

  /** `onUnconfirmed` hears of the first write the server did not say it encrypted. */
  constructor(readonly choice: EncryptionChoice, private readonly onUnconfirmed: (what: string, description: string) => void = () => {}) {
    switch (choice.kind) {
      case 'sse-s3':
        this.newObject = Object.freeze({ 'x-amz-server-side-encryption': 'AES256' });
        this.confirmation = { header: 'x-amz-server-side-encryption', value: 'AES256' };
        this.description = 'SSE-S3 (--sse AES256)';
        this.etagIsContentMd5 = true;
        break;
      case 'sse-kms':
        this.newObject = Object.freeze({
          'x-amz-server-side-encryption': 'aws:kms',
          ...(choice.keyId !== undefined ? { 'x-amz-server-side-encryption-aws-kms-key-id': choice.keyId } : {}),
        });
        this.confirmation = { header: 'x-amz-server-side-encryption', value: 'aws:kms' };
        this.description = `SSE-KMS (--sse aws:kms, ${choice.keyId !== undefined ? `key id ${choice.keyId}` : 'the bucket\'s default KMS key'})`;
        this.etagIsContentMd5 = false;
        break;
      case 'sse-c': {
        const k = choice.key;
        this.newObject = Object.freeze({
          'x-amz-server-side-encryption-customer-algorithm': 'AES256',
          'x-amz-server-side-encryption-customer-key': k.key.toString('base64'),
          'x-amz-server-side-encryption-customer-key-md5': k.keyMD5,
        });
        this.objectKey = this.newObject;
        this.copySource = Object.freeze({
          'x-amz-copy-source-server-side-encryption-customer-algorithm': 'AES256',
          'x-amz-copy-source-server-side-encryption-customer-key': k.key.toString('base64'),
          'x-amz-copy-source-server-side-encryption-customer-key-md5': k.keyMD5,
        });
        this.confirmation = { header: 'x-amz-server-side-encryption-customer-algorithm', value: 'AES256' };
        this.description = `SSE-C (--sse-c-key ${k.file}, key MD5 ${k.keyMD5})`;
        this.etagIsContentMd5 = false;
        break;
      }
    }
  }

  /**
   * Notes whether the answer to a write (PUT, CreateMultipartUpload, CopyObject) says the object
   * is encrypted as asked. A server may take the header and store plain data (Ceph RGW 16 does
   * with AES256 when it has no SSE-S3 backend, and for every CopyObject target): the first such
   * write is reported, the others counted.
   */
  checkWrite(headers: IncomingHttpHeaders, what: string): void {
    if (headers[this.confirmation.header] === this.confirmation.value) return;
    if (this.unconfirmedWrites++ === 0) this.onUnconfirmed(what, this.description);
  }

  /** The status report's line: the mode, and whether the server failed to confirm it. */
  status(): string {
    return this.unconfirmedWrites === 0
      ? this.description
      : `${this.description}; ${this.unconfirmedWrites} write(s) NOT confirmed encrypted by the server`;
  }
}

/**
 * A failed GET or HEAD of `key`, said in terms of SSE-C when that is the likely cause. S3 answers
 * 400 (HEAD without a body) to a read of an SSE-C object without its key and, on AWS, to a read of
 * another object with one; a wrong key is 400 on Ceph RGW ("the calculated MD5 of the key did not
 * match") and 403 on AWS. Such failures become 'access-denied' (EACCES): the data is there, this
 * mount cannot read it. Other failures pass unchanged.
 */
export function explainReadFailure(e: StoreError, key: string, encryption: ObjectEncryption | undefined): StoreError {
  const sseC = encryption?.choice.kind === 'sse-c' ? encryption.choice.key : undefined;
  const server = e.message;
  // A HEAD's 400 has no body to name it; a GET's names the argument it refuses.
  const refusedKey = e.status === 400 && (e.code === undefined || e.code === 'InvalidArgument' || e.code === 'InvalidRequest');
  if (sseC && (refusedKey || e.status === 403)) {
    return new StoreError('access-denied',
      `object ${key} cannot be read with the SSE-C key of --sse-c-key ${sseC.file} (key MD5 ${sseC.keyMD5}): `
      + `it is encrypted with a different SSE-C key${refusedKey ? ', or not with SSE-C on a server that refuses a key for it' : ', or access is denied'} [${server}]`,
      e.status, e.code);
  }
  if (!sseC && refusedKey) {
    return new StoreError('access-denied',
      `object ${key} is probably encrypted with SSE-C (a key of its writer): the server refuses to read it without the key; `
      + `mount with --sse-c-key FILE holding that key [${server}]`,
      e.status, e.code);
  }
  return e;
}
