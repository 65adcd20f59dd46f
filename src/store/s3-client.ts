// Builds the request path of a mount: endpoint, credentials, keep-alive sockets, timeouts,
// retries, and the counters of every HTTP attempt (with -U, a log line each). Every request is
// signed and sent by signed-http.ts; the AWS SDK's client is not loaded (see s3-store.ts).
import http from 'node:http';
import https from 'node:https';
import type { Endpoint } from '../config/endpoint.js';
import type { CredentialSource } from '../config/credentials.js';
import type { Logger } from '../log.js';
import { RequestStats } from './request-stats.js';
import { SignedHttp } from './signed-http.js';
import type { ProxyEnvironment } from './proxy.js';
import { ProxyTunnelAgent } from './proxy-tunnel.js';

export interface S3ClientSettings {
  endpoint: Endpoint;
  credentials: CredentialSource;
  retries: number;
  /** Seconds a request may make no progress before it is abandoned. */
  reqtimeout: number;
  /** Parallel transfers; sockets are sized from it. */
  numtransfer: number;
  /** -U: one log line per request. */
  logRequests: boolean;
  /** false: no own sockets for the lean requests, node:http for all (tests of that path). */
  directHttp?: boolean;
  /** HTTP_PROXY/HTTPS_PROXY/NO_PROXY, read by proxy.ts; none: every request goes directly. */
  proxies?: ProxyEnvironment;
}

export interface S3ClientBundle {
  /** Signs and sends every request of the mount. */
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
  const connectTimeoutMs = Math.min(CONNECT_TIMEOUT_MS, s.reqtimeout * 1000);
  const agent = !s.endpoint.url.startsWith('https:') ? new http.Agent(agentOptions)
    : s.proxies?.https ? new ProxyTunnelAgent(s.proxies, connectTimeoutMs, agentOptions) : new https.Agent(agentOptions);
  const stats = new RequestStats();
  const signedHttp = new SignedHttp({
    endpoint: s.endpoint,
    credentials: s.credentials,
    agent,
    retries: s.retries,
    reqtimeout: s.reqtimeout,
    connectTimeoutMs,
    stats,
    requestLog: s.logRequests ? logger : undefined,
    directHttp: s.directHttp,
    proxies: s.proxies,
  });
  return {
    http: signedHttp,
    stats,
    destroy: () => {
      signedHttp.destroy();
      agent.destroy();
    },
  };
}
