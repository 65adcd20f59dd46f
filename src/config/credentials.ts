// Where a mount's keys come from: the qsfs credentials file (`AccessKeyId:SecretKey`, blank
// lines and # comments allowed), first; or, when no file is given and the default file does not
// exist (or --profile names a profile), the AWS SDK's own default provider chain: environment,
// shared config and credentials files (profiles, SSO, credential_process), web identity,
// container and instance metadata, with expiring credentials refreshed during the mount.
import { SecretFileError, readSecretFile } from './secret-file.js';
import type { Agent as HttpsAgent } from 'node:https';

export const DEFAULT_CREDENTIALS_FILE = '/etc/qsfs.cred';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials (STS, SSO, a role) come with a session token. */
  sessionToken?: string;
  /** When temporary credentials stop working. */
  expiration?: Date;
  /** Where they came from, for messages (never the secret itself). */
  source: string;
}

/** The keys to sign with now: fixed (a file), or from a provider that refreshes them. */
export interface CredentialSource {
  /** Where they come from, for messages. */
  readonly source: string;
  /** The keys now: the same object while they are valid; a promise only when they must be fetched. */
  current(): Credentials | Promise<Credentials>;
  /** What the status report says: where from, which key (the id is no secret), until when, how often renewed. */
  describe(): string;
}

/** Credentials that never change (the qsfs file, or tests). */
export function fixedCredentials(c: Credentials): CredentialSource {
  return { source: c.source, current: () => c, describe: () => `${c.source}, access key ${c.accessKeyId}` };
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

/**
 * The mount's credential source, checked now: a file that is missing, readable by others or
 * malformed, or a chain that finds nothing, is a CredentialsError with one line for the user.
 * `httpsAgent`: how the chain's AWS clients (STS for roles and web identity, SSO) reach AWS,
 * e.g. through the HTTPS_PROXY; instance and container metadata are always asked directly.
 */
export async function loadCredentials(file: string | undefined, profile?: string, httpsAgent?: HttpsAgent): Promise<CredentialSource> {
  if (file !== undefined && profile !== undefined) {
    throw new CredentialsError('give either -c FILE (a qsfs credentials file) or --profile NAME (a profile of the AWS config files), not both');
  }
  if (profile === undefined) {
    const fromFile = await readCredentialsFile(file);
    if (fromFile) return fixedCredentials(fromFile);
  }
  return defaultChain(profile, httpsAgent);
}

/** The file's keys; undefined when no file was given and the default one does not exist. */
async function readCredentialsFile(file: string | undefined): Promise<Credentials | undefined> {
  const path = file ?? DEFAULT_CREDENTIALS_FILE;
  let bytes: Buffer;
  try {
    bytes = await readSecretFile(path, 'credentials file');
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    if (err.code === 'ENOENT' && file === undefined) return undefined;
    throw new CredentialsError(err.message);
  }
  return parseCredentials(bytes.toString('utf8'), path);
}

/** What the SDK's providers give. */
interface ProvidedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** Temporary keys are renewed this long before they expire (or halfway, for shorter-lived ones). */
const RENEW_MARGIN_MS = 5 * 60 * 1000;
/** After a failed renewal, while the keys still work: try again this much later. */
const RENEW_RETRY_MS = 10_000;

/**
 * The AWS SDK's default chain (@aws-sdk/credential-provider-node, loaded only here: a mount
 * with a qsfs file never pays for it). The keys are held here, so that signing a request costs
 * no promise while they are good, and renewed (the chain asked again) five minutes before they
 * expire, or halfway through their life when that is shorter. A renewal that fails while the
 * keys still work is tried again 10 s later; once they have expired, requests fail with its reason.
 */
async function defaultChain(profile: string | undefined, httpsAgent: HttpsAgent | undefined): Promise<CredentialSource> {
  const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
  // The SDK reads process.env itself: the name in messages comes from the same place.
  const name = profile ?? process.env['AWS_PROFILE'];
  const source = `the AWS default credential chain${name ? ` (profile ${name})` : ''}`;
  // clientConfig reaches the clients the chain makes (STS, SSO, SSO OIDC); the metadata
  // providers (IMDS, containers) take none and stay direct, as the AWS CLI keeps them.
  const provider = defaultProvider({
    ...(profile !== undefined ? { profile } : {}),
    ...(httpsAgent ? { clientConfig: { requestHandler: { httpsAgent } } } : {}),
  }) as (o?: { forceRefresh?: boolean }) => Promise<ProvidedCredentials>;
  const fetch = async (forceRefresh: boolean): Promise<Credentials> => {
    const c = await provider({ forceRefresh });
    return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken, expiration: c.expiration, source };
  };
  const renewalTime = (c: Credentials, now: number): number => {
    if (c.expiration === undefined) return Infinity;
    const left = c.expiration.getTime() - now;
    return c.expiration.getTime() - Math.min(RENEW_MARGIN_MS, left / 2);
  };
  let held: Credentials;
  try {
    held = await fetch(false);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new CredentialsError(
      `no credentials: ${DEFAULT_CREDENTIALS_FILE} does not exist and the AWS default chain found none `
      + `(${name ? `profile ${name}; ` : ''}${why}); use -c FILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or --profile NAME`,
    );
  }
  let renewAt = renewalTime(held, Date.now());
  let renewals = 0;
  let pending: Promise<Credentials> | undefined;
  return {
    source,
    current: () => {
      if (Date.now() < renewAt) return held;
      pending ??= fetch(true).then((c) => {
        renewals++;
        held = c;
        renewAt = renewalTime(c, Date.now());
        return c;
      }, (err: unknown) => {
        if (held.expiration !== undefined && held.expiration.getTime() > Date.now()) {
          renewAt = Date.now() + RENEW_RETRY_MS;
          return held;
        }
        throw err;
      }).finally(() => { pending = undefined; });
      return pending;
    },
    describe: () => `${source}, access key ${held.accessKeyId}`
      + `${held.expiration ? `, expires ${held.expiration.toISOString()}` : ''}, renewed ${renewals} time(s)`,
  };
}
