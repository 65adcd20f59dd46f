// MD5 for Content-MD5 headers (base64) and ETag checks (hex).
import { createHash } from 'node:crypto';

export function md5Base64(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

export function md5Hex(data: Buffer): string {
  return createHash('md5').update(data).digest('hex');
}
