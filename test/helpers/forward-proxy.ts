// A forward proxy on 127.0.0.1 for the proxy tests, as squid or tinyproxy behave: plain HTTP
// requests with an absolute URI are forwarded, CONNECT opens a tunnel. It counts what it carried,
// can demand Basic authorization (407 otherwise), and carries nothing beyond loopback.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

/** Headers of one hop only: not passed on (RFC 9110 7.6.1). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export class ForwardProxy {
  /** Forwarded requests (absolute URI), by method. */
  readonly forwarded = new Map<string, number>();
  /** The Host headers of the forwarded requests. */
  readonly hostHeaders = new Set<string>();
  /** The targets of the tunnels opened (host:port). */
  readonly connects: string[] = [];
  /** Requests and CONNECTs refused for want of the right Proxy-Authorization. */
  refusedAuth = 0;
  /** Targets refused because they are not on loopback (absolute URIs or host:port). */
  readonly refusedTargets: string[] = [];
  /** Requests that came with a path instead of an absolute URI (a client that did not speak to a proxy). */
  notAbsolute = 0;
  private server: http.Server | null = null;
  private readonly sockets = new Set<Duplex>();
  private readonly upstreamAgent = new http.Agent({ keepAlive: true });
  port = 0;

  /** `auth`: the user and password a client must present. */
  constructor(private readonly auth?: { user: string; password: string }) {}

  /** The proxy URL, optionally with user:password in it. */
  url(user?: string, password?: string): string {
    const credentials = user === undefined ? '' : `${encodeURIComponent(user)}:${encodeURIComponent(password ?? '')}@`;
    return `http://${credentials}127.0.0.1:${this.port}`;
  }

  /** Everything carried: forwarded requests and tunnels. */
  get carried(): number {
    let n = this.connects.length;
    for (const count of this.forwarded.values()) n += count;
    return n;
  }

  reset(): void {
    this.forwarded.clear();
    this.hostHeaders.clear();
    this.connects.length = 0;
    this.refusedAuth = 0;
    this.notAbsolute = 0;
    this.refusedTargets.length = 0;
  }

  async start(): Promise<number> {
    const server = http.createServer((req, res) => this.forward(req, res));
    server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.tunnel(req, socket, head));
    server.on('connection', (socket: net.Socket) => this.track(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.upstreamAgent.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.auth) return true;
    const expected = `Basic ${Buffer.from(`${this.auth.user}:${this.auth.password}`).toString('base64')}`;
    if (req.headers['proxy-authorization'] === expected) return true;
    this.refusedAuth++;
    return false;
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (!/^http:\/\//i.test(req.url ?? '')) {
      this.notAbsolute++;
      res.writeHead(400, { 'content-length': '0' }).end();
      return;
    }
    if (!this.authorized(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"', 'content-length': '0' }).end();
      return;
    }
    const target = new URL(req.url!);
    if (!LOOPBACK.has(target.hostname)) {
      this.refusedTargets.push(req.url!);
      res.writeHead(403, { 'content-length': '0' }).end();
      return;
    }
    this.forwarded.set(req.method!, (this.forwarded.get(req.method!) ?? 0) + 1);
    this.hostHeaders.add(req.headers.host ?? '');
    const headers: http.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
    const upstream = http.request({
      host: target.hostname.replace(/^\[(.*)\]$/, '$1'), port: target.port || 80, method: req.method, path: `${target.pathname}${target.search}`,
      headers, agent: this.upstreamAgent,
    }, (answer) => {
      const back: http.OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(answer.headers)) if (!HOP_BY_HOP.has(name)) back[name] = value;
      res.writeHead(answer.statusCode ?? 502, back);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-length': '0' });
      res.end();
    });
    req.pipe(upstream);
  }

  private tunnel(req: http.IncomingMessage, client: Duplex, head: Buffer): void {
    this.track(client);
    if (!this.authorized(req)) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(req.url ?? '');
    if (!m || !LOOPBACK.has(m[1]!)) {
      this.refusedTargets.push(req.url ?? '');
      client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    this.connects.push(req.url!);
    const upstream = net.connect(Number(m[2]), m[1]!.replace(/^\[(.*)\]$/, '$1'));
    this.track(upstream);
    upstream.once('connect', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.once('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  }
}
