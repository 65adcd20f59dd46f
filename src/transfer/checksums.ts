// S3's additional checksums (--checksum): CRC32C or CRC64NVME of a PUT's or a part's body, sent
// beside Content-MD5 (-m) so that the server verifies what it stored with a checksum that it
// also keeps and can answer later (x-amz-checksum-*), whatever encryption does to the ETag.
// Computed by native/checksums.c (the SDK's JavaScript ones run at 85-195 MiB/s here).
import { createRequire } from 'node:module';
import { ADDON_PATH } from '../native-addon.js';

export type ChecksumAlgorithm = 'crc32c' | 'crc64nvme';
export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32c', 'crc64nvme'];

interface ChecksumAddon {
  qsfs_crc32c(buf: Buffer, previous: number): number;
  qsfs_crc64nvme(buf: Buffer, previous: bigint): bigint;
  qsfs_crc32c_hardware(): boolean;
}

let addon: ChecksumAddon | undefined;
function native(): ChecksumAddon {
  addon ??= createRequire(import.meta.url)(ADDON_PATH) as ChecksumAddon;
  return addon;
}

/** The checksum of a body (one buffer, or several taken as one), base64 of its big-endian
 *  bytes, as S3's x-amz-checksum-* headers carry it. */
export function checksumBase64(algorithm: ChecksumAlgorithm, body: Buffer | readonly Buffer[]): string {
  const a = native();
  const buffers = Buffer.isBuffer(body) ? [body] : body;
  if (algorithm === 'crc32c') {
    let crc = 0;
    for (const buf of buffers) crc = a.qsfs_crc32c(buf, crc);
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(crc >>> 0);
    return out.toString('base64');
  }
  let crc = 0n;
  for (const buf of buffers) crc = a.qsfs_crc64nvme(buf, crc);
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(crc);
  return out.toString('base64');
}

/** Whether CRC32C runs on the CPU's own instruction (SSE 4.2), for the log. */
export function crc32cInHardware(): boolean {
  return native().qsfs_crc32c_hardware();
}
