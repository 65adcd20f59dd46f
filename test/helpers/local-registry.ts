// An npm registry on loopback for the install test: it serves the packages of package-lock.json,
// their tarballs read from the local npm cache (where `npm ci` put them), so that
// `npm install -g TARBALL --registry URL` resolves qsfs's dependencies as it would against the
// real registry without sending anything beyond 127.0.0.1. (`npm install --offline` is not enough:
// npm 11 resolves a tarball's dependencies from full packuments, which `npm ci` never caches.)
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

interface LockEntry {
  name?: string;
  version?: string;
  integrity?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, unknown>;
  bin?: Record<string, string>;
  engines?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  hasInstallScript?: boolean;
}

export interface LocalRegistry {
  /** e.g. "http://127.0.0.1:41234/" */
  url: string;
  /** Requests answered 404 (a package or tarball the lockfile or the cache does not have). */
  misses: string[];
  close(): Promise<void>;
}

/** Where cacache keeps the content of an integrity string ("sha512-BASE64"). */
function contentPath(cacheDir: string, integrity: string): string {
  const [algo, b64] = integrity.split(' ')[0]!.split('-', 2) as [string, string];
  const hex = Buffer.from(b64, 'base64').toString('hex');
  return path.join(cacheDir, '_cacache', 'content-v2', algo, hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
}

/** Orders x.y.z versions (prerelease tags are ignored: the lockfile has none that matter here). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map(Number);
  const pb = b.split(/[.-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export async function startLocalRegistry(lockfile: string, env: NodeJS.ProcessEnv): Promise<LocalRegistry> {
  const cacheDir = execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', env }).trim();
  const lock = JSON.parse(readFileSync(lockfile, 'utf8')) as { packages: Record<string, LockEntry> };
  /** name -> version -> entry */
  const packages = new Map<string, Map<string, LockEntry>>();
  for (const [where, entry] of Object.entries(lock.packages)) {
    if (where === '' || entry.link || !entry.version || !entry.integrity) continue;
    const name = entry.name ?? where.slice(where.lastIndexOf('node_modules/') + 'node_modules/'.length);
    if (!packages.has(name)) packages.set(name, new Map());
    packages.get(name)!.set(entry.version, entry);
  }
  const tarballs = new Map<string, string>(); // url path -> integrity
  const misses: string[] = [];
  let base = '';

  const server: Server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const integrity = tarballs.get(url);
    if (integrity !== undefined) {
      const file = contentPath(cacheDir, integrity);
      if (existsSync(file)) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        createReadStream(file).pipe(res);
        return;
      }
    } else {
      const versions = packages.get(url.slice(1));
      if (versions) {
        const name = url.slice(1);
        const latest = [...versions.keys()].sort(compareVersions).pop()!;
        const doc = { name, 'dist-tags': { latest }, versions: {} as Record<string, unknown> };
        for (const [version, e] of versions) {
          const tarPath = `/${name}/-/${name.split('/').pop()}-${version}.tgz`;
          tarballs.set(tarPath, e.integrity!);
          doc.versions[version] = {
            name, version,
            dependencies: e.dependencies, optionalDependencies: e.optionalDependencies,
            peerDependencies: e.peerDependencies, peerDependenciesMeta: e.peerDependenciesMeta,
            bin: e.bin, engines: e.engines, os: e.os, cpu: e.cpu, hasInstallScript: e.hasInstallScript,
            dist: { tarball: `${base}${tarPath.slice(1)}`, integrity: e.integrity },
          };
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
        return;
      }
    }
    misses.push(url);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end('{"error":"not found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base,
    misses,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
