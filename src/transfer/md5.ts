// MD5 for Content-MD5 headers (base64) and ETag checks (hex).
import { createHash } from 'node:crypto';

/** MD5 (base64) of a body: one buffer, or several taken as one. */
export function md5Base64(data: Buffer | readonly Buffer[]): string {
  const hash = createHash('md5');
  for (const buf of Buffer.isBuffer(data) ? [data] : data) hash.update(buf);
  return hash.digest('base64');
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
