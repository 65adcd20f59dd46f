// A server-side copy of an object, with a fallback for servers that refuse one: what rename
// and attribute changes (a copy of an object onto itself) are made of.
import type { ObjectStore, PutOptions } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import { FsError } from './errors.js';

/** Largest object copied by GET and PUT when the server refuses a server-side copy. */
const COPY_FALLBACK_MAX = 64 * 1024 * 1024;

/**
 * Server-side copy, keeping the metadata or (with `options`) replacing it; returns the copy's
 * ETag ('' when unknown). Where the server refuses to copy a key (RGW decodes '%' in the copy
 * source twice), GET and PUT instead.
 */
export async function copyObject(store: ObjectStore, from: string, to: string, options?: PutOptions): Promise<string> {
  try {
    return await store.copy(from, to, options);
  } catch (err) {
    if (!(err instanceof StoreError && err.kind === 'unsupported')) throw err;
    const info = await store.head(from);
    if (!info) throw new FsError('ENOENT');
    if (info.size > COPY_FALLBACK_MAX) throw err;
    const body = await store.getRange(from, 0, info.size);
    return store.put(to, body, options ?? { contentType: info.contentType, metadata: info.metadata });
  }
}
