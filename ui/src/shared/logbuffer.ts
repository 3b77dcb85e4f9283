// One task's log in memory: up to millions of lines, kept so that any window
// of it can be shown on its own. Pure TypeScript, no DOM, outside Svelte's state.
//
// Lines live in chunks (at most CHUNK_LINES lines or about CHUNK_CHARS
// characters each): an array of strings, a parallel Float64Array of the time
// each line was written (NaN when unknown) and a Uint32Array of its width in
// columns (for the wrapped layout). Each chunk also keeps the ANSI style in
// force where its first line starts, so the style at any line is found by
// advancing over at most one chunk. A line is kept as the terminal would leave
// it, colours (SGR sequences) included; every other escape sequence is gone.
//
// Batches may split lines, "\r\n" and escape sequences anywhere: the text after
// the last "\n" waits as the partial line. Past the caps (lines or characters),
// whole chunks are dropped from the head; `first` says how many lines went.

import {
  ANSI_CUT,
  advance,
  copyState,
  initialState,
  keepSgrOnly,
  parseAnsi,
  sgrOnly,
  stripAnsi,
  type AnsiState,
} from "./ansi";

/** A line longer than this with no newline yet is broken in two. */
export const MAX_PARTIAL = 64 * 1024;
/** Default cap on the lines held. */
export const DEFAULT_MAX_LINES = 2_000_000;
/** Default cap on the characters held (UTF-16 code units, ~200 MB). */
export const DEFAULT_MAX_CHARS = 100_000_000;
/** Lines per chunk at most. */
export const CHUNK_LINES = 4096;
/** A chunk takes no more lines once it holds this many characters. */
export const CHUNK_CHARS = 1 << 20;
/** Columns a tab advances to (CSS tab-size). */
export const TAB_SIZE = 4;

export interface LogBufferOptions {
  maxLines?: number;
  maxChars?: number;
  chunkLines?: number;
  chunkChars?: number;
}

export interface Chunk {
  /** Absolute index of its first line (lines are counted from the log's first line seen). */
  readonly start: number;
  readonly lines: string[];
  /** When each line was written, ms since the epoch; NaN when unknown. */
  readonly times: Float64Array;
  /** Each line's width in columns (see `textColumns`). */
  readonly widths: Uint32Array;
  /** The style in force where its first line starts. */
  readonly style: Readonly<AnsiState>;
  /** Characters held. */
  chars: number;
  /** Whether any line holds an escape sequence (else the style never changes in it). */
  esc: boolean;
}

/**
 * One line as a terminal would leave it, roughly: a carriage return starts the
 * line over (progress bars) but the colours set before it stay in force,
 * escape sequences other than colours are dropped.
 */
export function cleanLine(raw: string): string {
  let line = raw;
  if (line.endsWith("\r")) line = line.slice(0, -1);
  const cr = line.lastIndexOf("\r");
  if (cr >= 0) line = sgrOnly(line.slice(0, cr)) + line.slice(cr + 1);
  if (line.includes("\x1b")) line = keepSgrOnly(line);
  return line;
}

/** The text a line shows: its escape sequences removed. */
export function visibleText(line: string): string {
  if (!line.includes("\x1b")) return line;
  let out = "";
  for (const seg of parseAnsi(line, initialState())) out += seg.text;
  return out;
}

/** True for code points that take two columns in a monospace font (East Asian wide, most emoji). */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

const NOT_SIMPLE = /[\t\x1b\u0080-\uffff]/;

/**
 * How many columns `text` takes in a monospace font: tabs go to the next
 * multiple of TAB_SIZE, wide characters take two, combining marks none.
 * Escape sequences count for nothing. An estimate: fonts have the last word.
 */
export function textColumns(text: string): number {
  if (!NOT_SIMPLE.test(text)) return text.length;
  const plain = visibleText(text);
  let col = 0;
  for (let i = 0; i < plain.length; i++) {
    const c = plain.charCodeAt(i);
    if (c < 0x80) {
      col = c === 9 ? col + TAB_SIZE - (col % TAB_SIZE) : col + 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < plain.length) {
      const cp = plain.codePointAt(i)!;
      i++;
      col += isWide(cp) ? 2 : 1;
    } else if ((c >= 0x300 && c <= 0x36f) || c === 0x200b || c === 0x200d || (c >= 0xfe00 && c <= 0xfe0f)) {
      // combining marks, zero-width space and joiner, variation selectors
    } else {
      col += isWide(c) ? 2 : 1;
    }
  }
  return col;
}

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

/** A line's time as HH:MM:SS.mmm in local time ("" when unknown). */
export function formatLogTime(ms: number): string {
  if (!Number.isFinite(ms)) return "";
  const d = new Date(ms);
  const milli = d.getMilliseconds();
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${milli < 10 ? "00" : milli < 100 ? "0" : ""}${milli}`;
}

/** The number of "\n" in `text`. */
export function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

const NO_TIMES: readonly number[] = [];

export class LogBuffer {
  readonly maxLines: number;
  readonly maxChars: number;
  readonly chunkLines: number;
  readonly chunkChars: number;

  /** Whether any line has a time. */
  hasTimes = false;
  /** Whether the log is complete (`append(…, done)` or `finish`). */
  finished = false;
  /** Goes up on every change. */
  revision = 0;
  /** Goes up when the partial line changes. */
  partialRevision = 0;

  private chunks: Chunk[] = [];
  private endIndex = 0;
  private charCount = 0;
  private partialRaw = "";
  private partialShown = "";
  /** The style in force after the last complete line. */
  private endState: AnsiState = initialState();
  /** The chunk `locate` found last (reading goes mostly in order). */
  private hint = 0;

  constructor(options: LogBufferOptions = {}) {
    const maxLines = options.maxLines ?? DEFAULT_MAX_LINES;
    if (!(maxLines >= 1)) throw new RangeError("maxLines must be at least 1");
    this.maxLines = Math.floor(maxLines);
    this.maxChars = Math.max(1, Math.floor(options.maxChars ?? DEFAULT_MAX_CHARS));
    this.chunkLines = Math.max(1, Math.min(this.maxLines, Math.floor(options.chunkLines ?? CHUNK_LINES)));
    this.chunkChars = Math.max(1, Math.min(this.maxChars, Math.floor(options.chunkChars ?? CHUNK_CHARS)));
  }

  /** Absolute index of the oldest line held: also how many lines were dropped. */
  get first(): number {
    return this.chunks.length > 0 ? this.chunks[0].start : this.endIndex;
  }

  /** Absolute index just past the last complete line. */
  get end(): number {
    return this.endIndex;
  }

  /** Complete lines held. */
  get length(): number {
    return this.endIndex - this.first;
  }

  /** Lines dropped from the head to stay under the caps. */
  get dropped(): number {
    return this.first;
  }

  /** Characters held in complete lines. */
  get chars(): number {
    return this.charCount;
  }

  /** The chunks, oldest first (read only). */
  get allChunks(): readonly Chunk[] {
    return this.chunks;
  }

  /**
   * Adds the next piece of the log. `lineMs` holds the time of each line that
   * a "\n" in `text` ends, in order; when `done`, one more entry may follow for
   * the unterminated last line, which then becomes a line of its own.
   */
  append(text: string, lineMs: ArrayLike<number> = NO_TIMES, done = false): void {
    let timeAt = 0;
    if (text.length > 0) {
      const all = this.partialRaw + text;
      const lastNl = all.lastIndexOf("\n");
      let partial = lastNl >= 0 ? all.slice(lastNl + 1) : all;
      if (lastNl >= 0) timeAt = this.pushText(all.slice(0, lastNl), lineMs);
      // Only the text after the last carriage return of a line shows, so a
      // progress bar that never prints a newline does not grow the line.
      if (partial.length >= 2) {
        const cr = partial.lastIndexOf("\r", partial.length - 2);
        if (cr >= 0) partial = sgrOnly(partial.slice(0, cr)) + partial.slice(cr + 1);
      }
      if (partial.length > MAX_PARTIAL) {
        this.pushText(partial, NO_TIMES);
        partial = "";
      }
      this.partialRaw = partial;
      this.updatePartial();
      this.revision++;
    }
    if (done) this.finish(timeAt < lineMs.length ? lineMs[timeAt] : NaN);
  }

  /** The log is complete: the unterminated last line, if any, becomes a line (written at `ms`). */
  finish(ms = NaN): void {
    this.finished = true;
    if (this.partialShown !== "") this.pushLine(this.partialShown, ms);
    this.partialRaw = "";
    this.updatePartial();
    this.trim();
    this.revision++;
  }

  /** The unfinished last line as shown ("" when none); its style starts at `styleAt(end)`. */
  partial(): string {
    return this.partialShown;
  }

  /** The line at absolute index `abs` (first <= abs < end), colours included. */
  line(abs: number): string {
    const c = this.locate(abs);
    return c.lines[abs - c.start];
  }

  /** When the line at `abs` was written (NaN when unknown). */
  time(abs: number): number {
    const c = this.locate(abs);
    return c.times[abs - c.start];
  }

  /** The line's width in columns. */
  width(abs: number): number {
    const c = this.locate(abs);
    return c.widths[abs - c.start];
  }

  /** The style in force where line `abs` starts (first <= abs <= end); a fresh object. */
  styleAt(abs: number): AnsiState {
    if (abs >= this.endIndex || this.chunks.length === 0) return copyState(this.endState);
    const c = this.locate(Math.max(abs, this.first));
    const state = copyState(c.style);
    if (c.esc) {
      const n = Math.max(abs, this.first) - c.start;
      for (let i = 0; i < n; i++) advance(c.lines[i], state);
    }
    return state;
  }

  /** The index in `allChunks` of the chunk holding line `abs`. */
  chunkIndexOf(abs: number): number {
    const cs = this.chunks;
    if (cs.length === 0 || abs < cs[0].start || abs >= this.endIndex) {
      throw new RangeError(`line ${abs} is not held (${this.first}..${this.endIndex})`);
    }
    const h = this.hint < cs.length ? this.hint : 0;
    const hc = cs[h];
    if (abs >= hc.start && abs < hc.start + hc.lines.length) return h;
    if (h + 1 < cs.length && abs >= cs[h + 1].start && abs < cs[h + 1].start + cs[h + 1].lines.length) {
      this.hint = h + 1;
      return h + 1;
    }
    let lo = 0;
    let hi = cs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (cs[mid].start <= abs) lo = mid;
      else hi = mid - 1;
    }
    this.hint = lo;
    return lo;
  }

  private locate(abs: number): Chunk {
    return this.chunks[this.chunkIndexOf(abs)];
  }

  /** The complete lines held, colours included (for tests and small logs). */
  completeLines(): string[] {
    const out: string[] = [];
    for (const c of this.chunks) for (const l of c.lines) out.push(l);
    return out;
  }

  /** Everything held as text: complete lines, then the partial line. */
  text(): string {
    return this.completeLines().map((l) => l + "\n").join("") + this.partialShown;
  }

  private updatePartial(): void {
    let shown = "";
    if (this.partialRaw.length > 0) {
      const line = cleanLine(this.partialRaw).replace(ANSI_CUT, "");
      if (stripAnsi(line).length > 0) shown = line;
    }
    if (shown !== this.partialShown) {
      this.partialShown = shown;
      this.partialRevision++;
    }
  }

  /** Adds the lines of `text` (no final "\n"); returns how many times of `lineMs` they took. */
  private pushText(text: string, lineMs: ArrayLike<number>): number {
    const parts = text.split("\n");
    const dirty = text.includes("\r") || text.includes("\x1b");
    const simple = !NOT_SIMPLE.test(text);
    const timed = lineMs.length;
    const state = this.endState;
    let chunk = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1] : null;
    for (let i = 0; i < parts.length; i++) {
      const line = dirty ? cleanLine(parts[i]) : parts[i];
      if (chunk === null || chunk.lines.length >= this.chunkLines || chunk.chars >= this.chunkChars) {
        chunk = this.newChunk();
      }
      const at = chunk.lines.length;
      const ms = i < timed ? lineMs[i] : NaN;
      chunk.times[at] = ms;
      chunk.widths[at] = simple ? line.length : textColumns(line);
      chunk.lines.push(line);
      chunk.chars += line.length;
      this.charCount += line.length;
      if (dirty && line.includes("\x1b")) {
        chunk.esc = true;
        advance(line, state);
      }
      this.endIndex++;
    }
    if (!this.hasTimes && timed > 0) {
      for (let i = 0; i < Math.min(timed, parts.length); i++) {
        if (Number.isFinite(lineMs[i])) {
          this.hasTimes = true;
          break;
        }
      }
    }
    this.trim();
    return Math.min(timed, parts.length);
  }

  private pushLine(line: string, ms: number): void {
    let chunk = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1] : null;
    if (chunk === null || chunk.lines.length >= this.chunkLines || chunk.chars >= this.chunkChars) {
      chunk = this.newChunk();
    }
    const at = chunk.lines.length;
    chunk.times[at] = ms;
    chunk.widths[at] = textColumns(line);
    chunk.lines.push(line);
    chunk.chars += line.length;
    this.charCount += line.length;
    if (line.includes("\x1b")) {
      chunk.esc = true;
      advance(line, this.endState);
    }
    if (Number.isFinite(ms)) this.hasTimes = true;
    this.endIndex++;
  }

  private newChunk(): Chunk {
    const chunk: Chunk = {
      start: this.endIndex,
      lines: [],
      times: new Float64Array(this.chunkLines),
      widths: new Uint32Array(this.chunkLines),
      style: copyState(this.endState),
      chars: 0,
      esc: false,
    };
    this.chunks.push(chunk);
    return chunk;
  }

  /** Drops the oldest chunks while over a cap (the newest chunk always stays). */
  private trim(): void {
    let lines = this.length;
    let drop = 0;
    while (
      drop < this.chunks.length - 1 &&
      (lines > this.maxLines || this.charCount > this.maxChars)
    ) {
      const c = this.chunks[drop++];
      lines -= c.lines.length;
      this.charCount -= c.chars;
    }
    if (drop > 0) {
      this.chunks.splice(0, drop);
      this.hint = 0;
    }
  }
}
