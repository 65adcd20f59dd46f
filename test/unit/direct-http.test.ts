// The direct GET path against a loopback TCP server that answers byte for byte as each test
// says: heads split across reads, bodies in pieces, keep-alive, cut answers, errors, stalls.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { DirectHttp, DirectHttpError, UnsupportedResponse, decodeChunked, parseHead } from '../../src/store/direct-http.js';

type Answer = (socket: net.Socket, request: string, n: number) => void;

describe('DirectHttp', () => {
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

  const client = (timeoutMs = 5000): DirectHttp => new DirectHttp({ host: '127.0.0.1', port, timeoutMs, connectTimeoutMs: 2000, maxIdle: 4, idleMs: 2000 });
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
    const first = await c.request('GET', GET);
    assert.equal(first.status, 206);
    assert.ok(first.body.equals(body));
    assert.equal(first.headers['etag'], '"abc"');
    assert.equal(first.headers['x-amz-meta-mode'], '33188, 2', 'repeated headers joined as node:http does');
    const second = await c.request('GET', GET);
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
    assert.equal((await c.request('GET', GET)).body.toString(), 'hello');
    assert.equal((await c.request('GET', GET)).body.length, 0);
    assert.equal(connections, 2, 'a new connection after Connection: close');
    c.destroy();
  });

  test('an error answer: status and error document; a body cut short: ECONNRESET', async () => {
    answer = (socket) => socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 40\r\n\r\n<Error><Code>NoSuchKey</Code></Error>\n\n\n');
    const c = client();
    const missing = await c.request('GET', GET);
    assert.equal(missing.status, 404);
    assert.match(missing.body.toString(), /NoSuchKey/);
    answer = (socket) => { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'); socket.destroy(); };
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof DirectHttpError && err.code === 'ECONNRESET');
    c.destroy();
  });

  test('a kept socket the server closed meanwhile: the GET goes out once more on a new connection', async () => {
    answer = (socket) => { socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); socket.end(); };
    const c = client();
    assert.equal((await c.request('GET', GET)).body.toString(), 'ok');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    assert.equal((await c.request('GET', GET)).body.toString(), 'ok');
    c.destroy();
  });

  test('not HTTP: EPROTO; more bytes than Content-Length: EPROTO; a 2xx without Content-Length: unsupported', async () => {
    const c = client();
    answer = (socket) => socket.write('SSH-2.0-OpenSSH\r\n\r\n');
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof DirectHttpError && err.code === 'EPROTO');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA');
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof DirectHttpError && err.code === 'EPROTO');
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\nno length');
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof UnsupportedResponse);
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n');
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof DirectHttpError && err.code === 'EPROTO');
    c.destroy();
  });

  test('a stalled answer fails after the timeout; a refused connection fails at once', async () => {
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'); // and nothing more
    const c = client(300);
    const started = performance.now();
    await assert.rejects(c.request('GET', GET), (err: unknown) => err instanceof DirectHttpError && err.code === 'TimeoutError');
    assert.ok(performance.now() - started >= 250);
    c.destroy();
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = new DirectHttp({ host: '127.0.0.1', port: deadPort, timeoutMs: 5000, connectTimeoutMs: 2000, maxIdle: 4, idleMs: 2000 });
    await assert.rejects(refused.request('GET', GET), (err: unknown) => (err as { code?: string }).code === 'ECONNREFUSED');
    refused.destroy();
  });

  test('HEAD and 204: no body whatever Content-Length says; a PUT body reaches the server whole', async () => {
    const c = client();
    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 12345\r\nETag: "e"\r\n\r\n');
    const head = await c.request('HEAD', 'HEAD /b/k HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.equal(head.headers['content-length'], '12345');
    assert.equal(head.body.length, 0);
    answer = (socket) => socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n');
    assert.equal((await c.request('DELETE', 'DELETE /b/k HTTP/1.1\r\nhost: x\r\n\r\n')).status, 204);

    // a server that reads the whole body before it answers, and says what it got
    const body = randomBytes(3 * 1024 * 1024);
    const upload = net.createServer((socket) => {
      let got = Buffer.alloc(0);
      socket.on('data', (d) => {
        got = Buffer.concat([got, d]);
        const end = got.indexOf('\r\n\r\n');
        const length = end < 0 ? -1 : Number(/content-length: (\d+)/i.exec(got.subarray(0, end).toString())?.[1]);
        if (end >= 0 && got.length - end - 4 >= length) {
          const sum = got.subarray(end + 4).equals(body) ? 'same' : 'different';
          socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${sum.length}\r\n\r\n${sum}`);
          got = Buffer.alloc(0);
        }
      });
    });
    await new Promise<void>((resolve) => upload.listen(0, '127.0.0.1', resolve));
    const put = new DirectHttp({ host: '127.0.0.1', port: (upload.address() as net.AddressInfo).port, timeoutMs: 5000, connectTimeoutMs: 2000, maxIdle: 4, idleMs: 2000 });
    const res = await put.request('PUT', `PUT /b/k HTTP/1.1\r\ncontent-length: ${body.length}\r\n\r\n`, body);
    assert.equal(res.body.toString(), 'same');
    put.destroy();
    upload.close();
    c.destroy();
  });

  test('a chunked answer (a copy result) in pieces: decoded, and the socket kept', async () => {
    connections = 0;
    answer = (socket) => send(socket, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<Copy', '\r\n3;ext=1\r\nRes\r', '\n0\r\n', '\r\n']);
    const c = client();
    assert.equal((await c.request('PUT', GET)).body.toString(), '<CopyRes');
    assert.equal((await c.request('PUT', GET)).body.toString(), '<CopyRes');
    assert.equal(connections, 1);
    c.destroy();
    assert.deepEqual(decodeChunked(Buffer.from('2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n')), { body: Buffer.from('ok'), used: '2\r\nok\r\n0\r\nX-Trailer: 1\r\n\r\n'.length });
    assert.equal(decodeChunked(Buffer.from('2\r\nok\r\n')), null);
    assert.equal(decodeChunked(Buffer.from('2\r\nokXX0\r\n\r\n')), 'bad');
  });

  test('a body into the caller\'s page buffers: in order across buffer edges, from any read split; a longer body is an error', async () => {
    const body = randomBytes(300_000);
    answer = (socket) => send(socket, [
      `HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\n\r\n`, body.subarray(0, 7),
      body.subarray(7, 131_073), body.subarray(131_073, 131_074), body.subarray(131_074),
    ]);
    const c = client();
    const pages = [Buffer.alloc(131_072, 1), Buffer.alloc(131_072, 1), Buffer.alloc(131_072, 1)];
    const res = await c.request('GET', GET, undefined, pages);
    assert.equal(res.received, body.length);
    assert.equal(res.body.length, 0, 'nothing allocated for the body');
    assert.ok(Buffer.concat(pages).subarray(0, body.length).equals(body), 'the bytes landed in order');
    assert.ok(pages[2]!.subarray(body.length - 262_144).equals(Buffer.alloc(131_072 * 3 - body.length, 1)), 'nothing written past the body');

    // Head and the start of the body in one read.
    answer = (socket) => socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n'), Buffer.from('hello, world')]));
    const small = [Buffer.alloc(5), Buffer.alloc(5), Buffer.alloc(5)];
    assert.equal((await c.request('GET', GET, undefined, small)).received, 12);
    assert.equal(Buffer.concat(small).toString('latin1', 0, 12), 'hello, world');

    // An error answer still brings its document, not into the pages.
    answer = (socket) => socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n<Error/>\n');
    const missing = await c.request('GET', GET, undefined, [Buffer.alloc(4)]);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), '<Error/>\n');

    answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world');
    await assert.rejects(c.request('GET', GET, undefined, [Buffer.alloc(5), Buffer.alloc(5)]), (e: unknown) => e instanceof DirectHttpError && e.code === 'EPROTO');
    c.destroy();
  });

  test('parseHead: status, lower-case names, bad lines', () => {
    assert.deepEqual(parseHead('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-1/9'), { status: 206, headers: { 'content-range': 'bytes 0-1/9' } });
    assert.equal(parseHead('HTTP/1.1 200')?.status, 200);
    assert.equal(parseHead('HTTP/2 200 OK'), null);
    assert.equal(parseHead('HTTP/1.1 200 OK\r\nno colon here'), null);
  });
});
