// Which proxy a request goes through, read from the environment as curl reads it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ProxyConfigError, describeProxyUse, parseNoProxy, parseProxyUrl, proxyEnvironment, redactUserInfo, routeFor,
} from '../../src/store/proxy.js';

describe('proxyEnvironment: which variable', () => {
  test('nothing set: no proxy, every request direct', () => {
    const p = proxyEnvironment({});
    assert.equal(p.http, null);
    assert.equal(p.https, null);
    assert.equal(routeFor(p, 'http://s3.example.com'), null);
    assert.equal(describeProxyUse(p, 'http://s3.example.com'), undefined);
  });

  test('HTTP_PROXY is for http URLs, HTTPS_PROXY for https URLs', () => {
    const p = proxyEnvironment({ HTTP_PROXY: 'http://plain:3128', HTTPS_PROXY: 'http://secure:3129' });
    assert.deepEqual(routeFor(p, 'http://s3.example.com:7480/'), { mode: 'forward', server: p.http });
    assert.equal(p.http?.host, 'plain');
    assert.equal(p.http?.port, 3128);
    assert.deepEqual(routeFor(p, 'https://s3.example.com'), { mode: 'tunnel', server: p.https });
    assert.equal(p.https?.host, 'secure');
    assert.equal(p.https?.variable, 'HTTPS_PROXY');
  });

  test('only HTTPS_PROXY: http URLs go directly', () => {
    const p = proxyEnvironment({ HTTPS_PROXY: 'http://secure:3129' });
    assert.equal(routeFor(p, 'http://s3.example.com'), null);
    assert.equal(routeFor(p, 'https://s3.example.com')?.server.host, 'secure');
    assert.match(describeProxyUse(p, 'http://s3.example.com')!, /go directly: no proxy is set for http URLs/);
  });

  test('the lower-case name wins when both are set (as in curl)', () => {
    const p = proxyEnvironment({ HTTPS_PROXY: 'http://upper:1', https_proxy: 'http://lower:2', HTTP_PROXY: 'http://upper:3', http_proxy: 'http://lower:4' });
    assert.equal(p.https?.host, 'lower');
    assert.equal(p.https?.variable, 'https_proxy');
    assert.equal(p.http?.port, 4);
  });

  test('an empty variable counts as unset', () => {
    const p = proxyEnvironment({ https_proxy: '', HTTPS_PROXY: 'http://upper:1' });
    assert.equal(p.https?.host, 'upper');
  });

  test('ALL_PROXY is the fallback for both', () => {
    const p = proxyEnvironment({ ALL_PROXY: 'http://all:8080', HTTPS_PROXY: 'http://secure:3129' });
    assert.equal(p.http?.host, 'all');
    assert.equal(p.http?.variable, 'ALL_PROXY');
    assert.equal(p.https?.host, 'secure');
    assert.equal(proxyEnvironment({ all_proxy: 'http://lower:1', ALL_PROXY: 'http://upper:2' }).https?.host, 'lower');
  });
});

describe('parseProxyUrl', () => {
  test('a scheme-less value is http://, the port defaults to 80', () => {
    const s = parseProxyUrl('proxy.corp:3128', 'HTTP_PROXY');
    assert.equal(s.host, 'proxy.corp');
    assert.equal(s.port, 3128);
    assert.equal(s.display, 'http://proxy.corp:3128');
    assert.equal(parseProxyUrl('http://proxy.corp/', 'HTTP_PROXY').port, 80);
  });

  test('user and password become Basic authorization; the display hides the password', () => {
    const s = parseProxyUrl('http://alice:s%40cret%3Ax@proxy:3128', 'HTTPS_PROXY');
    assert.equal(s.authorization, `Basic ${Buffer.from('alice:s@cret:x').toString('base64')}`);
    assert.equal(s.display, 'http://alice:***@proxy:3128');
    assert.equal(s.display.includes('cret'), false);
    assert.equal(parseProxyUrl('http://proxy:3128', 'HTTPS_PROXY').authorization, undefined);
  });

  test('an IPv6 proxy', () => {
    const s = parseProxyUrl('http://[::1]:3128', 'HTTP_PROXY');
    assert.equal(s.host, '::1');
    assert.equal(s.display, 'http://[::1]:3128');
  });

  test('malformed or unsupported URLs are refused, naming the variable, never the password', () => {
    for (const [value, why] of [
      ['http://user:topsecret@proxy:99999', /malformed/],
      ['http://user:topsecret@', /malformed|no host/],
      ['socks5://user:topsecret@proxy:1080', /http:\/\/ proxies only, not socks5:/],
      ['https://user:topsecret@proxy:3128', /http:\/\/ proxies only/],
      ['http://user:topsecret@proxy:3128/some/path', /no path/],
      ['http://user:%E0%A4%A@proxy:3128', /malformed user or password/],
    ] as const) {
      assert.throws(() => parseProxyUrl(value, 'HTTPS_PROXY'), (err: Error) => {
        assert.ok(err instanceof ProxyConfigError, value);
        assert.match(err.message, /^HTTPS_PROXY is not a usable proxy URL/);
        assert.match(err.message, why, value);
        assert.equal(err.message.includes('topsecret'), false, err.message);
        assert.equal(err.message.includes('%E0'), false, err.message);
        return true;
      });
    }
  });

  test('redactUserInfo', () => {
    assert.equal(redactUserInfo('http://u:p@h:1'), 'http://***@h:1');
    assert.equal(redactUserInfo('u:p@h:1'), '***@h:1');
    assert.equal(redactUserInfo('http://h:1'), 'http://h:1');
  });
});

describe('NO_PROXY', () => {
  const direct = (noProxy: string, url: string): boolean => routeFor(proxyEnvironment({ HTTP_PROXY: 'http://p:1', HTTPS_PROXY: 'http://p:1', NO_PROXY: noProxy }), url) === null;

  test('* turns the proxy off for everything', () => {
    assert.equal(direct('*', 'https://s3.amazonaws.com'), true);
    assert.equal(direct('*', 'http://10.1.2.3:7480'), true);
  });

  test('a name matches itself and the names under it, with or without a leading dot', () => {
    assert.equal(direct('example.com', 'https://s3.example.com'), true);
    assert.equal(direct('.example.com', 'https://s3.example.com'), true);
    assert.equal(direct('*.example.com', 'https://bucket.s3.example.com'), true);
    assert.equal(direct('example.com', 'https://example.com'), true);
    assert.equal(direct('EXAMPLE.com', 'https://S3.Example.COM'), true);
    assert.equal(direct('example.com', 'https://badexample.com'), false);
    assert.equal(direct('s3.example.com', 'https://example.com'), false);
  });

  test('entries separated by commas and spaces', () => {
    assert.equal(direct('localhost, internal.corp  example.com', 'https://s3.example.com'), true);
    assert.equal(direct('localhost, internal.corp  example.com', 'https://s3.internal.corp'), true);
    assert.equal(direct('localhost, internal.corp  example.com', 'https://s3.amazonaws.com'), false);
  });

  test('an IP address matches itself only, never as a suffix', () => {
    assert.equal(direct('127.0.0.1', 'http://127.0.0.1:7480'), true);
    assert.equal(direct('0.0.1', 'http://127.0.0.1:7480'), false);
    assert.equal(direct('127.0.0.2', 'http://127.0.0.1:7480'), false);
    assert.equal(direct('::1', 'http://[::1]:7480'), true);
    assert.equal(direct('[::1]', 'http://[::1]:7480'), true);
  });

  test('host:port matches that port only', () => {
    assert.equal(direct('127.0.0.1:7480', 'http://127.0.0.1:7480'), true);
    assert.equal(direct('127.0.0.1:7481', 'http://127.0.0.1:7480'), false);
    assert.equal(direct('example.com:443', 'https://s3.example.com'), true);
    assert.equal(direct('example.com:80', 'https://s3.example.com'), false);
    assert.equal(direct('[::1]:7480', 'http://[::1]:7480'), true);
    assert.equal(direct('[::1]:7481', 'http://[::1]:7480'), false);
  });

  test('CIDR ranges match IP addresses in them', () => {
    assert.equal(direct('10.0.0.0/8', 'http://10.200.3.4:7480'), true);
    assert.equal(direct('10.0.0.0/8', 'http://11.0.0.1:7480'), false);
    assert.equal(direct('127.0.0.0/8', 'http://127.0.0.1:7480'), true);
    assert.equal(direct('192.168.1.0/24', 'http://192.168.1.77'), true);
    assert.equal(direct('192.168.1.0/24', 'http://192.168.2.77'), false);
    assert.equal(direct('fd00::/8', 'http://[fd12::5]:7480'), true);
    assert.equal(direct('fd00::/8', 'http://[fe80::5]:7480'), false);
    // Host names are not resolved for ranges.
    assert.equal(direct('127.0.0.0/8', 'http://localhost:7480'), false);
  });

  test('the lower-case no_proxy wins; the text is kept for the log', () => {
    const p = proxyEnvironment({ HTTP_PROXY: 'http://p:1', no_proxy: 'a.example', NO_PROXY: 'b.example' });
    assert.equal(routeFor(p, 'http://x.a.example'), null);
    assert.notEqual(routeFor(p, 'http://x.b.example'), null);
    assert.equal(parseNoProxy(' a.example,  10.0.0.0/8 ').text, 'a.example,10.0.0.0/8');
    assert.match(describeProxyUse(p, 'http://x.a.example')!, /go directly: NO_PROXY matches it \(NO_PROXY: a\.example\)/);
    assert.match(describeProxyUse(p, 'http://x.b.example')!, /go through the proxy http:\/\/p:1, from HTTP_PROXY/);
  });
});
