// The counting proxy forwards requests and responses untouched and counts them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CountingProxy } from '../../scripts/lib/s3-proxy.js';

let upstream: http.Server;
let proxy: CountingProxy;
let port: number;
const seen: Array<{ method: string; url: string; host: string; body: string }> = [];

before(async () => {
  upstream = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => { body += d; });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, host: req.headers.host!, body });
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'x-amz-meta-mode': '33188', etag: '"abc"' });
      res.end(req.method === 'HEAD' ? undefined : `echo:${body}`);
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  proxy = new CountingProxy('127.0.0.1', (upstream.address() as AddressInfo).port);
  port = await proxy.start();
});

after(async () => {
  await proxy.stop();
  await new Promise((r) => upstream.close(r));
});

function request(method: string, path: string, body?: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers: { host: 'bucket.example:1234' } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('requests and responses pass through unchanged, Host header included', async () => {
  const r = await request('PUT', '/bucket/key%20x?partNumber=1', 'hello');
  assert.equal(r.status, 200);
  assert.equal(r.body, 'echo:hello');
  assert.equal(r.headers['x-amz-meta-mode'], '33188');
  assert.deepEqual(seen.at(-1), { method: 'PUT', url: '/bucket/key%20x?partNumber=1', host: 'bucket.example:1234', body: 'hello' });
  assert.equal((await request('GET', '/missing')).status, 404);
});

test('counts requests by method and bytes each way, and take() resets them', async () => {
  proxy.take();
  await request('PUT', '/b/k', 'abcd');
  await request('GET', '/b/k');
  await request('HEAD', '/b/k');
  const c = proxy.take();
  assert.equal(c.requests, 3);
  assert.deepEqual(c.byMethod, { PUT: 1, GET: 1, HEAD: 1 });
  assert.equal(c.bytesUp, 4);
  assert.equal(c.bytesDown, 'echo:abcd'.length + 'echo:'.length);
  assert.equal(proxy.take().requests, 0);
});
