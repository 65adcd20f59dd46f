// Applies one file operation to a path and closes the file: run as a child process
// (`node build/test/helpers/random-ops.js PATH 'JSON-OP'`) so that a test can change a file on a
// mount without doing I/O on the mount itself, one open/close per operation. The same module,
// imported, applies the operation to a local file and generates the same bytes, so a test can
// keep a local twin of the mounted file.
//
// Exit status: 0 done; 2 bad arguments or the operation failed before close; 3 close(2) failed
// (the error code, e.g. EIO, is printed on stderr as "close failed: CODE message").
import { spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type Op =
  /** pwrite `length` bytes of the data for `seed` at `offset` (creating the file; never truncating). */
  | { kind: 'write'; offset: number; length: number; seed: number }
  /** open with O_APPEND and write `length` bytes of the data for `seed`. */
  | { kind: 'append'; length: number; seed: number }
  /** truncate(2) on the path (run by perl: Node has no truncate(2)), or ftruncate(2) on an fd opened for it. */
  | { kind: 'truncate'; size: number; via: 'path' | 'fd' }
  /**
   * Create/truncate the file, write `length` bytes of the data for `seed`, print "written" on
   * stdout, then wait for a line (or the end) on stdin before closing: the test chooses the
   * moment of the close.
   */
  | { kind: 'write-hold'; length: number; seed: number };

/** `length` pseudo-random bytes, the same for the same seed (an AES-CTR key stream). */
export function dataFor(seed: number, length: number): Buffer {
  const key = createHash('sha256').update(`qsfs-random-ops:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(length)), cipher.final()]);
}

/** Applies a (non-hold) operation to a file synchronously, closing it at the end. */
export function applyOp(file: string, op: Op): void {
  switch (op.kind) {
    case 'write': {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT, 0o644);
      try {
        writeAll(fd, dataFor(op.seed, op.length), op.offset);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'append': {
      const fd = fs.openSync(file, 'a', 0o644);
      try {
        writeAll(fd, dataFor(op.seed, op.length), null);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'truncate': {
      if (op.via === 'path') {
        // truncate(2) on the path, with no open file: Node's truncateSync opens and ftruncates
        const r = spawnSync('perl', ['-e', 'truncate($ARGV[0], $ARGV[1]) or die "truncate: $!\\n"', file, String(op.size)], { encoding: 'utf8' });
        if (r.error) throw r.error;
        if (r.status !== 0) throw new Error(`truncate(2) of ${file} to ${op.size} failed: ${r.stderr.trim()}`);
        return;
      }
      const fd = fs.openSync(file, 'r+');
      try {
        fs.ftruncateSync(fd, op.size);
      } finally {
        fs.closeSync(fd);
      }
      return;
    }
    case 'write-hold':
      throw new Error('write-hold runs only as a child process');
  }
}

function writeAll(fd: number, data: Buffer, position: number | null): void {
  let done = 0;
  while (done < data.length) {
    const n = fs.writeSync(fd, data, done, data.length - done, position === null ? null : position + done);
    done += n;
  }
}

async function writeHold(file: string, op: Extract<Op, { kind: 'write-hold' }>): Promise<number> {
  const fd = fs.openSync(file, 'w', 0o644);
  try {
    writeAll(fd, dataFor(op.seed, op.length), 0);
  } catch (err) {
    process.stderr.write(`write failed: ${(err as NodeJS.ErrnoException).code ?? ''} ${String(err)}\n`);
    fs.closeSync(fd);
    return 2;
  }
  process.stdout.write('written\n');
  await new Promise<void>((resolve) => {
    process.stdin.once('data', () => resolve());
    process.stdin.once('end', () => resolve());
    process.stdin.once('error', () => resolve());
  });
  process.stdin.pause();
  try {
    fs.closeSync(fd);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`close failed: ${e.code ?? '?'} ${e.message}\n`);
    return 3;
  }
  process.stdout.write('closed\n');
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [file, json] = argv;
  if (!file || !json) {
    process.stderr.write('usage: random-ops.js PATH JSON-OP\n');
    return 2;
  }
  let op: Op;
  try {
    op = JSON.parse(json) as Op;
  } catch (err) {
    process.stderr.write(`bad operation ${json}: ${String(err)}\n`);
    return 2;
  }
  if (op.kind === 'write-hold') return writeHold(file, op);
  try {
    applyOp(file, op);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // closeSync errors surface here too: say so, it is what the tests look for
    process.stderr.write(`${op.kind} failed: ${e.code ?? '?'} ${e.message}\n`);
    return e.syscall === 'close' ? 3 : 2;
  }
  return 0;
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`random-ops: ${String(err)}\n`);
      process.exitCode = 2;
    },
  );
}
