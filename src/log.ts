// pino logger: stderr in the foreground (-f), a file under --logdir otherwise. Secrets never reach
// it: nothing logs credentials or request headers, and the redact list is the safety net.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { LogLevel } from './config/options.js';

export type { Logger } from 'pino';

export const LOG_FILE_NAME = 'qsfs.log';

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
}

export function levelFor(s: Pick<LogSettings, 'loglevel' | 'debug'>): LevelWithSilent {
  return s.debug ? 'debug' : LEVELS[s.loglevel];
}

/** Creates the log directory, removes earlier qsfs logs unless -K, and returns the logger. */
export async function createLogger(s: LogSettings): Promise<{ logger: Logger; file?: string }> {
  const level = levelFor(s);
  const base = { base: { pid: process.pid }, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, level };
  if (s.foreground) return { logger: pino(base, pino.destination({ fd: 2, sync: true })) };
  await fsp.mkdir(s.logdir, { recursive: true, mode: 0o750 });
  if (!s.keeplogdir) await removeOldLogs(s.logdir);
  const file = path.join(s.logdir, LOG_FILE_NAME);
  // sync writes: a daemon that dies must leave its last words in the file.
  const dest = pino.destination({ dest: file, sync: true, mkdir: true });
  return { logger: pino(base, dest), file };
}

/** Only our own files: -l may point at a shared directory such as /var/log. */
async function removeOldLogs(dir: string): Promise<void> {
  for (const name of await fsp.readdir(dir)) {
    if (/^qsfs.*\.log(\.\d+)?$/.test(name)) await fsp.rm(path.join(dir, name), { force: true });
  }
}
