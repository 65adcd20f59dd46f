// One of the concurrent workers of the fault tests, run as a child process
// (`node build/test/helpers/fault-worker.js DIR SEED SECONDS MAX_BYTES`) so that it may do
// blocking I/O on the mount. Until SECONDS have passed or it has written MAX_BYTES (so that a
// faster mount does not fill the test server), it writes files of seeded sizes under DIR, each in one
// open/close, reads each back at once and compares it, appends to or rewrites earlier files now
// and then, and reads files back again later. On stdout it prints one JSON line: the md5 each
// file should have now, the counts of what it did, and every failure (an errno or a mismatch).
// Exit status 0 when nothing failed, 1 otherwise.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { mulberry32 } from '../../scripts/benchmark/random-plan.js';
import { dataFor } from './random-ops.js';

export interface WorkerReport {
  /** File name (under DIR) -> md5 of what it must hold. */
  files: Record<string, string>;
  writes: number;
  appends: number;
  reads: number;
  failures: string[];
}

const KiB = 1024;
const MiB = 1024 * KiB;
/** Mostly small files, some that take a multipart upload at -b 5. */
const SIZES = [0, 1, 4 * KiB, 60 * KiB, 300 * KiB, 1 * MiB + 7, 3 * MiB, 6 * MiB + 11, 11 * MiB];

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

function main(): void {
  const [dir, seedArg, secondsArg, maxBytesArg] = process.argv.slice(2);
  if (!dir || !seedArg || !secondsArg || !maxBytesArg) {
    process.stderr.write('usage: fault-worker.js DIR SEED SECONDS MAX_BYTES\n');
    process.exit(2);
  }
  const seed = Number(seedArg);
  const deadline = Date.now() + Number(secondsArg) * 1000;
  const maxBytes = Number(maxBytesArg);
  let written = 0;
  const random = mulberry32(seed);
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!;
  const contents = new Map<string, Buffer>();
  const report: WorkerReport = { files: {}, writes: 0, appends: 0, reads: 0, failures: [] };
  let serial = 0;

  const attempt = (what: string, fn: () => void): boolean => {
    try {
      fn();
      return true;
    } catch (err) {
      report.failures.push(`${what}: ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      return false;
    }
  };
  const check = (name: string): void => {
    const want = contents.get(name)!;
    attempt(`read ${name}`, () => {
      const got = fs.readFileSync(path.join(dir, name));
      report.reads++;
      if (got.length !== want.length || md5(got) !== md5(want)) {
        report.failures.push(`read ${name}: ${got.length} bytes with md5 ${md5(got)}, want ${want.length} bytes with md5 ${md5(want)}`);
      }
    });
  };

  fs.mkdirSync(dir, { recursive: true });
  while (Date.now() < deadline && written < maxBytes && report.failures.length < 5) {
    const names = [...contents.keys()];
    const r = random();
    if (names.length > 0 && r < 0.2) {
      // append to an earlier file
      const name = pick(names);
      const more = dataFor(seed * 100_000 + serial++, pick([1, 100, 5 * KiB, 700 * KiB]));
      if (attempt(`append ${name}`, () => fs.appendFileSync(path.join(dir, name), more))) {
        contents.set(name, Buffer.concat([contents.get(name)!, more]));
        report.appends++;
        written += more.length;
        check(name);
      } else {
        contents.delete(name); // its content is unknown now: it is left out of the final check
      }
    } else if (names.length > 0 && r < 0.35) {
      check(pick(names)); // an earlier file, read again later
    } else {
      // a new file, or an earlier one rewritten from scratch
      const name = names.length > 0 && r < 0.45 ? pick(names) : `f${serial}`;
      const data = dataFor(seed * 100_000 + serial++, pick(SIZES));
      if (attempt(`write ${name}`, () => fs.writeFileSync(path.join(dir, name), data))) {
        contents.set(name, data);
        report.writes++;
        written += data.length;
        check(name);
      } else {
        contents.delete(name);
      }
    }
  }
  for (const [name, data] of contents) report.files[name] = md5(data);
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.exit(report.failures.length === 0 ? 0 : 1);
}

main();
