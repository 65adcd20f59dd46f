// Which reads of a file are sequential, and the read-ahead they earn: pure bookkeeping, no I/O.
//
// The kernel's requests for one reader arrive out of order: libfuse hands them to a thread
// each, and on a busy machine one thread can be descheduled while the others deliver several
// MiB past it. So a stream is an interval [start, readEnd] that only grows, and a late request
// inside it (a straggler) continues it instead of looking like a seek. With a single
// "where the reader is" position, each straggler used to restart the stream, and the next
// in-order request restarted it again: a cold 1 GiB read saw 77 restarts and ~260 GETs, most
// of them far smaller than --bufsize.
//
// A file keeps a few streams (two processes reading it at once, or stragglers of a stream
// left behind by a real seek); a request joins the stream it lies in or next to, else starts
// a new one in place of the least recently used. Streams that grow into each other merge.

export interface ReadAheadSettings {
  /** The cache's page size: read-ahead is in whole pages. */
  pageSize: number;
  /** The most a stream reads ahead, bytes (--prefetchsize; 0: no read-ahead). */
  prefetchBytes: number;
  /** The largest GET (--bufsize). */
  chunkSize: number;
}

interface Stream {
  start: number;
  readEnd: number;
  /** Bytes read in this stream: its length, without gaps a random reader's jumps would add. */
  bytes: number;
  /** Read-ahead has been asked for up to here. */
  prefetchedTo: number;
  lastUse: number;
}

const MiB = 1024 * 1024;
/** How far before a stream's start or past its end a request may land and still continue it. */
export const STREAM_SLACK = 2 * MiB;
/**
 * Our read-ahead starts once a stream has read this much. Below it the kernel's own read-ahead
 * covers the reader, and a single large random read (up to 1 MiB, arriving as 8 requests at
 * once) is fetched as asked, in one GET, rather than taken for the start of a stream.
 */
export const MIN_STREAM = 2 * MiB;
/** Streams tracked per file. */
const MAX_STREAMS = 4;

export class ReadAhead {
  private streams: Stream[] = [];
  private uses = 0;

  constructor(private readonly s: ReadAheadSettings) {}

  /**
   * Notes a read of [position, end) of a file whose object holds `baseSize` bytes; returns the
   * ranges to fetch ahead, each at most one GET long, in order. The caller fetches only the
   * pages of them not already cached or under way. `room`: the most read-ahead memory can hold
   * now (see MemoryBudget.readAheadRoom); what does not fit is offered again at a later read,
   * except the step holding this request, which its reader waits for.
   */
  note(position: number, end: number, baseSize: number, room = Infinity): Array<[number, number]> {
    const stream = this.join(position, end);
    if (!stream || this.s.prefetchBytes === 0 || stream.bytes < MIN_STREAM) return [];
    const page = this.s.pageSize;
    // Past MIN_STREAM the window is as long as the stream has been (up to --prefetchsize), so
    // a long sequential reader soon gets the full window.
    const window = Math.min(this.s.prefetchBytes, Math.max(2 * page, stream.bytes));
    const target = Math.min(baseSize, stream.readEnd + window);
    // From the page of this request on: a request the read-ahead has not reached yet rides on
    // the read-ahead's GET instead of costing a GET of its own.
    const from = Math.max(stream.prefetchedTo, Math.floor(position / page) * page);
    if (from >= target) return [];
    // Only in pieces worth a request: half the window (1 MiB to --bufsize). Each GET has a
    // fixed cost on both ends, so fewer, larger GETs read faster than one per transfer slot.
    const share = Math.max(Math.min(window, MiB), Math.floor(window / 2));
    const step = Math.ceil(Math.min(this.s.chunkSize, share) / page) * page;
    // Whole steps only, and as far as memory has room: the rest of the window waits until it
    // makes a whole step, rather than going out as a GET of a few pages. Two exceptions: the end
    // of the object, and a request the read-ahead has not reached (the reader waits for it),
    // which gets the step it is in.
    const reach = Math.min(target, from + room);
    let stop = from + Math.floor((reach - from) / step) * step;
    if (from <= position) stop = Math.max(stop, from + Math.ceil((position + 1 - from) / step) * step);
    if (reach >= baseSize) stop = baseSize;
    stop = Math.min(stop, baseSize);
    if (stop <= from) return [];
    const ranges: Array<[number, number]> = [];
    for (let c = from; c < stop; c += step) ranges.push([c, Math.min(c + step, stop)]);
    stream.prefetchedTo = stop;
    return ranges;
  }

  /** The object changed under the streams (an upload stored new bytes): read ahead afresh. */
  forgetPrefetched(): void {
    for (const stream of this.streams) stream.prefetchedTo = 0;
  }

  /** The stream this read continues (updated), or null when it starts a new one. */
  private join(position: number, end: number): Stream | null {
    this.uses++;
    let best: Stream | null = null;
    for (const s of this.streams) {
      if (position < s.start - STREAM_SLACK || position > s.readEnd + STREAM_SLACK) continue;
      if (!best || Math.abs(position - s.readEnd) < Math.abs(position - best.readEnd)) best = s;
    }
    if (!best) {
      if (this.streams.length >= MAX_STREAMS) {
        this.streams.sort((a, b) => b.lastUse - a.lastUse);
        this.streams.length = MAX_STREAMS - 1;
      }
      this.streams.push({ start: position, readEnd: end, bytes: end - position, prefetchedTo: end, lastUse: this.uses });
      return null;
    }
    best.start = Math.min(best.start, position);
    best.readEnd = Math.max(best.readEnd, end);
    best.bytes += end - position;
    best.lastUse = this.uses;
    this.mergeInto(best);
    return best;
  }

  /** Folds into `s` the streams it has grown into: one reader, one stream. */
  private mergeInto(s: Stream): void {
    this.streams = this.streams.filter((t) => {
      if (t === s || t.readEnd < s.start - STREAM_SLACK || t.start > s.readEnd + STREAM_SLACK) return true;
      s.start = Math.min(s.start, t.start);
      s.readEnd = Math.max(s.readEnd, t.readEnd);
      s.bytes += t.bytes;
      s.prefetchedTo = Math.max(s.prefetchedTo, t.prefetchedTo);
      return false;
    });
  }
}
