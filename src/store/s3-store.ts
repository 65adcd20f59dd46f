// ObjectStore over signed HTTP requests (signed-http.ts): each method is one S3 request (plus
// retries), with S3 errors turned into StoreErrors that say what failed. No request of the
// daemon goes through the AWS SDK's client: loading it alone cost about 22 MB of resident
// memory, a third of the daemon's footprint before any data.
import type { IncomingHttpHeaders } from 'node:http';
import { StoreError, toStoreError } from './errors.js';
import type { Body, ChecksumAlgorithm, ListPage, ObjectInfo, ObjectMetadata, ObjectStore, PutExpectation, PutOptions, UploadedPart } from './object-store.js';
import type { SignedHttp } from './signed-http.js';
import { decodeXmlText, parseListPage, unquoteEtag } from './list-xml.js';
import { explainReadFailure, type ObjectEncryption } from './encryption.js';

/** The request path of a mount. */
export interface StoreClients {
  http: SignedHttp;
}

export interface StoreSettings {
  /** --checksum: an additional checksum with every PUT and part. */
  checksum?: ChecksumAlgorithm;
  /** Told once, when a server shows it ignores additional checksums (they stop then). */
  onChecksumsIgnored?(detail: string): void;
  /** The mount's server-side encryption: its headers join the requests that need them. */
  encryption?: ObjectEncryption;
}

/** How S3 names each additional checksum: header, XML element, algorithm, and the multipart
 *  type (CRC64NVME has only whole-object checksums; CRC32C's default is a checksum of parts). */
const CHECKSUM_NAMES: Record<ChecksumAlgorithm, { header: string; element: string; algorithm: string; type: string }> = {
  crc32c: { header: 'x-amz-checksum-crc32c', element: 'ChecksumCRC32C', algorithm: 'CRC32C', type: 'COMPOSITE' },
  crc64nvme: { header: 'x-amz-checksum-crc64nvme', element: 'ChecksumCRC64NVME', algorithm: 'CRC64NVME', type: 'FULL_OBJECT' },
};

export class S3ObjectStore implements ObjectStore {
  private readonly http: SignedHttp;
  private checksum: ChecksumAlgorithm | undefined;
  private readonly sse: ObjectEncryption | undefined;
  /** Cleared once a server refuses If-None-Match on CompleteMultipartUpload (501, 400). */
  private conditionalCompletes = true;

  constructor(clients: StoreClients, readonly bucket: string, private readonly settings: StoreSettings = {}) {
    this.http = clients.http;
    this.sse = settings.encryption;
    this.checksum = settings.checksum;
  }

  get checksumAlgorithm(): ChecksumAlgorithm | undefined {
    return this.checksum;
  }

  /** Adds the checksum header to a PUT or part that has one to send. */
  private withChecksum(headers: Record<string, string>, checksum: string | undefined): Record<string, string> {
    if (checksum !== undefined && this.checksum) headers[CHECKSUM_NAMES[this.checksum].header] = checksum;
    return headers;
  }

  /**
   * A server that verified our checksum answers it back (S3 does, for PUT and UploadPart). One
   * that answers nothing ignored it (Ceph RGW 16 stores a PUT whatever x-amz-checksum-crc32c
   * says): the checksums stop, and the caller is told once. One that answers another value
   * stored other bytes than were sent.
   */
  private checkEcho(sent: string | undefined, headers: IncomingHttpHeaders, what: string): void {
    const algorithm = this.checksum;
    if (sent === undefined || !algorithm) return;
    const echoed = headers[CHECKSUM_NAMES[algorithm].header];
    if (typeof echoed !== 'string') {
      this.checksum = undefined;
      this.settings.onChecksumsIgnored?.(`${what}: the answer has no ${CHECKSUM_NAMES[algorithm].header}`);
    } else if (echoed !== sent) {
      throw new StoreError('server', `${what}: the server computed ${CHECKSUM_NAMES[algorithm].algorithm} ${echoed} of the body, qsfs sent ${sent}`);
    }
  }

  async checkBucket(signal?: AbortSignal): Promise<void> {
    try {
      const head = this.http.send(this.bucket, { operation: 'HeadBucketCommand', method: 'HEAD', key: '', response: 'none' }, `HEAD bucket ${this.bucket}`);
      await abortable(head, signal);
    } catch (err) {
      const e = toStoreError(err, `bucket ${this.bucket}`);
      // HEAD has no body, so "no such bucket" arrives as a bare 404.
      if (e.kind === 'not-found') throw new StoreError('no-such-bucket', e.message, e.status, e.code);
      throw e;
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const r = await this.http.send(this.bucket, { operation: 'HeadObjectCommand', method: 'HEAD', key, headers: this.sse?.objectKey, response: 'none' }, `HEAD ${key}`);
      return objectInfo(key, r.headers, Number(r.headers['content-length'] ?? 0) || 0);
    } catch (err) {
      const e = explainReadFailure(toStoreError(err, `HEAD ${key}`), key, this.sse);
      if (e.kind === 'not-found') return null;
      throw e;
    }
  }

  async getStart(key: string, length: number): Promise<{ info: ObjectInfo; data: Buffer } | null> {
    const range = `bytes=0-${length - 1}`;
    try {
      const r = await this.http.send(this.bucket, {
        // The buffer is sized by the answer's Content-Length: most files are far below `length`.
        operation: 'GetObjectCommand', method: 'GET', key, headers: { range, ...this.sse?.objectKey }, range, response: 'buffer',
      }, `GET ${key} ${range}`);
      const data = r.body ?? Buffer.alloc(0);
      // 206 says the whole size after the slash of Content-Range; a 200 sent all of it.
      const total = /\/(\d+)$/.exec(r.headers['content-range'] ?? '')?.[1];
      return { info: objectInfo(key, r.headers, total !== undefined ? Number(total) : data.length), data };
    } catch (err) {
      const e = explainReadFailure(toStoreError(err, `GET ${key} ${range}`), key, this.sse);
      if (e.kind === 'not-found') return null;
      // An empty object has no byte 0 to ask for.
      if (e.status === 416) {
        const info = await this.head(key);
        return info && { info, data: Buffer.alloc(0) };
      }
      throw e;
    }
  }

  async getRange(key: string, start: number, end: number): Promise<Buffer> {
    if (end <= start) return Buffer.alloc(0);
    const range = `bytes=${start}-${end - 1}`;
    try {
      const r = await this.http.send(this.bucket, {
        operation: 'GetObjectCommand', method: 'GET', key, headers: { range, ...this.sse?.objectKey }, range, response: 'buffer', expectedLength: end - start,
      }, `GET ${key} ${range}`);
      return r.body ?? Buffer.alloc(0);
    } catch (err) {
      // Asking past the end of an object (it shrank since we looked) reads as end of file.
      const e = explainReadFailure(toStoreError(err, `GET ${key} ${range}`), key, this.sse);
      if (e.status === 416) return Buffer.alloc(0);
      throw e;
    }
  }

  async getRangeInto(key: string, start: number, end: number, into: Buffer[], etag?: string): Promise<number> {
    if (end <= start) return 0;
    const range = `bytes=${start}-${end - 1}`;
    const headers: Record<string, string> = etag ? { range, 'if-match': quote(etag), ...this.sse?.objectKey } : { range, ...this.sse?.objectKey };
    try {
      const r = await this.http.send(this.bucket, {
        operation: 'GetObjectCommand', method: 'GET', key, headers, range, response: 'buffer', into,
      }, `GET ${key} ${range}${etag ? ` if-match ${etag}` : ''}`);
      return r.received ?? 0;
    } catch (err) {
      const e = explainReadFailure(toStoreError(err, `GET ${key} ${range}`), key, this.sse);
      if (e.status === 416) return 0; // past the end of an object that shrank since we looked
      throw e;
    }
  }

  async put(key: string, body: Body, options: PutOptions = {}, expect?: PutExpectation): Promise<string> {
    const headers = this.withChecksum(objectHeaders(options, this.sse?.newObject), options.checksum);
    // Unquoted: Ceph RGW matches a PUT's If-Match only against the bare ETag (a quoted one
    // never matches there); S3 takes either.
    if (expect === 'absent') headers['if-none-match'] = '*';
    else if (expect) headers['if-match'] = expect.etag;
    const r = await this.http.send(this.bucket, {
      operation: 'PutObjectCommand', method: 'PUT', key, body, headers, response: 'none',
    }, `PUT ${key}`);
    this.sse?.checkWrite(r.headers, `PUT ${key}`);
    this.checkEcho(options.checksum, r.headers, `PUT ${key}`);
    return unquoteEtag(r.headers.etag);
  }

  async listPage(prefix: string, delimiter: string | undefined, continuationToken?: string, maxKeys?: number, startAfter?: string): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2' };
    if (prefix !== '') query['prefix'] = prefix;
    if (delimiter !== undefined) query['delimiter'] = delimiter;
    if (maxKeys !== undefined) query['max-keys'] = String(maxKeys);
    if (continuationToken !== undefined) query['continuation-token'] = continuationToken;
    else if (startAfter !== undefined) query['start-after'] = startAfter;
    const what = `LIST ${prefix}`;
    const r = await this.http.send(this.bucket, { operation: 'ListObjectsV2Command', method: 'GET', key: '', query, response: 'buffer' }, what);
    try {
      return parseListPage(r.body?.toString('utf8') ?? '');
    } catch (err) {
      throw toStoreError(err, what);
    }
  }

  async copy(sourceKey: string, destinationKey: string, options?: PutOptions): Promise<string> {
    const r = await this.http.send(this.bucket, {
      operation: 'CopyObjectCommand',
      method: 'PUT',
      key: destinationKey,
      headers: {
        'x-amz-copy-source': `${this.bucket}/${encodeKeyForCopySource(sourceKey)}`,
        ...this.sse?.copySource,
        ...(options ? { 'x-amz-metadata-directive': 'REPLACE', ...objectHeaders({ ...options, contentMD5: undefined }, this.sse?.newObject) } : this.sse?.newObject),
      },
      response: 'buffer',
    }, `COPY ${sourceKey} -> ${destinationKey}`);
    this.sse?.checkWrite(r.headers, `COPY ${sourceKey} -> ${destinationKey}`);
    return unquoteEtag(xmlText(r.body, 'ETag'));
  }

  async delete(key: string): Promise<void> {
    try {
      await this.http.send(this.bucket, { operation: 'DeleteObjectCommand', method: 'DELETE', key, response: 'none' }, `DELETE ${key}`);
    } catch (err) {
      const e = toStoreError(err, `DELETE ${key}`);
      if (e.kind !== 'not-found') throw e;
    }
  }

  async createMultipart(key: string, options: PutOptions = {}): Promise<string> {
    const what = `CREATE-MULTIPART ${key}`;
    // Content-MD5 and checksums belong to each part (uploadPart), not to the upload as a whole;
    // the upload says which checksum its parts carry.
    const headers = objectHeaders({ ...options, contentMD5: undefined }, this.sse?.newObject);
    if (this.checksum) {
      headers['x-amz-checksum-algorithm'] = CHECKSUM_NAMES[this.checksum].algorithm;
      headers['x-amz-checksum-type'] = CHECKSUM_NAMES[this.checksum].type;
    }
    const r = await this.http.send(this.bucket, {
      operation: 'CreateMultipartUploadCommand', method: 'POST', key, query: { uploads: '' },
      headers, response: 'buffer',
    }, what);
    this.sse?.checkWrite(r.headers, what);
    const uploadId = xmlText(r.body, 'UploadId');
    if (!uploadId) throw new StoreError('server', `${what}: the server returned no upload id`);
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Body, contentMD5?: string, checksum?: string): Promise<string> {
    const what = `UPLOAD-PART ${key} part ${partNumber}`;
    // A body in memory can be sent again as is, so retries are safe.
    const r = await this.http.send(this.bucket, {
      operation: 'UploadPartCommand',
      method: 'PUT',
      key,
      query: { partNumber: String(partNumber), uploadId },
      body,
      headers: this.withChecksum(contentMD5 ? { 'content-md5': contentMD5, ...this.sse?.objectKey } : { ...this.sse?.objectKey }, checksum),
      part: partNumber,
      response: 'none',
    }, what);
    this.checkEcho(checksum, r.headers, what);
    return unquoteEtag(r.headers.etag);
  }

  async uploadPartCopy(key: string, uploadId: string, partNumber: number, sourceKey: string, start: number, end: number): Promise<{ etag: string; checksum?: string }> {
    const what = `UPLOAD-PART-COPY ${sourceKey} bytes=${start}-${end - 1} -> ${key} part ${partNumber}`;
    // Ceph RGW (seen on 16.2) URL-decodes x-amz-copy-source of UploadPartCopy twice (CopyObject
    // only once): a source key with "%XX" in it names another object there (NoSuchKey, or worse
    // the bytes of a different key), and a "%" not followed by two hex digits crashes radosgw.
    // Servers that decode once need the single encoding, so no encoding is right for both: such
    // keys are not copied server side, and the caller falls back to sending the bytes.
    if (sourceKey.includes('%')) {
      throw new StoreError('unsupported', `${what}: not attempted: a source key containing "%" is not copied server side`);
    }
    const r = await this.http.send(this.bucket, {
      operation: 'UploadPartCopyCommand',
      method: 'PUT',
      key,
      query: { partNumber: String(partNumber), uploadId },
      headers: {
        'x-amz-copy-source': `${this.bucket}/${encodeKeyForCopySource(sourceKey)}`,
        'x-amz-copy-source-range': `bytes=${start}-${end - 1}`,
        ...this.sse?.copySource,
        ...this.sse?.objectKey,
      },
      part: partNumber,
      response: 'buffer',
    }, what);
    const checksum = this.checksum ? xmlText(r.body, CHECKSUM_NAMES[this.checksum].element) : undefined;
    return { etag: unquoteEtag(xmlText(r.body, 'ETag')), ...(checksum ? { checksum } : {}) };
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[], expect?: 'absent'): Promise<string> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const what = `COMPLETE-MULTIPART ${key} (${sorted.length} parts)`;
    // Each part's checksum, when the upload carries them (S3 then wants every one).
    const element = this.checksum && sorted.every((p) => p.checksum !== undefined) ? CHECKSUM_NAMES[this.checksum].element : undefined;
    // S3 documents the part ETags quoted, as UploadPart returned them (RGW takes either).
    const xml = '<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
      + sorted.map((p) => `<Part><PartNumber>${p.partNumber}</PartNumber><ETag>${escapeXml(quote(p.etag))}</ETag>`
        + (element ? `<${element}>${escapeXml(p.checksum!)}</${element}>` : '') + '</Part>').join('')
      + '</CompleteMultipartUpload>';
    const headers: Record<string, string> = { 'content-type': 'application/xml', ...this.sse?.objectKey };
    // S3 judges If-None-Match on a completion (since 2024); a server that ignores it leaves
    // the caller's HEAD before completing as the check. One that refuses it loses it.
    if (expect === 'absent' && this.conditionalCompletes) headers['if-none-match'] = '*';
    let r;
    try {
      r = await this.http.send(this.bucket, {
        operation: 'CompleteMultipartUploadCommand', method: 'POST', key, query: { uploadId },
        body: Buffer.from(xml), headers, response: 'buffer',
      }, what);
    } catch (err) {
      const e = toStoreError(err, what);
      const refused = e.kind === 'unsupported' || (e.status === 400 && /^(InvalidArgument|InvalidRequest|NotImplemented)$/.test(e.code ?? ''));
      if (headers['if-none-match'] === undefined || !refused) throw e;
      this.conditionalCompletes = false;
      return this.completeMultipart(key, uploadId, parts);
    }
    // S3 may fail a completion after its 200 status line: the error is then in the body.
    const code = xmlText(r.body, 'Code');
    if (code !== undefined && /<Error>/.test(r.body?.toString('utf8') ?? '')) {
      throw new StoreError('server', `${what}: ${code}: ${xmlText(r.body, 'Message') ?? 'the server refused the completion'}`, r.status, code);
    }
    // Ceph RGW answers with an empty ETag here: '' tells the caller to HEAD if it needs one.
    return unquoteEtag(xmlText(r.body, 'ETag'));
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    try {
      await this.http.send(this.bucket, {
        operation: 'AbortMultipartUploadCommand', method: 'DELETE', key, query: { uploadId }, response: 'none',
      }, `ABORT-MULTIPART ${key}`);
    } catch (err) {
      // NoSuchUpload (404): already aborted, completed, or never there.
      const e = toStoreError(err, `ABORT-MULTIPART ${key}`);
      if (e.kind !== 'not-found' && e.code !== 'NoSuchUpload') throw e;
    }
  }
}

function quote(etag: string): string {
  return etag.startsWith('"') ? etag : `"${etag}"`;
}


function objectInfo(key: string, headers: IncomingHttpHeaders, size: number): ObjectInfo {
  return {
    key,
    size,
    etag: unquoteEtag(headers.etag),
    lastModified: parseDate(headers['last-modified']),
    contentType: headers['content-type'],
    metadata: userMetadata(headers),
    serverDate: headers.date === undefined ? undefined : parseDate(headers.date),
  };
}

function parseDate(value: string | undefined): Date {
  const d = value === undefined ? new Date(0) : new Date(value);
  return Number.isNaN(d.getTime()) ? new Date(0) : d;
}

const META_PREFIX = 'x-amz-meta-';

/** x-amz-meta-* response headers (node lower-cases names) as metadata without the prefix. */
function userMetadata(headers: IncomingHttpHeaders): ObjectMetadata {
  const out: ObjectMetadata = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(META_PREFIX) && typeof value === 'string') out[name.slice(META_PREFIX.length)] = value;
  }
  return out;
}

/** Content-Type, user metadata and Content-MD5 of a PUT or a metadata-replacing copy, after
 *  the headers that make the new object encrypted (`encryption`), when the mount asks for that. */
function objectHeaders(o: PutOptions, encryption: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const h: Record<string, string> = encryption ? { ...encryption } : {};
  if (o.contentType !== undefined) h['content-type'] = o.contentType;
  if (o.contentMD5 !== undefined) h['content-md5'] = o.contentMD5;
  for (const [name, value] of Object.entries(o.metadata ?? {})) h[`${META_PREFIX}${name.toLowerCase()}`] = value;
  return h;
}

/** A promise that rejects with an AbortError when `signal` fires first (the request it waits
 *  for is ended by the caller, who destroys the sockets). */
function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(Object.assign(new Error('no answer in time'), { name: 'AbortError', code: 'AbortError' }));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); },
    );
  });
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** One element's text from a small XML answer (CopyPartResult has two), entities decoded. */
function xmlText(body: Buffer | undefined, element: string): string | undefined {
  const m = new RegExp(`<${element}>([^<]*)</${element}>`).exec(body?.toString('utf8') ?? '');
  return m?.[1] === undefined ? undefined : decodeXmlText(m[1]);
}

/** x-amz-copy-source is a URL path: each segment percent-encoded, slashes kept. */
function encodeKeyForCopySource(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
