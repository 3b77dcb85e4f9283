// Where each line of a LogBuffer sits, in rows of a fixed height, for the
// virtualized log view. Pure TypeScript, no DOM.
//
// Without wrapping every line is one row. With wrapping, a line takes
// ceil(width / columns) rows, its width counted in columns by the buffer
// (`textColumns`) and the columns from the view's width and the font's
// character width: the view wraps at any character (CSS `break-spaces` with
// `line-break: anywhere`), so for a monospace font the count is exact, and only
// an estimate for wide or combining characters. Rows are summed per chunk and
// cached, so placing the window costs one pass over the chunks (hundreds), not
// over the lines (millions).
//
// Lines are numbered as in the buffer (absolute indexes); the partial line,
// when there is one, is line `buffer.end`. Rows are counted from the first line held.

import type { Chunk, LogBuffer } from "./logbuffer";
import { textColumns } from "./logbuffer";

/**
 * The tallest scroll area made: browsers cap an element's height (WebKit and
 * Chromium near 33.5 million px), so past this the scroll position is scaled.
 */
export const MAX_SCROLL_PX = 15_000_000;
/** While a scaled scale is kept (see `keptScrollMap`), the scroll area may grow up to this. */
export const HARD_MAX_SCROLL_PX = 30_000_000;

interface ChunkRows {
  cols: number;
  counted: number;
  rows: number;
}

/** The rows a line of `width` columns takes at `cols` columns a row (0: no wrapping). */
export function rowsForWidth(width: number, cols: number): number {
  return cols <= 0 || width <= cols ? 1 : Math.ceil(width / cols);
}

export class LogLayout {
  private cols = 0;
  private cache = new WeakMap<Chunk, ChunkRows>();
  private partialText = "";
  private partialWidth = 0;

  constructor(private readonly buffer: LogBuffer) {}

  /** Columns a row holds; 0 when lines do not wrap. */
  get columns(): number {
    return this.cols;
  }

  /** Sets the columns a row holds (0: no wrapping); true when that changed. */
  setColumns(cols: number): boolean {
    const c = cols > 0 ? Math.max(1, Math.floor(cols)) : 0;
    if (c === this.cols) return false;
    this.cols = c;
    return true;
  }

  /** The first line shown. */
  get firstLine(): number {
    return this.buffer.first;
  }

  /** Just past the last line shown (the partial line counts). */
  get endLine(): number {
    return this.buffer.end + (this.buffer.partial() !== "" ? 1 : 0);
  }

  /** The width in columns of line `abs` (the partial line included). */
  widthOf(abs: number): number {
    if (abs >= this.buffer.end) {
      const p = this.buffer.partial();
      if (p !== this.partialText) {
        this.partialText = p;
        this.partialWidth = textColumns(p);
      }
      return this.partialWidth;
    }
    return this.buffer.width(abs);
  }

  /** The rows line `abs` takes. */
  rowsOf(abs: number): number {
    return this.cols === 0 ? 1 : rowsForWidth(this.widthOf(abs), this.cols);
  }

  /** Rows of all lines shown. */
  totalRows(): number {
    const lines = this.endLine - this.firstLine;
    if (this.cols === 0) return lines;
    let rows = 0;
    for (const c of this.buffer.allChunks) rows += this.chunkRows(c);
    if (this.endLine > this.buffer.end) rows += this.rowsOf(this.buffer.end);
    return rows;
  }

  /** The row where line `abs` starts (firstLine <= abs <= endLine). */
  rowOfLine(abs: number): number {
    const first = this.firstLine;
    const line = Math.min(Math.max(abs, first), this.endLine);
    if (this.cols === 0) return line - first;
    const buf = this.buffer;
    const chunks = buf.allChunks;
    let rows = 0;
    for (const c of chunks) {
      const end = c.start + c.lines.length;
      if (line >= end) {
        rows += this.chunkRows(c);
        continue;
      }
      for (let i = 0; i < line - c.start; i++) rows += rowsForWidth(c.widths[i], this.cols);
      return rows;
    }
    // line >= buffer.end: after every complete line, and after the partial one past it.
    if (line > buf.end) rows += this.rowsOf(buf.end);
    return rows;
  }

  /**
   * The line holding row `row` and the row it starts at. Rows before the first
   * give the first line; rows past the end give the last line.
   */
  lineAtRow(row: number): { line: number; rowStart: number } {
    const first = this.firstLine;
    const end = this.endLine;
    if (end <= first) return { line: first, rowStart: 0 };
    const r = Math.max(0, Math.floor(row));
    if (this.cols === 0) {
      const line = Math.min(first + r, end - 1);
      return { line, rowStart: line - first };
    }
    let rows = 0;
    for (const c of this.buffer.allChunks) {
      const n = this.chunkRows(c);
      if (r >= rows + n) {
        rows += n;
        continue;
      }
      for (let i = 0; i < c.lines.length; i++) {
        const h = rowsForWidth(c.widths[i], this.cols);
        if (r < rows + h) return { line: c.start + i, rowStart: rows };
        rows += h;
      }
    }
    // Past the complete lines: the partial line, or the last line.
    if (end > this.buffer.end) return { line: this.buffer.end, rowStart: rows };
    const last = end - 1;
    return { line: last, rowStart: rows - this.rowsOf(last) };
  }

  private chunkRows(c: Chunk): number {
    let r = this.cache.get(c);
    if (r === undefined || r.cols !== this.cols) {
      r = { cols: this.cols, counted: 0, rows: 0 };
      this.cache.set(c, r);
    }
    const n = c.lines.length;
    if (r.counted < n) {
      const cols = this.cols;
      const widths = c.widths;
      let rows = r.rows;
      for (let i = r.counted; i < n; i++) {
        const w = widths[i];
        rows += w <= cols ? 1 : Math.ceil(w / cols);
      }
      r.rows = rows;
      r.counted = n;
    }
    return r.rows;
  }
}

/** How scroll positions map to the content when it is taller than MAX_SCROLL_PX. */
export interface ScrollMap {
  /** The content's real height (px). */
  content: number;
  /** The height of the scroll area made for it (px), at most MAX_SCROLL_PX. */
  spacer: number;
  /** The visible height (px). */
  viewport: number;
}

export function scrollMap(content: number, viewport: number, max = MAX_SCROLL_PX): ScrollMap {
  return { content, spacer: Math.min(content, Math.max(max, viewport)), viewport };
}

/** Content px per scroll px (1 when not scaled). */
export function scrollRatio(m: ScrollMap): number {
  if (m.spacer >= m.content || m.spacer <= m.viewport) return 1;
  return (m.content - m.viewport) / (m.spacer - m.viewport);
}

const ratio = scrollRatio;

/**
 * A map for new content that keeps the scale `kept` (content px per scroll
 * px) of an earlier scaled map, so that lines appended below do not move the
 * scroll position of the lines in view; a plain `scrollMap` when the content
 * is not taller than `max` or the kept scale would make the area taller than `hardMax`.
 */
export function keptScrollMap(
  content: number,
  viewport: number,
  kept: number,
  max = MAX_SCROLL_PX,
  hardMax = HARD_MAX_SCROLL_PX,
): ScrollMap {
  if (content <= max || !(kept > 1)) return scrollMap(content, viewport, max);
  const spacer = (content - viewport) / kept + viewport;
  if (spacer > hardMax || spacer <= viewport) return scrollMap(content, viewport, max);
  return { content, spacer, viewport };
}

/** The content position (px) shown at the top for a scroll position. */
export function toVirtual(scrollTop: number, m: ScrollMap): number {
  const max = Math.max(0, m.spacer - m.viewport);
  return Math.min(Math.max(scrollTop, 0), max) * ratio(m);
}

/** The scroll position that shows content position `virtualTop` at the top. */
export function toScroll(virtualTop: number, m: ScrollMap): number {
  const max = Math.max(0, m.spacer - m.viewport);
  return Math.min(Math.max(virtualTop / ratio(m), 0), max);
}
