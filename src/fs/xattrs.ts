// Extended attributes in object metadata, as s3fs-fuse stores them: one user-metadata value
// `xattr` holding a URL-encoded JSON map from attribute name to base64 value. Only the `user.`
// and `trusted.` namespaces are stored; `security.` and `system.` belong to the kernel's LSMs
// and ACLs, which an object store cannot enforce.
import type { ObjectMetadata } from '../store/object-store.js';

export const XATTR_METADATA_NAME = 'xattr';
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/** Names whose values we store; the others (security.capability on every write, ACLs and labels
 *  for every `ls -l`) answer ENOTSUP at once, from native/fuse3-addon.c. */
export function isStoredXattrName(name: string): boolean {
  return STORED_XATTR_PREFIXES.some((prefix) => name.startsWith(prefix));
}

/** The namespaces an object holds attributes of. */
export const STORED_XATTR_PREFIXES: readonly string[] = ['user.', 'trusted.'];

/** The attributes in an object's metadata; garbage reads as none (and is replaced on the next change). */
export function parseXattrs(meta: ObjectMetadata | undefined): Map<string, Buffer> {
  const raw = meta?.[XATTR_METADATA_NAME];
  const map = new Map<string, Buffer>();
  if (!raw) return map;
  let parsed: unknown;
  for (const text of [safeDecode(raw), raw]) {
    try {
      parsed = JSON.parse(text);
      break;
    } catch {
      /* try the next form */
    }
  }
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof value === 'string') map.set(name, Buffer.from(value, 'base64'));
    }
  }
  return map;
}

/** Writes the map into `meta` (removing the value when the map is empty). */
export function storeXattrs(meta: ObjectMetadata, map: Map<string, Buffer>): void {
  if (map.size === 0) {
    delete meta[XATTR_METADATA_NAME];
    return;
  }
  const json: Record<string, string> = {};
  for (const [name, value] of map) json[name] = value.toString('base64');
  meta[XATTR_METADATA_NAME] = encodeURIComponent(JSON.stringify(json));
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
