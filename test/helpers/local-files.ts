// Files on the local disk (never on a mount: the test process does no I/O there).
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** The regular files at or under `p` (a file or a directory); empty when it does not exist. */
export async function filesUnder(p: string): Promise<string[]> {
  const st = await fsp.lstat(p).catch(() => null);
  if (!st) return [];
  if (st.isFile()) return [p];
  if (!st.isDirectory()) return [];
  const out: string[] = [];
  for (const e of await fsp.readdir(p)) out.push(...(await filesUnder(path.join(p, e))));
  return out;
}
