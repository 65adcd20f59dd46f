// An HTTP proxy on loopback between an S3 client and the S3 server that counts what passes:
// requests by method and S3 operation, and bytes each way. Headers go through untouched (the
// SigV4 signature covers Host), bodies are streamed, connections are kept alive.
// The benchmark uses it to count each filesystem's requests; the fault tests drive its faults:
// added latency, a share of requests answered 500/503 SlowDown, responses cut off mid-body,
// requests stalled without an answer, and connections refused for a while.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { mulberry32 } from '../benchmark/random-plan.js';

/** Faults applied to the requests that match (all requests when `match` is absent). */
export interface Faults {
  /** Only requests whose "METHOD /path?query" matches are touched. */
  match?: RegExp;
  /** Added before forwarding each request. */
  latencyMs?: number;
  /** Share (0..1) of requests answered at once with `errorStatus`, never forwarded. */
  errorShare?: number;
  errorStatus?: 500 | 503;
  /** Share (0..1) of responses whose connection is destroyed halfway through the body. */
  resetShare?: number;
  /** The first this many matching responses are cut so (then resetShare decides): for a PUT,
   *  the server stored the object and its answer is lost. */
  resetCount?: number;
  /** Requests are held without an answer (and never forwarded) while this is set. */
  stall?: boolean;
  /** Requests are answered 200 with garbage (never forwarded): a body that is not XML, headers
   *  that are not what they say (a Last-Modified that is no date, an unquoted ETag, a
   *  Content-Range that is no range, metadata mode `abc`), as a broken middlebox might. */
  garbage?: boolean;
  /** Seed of the random choices, so a failing run can be replayed. */
  seed?: number;
}

export interface FaultCounts {
  errors: number;
  garbage: number;
  resets: number;
  stalled: number;
}

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
  private faults: Faults = {};
  private resetsLeft = 0;
  private random: () => number = mulberry32(1);
  private readonly stalled = new Set<http.ServerResponse>();
  private readonly sockets = new Set<Socket>();
  private listenPort = 0;
  readonly faultCounts: FaultCounts = { errors: 0, garbage: 0, resets: 0, stalled: 0 };
  /** Request body bytes forwarded since the start, never reset: progress of an upload. (A
   *  request's bytes count toward the take() period it started in, so take() lags behind.) */
  bytesUpTotal = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  /** Replaces the faults in force; stalled requests stay stalled until clearFaults(). */
  setFaults(faults: Faults): void {
    this.faults = faults;
    this.resetsLeft = faults.resetCount ?? 0;
    this.random = mulberry32(faults.seed ?? 1);
  }

  /** No more faults; requests held by a stall are dropped (their connections closed). */
  clearFaults(): void {
    this.faults = {};
    for (const res of this.stalled) res.socket?.destroy();
    this.stalled.clear();
  }

  /** Connection refused until accept(): the listener closes and open connections are cut. */
  async refuse(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Listens again on the same port after refuse(). */
  async accept(): Promise<void> {
    if (!this.server) await this.start(this.listenPort);
  }

  /** Starts listening on 127.0.0.1 (port 0: any free port); resolves with the port. */
  async start(port = 0): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.listenPort = (server.address() as AddressInfo).port;
    return this.listenPort;
  }

  get port(): number {
    return this.listenPort;
  }

  /** Counts since the last reset, and a reset. */
  take(): ProxyCounts {
    const c = this.counts;
    this.counts = emptyCounts();
    return c;
  }

  async stop(): Promise<void> {
    this.clearFaults();
    this.agent.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const f = this.faults;
    if (f.match && !f.match.test(`${req.method ?? 'GET'} ${req.url ?? '/'}`)) {
      this.forward(req, res, false);
      return;
    }
    if (f.stall) {
      this.faultCounts.stalled++;
      this.stalled.add(res);
      req.resume(); // take the body, answer nothing
      res.on('close', () => this.stalled.delete(res));
      return;
    }
    if (f.garbage) {
      this.faultCounts.garbage++;
      req.resume();
      req.on('end', () => {
        const body = Buffer.from('<html>not S3 <Contents><Key>\u0000</Key></Contents', 'utf8');
        res.writeHead(200, {
          'content-type': 'application/xml', 'content-length': body.length, 'last-modified': 'sometime last week',
          etag: 'unquoted', 'content-range': 'bytes garbage', 'x-amz-meta-mode': 'abc', 'x-amz-meta-mtime': '-5',
        });
        res.end(req.method === 'HEAD' ? undefined : body);
      });
      return;
    }
    if (f.errorShare && this.random() < f.errorShare) {
      this.faultCounts.errors++;
      const status = f.errorStatus ?? 503;
      const code = status === 503 ? 'SlowDown' : 'InternalError';
      req.resume();
      req.on('end', () => {
        res.writeHead(status, { 'content-type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected by the test proxy</Message></Error>`);
      });
      return;
    }
    const reset = this.resetsLeft > 0 ? this.resetsLeft-- > 0 : f.resetShare !== undefined && this.random() < f.resetShare;
    if (f.latencyMs) setTimeout(() => this.forward(req, res, reset), f.latencyMs);
    else this.forward(req, res, reset);
  }

  private forward(req: http.IncomingMessage, res: http.ServerResponse, reset: boolean): void {
    const counts = this.counts;
    counts.requests++;
    const method = req.method ?? 'GET';
    counts.byMethod[method] = (counts.byMethod[method] ?? 0) + 1;
    req.on('data', (chunk: Buffer) => {
      counts.bytesUp += chunk.length;
      this.bytesUpTotal += chunk.length;
    });
    const upstream = http.request({
      host: this.targetHost,
      port: this.targetPort,
      method,
      path: req.url,
      headers: req.headers,
      agent: this.agent,
    }, (up) => {
      // A HEAD answer announces the object's length but carries no body.
      const length = method === 'HEAD' ? 0 : Number(up.headers['content-length'] ?? 0);
      // A reset of a response without a body sends nothing at all (see below).
      if (!reset || length > 1) res.writeHead(up.statusCode ?? 502, up.statusMessage, up.rawHeaders);
      up.on('data', (chunk: Buffer) => { counts.bytesDown += chunk.length; });
      res.on('error', () => undefined);
      if (!reset) {
        up.pipe(res);
        return;
      }
      // A response cut off: half its body goes out (the headers at least), then the connection drops.
      this.faultCounts.resets++;
      let sent = 0;
      const cut = (): void => {
        up.destroy();
        res.socket?.destroy();
      };
      // No body to cut (PUT, HEAD, DELETE): the answer is lost after the server acted on the request.
      if (!(length > 1)) {
        cut();
        return;
      }
      const half = Math.floor(length / 2);
      up.on('data', (chunk: Buffer) => {
        if (sent >= half) return;
        const n = Math.min(half - sent, chunk.length);
        res.write(chunk.subarray(0, n));
        sent += n;
        if (sent >= half) setImmediate(cut);
      });
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
