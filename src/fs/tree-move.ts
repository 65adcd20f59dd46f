// Moving every object under one key prefix to another: the body of a directory rename. S3 has
// no rename, so each object is copied server side and then deleted, many at a time. The marker
// goes last, so that until the end the old directory still exists; an interrupted move leaves
// every object at its old key or at its new one, never at neither.
import pLimit from 'p-limit';
import type { ObjectStore } from '../store/object-store.js';

export interface TreeMove {
  /** Objects moved, the marker not counted. */
  moved: number;
  /** Whether the source had a marker object (which was moved too). */
  hadMarker: boolean;
}

export async function moveTree(
  store: ObjectStore,
  fromPrefix: string,
  toPrefix: string,
  concurrency: number,
  copy: (from: string, to: string) => Promise<void>,
): Promise<TreeMove> {
  const limit = pLimit(concurrency);
  const moves: Promise<void>[] = [];
  let hadMarker = false;
  let token: string | undefined;
  do {
    const page = await store.listPage(fromPrefix, undefined, token, 1000);
    for (const o of page.objects) {
      if (o.key === fromPrefix) {
        hadMarker = true;
        continue;
      }
      const to = toPrefix + o.key.slice(fromPrefix.length);
      moves.push(limit(async () => {
        await copy(o.key, to);
        await store.delete(o.key);
      }));
    }
    token = page.continuationToken;
  } while (token !== undefined);
  const results = await Promise.allSettled(moves);
  const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) throw failure.reason;
  if (hadMarker) {
    await copy(fromPrefix, toPrefix);
    await store.delete(fromPrefix);
  }
  return { moved: moves.length, hadMarker };
}
