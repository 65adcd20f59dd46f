// The direct GET path against a loopback TCP server that answers byte for byte as each test
// says: heads split across reads, bodies in pieces, keep-alive, cut answers, errors, stalls.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { DirectGet, DirectGetError, UnsupportedResponse, parseHead } from '../../src/store/direct-get.js';

type Answer = (socket: net.Socket, request: string, n: number) => void;

describe('DirectGet', () => {
  let server: net.Server;
  let port = 0;
  let answer: Answer = () => undefined;
  let connections = 0;
  let requests = 0;

  before(async () => {
    server = net.createServer((socket) => {
      connections++;
      let pending = '';
      socket.on('data', (d) => {
        pending += d.toString('latin1');
        let end: number;
        while ((end = pending.indexOf('\r\n\r\n')) >= 0) {
          const request = pending.slice(0, end);
          pending = pending.slice(end + 4);
          answer(socket, request, ++requests);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });

  after(() => server.close());

  const client = (timeoutMs = 5000): DirectGet => new DirectGet({ host: '127.0.0.1', port, timeoutMs, connectTimeoutMs: 2000, maxIdle: 4, idleMs: 2000 });
  const GET = 'GET /b/k HTTP/1.1\r\nhost: x\r\n\r\n';
  const send = (socket: net.Socket, parts: Array<string | Buffer>, gapMs = 5): void => {
    let i = 0;
    const next = (): void => {
      if (i >= parts.length || socket.destroyed) return;
      socket.write(parts[i++]!);
      setTimeout(next, gapMs);
    };
    next();
  };

  test('a body in pieces, after a head split across reads, arrives whole; the socket is kept for the next GET', async () => {
    const body = randomBytes(300_000);
    connections = 0;
    answer = (socket) => send(socket, [
      'HTTP/1.1 206 Partial Content\r\nContent-Le', `ngth: ${body.length}\r\nETag: "abc"\r\nx-amz-meta-mode: 33188\r\nX-Amz-Meta-Mode: 2\r\n\r\n`,
      body.subarray(0, 10), body.subarray(10, 70_000), body.subarray(70_000),
    ]);
    const c = client();
    const first = await c.get(GET);
    assert.equal(first.status, 206);
    assert.ok(first.body.equals(body));
    assert.equal(first.headers['etag'], '"abc"');
    assert.equal(first.headers['x-amz-meta-mode'], '33188, 2', 'repeated headers joined as node:http does');
    const second = await c.get(GET);
    assert.ok(second.body.equals(body));
    assert.equal(connections, 1, 'one keep-alive connection for both');
    c.destroy();
  });

  test('head and whole body in one write; an empty body; Connection: close is honoured', async () => {
    connections = 0;
    answer = (socket, _r, n) => socket.write(n % 2 === 1
      ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello'
      : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    requests = 0;
    const c = client();
    assert.equal((await c.get(GET)).body.toString(), 'hello');
    assert.equal((await c.get(GET)).body.length, 0);
    assert.equal(connections, 2, 'a new connection after Connection: close');
    c.destroy();
  });

  test('an error answer: status and error document; a body cut short: ECONNRESET', async () => {
    answer = (socket) => socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n<Error><Code>NoSuchKey</Code></Error>\n\n\n');
    const c = client();
    const missing = await c.get(GET);
    assert.equal(missing.status, 404);
    assert.match(missing.body.toString(), /NoSuchKey/);
    answer = (socket) => { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'); socket.destroy(); };
    await assert.rejects(c.get(GET), (err: unknown) => err instanceof DirectGetError && err.code === 'ECONNRESET');
    c.destroy();
  });

  test('a kept socket the server closed meanwhile: the GET goes out once more on a new connection', async () => {
    answer = (socket) => { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); socket.end(); };
    const c = client();
    assert.equal((await c.get(GET)).body.toString(), 'ok');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.equal((await c.get(GET)).body.toString(), 'ok');
    c.destroy();
  });

  test('not HTTP: EPROTO; more bytes than Content-Length: EPROTO; a 2xx without Content-Length: unsupported', async () => {
    const c = client();
    answer = (socket) => socket.write('SSH-2.0-OpenSSH\r\n\r\n');
    await assert.rejects(c.get(GET), (err: unknown) => err instanceof DirectGetError && err.code === 'EPROTO');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    await assert.rejects(c.get(GET), (err: unknown) => err instanceof DirectGetError && err.code === 'EPROTO');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    await assert.rejects(c.get(GET), (err: unknown) => err instanceof UnsupportedResponse);
    c.destroy();
  });

  test('a stalled answer fails after the timeout; a refused connection fails at once', async () => {
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); // and nothing more
    const c = client(300);
    const started = performance.now();
    await assert.rejects(c.get(GET), (err: unknown) => err instanceof DirectGetError && err.code === 'TimeoutError');
    assert.ok(performance.now() - started >= 250);
    c.destroy();
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = new DirectGet({ host: '127.0.0.1', port: deadPort, timeoutMs: 5000, connectTimeoutMs: 2000, maxIdle: 4, idleMs: 2000 });
    await assert.rejects(refused.get(GET), (err: unknown) => (err as { code?: string }).code === 'ECONNREFUSED');
    refused.destroy();
  });

  test('parseHead: status, lower-case names, bad lines', () => {
    assert.deepEqual(parseHead('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/9'), { status: 206, headers: { 'content-range': 'bytes 0-1/9' } });
    assert.equal(parseHead('HTTP/1.1 200')?.status, 200);
    assert.equal(parseHead('HTTP/2 200 OK'), null);
    assert.equal(parseHead('HTTP/1.1 200 OK\r\nno colon here'), null);
  });
});
