// Child processes that touch a mount for the tests: a writer that keeps its file open until told
// to close, and md5/size read through shell tools. A test never does file I/O on a mount itself.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sh } from './shell.js';
import type { Op } from './random-ops.js';

const RANDOM_OPS = fileURLToPath(new URL('./random-ops.js', import.meta.url));
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

export interface HoldWriter {
  /** Resolves once all data is written (the file still open). */
  written: Promise<void>;
  exited: Promise<{ code: number; stdout: string; stderr: string }>;
  close(): void;
  kill(): void;
}

export function startHoldWriter(file: string, length: number, seed: number): HoldWriter {
  const op: Op = { kind: 'write-hold', length, seed };
  const child = spawn(process.execPath, [RANDOM_OPS, file, JSON.stringify(op)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const written = new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (stdout.includes('written\n')) resolve();
    });
    child.on('close', (code) => reject(new Error(`the writer exited (${code}) before it had written: ${stdout}${stderr}`)));
    child.on('error', reject);
  });
  written.catch(() => undefined);
  const exited = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
  child.stdin.on('error', () => undefined);
  return {
    written,
    exited,
    close: () => { child.stdin.end('close\n'); },
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
}

/** md5 of a file on a mount, read with cat in a child process. */
export async function mountedMd5(file: string): Promise<string> {
  return (await sh(`cat ${q(file)} | md5sum`)).split(' ')[0]!;
}

export async function mountedSize(file: string): Promise<number> {
  return Number((await sh(`stat -c %s ${q(file)}`)).trim());
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer after ${ms} ms`)), ms); }),
  ]).finally(() => clearTimeout(timer));
}
