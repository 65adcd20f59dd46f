import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveEndpoint, type EndpointSettings } from '../../src/config/endpoint.js';

function settings(over: Partial<EndpointSettings>): EndpointSettings {
  return { zone: 'pek3a', host: '', protocol: 'https', port: 0, pathstyle: false, ...over };
}

describe('resolveEndpoint', () => {
  test('zone only: QingStor S3 endpoint of the zone, virtual-hosted', () => {
    assert.deepEqual(resolveEndpoint(settings({})), {
      url: 'https://s3.pek3a.qingstor.com',
      region: 'pek3a',
      forcePathStyle: false,
      isAws: false,
    });
    const sh1 = resolveEndpoint(settings({ zone: 'sh1a' }));
    assert.equal(sh1.url, 'https://s3.sh1a.qingstor.com');
    assert.equal(sh1.region, 'sh1a');
  });

  test('zone only with http', () => {
    assert.equal(resolveEndpoint(settings({ protocol: 'http' })).url, 'http://s3.pek3a.qingstor.com');
  });

  test('host, http and a port', () => {
    const e = resolveEndpoint(settings({ zone: 'us-east-1', host: 'minio.example.com', protocol: 'http', port: 9000 }));
    assert.equal(e.url, 'http://minio.example.com:9000');
    assert.equal(e.region, 'us-east-1');
    assert.equal(e.forcePathStyle, false);
    assert.equal(e.isAws, false);
  });

  test('default ports are left out of the URL', () => {
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', protocol: 'https', port: 443 })).url, 'https://s3.example.com');
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', protocol: 'http', port: 80 })).url, 'http://s3.example.com');
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', protocol: 'http', port: 0 })).url, 'http://s3.example.com');
  });

  test('the other protocol\'s default port is kept', () => {
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', protocol: 'https', port: 80 })).url, 'https://s3.example.com:80');
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', protocol: 'http', port: 443 })).url, 'http://s3.example.com:443');
  });

  test('an IPv4 address: path-style', () => {
    const e = resolveEndpoint(settings({ host: '127.0.0.1', protocol: 'http', port: 7481 }));
    assert.equal(e.url, 'http://127.0.0.1:7481');
    assert.equal(e.forcePathStyle, true);
    assert.equal(e.isAws, false);
  });

  test('an IPv6 address, bracketed or not: bracketed in the URL, path-style', () => {
    for (const host of ['[::1]', '::1']) {
      const e = resolveEndpoint(settings({ host, protocol: 'http', port: 7481 }));
      assert.equal(e.url, 'http://[::1]:7481', host);
      assert.equal(e.forcePathStyle, true, host);
      assert.doesNotThrow(() => new URL(e.url));
    }
    const noPort = resolveEndpoint(settings({ host: '[fe80::1]', protocol: 'https', port: 443 }));
    assert.equal(noPort.url, 'https://[fe80::1]');
    assert.equal(noPort.forcePathStyle, true);
  });

  test('localhost and *.localhost: path-style', () => {
    for (const host of ['localhost', 'rgw.localhost']) {
      const e = resolveEndpoint(settings({ host, protocol: 'http', port: 9000 }));
      assert.equal(e.url, `http://${host}:9000`);
      assert.equal(e.forcePathStyle, true, host);
    }
  });

  test('a DNS name that merely contains "localhost" stays virtual-hosted', () => {
    assert.equal(resolveEndpoint(settings({ host: 'localhost.example.com' })).forcePathStyle, false);
    assert.equal(resolveEndpoint(settings({ host: 'mylocalhost' })).forcePathStyle, false);
  });

  test('--pathstyle forces path-style on a DNS name', () => {
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com' })).forcePathStyle, false);
    assert.equal(resolveEndpoint(settings({ host: 's3.example.com', pathstyle: true })).forcePathStyle, true);
    assert.equal(resolveEndpoint(settings({ pathstyle: true })).forcePathStyle, true);
  });

  test('AWS hosts are detected', () => {
    for (const host of ['s3.amazonaws.com', 's3.us-west-2.amazonaws.com', 's3.cn-north-1.amazonaws.com.cn', 'amazonaws.com']) {
      const e = resolveEndpoint(settings({ zone: 'us-west-2', host }));
      assert.equal(e.isAws, true, host);
      assert.equal(e.forcePathStyle, false, host);
      assert.equal(e.url, `https://${host}`);
    }
  });

  test('non-AWS hosts are not AWS, even when they look alike', () => {
    for (const host of ['', 's3.pek3a.qingstor.com', 'notamazonaws.com', 'amazonaws.com.evil.example', 'minio.local', '127.0.0.1']) {
      assert.equal(resolveEndpoint(settings({ host })).isAws, false, host);
    }
  });
});
