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
      // A HEAD answer announces the object's length, as S3 does, and carries no body.
      const length = req.method === 'HEAD' ? { 'content-length': '1000' } : {};
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'x-amz-meta-mode': '33188', etag: '"abc"', ...length });
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
  const totalBefore = proxy.bytesUpTotal;
  await request('PUT', '/b/k', 'abcd');
  await request('GET', '/b/k');
  await request('HEAD', '/b/k');
  const c = proxy.take();
  assert.equal(c.requests, 3);
  assert.deepEqual(c.byMethod, { PUT: 1, GET: 1, HEAD: 1 });
  assert.equal(c.bytesUp, 4);
  assert.equal(c.bytesDown, 'echo:abcd'.length + 'echo:'.length);
  assert.equal(proxy.take().requests, 0);
  assert.equal(proxy.bytesUpTotal - totalBefore, 4, 'the running total is not reset by take()');
});

/** Like request(), but a failed exchange (reset, refused, cut short) resolves with its error code. */
function attempt(method: string, path: string, timeoutMs = 2000): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      res.on('aborted', () => resolve({ status: res.statusCode!, error: 'aborted' }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ status: res.statusCode!, error: e.code ?? e.message }));
    });
    req.setTimeout(timeoutMs, () => { resolve({ error: 'timeout' }); req.destroy(); });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

test('faults: a share of requests answered 503 SlowDown without reaching the server', async () => {
  const before = seen.length;
  proxy.setFaults({ errorShare: 1 });
  const r = await attempt('GET', '/b/k');
  proxy.clearFaults();
  assert.equal(r.status, 503);
  assert.match(r.body ?? '', /<Code>SlowDown<\/Code>/);
  assert.equal(seen.length, before, 'not forwarded');
  proxy.setFaults({ errorShare: 0.5, seed: 7 });
  const statuses = [];
  for (let i = 0; i < 40; i++) statuses.push((await attempt('GET', '/b/k')).status);
  proxy.clearFaults();
  const failed = statuses.filter((s) => s === 503).length;
  assert.ok(failed > 5 && failed < 35, `about half failed: ${failed} of 40`);
});

test('faults: a response cut off mid-body, and an answer lost after the server acted', async () => {
  proxy.setFaults({ resetShare: 1, match: /^GET / });
  const cut = await attempt('GET', '/b/long-body');
  proxy.setFaults({ resetShare: 1, match: /^HEAD / });
  const lost = await attempt('HEAD', '/b/k');
  proxy.clearFaults();
  assert.ok(cut.error !== undefined, `the GET failed: ${JSON.stringify(cut)}`);
  // The connection drops at once (no wait for a timeout): the client learns of it.
  assert.ok(lost.error !== undefined && lost.error !== 'timeout' && lost.status === undefined, `the HEAD got no answer, its connection dropped: ${JSON.stringify(lost)}`);
  assert.ok(cut.error !== 'timeout', `the GET was cut, not left hanging: ${JSON.stringify(cut)}`);
  assert.ok(proxy.faultCounts.resets >= 2);
  assert.equal((await attempt('GET', '/b/k')).status, 200, 'fine again once cleared');
});

test('faults: garbage answers are 200s that are not S3, never forwarded', async () => {
  const before = seen.length;
  proxy.setFaults({ garbage: true, match: /junk/ });
  const junk = await attempt('GET', '/b/junk');
  const fine = await attempt('GET', '/b/k');
  proxy.clearFaults();
  assert.equal(junk.status, 200);
  assert.match(junk.body ?? '', /^<html>not S3/);
  assert.equal(fine.body, 'echo:', 'others pass');
  assert.equal(seen.length, before + 1, 'the garbage request was not forwarded');
  assert.equal(proxy.faultCounts.garbage, 1);
});

test('faults: a stall holds matching requests without an answer, others pass', async () => {
  proxy.setFaults({ stall: true, match: /\/stalled/ });
  const stalled = attempt('GET', '/b/stalled', 5000);
  assert.equal((await attempt('GET', '/b/other')).status, 200, 'other requests pass during the stall');
  const early = await Promise.race([stalled, new Promise((r) => setTimeout(() => r('still waiting'), 300))]);
  assert.equal(early, 'still waiting');
  proxy.clearFaults();
  assert.ok((await stalled).error !== undefined, 'cleared: the held connection is closed');
});

test('faults: connections refused, then accepted again on the same port; added latency', async () => {
  await proxy.refuse();
  assert.equal((await attempt('GET', '/b/k')).error, 'ECONNREFUSED');
  await proxy.accept();
  assert.equal(proxy.port, port);
  assert.equal((await attempt('GET', '/b/k')).status, 200);
  proxy.setFaults({ latencyMs: 200 });
  const started = Date.now();
  assert.equal((await attempt('GET', '/b/k')).status, 200);
  proxy.clearFaults();
  assert.ok(Date.now() - started >= 190, 'the answer came after the added latency');
});
