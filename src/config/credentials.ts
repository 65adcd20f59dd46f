// The credentials file (`AccessKeyId:SecretKey`, blank lines and # comments allowed), or the
// AWS_* environment variables when no file is given and the default file does not exist.
import { promises as fsp } from 'node:fs';

export const DEFAULT_CREDENTIALS_FILE = '/etc/qsfs.cred';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Where they came from, for messages (never the secret itself). */
  source: string;
}

export class CredentialsError extends Error {
  override name = 'CredentialsError';
}

/** Parses the file's text; the first non-comment line is the key pair. */
export function parseCredentials(text: string, source: string): Credentials {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new CredentialsError(`credentials file ${source} holds no AccessKeyId:SecretKey line`);
  const line = lines[0]!;
  const colon = line.indexOf(':');
  const accessKeyId = colon < 0 ? '' : line.slice(0, colon).trim();
  const secretAccessKey = colon < 0 ? '' : line.slice(colon + 1).trim();
  if (accessKeyId === '' || secretAccessKey === '' || /\s/.test(accessKeyId) || /\s/.test(secretAccessKey)) {
    throw new CredentialsError(`credentials file ${source} is malformed: expected one line AccessKeyId:SecretKey`);
  }
  return { accessKeyId, secretAccessKey, source };
}

export async function loadCredentials(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Credentials> {
  const path = file ?? DEFAULT_CREDENTIALS_FILE;
  let mode: number;
  try {
    const st = await fsp.stat(path);
    if (!st.isFile()) throw new CredentialsError(`credentials file ${path} is not a regular file`);
    mode = st.mode;
  } catch (err) {
    if (err instanceof CredentialsError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && file === undefined) return fromEnvironment(env);
    if (code === 'ENOENT') throw new CredentialsError(`credentials file ${path} does not exist`);
    throw new CredentialsError(`cannot read credentials file ${path}: ${code ?? String(err)}`);
  }
  // A secret others can read is not a secret: refuse like ssh does, and say how to fix it.
  if ((mode & 0o077) !== 0) {
    throw new CredentialsError(
      `credentials file ${path} is accessible by group or others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run: chmod 600 ${path}`,
    );
  }
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (err) {
    throw new CredentialsError(`cannot read credentials file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseCredentials(text, path);
}

function fromEnvironment(env: NodeJS.ProcessEnv): Credentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID ?? '';
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? '';
  if (accessKeyId === '' || secretAccessKey === '') {
    throw new CredentialsError(
      `no credentials: ${DEFAULT_CREDENTIALS_FILE} does not exist and AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set (use -c FILE)`,
    );
  }
  return { accessKeyId, secretAccessKey, source: 'environment' };
}
