// The tail of one task's log: the last `maxLines` complete lines plus the line
// still being written. Chunks may split lines (and escape sequences) anywhere.
//
// Pure TypeScript, no DOM: the view hands a `LogSink` to `flush` once per
// animation frame and the buffer tells it only what changed since the last
// flush (blocks dropped at the head, the head block trimmed, blocks appended,
// the partial line), so the DOM holds one text node per block and never more
// than `maxLines` complete lines.

/** Where `flush` writes; the view implements it with text nodes. */
export interface LogSink {
  /** Remove the oldest block. */
  removeFirst(): void;
  /** Replace the text of the oldest block (lines were dropped from its start). */
  setFirst(text: string): void;
  /** Add a block of complete lines, each ending in "\n", after the others. */
  append(text: string): void;
  /** Show the unfinished last line ("" when there is none). */
  setPartial(text: string): void;
}

type Block = { id: number; text: string; lines: number };

/** How many lines one block (one text node) holds at most. */
export const BLOCK_LINES = 200;
/** A line longer than this with no newline yet is broken in two. */
export const MAX_PARTIAL = 64 * 1024;

import { ANSI_CUT, advance, initialState, keepSgrOnly, sgrFor, stripAnsi, type AnsiState } from "./ansi";

// Colours (SGR sequences) are kept for the view to render with lib/ansi; every
// other escape sequence is dropped. Each block, and the partial line, starts
// with the SGR sequence of the style in force where it starts, so the view can
// render each on its own.

/**
 * One line as a terminal would leave it, roughly: a carriage return starts the
 * line over (progress bars), escape sequences other than colours are dropped.
 */
export function cleanLine(raw: string): string {
  let line = raw;
  if (line.endsWith("\r")) line = line.slice(0, -1);
  const cr = line.lastIndexOf("\r");
  if (cr >= 0) line = line.slice(cr + 1);
  if (line.includes("\x1b")) line = keepSgrOnly(line);
  return line;
}

function needsCleaning(text: string): boolean {
  return text.includes("\r") || text.includes("\x1b");
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** The index just past the `n`th newline of `text` at or after `from` (n >= 1), or -1. */
function afterNthNewline(text: string, n: number, from = 0): number {
  let i = from - 1;
  for (let k = 0; k < n; k++) {
    i = text.indexOf("\n", i + 1);
    if (i < 0) return -1;
  }
  return i + 1;
}

export class LogBuffer {
  readonly maxLines: number;
  /** Complete lines dropped from the head so far. */
  dropped = 0;

  private blocks: Block[] = [];
  private nextId = 0;
  private lineCount = 0;
  private partialRaw = "";
  /** The style in force after the last complete line. */
  private endState: AnsiState = initialState();

  // What the sink shows: blocks [sinkFirst, sinkNext), and whether its head
  // block or partial line are out of date.
  private sinkFirst = 0;
  private sinkNext = 0;
  private headDirty = false;
  private partialDirty = false;

  constructor(maxLines = 5000) {
    if (!(maxLines >= 1)) throw new RangeError("maxLines must be at least 1");
    this.maxLines = Math.floor(maxLines);
  }

  /** Complete lines held now (at most maxLines). */
  get lines(): number {
    return this.lineCount;
  }

  /** True when something changed since the last flush. */
  get dirty(): boolean {
    const first = this.blocks.length > 0 ? this.blocks[0].id : this.nextId;
    return this.partialDirty || this.headDirty || this.sinkFirst < first || this.sinkNext < this.nextId;
  }

  /** Adds the next chunk of the log. */
  append(chunk: string): void {
    if (chunk.length === 0) return;
    const text = this.partialRaw + chunk;
    const lastNl = text.lastIndexOf("\n");
    let complete = "";
    let partial = text;
    if (lastNl >= 0) {
      complete = text.slice(0, lastNl + 1);
      partial = text.slice(lastNl + 1);
    }
    // Only the text after the last carriage return of a line shows, so a
    // progress bar that never prints a newline does not grow the line.
    if (partial.length >= 2) {
      const cr = partial.lastIndexOf("\r", partial.length - 2);
      if (cr >= 0) partial = partial.slice(cr + 1);
    }
    if (partial.length > MAX_PARTIAL) {
      complete += partial + "\n";
      partial = "";
    }
    if (partial !== this.partialRaw) this.partialDirty = true;
    this.partialRaw = partial;
    if (complete.length > 0) this.pushLines(complete);
  }

  /** The unfinished last line as shown. */
  partial(): string {
    if (this.partialRaw.length === 0) return "";
    const line = cleanLine(this.partialRaw).replace(ANSI_CUT, "");
    if (stripAnsi(line).length === 0) return "";
    return sgrFor(this.endState) + line;
  }

  /** Everything held: complete lines, then the partial line. */
  text(): string {
    let out = "";
    for (const b of this.blocks) out += b.text;
    return out + this.partial();
  }

  /** The complete lines held, without their newlines. */
  completeLines(): string[] {
    const out: string[] = [];
    for (const b of this.blocks) {
      const parts = b.text.split("\n");
      parts.pop();
      out.push(...parts);
    }
    return out;
  }

  /** Writes what changed since the last flush to the sink. */
  flush(sink: LogSink): void {
    const first = this.blocks.length > 0 ? this.blocks[0].id : this.nextId;
    // Blocks the sink shows that were dropped.
    const shownDropped = Math.min(first, this.sinkNext) - this.sinkFirst;
    for (let i = 0; i < shownDropped; i++) sink.removeFirst();
    if (this.sinkFirst < first) this.sinkFirst = first;
    if (this.sinkNext < first) this.sinkNext = first;
    if (this.headDirty && this.blocks.length > 0 && this.blocks[0].id < this.sinkNext) {
      sink.setFirst(this.blocks[0].text);
    }
    this.headDirty = false;
    for (const b of this.blocks) {
      if (b.id >= this.sinkNext) sink.append(b.text);
    }
    this.sinkNext = this.nextId;
    if (this.partialDirty) {
      sink.setPartial(this.partial());
      this.partialDirty = false;
    }
  }

  private pushLines(raw: string): void {
    let text = raw;
    if (needsCleaning(text)) {
      const parts = text.split("\n");
      parts.pop(); // text ends with "\n"
      text = parts.map(cleanLine).join("\n") + "\n";
    }
    let count = countNewlines(text);
    if (count >= this.maxLines) {
      // This chunk alone fills the buffer: keep its tail, drop all else.
      const skip = count - this.maxLines;
      if (skip > 0) {
        const cut = afterNthNewline(text, skip);
        advance(text.slice(0, cut), this.endState);
        text = text.slice(cut);
      }
      this.dropped += this.lineCount + skip;
      this.blocks = [];
      this.lineCount = 0;
      this.headDirty = false;
      count = this.maxLines;
    }
    // Split into blocks of at most BLOCK_LINES lines.
    let start = 0;
    let left = count;
    while (left > 0) {
      const n = Math.min(left, BLOCK_LINES);
      const end = n === left ? text.length : afterNthNewline(text, n, start);
      const body = text.slice(start, end);
      const prefix = sgrFor(this.endState);
      advance(body, this.endState);
      this.blocks.push({ id: this.nextId++, text: prefix + body, lines: n });
      start = end;
      left -= n;
    }
    this.lineCount += count;
    this.trim();
  }

  private trim(): void {
    let excess = this.lineCount - this.maxLines;
    if (excess <= 0) return;
    while (excess > 0 && this.blocks.length > 0 && this.blocks[0].lines <= excess) {
      const b = this.blocks.shift()!;
      excess -= b.lines;
      this.lineCount -= b.lines;
      this.dropped += b.lines;
      this.headDirty = false; // a new head: the sink's copy of it is not trimmed
    }
    if (excess > 0) {
      const head = this.blocks[0];
      const cut = afterNthNewline(head.text, excess);
      const state = initialState();
      advance(head.text.slice(0, cut), state);
      head.text = sgrFor(state) + head.text.slice(cut);
      head.lines -= excess;
      this.lineCount -= excess;
      this.dropped += excess;
      this.headDirty = true;
    }
  }
}
