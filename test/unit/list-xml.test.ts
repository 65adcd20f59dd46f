import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { decodeXmlText, parseListPage } from '../../src/store/list-xml.js';

const page = (body: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>d/</Prefix><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>${body}</ListBucketResult>`;

describe('reading a ListObjectsV2 page', () => {
  test('entries, common prefixes and the continuation token; the page\'s own <Prefix> is no common prefix', () => {
    const xml = page('<IsTruncated>true</IsTruncated>'
      + '<Contents><Key>d/a &amp; b.txt</Key><LastModified>2026-12-03T16:27:20.123Z</LastModified><ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents>\n'
      + '<Contents><Key>d/&lt;x&gt; &#233;&#x4e2d;</Key><LastModified>2026-12-03T16:27:21.000Z</LastModified><ETag>"abc-2"</ETag><Size>12345678901</Size></Contents>'
      + '<CommonPrefixes><Prefix>d/sub/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>d/q&quot;/</Prefix></CommonPrefixes>'
      + '<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken><KeyCount>4</KeyCount>');
    assert.deepEqual(parseListPage(xml), {
      objects: [
        { key: 'd/a & b.txt', size: 1, etag: '0cc175b9c0f1b6a831c399e269772661', lastModified: new Date('2026-12-03T16:27:20.123Z') },
        { key: 'd/<x> é中', size: 12345678901, etag: 'abc-2', lastModified: new Date('2026-12-03T16:27:21.000Z') },
      ],
      prefixes: ['d/sub/', 'd/q"/'],
      continuationToken: '1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=',
    });
  });

  test('the last page: no token even when the server sends one; an empty page', () => {
    assert.deepEqual(parseListPage(page('<IsTruncated>false</IsTruncated><Contents><Key>d/x</Key><Size>0</Size><ETag>"e"</ETag><LastModified>2026-01-01T00:00:00Z</LastModified></Contents><NextContinuationToken>t</NextContinuationToken>')).continuationToken, undefined);
    assert.deepEqual(parseListPage(page('<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>')), { objects: [], prefixes: [], continuationToken: undefined });
  });

  test('what is no listing fails, and says so', () => {
    assert.throws(() => parseListPage('<Error><Code>AccessDenied</Code></Error>'), /not a listing/);
    assert.throws(() => parseListPage(page('<IsTruncated>true</IsTruncated>')), /without a continuation token/);
    assert.throws(() => parseListPage(page('<Contents><Key>d/x</Key>')), /unterminated <Contents>/);
    assert.throws(() => parseListPage(page('<Contents><Size>1</Size></Contents>')), /without a <Key>/);
  });

  test('entities: named, decimal and hex; an unknown one is left as it is', () => {
    assert.equal(decodeXmlText('a&amp;b&lt;&gt;&quot;&apos;&#10;&#x1F600;&nbsp;'), 'a&b<>"\'\n😀&nbsp;');
    assert.equal(decodeXmlText('plain'), 'plain');
  });
});
