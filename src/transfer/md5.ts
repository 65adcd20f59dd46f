// MD5 for Content-MD5 headers (base64) and ETag checks (hex).
import { createHash } from 'node:crypto';

/** MD5 of a body: one buffer, or several taken as one. */
function md5Of(data: Buffer | readonly Buffer[]): Buffer {
  const hash = createHash('md5');
  for (const buf of Buffer.isBuffer(data) ? [data] : data) hash.update(buf);
  return hash.digest();
}

/** MD5 (base64) of a body, as Content-MD5 carries it. */
export function md5Base64(data: Buffer | readonly Buffer[]): string {
  return md5Of(data).toString('base64');
}

/** MD5 (hex) of a body, as a single PUT's ETag is. */
export function md5Hex(data: Buffer | readonly Buffer[]): string {
  return md5Of(data).toString('hex');
}

/** MD5 (hex) of the first `length` bytes of `buffers` taken as one. */
export function md5HexOf(buffers: Buffer[], length: number): string {
  const hash = createHash('md5');
  for (let i = 0, left = length; left > 0; i++) {
    const buf = buffers[i]!;
    hash.update(left >= buf.length ? buf : buf.subarray(0, left));
    left -= buf.length;
  }
  return hash.digest('hex');
}
