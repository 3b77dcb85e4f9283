// Search over a LogBuffer, a little at a time so a million lines never block
// a frame: `step` scans lines until a deadline and can be called again; lines
// appended later are scanned by the next steps, lines dropped from the head
// leave the results. Matches are found in the text a line shows (escape
// sequences removed); zero-length matches are skipped.
//
// Memory: one entry per matching line (its index and the running match
// count), not per match; the matches inside a line are found again when the
// line is shown (`findMatches`).

import { visibleText, type LogBuffer } from "./logbuffer";

export interface SearchOptions {
  /** The query is a regular expression (else plain text). */
  regex?: boolean;
  /** Upper and lower case differ (off by default). */
  caseSensitive?: boolean;
}

/** A match in a line: [start, end) in the text the line shows. */
export type Match = [number, number];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * The RegExp for a query ("g" flag, "i" unless case-sensitive), null for an
 * empty query, or the reason a regular expression is not valid.
 */
export function compileQuery(query: string, options: SearchOptions = {}): RegExp | null | { error: string } {
  if (query === "") return null;
  const flags = options.caseSensitive ? "g" : "gi";
  if (!options.regex) return new RegExp(escapeRegExp(query), flags);
  try {
    return new RegExp(query, flags);
  } catch (e) {
    // "Invalid regular expression: /a(/gi: Unterminated group" (V8) or ": missing )" (WebKit): the reason.
    const message = e instanceof Error ? e.message : String(e);
    const reason = message.replace(/^Invalid regular expression:\s*/, "").replace(/^\/.*\/[a-z]*:\s*/s, "");
    return { error: reason || "not a valid regular expression" };
  }
}

/** The non-empty matches of `re` (a "g" RegExp) in `text`, at most `limit`. */
export function findMatches(re: RegExp, text: string, limit = Infinity): Match[] {
  const out: Match[] = [];
  re.lastIndex = 0;
  while (out.length < limit) {
    const m = re.exec(text);
    if (m === null) break;
    if (m[0].length === 0) {
      // An empty match: step over it so the search moves on.
      if (m.index >= text.length) break;
      re.lastIndex = m.index + 1;
      continue;
    }
    out.push([m.index, m.index + m[0].length]);
  }
  re.lastIndex = 0;
  return out;
}

/** How many non-empty matches of `re` (a "g" RegExp) `text` holds. */
export function countMatches(re: RegExp, text: string): number {
  let n = 0;
  re.lastIndex = 0;
  for (;;) {
    const m = re.exec(text);
    if (m === null) break;
    if (m[0].length === 0) {
      if (m.index >= text.length) break;
      re.lastIndex = m.index + 1;
      continue;
    }
    n++;
  }
  re.lastIndex = 0;
  return n;
}

/** A match by position: its line, and which match of that line it is. */
export interface MatchRef {
  line: number;
  nth: number;
}

const now = (): number => (typeof performance !== "undefined" ? performance.now() : Date.now());

export class LogSearch {
  /** The compiled query; null when empty or not valid. */
  readonly re: RegExp | null;
  /** Why the query is not a valid regular expression, or null. */
  readonly error: string | null;

  /** Line index of each matching line, in order; [head, size) are held. */
  private lines = new Float64Array(256);
  /** Matches counted up to and including each matching line, since the search began. */
  private cumulative = new Float64Array(256);
  private size = 0;
  private head = 0;
  /** The next line to scan. */
  private scanned: number;
  /** The current match, counted since the search began (-1: none). */
  private currentAbs = -1;
  /** Matches counted before entry 0 (entries of dropped lines moved out). */
  private base = 0;

  constructor(
    private readonly buffer: LogBuffer,
    readonly query: string,
    readonly options: SearchOptions = {},
  ) {
    const compiled = compileQuery(query, options);
    if (compiled === null) {
      this.re = null;
      this.error = null;
    } else if (compiled instanceof RegExp) {
      this.re = compiled;
      this.error = null;
    } else {
      this.re = null;
      this.error = compiled.error;
    }
    this.scanned = buffer.first;
  }

  /** True when there is a valid query to look for. */
  get active(): boolean {
    return this.re !== null;
  }

  /** True while lines held are not scanned yet. */
  get pending(): boolean {
    this.sync();
    return this.re !== null && this.scanned < this.buffer.end;
  }

  /** Lines scanned so far (of those held). */
  get scannedLines(): number {
    this.sync();
    return this.scanned - this.buffer.first;
  }

  /** Matches found in the lines held. */
  get count(): number {
    this.sync();
    return this.size === 0 ? 0 : this.cumulative[this.size - 1] - this.before(this.head);
  }

  /** The current match's position among `count`, or -1. */
  get current(): number {
    this.sync();
    return this.currentAbs < 0 ? -1 : this.currentAbs - this.before(this.head);
  }

  /** Lines with at least one match. */
  get matchingLines(): number {
    this.sync();
    return this.size - this.head;
  }

  /**
   * Scans lines until `deadline` (a `performance.now()` time) or the end of
   * what the buffer holds; true when lines are left to scan.
   */
  step(deadline = Infinity): boolean {
    this.sync();
    const re = this.re;
    const buf = this.buffer;
    if (re === null) return false;
    const end = buf.end;
    let abs = this.scanned;
    let checked = 0;
    const chunks = buf.allChunks;
    let ci = abs < end ? buf.chunkIndexOf(abs) : chunks.length;
    outer: for (; ci < chunks.length && abs < end; ci++) {
      const c = chunks[ci];
      const lines = c.lines;
      const stop = Math.min(end, c.start + lines.length);
      for (; abs < stop; abs++) {
        const line = lines[abs - c.start];
        const n = countMatches(re, line.includes("\x1b") ? visibleText(line) : line);
        if (n > 0) this.push(abs, n);
        if (++checked >= 512) {
          checked = 0;
          if (now() >= deadline) {
            abs++;
            break outer;
          }
        }
      }
    }
    this.scanned = abs;
    return abs < end;
  }

  /** Scans everything held now. */
  runToEnd(): void {
    this.step(Infinity);
  }

  /** Where match `k` (0 <= k < count) is. */
  matchAt(k: number): MatchRef | null {
    this.sync();
    if (!(k >= 0 && k < this.count)) return null;
    const target = k + this.before(this.head);
    // The first entry whose running count passes `target`.
    let lo = this.head;
    let hi = this.size - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return { line: this.lines[lo], nth: target - this.before(lo) };
  }

  /** The index of the first match on or after line `line` (count when none). */
  firstAtOrAfter(line: number): number {
    this.sync();
    let lo = this.head;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.lines[mid] >= line) hi = mid;
      else lo = mid + 1;
    }
    return this.before(lo) - this.before(this.head);
  }

  /** Makes match `k` current (-1: none); returns where it is. */
  select(k: number): MatchRef | null {
    const ref = this.matchAt(k);
    this.currentAbs = ref === null ? -1 : k + this.before(this.head);
    return ref;
  }

  /**
   * Goes to the next match: after the current one (back to the first past the
   * last, once the whole log is scanned), or, with none current, the first on
   * or after line `fromLine`.
   */
  next(fromLine: number): MatchRef | null {
    const count = this.count;
    if (count === 0) return null;
    const cur = this.current;
    let k: number;
    if (cur >= 0) {
      k = cur + 1;
      if (k >= count) k = this.pending ? cur : 0;
    } else {
      k = this.firstAtOrAfter(fromLine);
      if (k >= count) k = 0;
    }
    return this.select(k);
  }

  /**
   * Goes to the previous match: before the current one (the last before the
   * first), or, with none current, the last on or before line `fromLine`.
   */
  prev(fromLine: number): MatchRef | null {
    const count = this.count;
    if (count === 0) return null;
    const cur = this.current;
    let k: number;
    if (cur >= 0) {
      k = cur - 1;
      if (k < 0) k = count - 1;
    } else {
      k = this.firstAtOrAfter(fromLine + 1) - 1;
      if (k < 0) k = count - 1;
    }
    return this.select(k);
  }

  /** The matches to highlight in a line's shown text. */
  matchesIn(text: string, limit = 10_000): Match[] {
    return this.re === null ? [] : findMatches(this.re, text, limit);
  }

  /** Matches counted before entry `i`. */
  private before(i: number): number {
    return i > 0 ? this.cumulative[i - 1] : this.base;
  }

  private push(line: number, n: number): void {
    if (this.size === this.lines.length) {
      if (this.head > this.size / 2) {
        // Most entries were dropped: move the rest down.
        // `before(head)` must not change: it moves to `base`.
        const base = this.before(this.head);
        this.lines.copyWithin(0, this.head, this.size);
        this.cumulative.copyWithin(0, this.head, this.size);
        this.size -= this.head;
        this.head = 0;
        this.base = base;
      } else {
        const lines = new Float64Array(this.lines.length * 2);
        lines.set(this.lines);
        this.lines = lines;
        const cumulative = new Float64Array(this.cumulative.length * 2);
        cumulative.set(this.cumulative);
        this.cumulative = cumulative;
      }
    }
    this.lines[this.size] = line;
    this.cumulative[this.size] = this.before(this.size) + n;
    this.size++;
  }

  /** Forgets matches in lines the buffer dropped. */
  private sync(): void {
    const first = this.buffer.first;
    if (this.scanned < first) this.scanned = first;
    while (this.head < this.size && this.lines[this.head] < first) this.head++;
    if (this.currentAbs >= 0 && this.currentAbs < this.before(this.head)) this.currentAbs = -1;
  }
}
