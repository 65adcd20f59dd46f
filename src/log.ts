// pino logger: readable lines on stderr in the foreground (-f), JSON lines in a file under
// --logdir otherwise, rotated by size. Secrets never reach it: nothing logs credentials or
// request headers, and the redact list is the safety net.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { LogLevel } from './config/options.js';
import { ensurePrivateDirectory } from './config/private-dir.js';

export type { Logger } from 'pino';

/** The files one mount keeps in --logdir. */
export interface MountFiles {
  /** The log, rotated into log.1 ... log.5. */
  log: string;
  /** The one-screen status, written on SIGUSR1. */
  status: string;
  /** With -g in the background: libfuse's debug output (the daemon's stderr), opened by the
   *  launcher, so the daemon's clean-up of old logs leaves it alone. */
  fuseDebug: string;
}

/**
 * Every mount has files of its own, named after its mountpoint (`/mnt/photos` gives
 * qsfs-mnt-photos.log), so that mounts sharing one --logdir (the default /var/log/qsfs) never
 * delete or rotate each other's logs. A name that had to be changed to be a file name (spaces,
 * dashes, very long paths) gets a short hash of the mountpoint, so that two mountpoints never
 * share one.
 */
export function mountFiles(logdir: string, mountpoint: string): MountFiles {
  const name = `qsfs-${mountName(path.resolve(mountpoint))}`;
  return {
    log: path.join(logdir, `${name}.log`),
    status: path.join(logdir, `${name}.status`),
    fuseDebug: path.join(logdir, `${name}-fuse-debug.log`),
  };
}

const MAX_NAME = 80;

function mountName(absolute: string): string {
  if (absolute === '/') return 'root';
  const plain = absolute.slice(1).split('/').join('-');
  const safe = absolute.slice(1).split('/').map((part) => part.replace(/[^A-Za-z0-9._]/g, '_')).join('-');
  if (safe === plain && safe.length <= MAX_NAME) return safe;
  const hash = createHash('sha256').update(absolute).digest('hex').slice(0, 8);
  return `${safe.slice(-MAX_NAME)}-${hash}`;
}

const REDACT_PATHS = [
  'secretAccessKey', '*.secretAccessKey', 'credentials', '*.credentials',
  'authorization', '*.authorization', 'headers', '*.headers', 'signature', '*.signature',
];

const LEVELS: Record<LogLevel, LevelWithSilent> = { INFO: 'info', WARN: 'warn', ERROR: 'error', FATAL: 'fatal' };

export interface LogSettings {
  foreground: boolean;
  logdir: string;
  mountpoint: string;
  loglevel: LogLevel;
  debug: boolean;
  keeplogdir: boolean;
  /** Rotation size of the log file (default 10 MiB, or QSFS_LOG_MAX_BYTES). */
  maxLogBytes?: number;
}

export function levelFor(s: Pick<LogSettings, 'loglevel' | 'debug'>): LevelWithSilent {
  return s.debug ? 'debug' : LEVELS[s.loglevel];
}

/**
 * Creates the log directory, removes this mount's earlier logs unless -K, and returns the logger.
 * In the foreground a person (or journalctl) reads stderr: one readable line per record, in
 * colour on a terminal; QSFS_LOG_FORMAT=json keeps JSON there too. Files always get JSON.
 */
export async function createLogger(s: LogSettings): Promise<{ logger: Logger; file?: string }> {
  const level = levelFor(s);
  const base = { base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, level };
  if (s.foreground) {
    if (process.env['QSFS_LOG_FORMAT'] === 'json') return { logger: pino(base, pino.destination({ fd: 2, sync: true })) };
    // Loaded only here: a daemon in the background never pays for the formatter's modules.
    const { default: pretty } = await import('pino-pretty');
    const lines = pretty({
      destination: 2, sync: true, colorize: process.stderr.isTTY === true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'hostname', singleLine: true,
    });
    return { logger: pino(base, lines) };
  }
  await ensurePrivateDirectory(s.logdir, '--logdir', 0o750);
  const files = mountFiles(s.logdir, s.mountpoint);
  if (!s.keeplogdir) await removeOldLogs(files.log);
  const dest = new RotatingLogFile(files.log, s.maxLogBytes ?? logSizeFromEnvironment(), KEPT_ROTATIONS);
  return { logger: pino(base, dest), file: files.log };
}

/** Rotated logs kept beside the current one: .log.1 (newest) to .log.5. */
const KEPT_ROTATIONS = 5;
const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;

/** QSFS_LOG_MAX_BYTES lets an administrator (or a test) choose the rotation size. */
function logSizeFromEnvironment(): number {
  const n = Number(process.env['QSFS_LOG_MAX_BYTES']);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_LOG_BYTES;
}

/**
 * The log file, rotated by size: past maxBytes, X.log becomes X.log.1 (and .1 becomes .2,
 * up to `keep`). Writes are synchronous: a daemon that dies must leave its last words in the
 * file. The log directory is local disk, never the mount itself.
 */
export class RotatingLogFile {
  private fd: number;
  private size: number;

  constructor(readonly file: string, private readonly maxBytes: number, private readonly keep: number) {
    this.fd = openSync(file, 'a', 0o640);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.byteLength(line);
    if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    writeSync(this.fd, line);
    this.size += bytes;
  }

  private rotate(): void {
    try {
      closeSync(this.fd);
      rmSync(`${this.file}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        if (existsSync(`${this.file}.${i}`)) renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
      }
      renameSync(this.file, `${this.file}.1`);
    } finally {
      // Whatever happened above, keep a file to write to.
      this.fd = openSync(this.file, 'a', 0o640);
      this.size = fstatSync(this.fd).size;
    }
  }
}

/** Only this mount's own log and its rotations: -l may be shared with other mounts, or be /var/log. */
async function removeOldLogs(log: string): Promise<void> {
  const dir = path.dirname(log);
  const base = path.basename(log);
  for (const name of await fsp.readdir(dir)) {
    if (name === base || (name.startsWith(`${base}.`) && /^\d+$/.test(name.slice(base.length + 1)))) {
      await fsp.rm(path.join(dir, name), { force: true });
    }
  }
}
