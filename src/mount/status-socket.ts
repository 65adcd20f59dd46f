// `qsfs --status MOUNTPOINT`: the running daemon of a mount answers on a UNIX socket of its own
// with the one-screen status report, so that nobody has to find its pid for `kill -USR1`. The
// socket lives in a private runtime directory of the user who mounted (/run/qsfs for root), and
// its name comes from the mountpoint: the command finds it from the path alone.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ensurePrivateDirectory } from '../config/private-dir.js';

/** How long `qsfs --status` waits for the daemon's answer. */
const ANSWER_TIMEOUT_MS = 5000;

/** The directory of this user's status sockets. */
export function runtimeDirectory(): string {
  if (process.getuid?.() === 0) return '/run/qsfs';
  const xdg = process.env['XDG_RUNTIME_DIR'];
  return xdg ? path.join(xdg, 'qsfs') : path.join(tmpdir(), `qsfs-${process.getuid?.() ?? 'user'}`);
}

/** The socket of the mount at `mountpoint` (a hash: socket paths are limited to 107 bytes). */
export function statusSocketPath(mountpoint: string, dir = runtimeDirectory()): string {
  const hash = createHash('sha256').update(path.resolve(mountpoint)).digest('hex').slice(0, 16);
  return path.join(dir, `status-${hash}.sock`);
}

export interface StatusServer {
  readonly path: string;
  close(): void;
}

/**
 * Serves `report()` to each connection, then closes it. A socket left by a daemon that died is
 * replaced; one a live daemon still answers on is left alone (and this mount serves none).
 */
export async function serveStatus(mountpoint: string, report: () => string, dir = runtimeDirectory()): Promise<StatusServer> {
  await ensurePrivateDirectory(dir, 'the runtime directory', 0o700);
  const socketPath = statusSocketPath(mountpoint, dir);
  if (await answers(socketPath)) throw new Error(`another qsfs answers on ${socketPath}`);
  await fsp.rm(socketPath, { force: true });
  const server = net.createServer((conn) => {
    conn.on('error', () => undefined); // the asker went away: nothing to do
    let text: string;
    try {
      text = report();
    } catch (err) {
      text = `qsfs: cannot make the status report: ${String(err)}`;
    }
    conn.end(`${text}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref(); // never what keeps the daemon alive
  return {
    path: socketPath,
    close: () => {
      server.close();
      fsp.rm(socketPath, { force: true }).catch(() => undefined);
    },
  };
}

/** Whether a live process answers on the socket. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(socketPath);
    conn.once('connect', () => {
      conn.destroy();
      resolve(true);
    });
    conn.once('error', () => resolve(false));
  });
}

/** The status report of the daemon serving `mountpoint`; throws an Error with one line for the user. */
export function readStatus(mountpoint: string, dir = runtimeDirectory()): Promise<string> {
  const socketPath = statusSocketPath(mountpoint, dir);
  return new Promise((resolve, reject) => {
    let text = '';
    const conn = net.connect(socketPath);
    conn.setEncoding('utf8');
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`the qsfs daemon of ${mountpoint} did not answer within ${ANSWER_TIMEOUT_MS / 1000} s (busy, or stopped: its log says which)`));
    }, ANSWER_TIMEOUT_MS);
    conn.on('data', (chunk: string) => { text += chunk; });
    conn.on('end', () => {
      clearTimeout(timer);
      resolve(text.replace(/\n$/, ''));
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const who = process.getuid?.() === 0 ? 'root' : 'this user';
      reject(new Error(err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? `no qsfs mounted by ${who} answers for ${path.resolve(mountpoint)} (not a qsfs mountpoint, or mounted by another user: ask as that user)`
        : `cannot ask the qsfs daemon of ${mountpoint}: ${err.code ?? err.message}`));
    });
  });
}
