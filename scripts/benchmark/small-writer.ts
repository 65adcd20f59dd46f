// Child program: writes FILE with one write(2) per block (the contents of BLOCKFILE, 8 KiB),
// over and over until SIZE bytes, then closes it: an application that writes in small pieces
// (a logger, an encoder, `dd bs=8k`), unlike `dd bs=1M` of seq-write.
//   node small-writer.js FILE BLOCKFILE SIZE
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

const [file, blockFile, size] = process.argv.slice(2);
const block = readFileSync(blockFile!);
const total = Number(size);
const fd = openSync(file!, 'w');
// A short write continues from where it stopped in the block, so the data stays the block repeated.
for (let done = 0; done < total;) {
  const at = done % block.length;
  done += writeSync(fd, block, at, Math.min(block.length - at, total - done));
}
closeSync(fd);
