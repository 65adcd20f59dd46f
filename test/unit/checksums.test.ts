// --checksum's CRCs (native/checksums.c) against the AWS SDK's own implementations, and the
// catalogue check values, over lengths and alignments that take every path of the C code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Crc32cJs, Crc64NvmeJs } from '@aws-sdk/checksums/crc';
import { checksumBase64, crc32cInHardware } from '../../src/transfer/checksums.js';

async function sdk(kind: 'crc32c' | 'crc64nvme', data: Buffer): Promise<string> {
  const h = kind === 'crc32c' ? new Crc32cJs() : new Crc64NvmeJs();
  h.update(data);
  return Buffer.from(await h.digest()).toString('base64');
}

test('check values of the catalogue: "123456789"', () => {
  const nine = Buffer.from('123456789');
  assert.equal(Buffer.from(checksumBase64('crc32c', nine), 'base64').toString('hex'), 'e3069283');
  assert.equal(Buffer.from(checksumBase64('crc64nvme', nine), 'base64').toString('hex'), 'ae8b14860a799888');
  assert.equal(checksumBase64('crc32c', Buffer.alloc(0)), 'AAAAAA==');
});

test('the same values as the SDK, for every length up to 64 bytes at every alignment, and 5 MiB', async () => {
  const data = randomBytes(5 * 1024 * 1024 + 13);
  for (const kind of ['crc32c', 'crc64nvme'] as const) {
    for (let offset = 0; offset < 8; offset++) {
      for (let len = 0; len <= 64; len++) {
        const slice = data.subarray(offset, offset + len);
        assert.equal(checksumBase64(kind, slice), await sdk(kind, slice), `${kind} offset ${offset} length ${len}`);
      }
    }
    assert.equal(checksumBase64(kind, data), await sdk(kind, data), `${kind} of 5 MiB`);
  }
});

test('a body of several buffers sums as one', async () => {
  const parts = [randomBytes(131072), randomBytes(7), randomBytes(131072 - 3), Buffer.alloc(0), randomBytes(1000)];
  const whole = Buffer.concat(parts);
  for (const kind of ['crc32c', 'crc64nvme'] as const) {
    assert.equal(checksumBase64(kind, parts), await sdk(kind, whole), kind);
  }
});

test('the CPU instruction is used where the CPU has it (x86-64 with SSE 4.2)', async () => {
  const { readFile } = await import('node:fs/promises');
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  if (process.arch === 'x64') assert.equal(crc32cInHardware(), /\bsse4_2\b/.test(cpuinfo));
  else assert.equal(crc32cInHardware(), false);
});
