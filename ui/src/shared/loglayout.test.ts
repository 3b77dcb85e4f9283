import { describe, expect, it } from "vitest";
import { LogBuffer } from "./logbuffer";
import {
  HARD_MAX_SCROLL_PX,
  LogLayout,
  MAX_SCROLL_PX,
  keptScrollMap,
  rowsForWidth,
  scrollMap,
  scrollRatio,
  toScroll,
  toVirtual,
} from "./loglayout";

/** Rows of each line shown, the slow way. */
function rowsList(layout: LogLayout): number[] {
  const out: number[] = [];
  for (let i = layout.firstLine; i < layout.endLine; i++) out.push(layout.rowsOf(i));
  return out;
}

function checkAgainstBruteForce(layout: LogLayout) {
  const per = rowsList(layout);
  const total = per.reduce((a, b) => a + b, 0);
  expect(layout.totalRows()).toBe(total);
  let row = 0;
  for (let i = 0; i < per.length; i++) {
    const line = layout.firstLine + i;
    expect(layout.rowOfLine(line)).toBe(row);
    for (let r = row; r < row + per[i]; r++) expect(layout.lineAtRow(r)).toEqual({ line, rowStart: row });
    row += per[i];
  }
  expect(layout.rowOfLine(layout.endLine)).toBe(total);
}

describe("LogLayout", () => {
  it("gives one row a line without wrapping, the partial line included", () => {
    const buf = new LogBuffer({ chunkLines: 3 });
    const layout = new LogLayout(buf);
    expect(layout.totalRows()).toBe(0);
    expect(layout.lineAtRow(0)).toEqual({ line: 0, rowStart: 0 });
    buf.append("a\nb\nc\nd\ne\nunfinished");
    expect(layout.endLine).toBe(6);
    expect(layout.totalRows()).toBe(6);
    expect(layout.lineAtRow(4)).toEqual({ line: 4, rowStart: 4 });
    expect(layout.lineAtRow(99)).toEqual({ line: 5, rowStart: 5 });
    expect(layout.lineAtRow(-3)).toEqual({ line: 0, rowStart: 0 });
    checkAgainstBruteForce(layout);
  });

  it("counts wrapped rows from widths, across chunks", () => {
    const buf = new LogBuffer({ chunkLines: 4 });
    const layout = new LogLayout(buf);
    const widths = [0, 5, 10, 11, 25, 3, 30, 10, 1, 40];
    buf.append(widths.map((w) => "x".repeat(w) + "\n").join("") + "y".repeat(21));
    expect(layout.setColumns(10)).toBe(true);
    expect(layout.setColumns(10)).toBe(false);
    expect(rowsList(layout)).toEqual([1, 1, 1, 2, 3, 1, 3, 1, 1, 4, 3]);
    checkAgainstBruteForce(layout);
    // Narrower: the cache per chunk is counted again.
    layout.setColumns(4);
    expect(rowsList(layout)).toEqual(widths.map((w) => rowsForWidth(w, 4)).concat([6]));
    checkAgainstBruteForce(layout);
    // Lines appended to a chunk already counted.
    buf.append("\n" + "z".repeat(9) + "\n");
    checkAgainstBruteForce(layout);
    layout.setColumns(0);
    expect(layout.totalRows()).toBe(buf.length);
  });

  it("keeps counting right when chunks are dropped", () => {
    const buf = new LogBuffer({ maxLines: 12, chunkLines: 4 });
    const layout = new LogLayout(buf);
    layout.setColumns(7);
    for (let i = 0; i < 40; i++) {
      buf.append("w".repeat((i * 5) % 23) + "\n");
      checkAgainstBruteForce(layout);
    }
    expect(buf.first).toBeGreaterThan(0);
  });
});

describe("scroll mapping", () => {
  it("is the identity while the content fits the cap", () => {
    const m = scrollMap(18_000, 600);
    expect(m.spacer).toBe(18_000);
    expect(toVirtual(1234, m)).toBe(1234);
    expect(toScroll(1234, m)).toBe(1234);
    expect(toScroll(99_999, m)).toBe(18_000 - 600);
  });

  it("scales a content taller than the cap, end to end", () => {
    const content = 2_000_000 * 18;
    const m = scrollMap(content, 700);
    expect(m.spacer).toBe(MAX_SCROLL_PX);
    const maxTop = MAX_SCROLL_PX - 700;
    expect(toVirtual(0, m)).toBe(0);
    expect(toVirtual(maxTop, m)).toBeCloseTo(content - 700, 3);
    for (const v of [0, 18, 1_000_000, 20_000_000, content - 700]) {
      expect(toVirtual(toScroll(v, m), m)).toBeCloseTo(v, 3);
    }
  });

  it("keeps the scale while content grows, so a line in view keeps its scroll position", () => {
    const first = scrollMap(1_000_000 * 18, 700);
    const r = scrollRatio(first);
    expect(r).toBeGreaterThan(1);
    const line = 400_000 * 18;
    const top = toScroll(line, first);
    const grown = keptScrollMap(1_100_000 * 18, 700, r);
    expect(scrollRatio(grown)).toBeCloseTo(r, 9);
    expect(grown.spacer).toBeGreaterThan(first.spacer);
    expect(toScroll(line, grown)).toBeCloseTo(top, 6);
    // Too tall for the kept scale: a fresh map.
    const huge = keptScrollMap(HARD_MAX_SCROLL_PX * r * 2, 700, r);
    expect(huge.spacer).toBe(MAX_SCROLL_PX);
    // Not scaled at all: a plain map.
    expect(keptScrollMap(1000, 700, r)).toEqual(scrollMap(1000, 700));
  });
});
