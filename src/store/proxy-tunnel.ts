// https through a proxy: an https.Agent whose connections to hosts the proxy environment routes
// through a proxy are opened with CONNECT host:port at the proxy, then TLS to the endpoint inside
// the tunnel (certificate checked against the endpoint's name, as without a proxy). Hosts NO_PROXY
// matches are connected to directly. Sockets are pooled and kept alive by the agent as usual,
// and TLS sessions are resumed as https.Agent does.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { ProxyRefusedError, routeFor, type ProxyEnvironment, type ProxyServer } from './proxy.js';

/** A network failure on the way to the proxy, shaped as the retry policy reads errors (`code`). */
class TunnelError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = code;
  }
}

export class ProxyTunnelAgent extends https.Agent {
  constructor(private readonly proxies: ProxyEnvironment, private readonly connectTimeoutMs: number, options: https.AgentOptions) {
    super(options);
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const port = Number(options.port ?? 443);
    const route = routeFor(this.proxies, `https://${host.includes(':') ? `[${host}]` : host}:${port}`);
    if (!route) return super.createConnection(options);
    // node:http always passes the callback; without one the tunnel could not be waited for,
    // and a direct connection would quietly bypass the proxy.
    if (!callback) throw new Error('ProxyTunnelAgent.createConnection needs a callback');
    openTunnel(route.server, host, port, this.connectTimeoutMs).then(
      (socket) => callback(null, super.createConnection({ ...options, socket } as https.RequestOptions)!),
      (err: Error) => callback(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

/** A socket to host:port through the proxy (CONNECT), not yet speaking TLS. */
export function openTunnel(proxy: ProxyServer, host: string, port: number, timeoutMs: number): Promise<Duplex> {
  const authority = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const headers: Record<string, string> = { host: authority };
    if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
    const req = http.request({ host: proxy.host, port: proxy.port, method: 'CONNECT', path: authority, headers, agent: false });
    const fail = (err: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    // Connecting to the proxy and its answer to CONNECT: quick, or the proxy is not usable.
    const timer = setTimeout(
      () => fail(new TunnelError(`no answer to CONNECT ${authority} from the proxy ${proxy.display} within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    req.once('connect', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        socket.destroy();
        fail(new ProxyRefusedError(proxy.display, status, `CONNECT ${authority}`));
        return;
      }
      if (settled) {
        socket.destroy();
        return;
      }
      settled = true;
      clearTimeout(timer);
      // TLS starts with the client's hello, so a proxy sends nothing more; if it did, it is the endpoint's.
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.once('response', (res: http.IncomingMessage) => {
      res.resume();
      fail(new ProxyRefusedError(proxy.display, res.statusCode ?? 0, `CONNECT ${authority}`));
    });
    req.once('error', (err: NodeJS.ErrnoException) => fail(err.code ? Object.assign(err, { message: `proxy ${proxy.display}: ${err.message}` }) : err));
    req.end();
  });
}
