// The lean request path for the requests on the hot path (HEAD, ranged GET, PUT, part uploads,
// copies, DELETE, listings): a SigV4-signed request on the mount's keep-alive agent, with
// retries, timeouts and request accounting, and none of the SDK's middleware stack.
//
// Why: measured against Ceph RGW on this 2-core machine, an SDK HeadObject costs about 0.7 ms
// of CPU warm and 1.8 ms in a freshly started process, against 0.17 ms here; `ls -l`, `cat`
// and `cp` of many small files are bound by that CPU, not by the server. Listings read their XML
// with a scanner of their own (list-xml.ts); multipart create/complete and the bucket check read
// one element each. Signing is sigv4.ts's: the daemon loads no SDK module at all.
// Over plain HTTP (path-style) the requests go out on our own sockets (direct-http.ts), which
// halves the CPU of a HEAD again and reads GET bodies straight into their buffers; over https,
// through node:https and the agent.
// Through a proxy (proxy.ts reads which): a plain HTTP request goes to the proxy with the
// absolute URI in its request line and the endpoint's Host header (the signature covers the
// host, not where the socket goes), on either path; https goes through CONNECT tunnels, which
// the agent opens (proxy-tunnel.ts), so nothing here changes for it.
import http from 'node:http';
import https from 'node:https';
import { unbracketed, type Endpoint } from '../config/endpoint.js';
import type { CredentialSource, Credentials } from '../config/credentials.js';
import type { Logger } from '../log.js';
import type { RequestStats } from './request-stats.js';
import { StoreError, toStoreError } from './errors.js';
import { backoffDelay, isRetryable } from './retry-policy.js';
import { DirectHttp, UnsupportedResponse } from './direct-http.js';
import type { Body } from './object-store.js';
import { EMPTY_SHA256, SigV4Signer, escapeUri } from './sigv4.js';
import { ProxyRefusedError, routeFor, type ProxyEnvironment, type ProxyServer } from './proxy.js';

export interface SignedRequest {
  /** The S3 operation name, as the SDK calls it: request counters and -U logs use it. */
  operation: string;
  method: 'HEAD' | 'GET' | 'PUT' | 'DELETE' | 'POST';
  key: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** In memory, so that a retry can send it again. */
  body?: Body;
  /** How the response body is wanted: ignored, or gathered into a buffer. */
  response: 'none' | 'buffer';
  /** For 'buffer': the size to preallocate (a ranged GET knows it). */
  expectedLength?: number;
  /** For 'buffer': buffers the body fills in order instead (a ranged GET into cache pages);
   *  the response's `received` says how much came. A longer body is an error. */
  into?: Buffer[];
  /** Log context for -U and error messages. */
  range?: string;
  part?: number;
}

export interface SignedResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body?: Buffer;
  /** Bytes that went `into` the request's buffers. */
  received?: number;
}

export interface SignedHttpSettings {
  endpoint: Endpoint;
  credentials: CredentialSource;
  agent: http.Agent;
  retries: number;
  reqtimeout: number;
  connectTimeoutMs: number;
  stats: RequestStats;
  requestLog?: Logger;
  /** false: every request through node:http (the direct path is for plain HTTP endpoints anyway). */
  directHttp?: boolean;
  /** The proxies of the environment; for https, the agent must be a ProxyTunnelAgent of the same. */
  proxies?: ProxyEnvironment;
}

/** How long the direct path keeps an idle socket (as many as the agent's maxSockets): below
 *  common server keep-alive timeouts, so that a reused socket is seldom one the server is closing. */
const DIRECT_IDLE_MS = 4000;

/** An HTTP status or network failure, shaped as toStoreError reads SDK errors. */
class AttemptError extends Error {
  constructor(message: string, readonly Code?: string, readonly $metadata: { httpStatusCode?: number } = {}, readonly code?: string) {
    super(message);
    this.name = Code ?? code ?? 'Error';
  }
}

export class SignedHttp {
  private readonly signer: SigV4Signer;
  private readonly base: URL;
  private readonly transport: typeof http | typeof https;
  private readonly port: number | undefined;
  /** Our own sockets, bodies straight into their buffers (plain HTTP only; see direct-http.ts). */
  private readonly direct: DirectHttp | undefined;
  /** Operations whose answers the direct path could not read: node:http for them. */
  private readonly viaNodeHttp = new Set<string>();
  /** The forward proxy of each host requests went to (one for path-style; one per bucket otherwise). */
  private readonly forwardProxies = new Map<string, ProxyServer | null>();

  constructor(private readonly s: SignedHttpSettings) {
    this.signer = new SigV4Signer(s.endpoint.region);
    this.base = new URL(s.endpoint.url);
    this.transport = this.base.protocol === 'https:' ? https : http;
    this.port = this.base.port === '' ? undefined : Number(this.base.port);
    // Path-style only: the direct path connects to the endpoint's own host.
    if (this.base.protocol === 'http:' && s.endpoint.forcePathStyle && s.directHttp !== false) {
      // Through a forward proxy, the sockets go to the proxy; only the request line differs.
      const proxy = this.forwardProxy(this.base.hostname);
      this.direct = new DirectHttp({
        host: proxy ? proxy.host : unbracketed(this.base.hostname), port: proxy ? proxy.port : this.port ?? 80, timeoutMs: s.reqtimeout * 1000,
        connectTimeoutMs: s.connectTimeoutMs, maxIdle: Number.isFinite(s.agent.maxSockets) ? s.agent.maxSockets : 16, idleMs: DIRECT_IDLE_MS,
      });
    }
  }

  destroy(): void {
    this.direct?.destroy();
  }

  /** Sends the request, retrying what is worth retrying; failures are StoreErrors. */
  async send(bucket: string, r: SignedRequest, what: string): Promise<SignedResponse> {
    const attempts = this.s.retries + 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt(bucket, r);
      } catch (err) {
        if (attempt >= attempts || !isRetryable(err)) throw toStoreError(err, what);
        this.s.stats.retried(r.operation);
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt)));
      }
    }
  }

  private async attempt(bucket: string, r: SignedRequest): Promise<SignedResponse> {
    const started = performance.now();
    const bodyLength = r.body === undefined ? 0 : bodyLengthOf(r.body);
    const { hostname, path, hostHeader } = this.address(bucket, r.key);
    const queryString = Object.entries(r.query ?? {}).map(([k, v]) => (v === '' ? escapeUri(k) : `${escapeUri(k)}=${escapeUri(v)}`)).join('&');
    const headers: Record<string, string> = {
      ...r.headers,
      host: hostHeader,
      // Bodies go unsigned, as the SDK sends streams: hashing every byte on the event loop
      // would stall the FUSE requests behind it; -m adds Content-MD5, which the server checks.
      'x-amz-content-sha256': r.body === undefined ? EMPTY_SHA256 : 'UNSIGNED-PAYLOAD',
    };
    if (r.body !== undefined || r.method === 'PUT' || r.method === 'POST') headers['content-length'] = String(bodyLength);
    const held = this.s.credentials.current();
    const credentials = held instanceof Promise ? await renewed(held) : held;
    const signedHeaders = this.signer.sign({ method: r.method, path, query: r.query ?? {}, headers }, credentials);
    let status: number | string = '-';
    let received = 0;
    const pathAndQuery = queryString === '' ? path : `${path}?${queryString}`;
    const proxy = this.forwardProxy(hostname);
    try {
      const target = proxy
        ? { method: r.method, hostname: proxy.host, port: proxy.port, path: `http://${hostHeader}${pathAndQuery}`, headers: withProxyAuthorization(signedHeaders, proxy) }
        : { method: r.method, hostname, port: this.port, path: pathAndQuery, headers: signedHeaders };
      const response = this.direct && !this.viaNodeHttp.has(r.operation) ? await this.directRequest(this.direct, target, r) : await this.exchange(target, r);
      status = response.status;
      received = r.method === 'HEAD' ? 0 : Number(response.headers['content-length'] ?? 0) || 0;
      this.s.stats.record(r.operation, true, { sent: bodyLength, received }, { status, seconds: (performance.now() - started) / 1000 });
      return response;
    } catch (err) {
      const e = err as AttemptError;
      status = e.$metadata?.httpStatusCode ?? e.code ?? e.name;
      this.s.stats.record(r.operation, false, { sent: bodyLength, received }, { status: status ?? 'error', seconds: (performance.now() - started) / 1000 });
      // 407 is the proxy's own answer (an S3 server never sends it): said as the proxy's refusal.
      if (proxy && status === 407) throw new ProxyRefusedError(proxy.display, 407, `${r.method} http://${hostHeader}${path}`);
      throw err;
    } finally {
      this.s.requestLog?.info({
        s3: r.operation, method: r.method, key: r.key, range: r.range, part: r.part, status,
        bytes: bodyLength + received, ms: Math.round(performance.now() - started),
      }, 's3 request');
    }
  }

  private async directRequest(direct: DirectHttp, o: { method: string; hostname: string; port?: number; path: string; headers: Record<string, string> }, r: SignedRequest): Promise<SignedResponse> {
    let head = `${o.method} ${o.path} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(o.headers)) {
      if (/[\r\n]/.test(value)) throw new AttemptError(`header ${name} holds a line break`, 'InvalidArgument');
      head += `${name}: ${value}\r\n`;
    }
    head += '\r\n';
    let res;
    try {
      res = await direct.request(o.method, head, r.body, r.into);
    } catch (err) {
      if (!(err instanceof UnsupportedResponse)) throw err;
      // A server that answers this operation in a shape the direct path does not read (a chunked
      // body): node:http for it from now on. Every lean request is idempotent, so it goes again.
      this.viaNodeHttp.add(r.operation);
      return this.exchange(o, r);
    }
    const body = res.body.length > 0 ? res.body : undefined;
    if (res.status >= 300) throw errorFromResponse(res.status, body);
    if (mayHideError(r) && isErrorDocument(body)) throw errorFromResponse(500, body);
    if (r.into) return { status: res.status, headers: res.headers, received: res.received };
    return { status: res.status, headers: res.headers, body: r.response === 'buffer' ? body ?? Buffer.alloc(0) : body };
  }

  /** The proxy that plain HTTP requests to `hostname` are forwarded through, if any (https: the agent's business). */
  private forwardProxy(hostname: string): ProxyServer | null {
    if (!this.s.proxies || this.base.protocol !== 'http:') return null;
    let proxy = this.forwardProxies.get(hostname);
    if (proxy === undefined) {
      proxy = routeFor(this.s.proxies, `http://${hostname}${this.port === undefined ? '' : `:${this.port}`}`)?.server ?? null;
      this.forwardProxies.set(hostname, proxy);
    }
    return proxy;
  }

  /** Path-style puts the bucket in the path; virtual-hosted style in the host name. */
  private address(bucket: string, key: string): { hostname: string; path: string; hostHeader: string } {
    const escapedKey = key.split('/').map(escapeUri).join('/');
    // No key: a request to the bucket itself (a listing), as /bucket, not /bucket/.
    if (this.s.endpoint.forcePathStyle) return { hostname: this.base.hostname, path: key === '' ? `/${bucket}` : `/${bucket}/${escapedKey}`, hostHeader: this.base.host };
    return { hostname: `${bucket}.${this.base.hostname}`, path: `/${escapedKey}`, hostHeader: `${bucket}.${this.base.host}` };
  }

  private exchange(o: { method: string; hostname: string; port?: number; path: string; headers: Record<string, string> }, r: SignedRequest): Promise<SignedResponse> {
    return new Promise<SignedResponse>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(err);
      };
      const req = this.transport.request({
        agent: this.s.agent, method: o.method, hostname: unbracketed(o.hostname), port: o.port, path: o.path, headers: o.headers,
      }, (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 300) {
          gather(res).then((body) => fail(errorFromResponse(status, body)), fail);
          return;
        }
        if (r.into) {
          gatherIntoBuffers(res, r.into).then((received) => {
            if (settled) return;
            settled = true;
            resolve({ status, headers: res.headers, received });
          }, fail);
          return;
        }
        const expected = r.response === 'buffer' ? r.expectedLength ?? (Number(res.headers['content-length']) || 0) : 0;
        const gathered = r.response === 'buffer' ? gatherInto(res, expected) : gather(res);
        gathered.then((body) => {
          if (mayHideError(r) && isErrorDocument(body)) {
            fail(errorFromResponse(500, body));
            return;
          }
          if (settled) return;
          settled = true;
          resolve({ status, headers: res.headers, body });
        }, fail);
      });
      // --reqtimeout bounds a request that makes no progress: connecting, sending, waiting or receiving.
      req.setTimeout(this.s.reqtimeout * 1000, () => fail(new AttemptError(`no progress for ${this.s.reqtimeout} s`, 'RequestTimeout', {}, 'TimeoutError')));
      req.once('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => fail(new AttemptError(`cannot connect within ${this.s.connectTimeoutMs} ms`, undefined, {}, 'ETIMEDOUT')), this.s.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
      req.on('error', fail);
      if (r.body === undefined || Buffer.isBuffer(r.body)) req.end(r.body);
      else {
        for (const piece of r.body) req.write(piece);
        req.end();
      }
    });
  }
}

/** Proxy credentials go to the proxy only: added after signing, never part of the signature. */
function withProxyAuthorization(headers: Record<string, string>, proxy: ProxyServer): Record<string, string> {
  return proxy.authorization ? { ...headers, 'proxy-authorization': proxy.authorization } : headers;
}

function bodyLengthOf(body: Body): number {
  if (Buffer.isBuffer(body)) return body.length;
  let n = 0;
  for (const piece of body) n += piece.length;
  return n;
}

/** CopyObject and UploadPartCopy (PUTs) may answer 200 and put the error in the body. A GET's
 *  body is the object's bytes, whatever they look like (a file may well begin with <Error>). */
function mayHideError(r: SignedRequest): boolean {
  return r.method === 'PUT' || r.method === 'POST';
}

function isErrorDocument(body: Buffer | undefined): boolean {
  return body !== undefined && /^\s*(<\?xml[^>]*>\s*)?<Error>/.test(body.subarray(0, 256).toString('utf8'));
}

/** The S3 error document's Code and Message (a HEAD error has no body: the status says it). */
function errorFromResponse(status: number, body: Buffer | undefined): AttemptError {
  const text = body?.toString('utf8') ?? '';
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1] ?? `HTTP ${status}`;
  return new AttemptError(message, code ?? (status === 404 ? 'NotFound' : undefined), { httpStatusCode: status });
}

/** A small body (errors, copy results): kept up to `limit` bytes, the rest read and dropped. */
function gather(res: http.IncomingMessage, limit = 64 * 1024): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    res.on('data', (c: Buffer) => {
      if (length < limit) chunks.push(c);
      length += c.length;
    });
    res.once('end', () => resolve(chunks.length === 0 ? undefined : Buffer.concat(chunks)));
    res.once('error', reject);
    res.once('aborted', () => reject(new AttemptError('the response was cut off', undefined, {}, 'ECONNRESET')));
  });
}

/**
 * Feeds a response body to `take` chunk by chunk ('data' events rather than an async iterator: a
 * promise per 64 KiB chunk is measurable CPU on this path); resolves with its length. A body cut
 * short of its Content-Length is an error (and is retried), never a short read.
 */
function readBody(res: http.IncomingMessage, take: (chunk: Buffer) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let length = 0;
    res.on('data', (chunk: Buffer) => {
      try {
        take(chunk);
      } catch (err) {
        res.destroy();
        reject(err);
        return;
      }
      length += chunk.length;
    });
    res.once('error', reject);
    res.once('aborted', () => reject(new AttemptError('the response body was cut off', undefined, {}, 'ECONNRESET')));
    res.once('end', () => {
      const announced = Number(res.headers['content-length']);
      if (Number.isFinite(announced) && length < announced) {
        reject(new AttemptError(`the response body ended after ${length} of ${announced} bytes`, undefined, {}, 'ECONNRESET'));
        return;
      }
      resolve(length);
    });
  });
}

/** The body of a ranged GET into the caller's buffers, in order; how many bytes came. One longer
 *  than the buffers hold is an error. */
async function gatherIntoBuffers(res: http.IncomingMessage, into: Buffer[]): Promise<number> {
  let page = 0;
  let offset = 0;
  return readBody(res, (chunk) => {
    for (let done = 0; done < chunk.length;) {
      const target = into[page];
      if (!target) throw new AttemptError('the server sent more than the range asked for', undefined, {}, 'EPROTO');
      const n = chunk.copy(target, offset, done);
      done += n;
      offset += n;
      if (offset === target.length) {
        page++;
        offset = 0;
      }
    }
  });
}

/** The body of a GET in one buffer of the expected size: one copy per chunk. */
async function gatherInto(res: http.IncomingMessage, expected: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(expected);
  const extra: Buffer[] = [];
  let seen = 0;
  const length = await readBody(res, (chunk) => {
    const room = expected - seen;
    if (chunk.length <= room) chunk.copy(out, seen);
    else {
      if (room > 0) chunk.copy(out, seen, 0, room);
      extra.push(chunk.subarray(Math.max(0, room)));
    }
    seen += chunk.length;
  });
  // A server that sends more than asked (no range support) still yields every byte.
  if (extra.length > 0) return Buffer.concat([out, ...extra]);
  return length === expected ? out : out.subarray(0, length);
}

/** Renewed credentials, or the reason there are none as an error that is not retried. */
async function renewed(pending: Promise<Credentials>): Promise<Credentials> {
  try {
    return await pending;
  } catch (err) {
    throw new StoreError('access-denied', `cannot renew the credentials: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}
