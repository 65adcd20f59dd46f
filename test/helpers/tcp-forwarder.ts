// A TCP forwarder the fault tests can cut: the S3 server becomes unreachable (connection
// refused) and comes back, without stopping the server itself.
import net, { type AddressInfo } from 'node:net';

/**
 * Forwards 127.0.0.1:<port> to the S3 server's port, byte for byte. close() stops listening and
 * cuts every connection (the server becomes unreachable: connection refused); listen(port)
 * again restores it. Collects the Content-MD5 header values of the requests that pass, and their
 * x-amz-checksum-* headers (as "name: value", the name lower-cased).
 */
export class TcpForwarder {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  readonly contentMd5s = new Set<string>();
  readonly checksumHeaders = new Set<string>();
  private paused = false;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  get listening(): boolean {
    return this.server !== null;
  }

  async listen(port = 0): Promise<number> {
    const server = net.createServer((client) => this.connect(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  private connect(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    this.sockets.add(client);
    this.sockets.add(upstream);
    let tail = '';
    client.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('latin1');
      for (const m of text.matchAll(/\r\ncontent-md5:[ \t]*([A-Za-z0-9+/=]+)\r\n/gi)) this.contentMd5s.add(m[1]!);
      for (const m of text.matchAll(/\r\n(x-amz-checksum-[a-z0-9-]+):[ \t]*([A-Za-z0-9+/=_]+)(?=\r\n)/gi)) this.checksumHeaders.add(`${m[1]!.toLowerCase()}: ${m[2]!}`);
      tail = text.slice(-256);
    });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    if (this.paused) {
      client.pause(); // the 'data' listener above set it flowing
      upstream.pause();
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  }

  /** Stalls every connection (nothing passes either way) until resume(): requests in flight hang. */
  pause(): void {
    this.paused = true;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  resume(): void {
    this.paused = false;
    for (const [client, upstream] of this.pairs) {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
