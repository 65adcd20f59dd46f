// Which requests go through a proxy, read from the environment as curl, the AWS CLI, rclone and
// mountpoint-s3 read it: HTTP_PROXY for http URLs, HTTPS_PROXY for https URLs (the lower-case
// name wins when both are set, as in curl), ALL_PROXY when neither is set, and NO_PROXY naming
// the hosts that are reached directly. Pure logic: no sockets here (proxy-tunnel.ts opens them).
import { STATUS_CODES } from 'node:http';
import { BlockList, isIP } from 'node:net';

/** One proxy server, parsed from a variable. */
export interface ProxyServer {
  host: string;
  port: number;
  /** `Basic ...` for a URL with user:password, sent as Proxy-Authorization. */
  authorization?: string;
  /** The URL for logs and messages: the password replaced by ***. */
  display: string;
  /** The variable it came from, for messages ("check HTTPS_PROXY"). */
  variable: string;
}

/** What the environment says about proxies. */
export interface ProxyEnvironment {
  http: ProxyServer | null;
  https: ProxyServer | null;
  noProxy: NoProxy;
}

/**
 * How a request to a URL travels when it goes through a proxy: `forward` (plain HTTP: the
 * request goes to the proxy with the absolute URI in its request line) or `tunnel` (https: a
 * CONNECT to the proxy, then TLS to the endpoint inside it).
 */
export interface ProxyRoute {
  mode: 'forward' | 'tunnel';
  server: ProxyServer;
}

export class ProxyConfigError extends Error {
  override name = 'ProxyConfigError';
}

/**
 * The proxy would not carry a request (a CONNECT answered with another status than 2xx, or a
 * forwarded request answered 407). Shaped as the store reads failures: `code` names it, the
 * status is the proxy's (502-504 are retried; 403 and 407 are not).
 */
export class ProxyRefusedError extends Error {
  readonly code = 'ProxyRefused';
  readonly $metadata: { httpStatusCode: number };

  constructor(readonly proxy: string, readonly status: number, what: string) {
    super(`the proxy ${proxy} refused ${what}: HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`);
    this.name = 'ProxyRefused';
    this.$metadata = { httpStatusCode: status };
  }
}

/** The proxies the environment names, checked: a malformed or unsupported URL is a ProxyConfigError. */
export function proxyEnvironment(env: NodeJS.ProcessEnv = process.env): ProxyEnvironment {
  const all = pick(env, 'all_proxy', 'ALL_PROXY');
  const http = pick(env, 'http_proxy', 'HTTP_PROXY') ?? all;
  const https = pick(env, 'https_proxy', 'HTTPS_PROXY') ?? all;
  return {
    http: http ? parseProxyUrl(http.value, http.variable) : null,
    https: https ? parseProxyUrl(https.value, https.variable) : null,
    noProxy: parseNoProxy(pick(env, 'no_proxy', 'NO_PROXY')?.value ?? ''),
  };
}

/** Whether any proxy is configured at all (nothing to log or route otherwise). */
export function hasProxy(p: ProxyEnvironment): boolean {
  return p.http !== null || p.https !== null;
}

/** The proxy a request to `url` goes through, or null: directly. */
export function routeFor(p: ProxyEnvironment, url: URL | string): ProxyRoute | null {
  const target = typeof url === 'string' ? new URL(url) : url;
  const https = target.protocol === 'https:';
  const server = https ? p.https : p.http;
  if (!server) return null;
  const port = target.port === '' ? (https ? 443 : 80) : Number(target.port);
  if (p.noProxy.matches(target.hostname, port)) return null;
  return { mode: https ? 'tunnel' : 'forward', server };
}

/** The first of the names that is set and not empty (an empty variable means unset, as in curl). */
function pick(env: NodeJS.ProcessEnv, ...names: string[]): { variable: string; value: string } | undefined {
  for (const variable of names) {
    const value = env[variable]?.trim();
    if (value) return { variable, value };
  }
  return undefined;
}

/**
 * `http://[user[:password]@]host[:port][/]`; without a scheme, http:// is meant (as curl reads
 * `proxy:3128`). The port defaults to the scheme's (80). Only plain-HTTP proxies: the request to
 * the proxy itself is not encrypted (an https endpoint still is, end to end, inside CONNECT).
 */
export function parseProxyUrl(value: string, variable: string): ProxyServer {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`;
  const bad = (why: string): ProxyConfigError =>
    new ProxyConfigError(`${variable} is not a usable proxy URL (${why}): ${redactUserInfo(value)}; expected http://[user:password@]host[:port]`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw bad('malformed');
  }
  if (url.protocol !== 'http:') throw bad(`qsfs speaks to http:// proxies only, not ${url.protocol}//`);
  if (url.hostname === '') throw bad('no host');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') throw bad('a proxy URL has no path');
  const port = url.port === '' ? 80 : Number(url.port);
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    throw bad('malformed user or password');
  }
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    authorization: user !== '' || password !== '' ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined,
    display: `http://${user !== '' || password !== '' ? `${url.username}${password !== '' ? ':***' : ''}@` : ''}${url.hostname}:${port}`,
    variable,
  };
}

/** A URL-like text with whatever precedes its last '@' (user and password) replaced by ***. */
export function redactUserInfo(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
  return `${scheme}***${text.slice(at)}`;
}

/** NO_PROXY, read once: which hosts are reached directly. */
export interface NoProxy {
  /** The variable's entries, for logs. */
  readonly text: string;
  matches(hostname: string, port: number): boolean;
}

interface NameRule { name: string; port?: number }

/**
 * Comma or space separated entries: `*` (no proxy for anything); a host name, matching itself
 * and every name under it (`example.com` and `.example.com` both match `s3.example.com`; a
 * leading `*.` is read as `.`); an IP address, matching itself only; `10.0.0.0/8` or
 * `fd00::/8`, matching IP addresses in the range (host names are not resolved for this); any
 * of them with `:port` (`[v6]:port` for IPv6) to match that port only.
 */
export function parseNoProxy(text: string): NoProxy {
  const entries = text.split(/[\s,]+/).map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  const names: NameRule[] = [];
  const ranges: Array<{ list: BlockList; port?: number }> = [];
  let everything = false;
  for (const entry of entries) {
    if (entry === '*') {
      everything = true;
      continue;
    }
    const { host, port } = splitPort(entry);
    const cidr = /^(.+)\/(\d{1,3})$/.exec(host);
    const family = cidr ? isIP(cidr[1]!) : 0;
    if (cidr && family !== 0 && Number(cidr[2]) <= (family === 4 ? 32 : 128)) {
      const list = new BlockList();
      list.addSubnet(cidr[1]!, Number(cidr[2]), family === 4 ? 'ipv4' : 'ipv6');
      ranges.push({ list, port });
      continue;
    }
    names.push({ name: host.replace(/^\*?\.+/, ''), port });
  }
  return {
    text: entries.join(','),
    matches(hostname: string, port: number): boolean {
      if (everything) return true;
      const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
      const family = isIP(host);
      for (const rule of names) {
        if (rule.port !== undefined && rule.port !== port) continue;
        if (host === rule.name) return true;
        // An address matches itself only: '0.0.1' is no "domain" of 127.0.0.1.
        if (family === 0 && rule.name !== '' && host.endsWith(`.${rule.name}`)) return true;
      }
      if (family === 0) return false;
      return ranges.some((r) => (r.port === undefined || r.port === port) && r.list.check(host, family === 4 ? 'ipv4' : 'ipv6'));
    },
  };
}

/** `host:port`, `[v6]:port`, `[v6]`, or a bare name, address or range (an IPv6 one has colons of its own). */
function splitPort(entry: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1]!, port: bracketed[2] === undefined ? undefined : Number(bracketed[2]) };
  const withPort = /^([^:]+):(\d+)$/.exec(entry);
  if (withPort) return { host: withPort[1]!, port: Number(withPort[2]) };
  return { host: entry };
}

/** One line for the log and the status: which proxy requests to `url` use, or why none. */
export function describeProxyUse(p: ProxyEnvironment, url: string): string | undefined {
  if (!hasProxy(p)) return undefined;
  const route = routeFor(p, url);
  const noProxy = p.noProxy.text === '' ? '' : ` (NO_PROXY: ${p.noProxy.text})`;
  if (route) return `requests to ${url} go through the proxy ${route.server.display}, from ${route.server.variable}${noProxy}`;
  const server = new URL(url).protocol === 'https:' ? p.https : p.http;
  if (!server) return `requests to ${url} go directly: no proxy is set for ${new URL(url).protocol.replace(':', '')} URLs`;
  return `requests to ${url} go directly: NO_PROXY matches it${noProxy}`;
}
