// An HTTP proxy on loopback between an S3 client and the S3 server that counts what passes:
// requests by method and S3 operation, and bytes each way. Headers go through untouched (the
// SigV4 signature covers Host), bodies are streamed, connections are kept alive.
// The benchmark uses it to count each filesystem's requests; fault tests grow it further.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxyCounts {
  requests: number;
  byMethod: Record<string, number>;
  bytesUp: number;
  bytesDown: number;
}

export class CountingProxy {
  private server: http.Server | null = null;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  private counts: ProxyCounts = emptyCounts();

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  /** Starts listening on 127.0.0.1 (port 0: any free port); resolves with the port. */
  async start(port = 0): Promise<number> {
    const server = http.createServer((req, res) => this.forward(req, res));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  /** Counts since the last reset, and a reset. */
  take(): ProxyCounts {
    const c = this.counts;
    this.counts = emptyCounts();
    return c;
  }

  async stop(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse): void {
    const counts = this.counts;
    counts.requests++;
    const method = req.method ?? 'GET';
    counts.byMethod[method] = (counts.byMethod[method] ?? 0) + 1;
    req.on('data', (chunk: Buffer) => { counts.bytesUp += chunk.length; });
    const upstream = http.request({
      host: this.targetHost,
      port: this.targetPort,
      method,
      path: req.url,
      headers: req.headers,
      agent: this.agent,
    }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
      up.on('data', (chunk: Buffer) => { counts.bytesDown += chunk.length; });
      up.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  }
}

function emptyCounts(): ProxyCounts {
  return { requests: 0, byMethod: {}, bytesUp: 0, bytesDown: 0 };
}
