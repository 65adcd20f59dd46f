// An https endpoint on 127.0.0.1 for tests: TLS with a self-signed certificate for the IP
// address 127.0.0.1 (made by openssl into a private temporary directory), each connection's
// plain bytes piped to the S3 server's port. A client trusts it with NODE_EXTRA_CA_CERTS=certFile.
import { promises as fsp } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { run } from './shell.js';

export class TlsTerminator {
  private server: tls.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** TLS connections accepted. */
  accepted = 0;
  port = 0;

  private constructor(private readonly dir: string, readonly certFile: string, readonly keyFile: string) {}

  static async create(): Promise<TlsTerminator> {
    const dir = await fsp.mkdtemp(path.join(tmpdir(), 'qsfs-tls-'));
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    const r = await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`openssl could not make a certificate: ${r.stderr}`);
    return new TlsTerminator(dir, certFile, keyFile);
  }

  async start(targetPort: number): Promise<number> {
    const server = tls.createServer({ key: await fsp.readFile(this.keyFile), cert: await fsp.readFile(this.certFile) }, (client) => {
      this.accepted++;
      const upstream = net.connect(targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
    });
    server.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = null;
    if (server) await new Promise((resolve) => server.close(resolve));
    await fsp.rm(this.dir, { recursive: true, force: true });
  }
}
