// pino logger: stderr in the foreground (-f), a file under --logdir otherwise, rotated by size. Secrets never reach
// it: nothing logs credentials or request headers, and the redact list is the safety net.
import { closeSync, existsSync, fstatSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { LogLevel } from './config/options.js';
import { ensurePrivateDirectory } from './config/private-dir.js';

export type { Logger } from 'pino';

export const LOG_FILE_NAME = 'qsfs.log';
/** With -g in the background: libfuse's debug output (the daemon's stderr), opened by the
 *  launcher, so the daemon's clean-up of old logs leaves it alone. */
export const FUSE_DEBUG_LOG = 'qsfs-fuse-debug.log';

const REDACT_PATHS = [
  'secretAccessKey', '*.secretAccessKey', 'credentials', '*.credentials',
  'authorization', '*.authorization', 'headers', '*.headers', 'signature', '*.signature',
];

const LEVELS: Record<LogLevel, LevelWithSilent> = { INFO: 'info', WARN: 'warn', ERROR: 'error', FATAL: 'fatal' };

export interface LogSettings {
  foreground: boolean;
  logdir: string;
  loglevel: LogLevel;
  debug: boolean;
  keeplogdir: boolean;
  /** Rotation size of the log file (default 10 MiB, or QSFS_LOG_MAX_BYTES). */
  maxLogBytes?: number;
}

export function levelFor(s: Pick<LogSettings, 'loglevel' | 'debug'>): LevelWithSilent {
  return s.debug ? 'debug' : LEVELS[s.loglevel];
}

/** Creates the log directory, removes earlier qsfs logs unless -K, and returns the logger. */
export async function createLogger(s: LogSettings): Promise<{ logger: Logger; file?: string }> {
  const level = levelFor(s);
  const base = { base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, level };
  if (s.foreground) return { logger: pino(base, pino.destination({ fd: 2, sync: true })) };
  await ensurePrivateDirectory(s.logdir, '--logdir', 0o750);
  if (!s.keeplogdir) await removeOldLogs(s.logdir);
  const file = path.join(s.logdir, LOG_FILE_NAME);
  const dest = new RotatingLogFile(file, s.maxLogBytes ?? logSizeFromEnvironment(), KEPT_ROTATIONS);
  return { logger: pino(base, dest), file };
}

/** Rotated logs kept beside the current one: qsfs.log.1 (newest) to qsfs.log.5. */
const KEPT_ROTATIONS = 5;
const DEFAULT_MAX_LOG_BYTES = 10 * 1024 * 1024;

/** QSFS_LOG_MAX_BYTES lets an administrator (or a test) choose the rotation size. */
function logSizeFromEnvironment(): number {
  const n = Number(process.env['QSFS_LOG_MAX_BYTES']);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_LOG_BYTES;
}

/**
 * The log file, rotated by size: past maxBytes, qsfs.log becomes qsfs.log.1 (and .1 becomes .2,
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

/** Only our own files: -l may point at a shared directory such as /var/log. */
async function removeOldLogs(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (/^qsfs.*\.log(\.\d+)?$/.test(name) && name !== FUSE_DEBUG_LOG) await fsp.rm(path.join(dir, name), { force: true });
  }
}
