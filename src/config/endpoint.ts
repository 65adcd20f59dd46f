// Where the S3 API lives, from the qsfs options: zone alone means QingStor's S3-compatible
// endpoint for that zone; --host/--protocol/--port point anywhere else (AWS, MinIO, Ceph, local).
import { isIP } from 'node:net';

export interface Endpoint {
  /** Full URL, e.g. https://s3.pek3a.qingstor.com or http://127.0.0.1:7481 */
  url: string;
  /** Signing region (the zone). */
  region: string;
  /** Path-style addressing (bucket in the path) instead of virtual-hosted style. */
  forcePathStyle: boolean;
  /** Whether the endpoint is AWS itself (checksum defaults differ, see s3-client.ts). */
  isAws: boolean;
}

export interface EndpointSettings {
  zone: string;
  host: string;
  protocol: 'http' | 'https';
  port: number;
  pathstyle: boolean;
}

/** A host name as sockets take it: an IPv6 address without the brackets a URL puts around it. */
export function unbracketed(host: string): string {
  return host.replace(/^\[(.*)\]$/, '$1');
}

export function resolveEndpoint(s: EndpointSettings): Endpoint {
  const host = s.host !== '' ? s.host : `s3.${s.zone}.qingstor.com`;
  const defaultPort = s.protocol === 'https' ? 443 : 80;
  const port = s.port === 0 ? defaultPort : s.port;
  const bareHost = unbracketed(host);
  const hostPart = isIP(bareHost) === 6 ? `[${bareHost}]` : host;
  const url = `${s.protocol}://${hostPart}${port === defaultPort ? '' : `:${port}`}`;
  // Virtual-hosted style needs DNS names of the form bucket.host: impossible for an IP
  // address or localhost, so those use path-style, as does anyone who asks for it.
  const forcePathStyle = s.pathstyle || isIP(bareHost) !== 0 || bareHost === 'localhost' || bareHost.endsWith('.localhost');
  return { url, region: s.zone, forcePathStyle, isAws: /(^|\.)amazonaws\.com(\.cn)?$/.test(bareHost) };
}
