// The Content-Type a new file's object gets, from its name (`a.html` is text/html), as s3fs-fuse
// sets it from /etc/mime.types: a bucket served over HTTP (a website, a CDN) serves it right.
// mime-types carries the IANA and Apache lists itself, so the answer does not depend on what
// the machine has in /etc. A name with no known extension gets none, and the server's default
// (binary/octet-stream). An object's type is kept afterwards: rewrites, renames and metadata
// changes carry it over, so a type another tool set survives a write through qsfs.
import { lookup } from 'mime-types';
import { baseName } from './keys.js';

export function contentTypeFor(path: string): string | undefined {
  return lookup(baseName(path)) || undefined;
}
