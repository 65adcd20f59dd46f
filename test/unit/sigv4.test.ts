// qsfs's own SigV4 signer gives the signatures the SDK's signer gives (@smithy/signature-v4,
// kept as a development dependency for this comparison), for the requests qsfs sends: keys with
// characters that need escaping, listings with every query parameter, an empty query value
// (?uploads), metadata with runs of spaces, a session token, and a new day's signing key.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { SigV4Signer, escapeUri, type RequestToSign } from '../../src/store/sigv4.js';

class Sha256 {
  private readonly h;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret as Uint8Array | string);
  }
  update(data: SourceData): void {
    this.h.update(data as Uint8Array | string);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(this.h.digest());
  }
}

const HOST = '127.0.0.1:7481';
const UNSIGNED = 'UNSIGNED-PAYLOAD';
const EMPTY = createHash('sha256').update('').digest('hex');

function keyPath(bucket: string, key: string): string {
  return key === '' ? `/${bucket}` : `/${bucket}/${key.split('/').map(escapeUri).join('/')}`;
}

const cases: Array<{ what: string; r: RequestToSign }> = [
  { what: 'a HEAD of a plain key', r: { method: 'HEAD', path: keyPath('b', 'dir/file.txt'), query: {}, headers: { host: HOST, 'x-amz-content-sha256': EMPTY } } },
  {
    what: 'a GET of a key that needs escaping, with a range',
    r: { method: 'GET', path: keyPath('b', "a b/ü+%x!'()*~=&?.bin"), query: {}, headers: { host: HOST, range: 'bytes=0-1048575', 'x-amz-content-sha256': EMPTY } },
  },
  {
    what: 'a listing with every query parameter',
    r: {
      method: 'GET', path: keyPath('b', ''),
      query: { 'list-type': '2', prefix: 'd i r/ä/', delimiter: '/', 'max-keys': '1000', 'continuation-token': '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=', 'start-after': 'x+y z' },
      headers: { host: HOST, 'x-amz-content-sha256': EMPTY },
    },
  },
  {
    what: 'a PUT with metadata holding runs of spaces, a content type and an MD5',
    r: {
      method: 'PUT', path: keyPath('b', 'f'), query: {},
      headers: {
        host: HOST, 'x-amz-content-sha256': UNSIGNED, 'content-length': '12', 'content-type': 'text/plain; charset=utf-8',
        'content-md5': 'XrY7u+Ae7tCTyyK7j1rNww==', 'x-amz-meta-mode': '33188', 'x-amz-meta-note': '  two   spaces  ', 'if-none-match': '*',
      },
    },
  },
  {
    what: 'a multipart create (?uploads: an empty value) and a part upload',
    r: { method: 'POST', path: keyPath('b', 'big'), query: { uploads: '' }, headers: { host: HOST, 'x-amz-content-sha256': EMPTY, 'content-length': '0' } },
  },
  {
    what: 'a part upload',
    r: { method: 'PUT', path: keyPath('b', 'big'), query: { partNumber: '7', uploadId: '2~abc/def+ghi=' }, headers: { host: HOST, 'x-amz-content-sha256': UNSIGNED, 'content-length': '8388608' } },
  },
  {
    what: 'a copy with its source header',
    r: { method: 'PUT', path: keyPath('b', 'to'), query: {}, headers: { host: HOST, 'x-amz-content-sha256': EMPTY, 'x-amz-copy-source': 'b/from%20here', 'x-amz-metadata-directive': 'REPLACE' } },
  },
];

async function smithySign(r: RequestToSign, date: Date, sessionToken?: string): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken },
    region: 'us-east-1', service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: false,
  });
  const [hostname, port] = HOST.split(':');
  const signed = await signer.sign({
    method: r.method, protocol: 'http:', hostname: hostname!, port: Number(port), path: r.path, query: r.query, headers: { ...r.headers },
  }, { signingDate: date });
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) out[k.toLowerCase()] = v as string;
  return out;
}

for (const { what, r } of cases) {
  test(`the same signature as the SDK's signer: ${what}`, async () => {
    const date = new Date('2026-12-03T19:15:42.123Z');
    const ours = new SigV4Signer('us-east-1').sign(r, { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, date);
    const theirs = await smithySign(r, date);
    assert.equal(ours['x-amz-date'], '20261203T191542Z');
    assert.equal(ours['authorization'], theirs['authorization']);
  });
}

test('a session token is sent and signed; the signing key follows the day', async () => {
  const signer = new SigV4Signer('us-east-1');
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'token/with+chars=' };
  for (const date of [new Date('2026-12-03T23:59:59Z'), new Date('2026-12-04T00:00:01Z')]) {
    const r = cases[0]!.r;
    const ours = signer.sign(r, credentials, date);
    const theirs = await smithySign(r, date, 'token/with+chars=');
    assert.equal(ours['x-amz-security-token'], 'token/with+chars=');
    assert.match(ours['authorization']!, /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
    assert.equal(ours['authorization'], theirs['authorization'], date.toISOString());
  }
});
