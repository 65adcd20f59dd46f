// Child program: performs the planned random reads on a file (in a mount) and prints the number
// of bytes read. Run as a separate process: the benchmark never reads its own mounts in-process.
//   node random-reader.js FILE FILESIZE COUNT SEED
import { promises as fsp } from 'node:fs';
import { randomReads } from './random-plan.js';

const [file, size, count, seed] = process.argv.slice(2);
const ops = randomReads(Number(size), Number(count), Number(seed));
const fh = await fsp.open(file!, 'r');
const buf = Buffer.alloc(1 << 20);
let total = 0;
for (const op of ops) {
  const { bytesRead } = await fh.read(buf, 0, op.length, op.offset);
  if (bytesRead !== op.length) throw new Error(`short read at ${op.offset}: ${bytesRead} of ${op.length}`);
  total += bytesRead;
}
await fh.close();
process.stdout.write(`${total}\n`);
