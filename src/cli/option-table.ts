// The single description of every qsfs command-line option. The parser, the commander
// help and the fstab/-o option splitter are all derived from this table, so adding an
// option here is the only change needed to make it parse, validate and show in --help.

import type { Options } from '../config/options.js';

/** How an option's text is turned into a value. */
export type OptionType = 'string' | 'octal' | 'integer' | 'seconds' | 'bool' | 'enum' | 'list';

/** Help heading an option is listed under (mirrors the seed's two tables, plus FUSE). */
export type OptionGroup = 'General options:' | 'Miscellaneous options:' | 'FUSE options:';

/** Options fields filled from flags, plus the two flags that print something and stop. */
export type OptionKey = Exclude<keyof Options, 'bucket' | 'prefix' | 'mountpoint'> | 'help' | 'version';

export interface OptionSpec {
  key: OptionKey;
  /** Single letter, without the dash. */
  short?: string;
  /** Canonical long name, without dashes. */
  long?: string;
  /** Extra long names accepted on input but not shown as separate options. */
  aliases?: readonly string[];
  type: OptionType;
  /** Accepted values of an 'enum' (matched case-insensitively, stored as written here). */
  values?: readonly string[];
  /** Inclusive bounds for 'integer', 'seconds' and 'octal' values. */
  min?: number;
  max?: number;
  /** Value used when the option is not given; absent means "leave the field unset". */
  default?: string | number | boolean;
  /** How help shows the default, when the raw value alone would not explain it. */
  defaultText?: string;
  /** Name of the value in help, e.g. `<file>`; value-taking options only. */
  metavar?: string;
  help: string;
  group: OptionGroup;
}

const GENERAL: OptionGroup = 'General options:';
const MISC: OptionGroup = 'Miscellaneous options:';

export const OPTION_TABLE: readonly OptionSpec[] = [
  // --- general options (seed table 1) ---
  { key: 'zone', short: 'z', long: 'zone', type: 'string', metavar: 'zone', default: 'pek3a',
    help: 'Zone or region', group: GENERAL },
  { key: 'credentials', short: 'c', long: 'credentials', type: 'string', metavar: 'file',
    defaultText: '/etc/qsfs.cred',
    help: 'Credentials file holding ACCESS_KEY_ID:SECRET_KEY', group: GENERAL },
  { key: 'metrics', long: 'metrics', type: 'string', metavar: '[host:]port',
    help: 'Serve Prometheus metrics at http://HOST:PORT/metrics (host 127.0.0.1 unless given)', group: GENERAL },
  { key: 'profile', long: 'profile', type: 'string', metavar: 'name',
    help: 'Profile of the AWS config files for the AWS default credential chain, used instead of a credentials file', group: GENERAL },
  { key: 'logdir', short: 'l', long: 'logdir', type: 'string', metavar: 'dir', default: '/var/log/qsfs/',
    help: 'Log directory', group: GENERAL },
  { key: 'loglevel', short: 'L', long: 'loglevel', type: 'enum', metavar: 'level',
    values: ['INFO', 'WARN', 'ERROR', 'FATAL'], default: 'INFO',
    help: 'Min log level (INFO, WARN, ERROR or FATAL); lower messages are not logged', group: GENERAL },
  { key: 'filemode', short: 'F', long: 'filemode', type: 'octal', metavar: 'octal', default: 0o644, max: 0o7777,
    help: 'Permission bits for files without mode metadata (x-amz-meta-mode)', group: GENERAL },
  { key: 'dirmode', short: 'D', long: 'dirmode', type: 'octal', metavar: 'octal', default: 0o755, max: 0o7777,
    help: 'Permission bits for directories without mode metadata (x-amz-meta-mode)', group: GENERAL },
  { key: 'umaskmp', short: 'u', long: 'umaskmp', type: 'octal', metavar: 'octal', default: 0, max: 0o777,
    help: 'Umask for the mount point directory (only with -o allow_other)', group: GENERAL },
  { key: 'retries', short: 'r', long: 'retries', type: 'integer', metavar: 'count', default: 3, min: 0,
    help: 'Times to retry a failed transaction', group: GENERAL },
  { key: 'reqtimeout', short: 'R', long: 'reqtimeout', type: 'integer', metavar: 'seconds', default: 300, min: 1,
    help: 'Seconds to wait before giving up a connection', group: GENERAL },
  { key: 'maxcache', short: 'Z', long: 'maxcache', type: 'integer', metavar: 'MB', default: 200, min: 1,
    help: 'Memory for the daemon (MB); file data gets this less 72 MiB', group: GENERAL },
  { key: 'diskdir', short: 'k', long: 'diskdir', type: 'string', metavar: 'dir', default: '/tmp/qsfs_cache/',
    help: 'Directory for file data when the in-memory cache is full', group: GENERAL },
  { key: 'maxstat', short: 't', long: 'maxstat', type: 'integer', metavar: 'K', default: 2, min: 1,
    help: 'Max count of cached stat entries, in thousands', group: GENERAL },
  // No default: without -e, --metadata-ttl's window (1 s) holds for attributes, listings and
  // negative entries alike (see src/fs/freshness.ts and docs/consistency.md).
  { key: 'statexpire', short: 'e', long: 'statexpire', type: 'integer', metavar: 'minutes',
    defaultText: 'none, --metadata-ttl applies',
    help: 'Expire time of stat entries (minutes); negative disables expiry, 0 caches nothing', group: GENERAL },
  { key: 'maxlist', short: 'i', long: 'maxlist', type: 'integer', metavar: 'count', default: 0, min: 0,
    defaultText: '0, list all',
    help: 'Max count of files returned by one directory listing; 0 lists all', group: GENERAL },
  { key: 'fscap', short: 'y', long: 'fscap', type: 'integer', metavar: 'GB', default: 1048576, min: 1,
    defaultText: '1048576, 1 PB',
    help: 'Filesystem capacity reported by statfs (GB)', group: GENERAL },
  { key: 'numtransfer', short: 'n', long: 'numtransfer', type: 'integer', metavar: 'count', default: 5,
    min: 1, max: 100,
    help: 'Max number of file transfers run in parallel', group: GENERAL },
  // 5 MB..5 GB: the S3 limits on one multipart part, which is what a buffer becomes.
  { key: 'bufsize', short: 'b', long: 'bufsize', type: 'integer', metavar: 'MB', default: 10, min: 5, max: 5120,
    help: 'File transfer buffer (part) size (MB)', group: GENERAL },
  { key: 'prefetchsize', short: 'j', long: 'prefetchsize', type: 'integer', metavar: 'MB', default: 20, min: 0,
    help: 'Max read prefetch size (MB)', group: GENERAL },
  { key: 'host', short: 'H', long: 'host', type: 'string', metavar: 'host', default: '',
    defaultText: 'derived from zone',
    help: 'Endpoint host name', group: GENERAL },
  { key: 'protocol', short: 'p', long: 'protocol', type: 'enum', metavar: 'protocol',
    values: ['https', 'http'], default: 'https',
    help: 'Protocol (https or http)', group: GENERAL },
  { key: 'port', short: 'P', long: 'port', type: 'integer', metavar: 'port', default: 0, min: 0, max: 65535,
    defaultText: '0, i.e. 443 for https, 80 for http',
    help: 'Endpoint port', group: GENERAL },
  { key: 'pathstyle', long: 'pathstyle', type: 'bool', default: false,
    help: 'Force path-style addressing (bucket in the path, not the host name)', group: GENERAL },
  { key: 'metadatattl', long: 'metadata-ttl', aliases: ['metadatattl'], type: 'seconds', metavar: 'seconds', min: 0,
    defaultText: '1, unless -e is given',
    help: 'Seconds attributes, listings and missing names are trusted before the bucket is asked again (changes by other clients show within it); 0 caches nothing',
    group: GENERAL },
  { key: 'sse', long: 'sse', type: 'enum', metavar: 'type', values: ['AES256', 'aws:kms'],
    help: 'Server-side encryption of the objects written, with keys the server holds: AES256 (SSE-S3) or aws:kms (SSE-KMS)', group: GENERAL },
  { key: 'sseKmsKeyId', long: 'sse-kms-key-id', type: 'string', metavar: 'id',
    defaultText: 'the bucket\'s default KMS key',
    help: 'KMS key (id or ARN) of --sse aws:kms', group: GENERAL },
  { key: 'sseCKey', long: 'sse-c-key', type: 'string', metavar: 'file',
    help: 'SSE-C: encrypt and read every object with the 256-bit key in FILE (32 bytes, or base64; mode 0600); not with --sse', group: GENERAL },

  // --- miscellaneous options (seed table 2) ---
  { key: 'prefetch', short: 'J', long: 'prefetch', type: 'bool', default: false,
    help: 'Accepted for compatibility: read-ahead is always on for sequential readers (-j 0 turns it off)', group: MISC },
  { key: 'contentMD5', short: 'm', long: 'contentMD5', type: 'bool', default: false,
    help: 'Send MD5 hashes with writes to ensure data integrity', group: MISC },
  { key: 'checksum', long: 'checksum', type: 'enum', metavar: 'algorithm', values: ['crc32c', 'crc64nvme'],
    help: 'Also send an additional checksum (crc32c or crc64nvme) with every PUT and part, for servers that verify and keep them', group: MISC },
  { key: 'keeplogdir', short: 'K', long: 'keeplogdir', type: 'bool', default: false,
    help: 'Do not clear the log directory at start', group: MISC },
  { key: 'nodatacache', short: 'C', long: 'nodatacache', type: 'bool', default: false,
    help: 'Clear the file data cache', group: MISC },
  // The seed spells it "forground"; keep that so old command lines and fstab entries work.
  { key: 'foreground', short: 'f', long: 'forground', aliases: ['foreground'], type: 'bool', default: false,
    help: 'Log to STDERR and run FUSE in the foreground', group: MISC },
  { key: 'single', short: 's', long: 'single', type: 'bool', default: false,
    help: 'Run FUSE single-threaded', group: MISC },
  { key: 'debug', short: 'd', long: 'debug', type: 'bool', default: false,
    help: 'Log debug messages', group: MISC },
  { key: 'fusedbg', short: 'g', long: 'fusedbg', type: 'bool', default: false,
    help: 'Enable the FUSE debug option', group: MISC },
  { key: 'curldbg', short: 'U', long: 'curldbg', type: 'bool', default: false,
    help: 'Log debug messages of HTTP requests', group: MISC },
  { key: 'version', short: 'V', long: 'version', type: 'bool',
    help: 'Print qsfs version', group: MISC },
  { key: 'help', short: 'h', long: 'help', type: 'bool',
    help: 'Print qsfs help', group: MISC },

  // --- FUSE mount options; qsfs options may be mixed in (see splitMountOptions) ---
  { key: 'fuseOptions', short: 'o', type: 'list', metavar: 'opts',
    help: 'Comma-separated mount options, repeatable (e.g. allow_other,nonempty)', group: 'FUSE options:' },
];

/** Row whose short letter is `letter` (case-sensitive: -c and -C differ). */
export function findByShort(letter: string): OptionSpec | undefined {
  return OPTION_TABLE.find((spec) => spec.short === letter);
}

/** Row whose long name or alias is `name` (without dashes). */
export function findByLong(name: string): OptionSpec | undefined {
  return OPTION_TABLE.find((spec) => spec.long === name || spec.aliases?.includes(name));
}

/** `-z/--zone`, `--pathstyle` or `-o`: how error messages name an option. */
export function optionLabel(spec: OptionSpec): string {
  return [spec.short && `-${spec.short}`, spec.long && `--${spec.long}`].filter(Boolean).join('/');
}

/** The one token the parser hands to commander for an option: its long form when it has one. */
export function canonicalFlag(spec: OptionSpec): string {
  return spec.long ? `--${spec.long}` : `-${spec.short}`;
}

/** True for rows that set a mount setting (not help/version, which only print). */
export function isSetting(spec: OptionSpec): boolean {
  return spec.key !== 'help' && spec.key !== 'version';
}

/** Default as help shows it; octal in the form users type it (0644). */
export function formatDefault(spec: OptionSpec): string | undefined {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (spec.type === 'bool' || spec.default === undefined) return undefined;
  if (spec.type === 'octal' && typeof spec.default === 'number') return '0' + spec.default.toString(8).padStart(3, '0');
  return String(spec.default);
}

/**
 * The qsfs option a mistyped name probably meant (`retires` -> `retries`): a long name within
 * two edits, as commander suggests for command-line flags. For -o words libfuse refused.
 */
export function similarOptionName(name: string): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const spec of OPTION_TABLE) {
    for (const candidate of [spec.long, ...(spec.aliases ?? [])]) {
      if (!candidate || !isSetting(spec)) continue;
      const distance = editDistance(name, candidate);
      if (distance <= 2 && distance < name.length && (!best || distance < best.distance)) best = { name: candidate, distance };
    }
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((previous[j] as number) + 1, (row[j - 1] as number) + 1, (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length] as number;
}
