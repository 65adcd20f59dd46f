// AWS Signature Version 4 for S3 requests, on node:crypto alone. Every request of a mount is
// signed here: a synchronous signer with the day's signing key kept, instead of the SDK's
// (@smithy/signature-v4), whose module graph alone held about 17 MB of resident memory and
// whose promise-per-hash signing cost CPU on every HEAD of a cold `ls -l`.
// test/unit/sigv4.test.ts checks that both give the same signatures.
import { createHash, createHmac } from 'node:crypto';

/** RFC 3986 percent-encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
export function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RequestToSign {
  method: string;
  /** The path as sent, already escaped (S3 signs it as it is, not escaped again). */
  path: string;
  query: Record<string, string>;
  /** `host` and `x-amz-content-sha256` among them; names in any case (sent in lower case). */
  headers: Record<string, string>;
}

/** Headers a proxy or the HTTP stack may change on the way: never signed (as the SDK does). */
const UNSIGNABLE = new Set([
  'authorization', 'cache-control', 'connection', 'expect', 'from', 'keep-alive', 'max-forwards', 'pragma',
  'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'x-amzn-trace-id',
]);

/** The payload hash of a request without a body. */
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export class SigV4Signer {
  private keyDay = '';
  private keySecret = '';
  private key: Buffer = Buffer.alloc(0);

  constructor(private readonly region: string, private readonly service = 's3') {}

  /**
   * The headers to send: the request's, with x-amz-date, the session token if any, and
   * authorization. The credentials come with each request: they may be renewed during a mount.
   */
  sign(r: RequestToSign, credentials: SigningCredentials, now: Date = new Date()): Record<string, string> {
    const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, ''); // 20261203T191500Z
    const day = amzDate.slice(0, 8);
    // The one copy of the request's headers: SigV4 signs their names in lower case.
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(r.headers)) headers[name.toLowerCase()] = value;
    headers['x-amz-date'] = amzDate;
    if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;

    const names = Object.keys(headers).filter((n) => !UNSIGNABLE.has(n)).sort();
    let canonicalHeaders = '';
    for (const name of names) canonicalHeaders += `${name}:${(headers[name] as string).trim().replace(/\s+/g, ' ')}\n`;
    const signedHeaders = names.join(';');
    const canonicalQuery = Object.entries(r.query)
      .map(([k, v]) => [escapeUri(k), escapeUri(v)] as const)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const payloadHash = headers['x-amz-content-sha256'] ?? EMPTY_SHA256;
    const canonicalRequest = `${r.method}\n${r.path}\n${canonicalQuery}\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;

    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${createHash('sha256').update(canonicalRequest).digest('hex')}`;
    const signature = createHmac('sha256', this.signingKey(day, credentials.secretAccessKey)).update(stringToSign).digest('hex');
    headers['authorization'] = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  /** The day's key: four HMACs, once a day (and once per renewed secret) rather than once a request. */
  private signingKey(day: string, secret: string): Buffer {
    if (day !== this.keyDay || secret !== this.keySecret) {
      const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();
      this.key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), this.region), this.service), 'aws4_request');
      this.keyDay = day;
      this.keySecret = secret;
    }
    return this.key;
  }
}
