// Reading a file that holds a secret (the credentials file, the SSE-C key file): one place that
// refuses a file others can read, so that every secret qsfs takes from a file is held to the
// same rule, said in the same words.
import { promises as fsp } from 'node:fs';

export class SecretFileError extends Error {
  override name = 'SecretFileError';
  /** The errno name when the file could not be read (ENOENT: it does not exist). */
  constructor(message: string, readonly code?: string) {
    super(message);
  }
}

/**
 * The bytes of the secret file `path`, which `label` names in messages ("credentials file").
 * A missing file, one that is not a regular file, or one that group or others may access is a
 * SecretFileError with one line for the user (and the chmod that fixes the last).
 */
export async function readSecretFile(path: string, label: string): Promise<Buffer> {
  let mode: number;
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) throw new SecretFileError(`${label} ${path} is not a regular file`);
    mode = st.mode;
  } catch (err) {
    if (err instanceof SecretFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SecretFileError(`${label} ${path} does not exist`, code);
    throw new SecretFileError(`cannot read ${label} ${path}: ${code ?? String(err)}`, code);
  }
  // A secret others can read is not a secret: refuse like ssh does, and say how to fix it.
  if ((mode & 0o077) !== 0) {
    throw new SecretFileError(
      `${label} ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
    );
  }
  try {
    return await fsp.readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SecretFileError(`cannot read ${label} ${path}: ${code ?? String(err)}`, code);
  }
}
