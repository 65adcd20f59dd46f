// Background mode: the command starts the daemon as a detached child and returns only when the
// child reports over a pipe (fd 3) that the mount is live (exit 0) or why it failed (exit 1).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';

const READY_FD = 3;
const ENV_FLAG = 'QSFS_DAEMON_CHILD';

/** True in the daemon child started by launchInBackground. */
export function isDaemonChild(): boolean {
  return process.env[ENV_FLAG] === '1';
}

/** Runs the daemon in a detached child; resolves with the launcher's exit code. */
export function launchInBackground(entryScript: string, argv: string[], fuseDebug?: { file: string; append: boolean }): Promise<number> {
  return new Promise((resolve) => {
    // The daemon's stderr carries only libfuse's own debug output (-g): kept in a file then.
    let stderr: 'ignore' | number = 'ignore';
    if (fuseDebug) {
      try {
        mkdirSync(path.dirname(fuseDebug.file), { recursive: true, mode: 0o750 });
        stderr = openSync(fuseDebug.file, fuseDebug.append ? 'a' : 'w', 0o640);
      } catch (err) {
        process.stderr.write(`qsfs: cannot open ${fuseDebug.file} for FUSE debug output: ${(err as NodeJS.ErrnoException).code ?? String(err)}\n`);
      }
    }
    const child = spawn(process.execPath, [...process.execArgv, entryScript, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', stderr, 'pipe'],
      env: { ...process.env, [ENV_FLAG]: '1' },
    });
    const channel = child.stdio[READY_FD] as NodeJS.ReadableStream;
    let text = '';
    let settled = false;
    const settle = (code: number, message?: string): void => {
      if (settled) return;
      settled = true;
      if (message) process.stderr.write(`qsfs: ${message}\n`);
      (channel as unknown as { destroy(): void }).destroy();
      child.unref();
      resolve(code);
    };
    if (typeof stderr === 'number') closeSync(stderr);
    channel.setEncoding('utf8');
    channel.on('data', (chunk: string) => {
      text += chunk;
      const line = text.split('\n')[0] ?? '';
      if (!text.includes('\n')) return;
      if (line === 'READY') settle(0);
      else settle(1, line.replace(/^ERROR /, ''));
    });
    child.on('exit', (code, signal) => {
      settle(1, `the daemon exited (${signal ?? `code ${code}`}) before the mount was live; see its log`);
    });
    child.on('error', (err) => settle(1, `cannot start the daemon: ${err.message}`));
  });
}

/** In the daemon child: tell the launcher how the start went, once. */
export function reportToLauncher(result: { ok: true } | { ok: false; message: string }): void {
  if (!isDaemonChild()) return;
  try {
    writeSync(READY_FD, result.ok ? 'READY\n' : `ERROR ${result.message.replace(/\n/g, ' ')}\n`);
    closeSync(READY_FD);
  } catch {
    // the launcher is gone (killed): nobody to tell
  }
}
