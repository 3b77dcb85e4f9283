// Times for the console's log lines: when the hub received each line.
//
// The hub keeps a task's log as appends, and `GET /v1/tasks/{id}/log/times`
// says where each begins and when it arrived (a mark). A line's time is
// that of the append holding its first byte, as the desktop gives a line the
// time its first byte was written.
//
// `LineTimes` maps byte offsets to line times (pure). `TimedFeed` sits
// between the byte stream and the viewer: bytes whose marks are known pass
// at once; bytes past them wait for one read of the new marks (one in
// flight, at least GAP_MS apart, so a fast log costs a few small reads a
// second and its lines come in batches). If the marks cannot be read (an
// older hub), the bytes pass without times.

import type { LogTimes } from "../hub";

/** The least time between two reads of new marks (ms). */
export const GAP_MS = 250;

const NEWLINE = 0x0a;

/** Known marks, and the time of each line as its bytes go by. */
export class LineTimes {
  private readonly offsets: number[] = [];
  private readonly ats: number[] = [];
  /** The byte offset where the line not yet ended began. */
  lineStart: number;

  constructor(start: number) {
    this.lineStart = start;
  }

  /** Takes marks in order; those at or before the last known one are repeats. */
  add(marks: LogTimes["marks"]): void {
    for (const m of marks) {
      const last = this.offsets.length > 0 ? this.offsets[this.offsets.length - 1] : -1;
      if (m.offset > last) {
        this.offsets.push(m.offset);
        this.ats.push(m.at);
      }
    }
  }

  /** How many marks are known. */
  get size(): number {
    return this.offsets.length;
  }

  /** When the byte at `offset` arrived: the last mark at or before it (NaN when none). */
  at(offset: number): number {
    let lo = 0;
    let hi = this.offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.offsets[mid] <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo === 0 ? NaN : this.ats[lo - 1];
  }

  /** The time of each line that `bytes` (read at offset `from`) ends, in order. */
  lines(from: number, bytes: Uint8Array): number[] {
    const ms: number[] = [];
    let i = bytes.indexOf(NEWLINE);
    while (i >= 0) {
      ms.push(this.at(this.lineStart));
      this.lineStart = from + i + 1;
      i = bytes.indexOf(NEWLINE, i + 1);
    }
    return ms;
  }

  /** The time of the unterminated last line of a log `end` bytes long (none when the log ends with a newline). */
  last(end: number): number[] {
    return end > this.lineStart ? [this.at(this.lineStart)] : [];
  }
}

/** What the feed needs: one page of marks from an offset, a pause, and a stop. */
export type FeedDoor = {
  logTimes: (offset: number) => Promise<LogTimes>;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  now: () => number;
};

type Held = { from: number; bytes: Uint8Array };

/**
 * Passes a log's bytes on with their lines' times (`onBytes(from, bytes,
 * lineMs)`; `lineMs` undefined once times cannot be had), holding bytes
 * whose marks are not read yet.
 */
export class TimedFeed {
  readonly times: LineTimes;
  /** The offset after the last byte pushed. */
  private received: number;
  /** Marks are known for every byte before this. */
  private covered: number;
  private readonly held: Held[] = [];
  private busy = false;
  private off = false;
  private lastRead = -Infinity;
  private waiters: (() => void)[] = [];

  constructor(
    start: number,
    private readonly door: FeedDoor,
    private readonly onBytes: (from: number, bytes: Uint8Array, lineMs: number[] | undefined) => void,
    private readonly signal: AbortSignal,
  ) {
    this.times = new LineTimes(start);
    this.received = start;
    this.covered = start;
  }

  /** Whether the times were given up (the marks could not be read). */
  get timeless(): boolean {
    return this.off;
  }

  /** Reads the marks of what the log holds now (`size` bytes), before its bytes come. */
  prime(size: number): void {
    if (this.busy || this.off) return;
    this.read(this.covered, size, false);
  }

  /** The next bytes of the stream. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.signal.aborted) return;
    this.held.push({ from: this.received, bytes });
    this.received += bytes.length;
    this.pump();
  }

  /** Resolves when every pushed byte has been passed on (or the feed was stopped). */
  drain(): Promise<void> {
    if (this.held.length === 0 || this.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  private pump(): void {
    if (this.signal.aborted) return;
    while (this.held.length > 0) {
      const first = this.held[0];
      const end = first.from + first.bytes.length;
      if (!this.off && end > this.covered) break;
      this.held.shift();
      this.onBytes(first.from, first.bytes, this.off ? undefined : this.times.lines(first.from, first.bytes));
    }
    if (this.held.length === 0) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w();
      return;
    }
    if (!this.busy) this.read(this.covered, 0, true);
  }

  /**
   * Reads the marks from `offset` (every page). The stream sends only bytes
   * the hub has stored, so every byte received before the read is asked
   * (and the first `atLeast`) then has its mark.
   */
  private read(offset: number, atLeast: number, paced: boolean): void {
    this.busy = true;
    void (async () => {
      try {
        const wait = this.lastRead + GAP_MS - this.door.now();
        if (paced && wait > 0) await this.door.sleep(wait, this.signal);
        const upTo = Math.max(atLeast, this.received);
        let from: number | null | undefined = offset;
        while (from !== null && from !== undefined && !this.signal.aborted) {
          const page: LogTimes = await this.door.logTimes(from);
          this.times.add(page.marks);
          from = page.next;
        }
        this.covered = Math.max(this.covered, upTo);
      } catch {
        // An older hub has no times, or the session ended (the stream says so): go on without.
        this.off = true;
      }
      this.lastRead = this.door.now();
      this.busy = false;
      this.pump();
    })();
  }
}
