// Where the parts of a multipart upload begin and end. Part sizes are fixed by part number, so
// a part can go out while the file is still being written without knowing its final size:
// 900 parts of --bufsize, then 900 of twice that, and so on (capped at S3's 5 GiB), which
// puts 5 TiB within S3's 10,000 parts for any --bufsize of 5 MiB or more.

export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** S3's largest object (5 TiB). */
export const MAX_OBJECT_SIZE = 5 * 1024 ** 4;
const PARTS_PER_STEP = 900;

export interface PartRange {
  /** 1-based S3 part number. */
  number: number;
  start: number;
  end: number;
}

export class PartLayout {
  constructor(readonly baseSize: number) {
    if (baseSize < MIN_PART_SIZE) throw new RangeError(`part size ${baseSize} is below S3's minimum of 5 MiB`);
  }

  /** Size of part `number` (1-based). */
  sizeOf(number: number): number {
    const step = Math.floor((number - 1) / PARTS_PER_STEP);
    return Math.min(MAX_PART_SIZE, this.baseSize * 2 ** step);
  }

  /** Offset where part `number` starts. */
  startOf(number: number): number {
    let start = 0;
    let n = 1;
    while (n < number) {
      const step = Math.floor((n - 1) / PARTS_PER_STEP);
      const inStep = Math.min(number - n, PARTS_PER_STEP - ((n - 1) % PARTS_PER_STEP));
      start += inStep * Math.min(MAX_PART_SIZE, this.baseSize * 2 ** step);
      n += inStep;
    }
    return start;
  }

  /** The largest file this layout can upload: S3's 5 TiB, or what 10,000 parts hold if less. */
  get maxFileSize(): number {
    return Math.min(MAX_OBJECT_SIZE, this.startOf(MAX_PARTS + 1));
  }

  /** The part holding byte `offset`. */
  partAt(offset: number): PartRange {
    let start = 0;
    let number = 1;
    for (;;) {
      const size = this.sizeOf(number);
      const stepLeft = PARTS_PER_STEP - ((number - 1) % PARTS_PER_STEP);
      if (offset < start + size * stepLeft) {
        const k = Math.floor((offset - start) / size);
        return { number: number + k, start: start + k * size, end: start + (k + 1) * size };
      }
      start += size * stepLeft;
      number += stepLeft;
    }
  }

  /** The parts of a file of `size` bytes (the last one cut at the end); none for an empty file. */
  partsFor(size: number): PartRange[] {
    const parts: PartRange[] = [];
    let start = 0;
    for (let number = 1; start < size; number++) {
      const end = Math.min(size, start + this.sizeOf(number));
      parts.push({ number, start, end });
      start = end;
    }
    if (parts.length > MAX_PARTS) throw new RangeError(`a file of ${size} bytes needs ${parts.length} parts, more than S3 allows`);
    return parts;
  }
}
