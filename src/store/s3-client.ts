// Builds the one S3Client of a mount: endpoint, credentials, keep-alive sockets, timeouts,
// retries, and a middleware that counts every HTTP attempt and, with -U, logs it in one line.
import http from 'node:http';
import https from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Endpoint } from '../config/endpoint.js';
import type { Credentials } from '../config/credentials.js';
import type { Logger } from '../log.js';
import { RequestStats } from './request-stats.js';
import { SignedHttp } from './signed-http.js';

export interface S3ClientSettings {
  endpoint: Endpoint;
  credentials: Credentials;
  retries: number;
  /** Seconds a request may make no progress before it is abandoned. */
  reqtimeout: number;
  /** Parallel transfers; sockets are sized from it. */
  numtransfer: number;
  /** -U: one log line per request. */
  logRequests: boolean;
  /** false: no own sockets for the lean requests, node:http for all (tests of that path). */
  directHttp?: boolean;
}

export interface S3ClientBundle {
  client: S3Client;
  /** The lean path for hot object requests; shares the client's sockets and counters. */
  http: SignedHttp;
  stats: RequestStats;
  destroy(): void;
}

/** Connecting is quick or it is not going to work: do not wait minutes for a dead endpoint. */
const CONNECT_TIMEOUT_MS = 5000;

export function createS3Client(s: S3ClientSettings, logger: Logger): S3ClientBundle {
  // Keep-alive saves a TCP (and TLS) handshake per request; the socket count covers the
  // transfers in flight plus metadata requests running beside them.
  const agentOptions = { keepAlive: true, maxSockets: Math.max(16, s.numtransfer * 4), keepAliveMsecs: 15000 };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent(agentOptions);
  const requestHandler = new NodeHttpHandler({
    httpAgent,
    httpsAgent,
    connectionTimeout: Math.min(CONNECT_TIMEOUT_MS, s.reqtimeout * 1000),
    socketTimeout: s.reqtimeout * 1000,
  });
  const client = new S3Client({
    endpoint: s.endpoint.url,
    region: s.endpoint.region,
    forcePathStyle: s.endpoint.forcePathStyle,
    credentials: { accessKeyId: s.credentials.accessKeyId, secretAccessKey: s.credentials.secretAccessKey },
    maxAttempts: s.retries + 1,
    requestHandler,
    // Older S3 servers (QingStor, Ceph RGW, s3rver) reject or mangle the SDK's default CRC
    // checksums; ask for them only where the API requires them, except on AWS itself.
    ...(s.endpoint.isAws ? {} : { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }),
  });
  const stats = new RequestStats();
  addRequestAccounting(client, stats, s.logRequests ? logger : undefined);
  const signedHttp = new SignedHttp({
    endpoint: s.endpoint,
    credentials: s.credentials,
    agent: s.endpoint.url.startsWith('https:') ? httpsAgent : httpAgent,
    retries: s.retries,
    reqtimeout: s.reqtimeout,
    connectTimeoutMs: Math.min(CONNECT_TIMEOUT_MS, s.reqtimeout * 1000),
    stats,
    requestLog: s.logRequests ? logger : undefined,
    directHttp: s.directHttp,
  });
  return {
    client,
    http: signedHttp,
    stats,
    destroy: () => {
      signedHttp.destroy();
      client.destroy();
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

interface AttemptArgs {
  input?: { Key?: string; Range?: string; PartNumber?: number };
  request?: { method?: string; headers?: Record<string, string | undefined>; body?: unknown };
}
interface AttemptResponse { statusCode?: number; headers?: Record<string, string | undefined> }
interface AttemptOutput { response?: AttemptResponse }
interface AttemptError { $metadata?: { httpStatusCode?: number }; $response?: AttemptResponse; name?: string }

function header(headers: Record<string, string | undefined> | undefined, name: string): string | undefined {
  if (!headers) return undefined;
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function lengthHeader(headers: Record<string, string | undefined> | undefined): number {
  const n = Number(header(headers, 'content-length'));
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** Bytes of the request body: the length of an in-memory body, else its Content-Length. */
function bytesSent(request: AttemptArgs['request']): number {
  const body = request?.body;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  return lengthHeader(request?.headers);
}

/** Bytes of the response body, as its Content-Length says (a HEAD response announces the
 *  object's size but carries no body). */
function bytesReceived(method: string | undefined, response: AttemptResponse | undefined): number {
  if (method === 'HEAD' || response === undefined) return 0;
  return lengthHeader(response.headers);
}

/**
 * Runs once per HTTP attempt (the deserialize step sits inside the retry loop), so retries are
 * counted and logged too. Logs only method, key, range, status, bytes and time: never headers.
 */
function addRequestAccounting(client: S3Client, stats: RequestStats, requestLog: Logger | undefined): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      const a = args as AttemptArgs;
      const operation = context.commandName ?? 'request';
      const method = a.request?.method;
      const sent = bytesSent(a.request);
      let received = 0;
      let status: number | string = '-';
      try {
        const out = await next(args);
        const response = (out as AttemptOutput).response;
        status = response?.statusCode ?? '-';
        received = bytesReceived(method, response);
        stats.record(operation, true, { sent, received });
        return out;
      } catch (err) {
        const e = err as AttemptError;
        status = e.$response?.statusCode ?? e.$metadata?.httpStatusCode ?? e.name ?? 'error';
        received = bytesReceived(method, e.$response);
        stats.record(operation, false, { sent, received });
        throw err;
      } finally {
        requestLog?.info({
          s3: operation,
          method,
          key: a.input?.Key,
          range: a.input?.Range,
          part: a.input?.PartNumber,
          status,
          bytes: sent + received,
          ms: Math.round(performance.now() - started),
        }, 's3 request');
      }
    },
    { step: 'deserialize', name: 'qsfsRequestAccounting', priority: 'high' },
  );
}
