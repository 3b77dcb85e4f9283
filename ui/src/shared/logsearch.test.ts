import { describe, expect, it } from "vitest";
import { LogBuffer } from "./logbuffer";
import { LogSearch, compileQuery, countMatches, findMatches, type SearchOptions } from "./logsearch";

function bufferOf(lines: string[], options = {}): LogBuffer {
  const buf = new LogBuffer(options);
  buf.append(lines.map((l) => l + "\n").join(""));
  return buf;
}

function searchAll(buf: LogBuffer, query: string, options: SearchOptions = {}): LogSearch {
  const s = new LogSearch(buf, query, options);
  s.runToEnd();
  return s;
}

/** Every match as [line, nth], from matchAt. */
function refs(s: LogSearch): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 0; k < s.count; k++) {
    const r = s.matchAt(k)!;
    out.push([r.line, r.nth]);
  }
  return out;
}

describe("compileQuery", () => {
  it("takes plain text literally and ignores case by default", () => {
    const re = compileQuery("a.b(") as RegExp;
    expect(re).toBeInstanceOf(RegExp);
    expect(findMatches(re, "A.B( axb( a.b(")).toEqual([
      [0, 4],
      [10, 14],
    ]);
    expect(compileQuery("")).toBeNull();
  });

  it("says why a regular expression is not valid", () => {
    const bad = compileQuery("a(b", { regex: true });
    expect(bad).not.toBeInstanceOf(RegExp);
    expect((bad as { error: string }).error).toMatch(/\S/);
    expect((bad as { error: string }).error).not.toContain("a(b"); // the reason, not the pattern again
    expect(compileQuery("[", { regex: true })).toHaveProperty("error");
    expect(compileQuery("[", { regex: false })).toBeInstanceOf(RegExp);
  });
});

describe("findMatches", () => {
  it("skips zero-length matches and always ends", () => {
    const cases: [string, string, [number, number][]][] = [
      ["a*", "bbb", []],
      ["x*", "xx y x", [[0, 2], [5, 6]]],
      ["^", "abc", []],
      ["$", "abc", []],
      ["(?:)", "abc", []],
      ["\\b", "a b", []],
      ["a??", "aaa", []],
      ["(?=a)|a", "aa", []],
      ["x*", "", []],
      ["😀*", "😀a😀", [[0, 2], [3, 5]]],
    ];
    for (const [query, text, want] of cases) {
      const re = compileQuery(query, { regex: true }) as RegExp;
      expect(findMatches(re, text), `${query} in ${text}`).toEqual(want);
      expect(countMatches(re, text)).toBe(want.length);
    }
    const re = compileQuery("a*", { regex: true }) as RegExp;
    expect(countMatches(re, "b".repeat(100_000))).toBe(0);
  });

  it("stops at the limit", () => {
    const re = compileQuery("a") as RegExp;
    expect(findMatches(re, "aaaa", 2)).toEqual([
      [0, 1],
      [1, 2],
    ]);
  });
});

describe("LogSearch", () => {
  const lines = ["Error: disk full", "ok", "error again, ERROR twice", "fine", "terror"];

  it("finds plain text, case-insensitive by default", () => {
    const s = searchAll(bufferOf(lines), "error");
    expect(s.error).toBeNull();
    expect(s.active).toBe(true);
    expect(s.count).toBe(4);
    expect(s.matchingLines).toBe(3);
    expect(refs(s)).toEqual([
      [0, 0],
      [2, 0],
      [2, 1],
      [4, 0],
    ]);
    expect(s.matchesIn("error again, ERROR twice")).toEqual([
      [0, 5],
      [13, 18],
    ]);
  });

  it("matches case when asked", () => {
    const s = searchAll(bufferOf(lines), "ERROR", { caseSensitive: true });
    expect(refs(s)).toEqual([[2, 0]]);
  });

  it("searches with a regular expression", () => {
    const s = searchAll(bufferOf(lines), "^(error|fine)\\b", { regex: true });
    expect(refs(s)).toEqual([
      [0, 0],
      [2, 0],
      [3, 0],
    ]);
    const plain = searchAll(bufferOf(["a.c abc", "a.c"]), "a.c");
    expect(plain.count).toBe(2);
    const regex = searchAll(bufferOf(["a.c abc", "a.c"]), "a.c", { regex: true });
    expect(regex.count).toBe(3);
  });

  it("reports an invalid regular expression and finds nothing", () => {
    const s = searchAll(bufferOf(lines), "(error", { regex: true });
    expect(s.error).toMatch(/\S/);
    expect(s.active).toBe(false);
    expect(s.count).toBe(0);
    expect(s.step()).toBe(false);
    expect(s.next(0)).toBeNull();
    expect(s.matchesIn("error")).toEqual([]);
  });

  it("does not loop on zero-length matches over many lines", () => {
    const buf = bufferOf(Array.from({ length: 10_000 }, (_, i) => (i % 2 ? "" : "abc")));
    expect(searchAll(buf, "x*", { regex: true }).count).toBe(0);
    expect(searchAll(buf, "^", { regex: true }).count).toBe(0);
    expect(searchAll(buf, "b*", { regex: true }).count).toBe(5_000);
  });

  it("searches the text shown, not the colour codes", () => {
    const buf = bufferOf(["\x1b[31mred\x1b[0m alert", "31m"]);
    const s = searchAll(buf, "31m");
    expect(refs(s)).toEqual([[1, 0]]);
    expect(searchAll(buf, "red alert").count).toBe(1);
  });

  it("scans a little at a time, and counts as it goes", () => {
    const total = 20_000;
    const buf = bufferOf(Array.from({ length: total }, (_, i) => `line ${i}${i % 10 === 0 ? " hit" : ""}`));
    const s = new LogSearch(buf, "hit");
    expect(s.pending).toBe(true);
    expect(s.count).toBe(0);
    // A deadline already past: one slice of lines, then it stops.
    expect(s.step(-Infinity)).toBe(true);
    const first = s.scannedLines;
    expect(first).toBeGreaterThan(0);
    expect(first).toBeLessThan(total);
    expect(s.count).toBe(Math.ceil(first / 10));
    let steps = 1;
    while (s.step(-Infinity)) steps++;
    expect(steps).toBeGreaterThan(10);
    expect(s.pending).toBe(false);
    expect(s.scannedLines).toBe(total);
    expect(s.count).toBe(total / 10);
  });

  it("searches lines appended after it started, the partial line once it ends", () => {
    const buf = bufferOf(["hit one", "miss"]);
    const s = searchAll(buf, "hit");
    expect(s.count).toBe(1);
    buf.append("another hit\nmiss\nhit", []);
    expect(s.pending).toBe(true);
    expect(s.count).toBe(1);
    s.runToEnd();
    expect(s.count).toBe(2); // the unterminated "hit" is not a line yet
    buf.append(" hit\n");
    s.runToEnd();
    expect(refs(s)).toEqual([
      [0, 0],
      [2, 0],
      [4, 0],
      [4, 1],
    ]);
  });

  it("forgets matches in dropped lines and keeps the current one", () => {
    const buf = new LogBuffer({ maxLines: 8, chunkLines: 4 });
    const s = new LogSearch(buf, "x");
    buf.append("x0\na\nx2\nb\nx4\nc\nx6\nd\n");
    s.runToEnd();
    expect(s.count).toBe(4);
    expect(s.select(3)).toEqual({ line: 6, nth: 0 });
    buf.append("x8\ne\n"); // drops lines 0..3
    expect(buf.first).toBe(4);
    expect(s.count).toBe(2);
    expect(s.current).toBe(1);
    expect(s.matchAt(s.current)).toEqual({ line: 6, nth: 0 });
    s.runToEnd();
    expect(s.count).toBe(3);
    expect(refs(s)).toEqual([
      [4, 0],
      [6, 0],
      [8, 0],
    ]);
    buf.append("f\ng\nh\ni\nj\nk\n"); // drops 4..7: the current match goes
    expect(s.current).toBe(-1);
    expect(refs(s)).toEqual([[8, 0]]);
  });

  it("matches a brute force count through many drops (entries moved down)", () => {
    const buf = new LogBuffer({ maxLines: 2_000, chunkLines: 100 });
    const s = new LogSearch(buf, "7");
    let n = 0;
    for (let batch = 0; batch < 60; batch++) {
      const parts: string[] = [];
      for (let i = 0; i < 500; i++) parts.push(`n=${n++}\n`);
      buf.append(parts.join(""));
      s.step(-Infinity);
      if (batch % 3 === 0) s.runToEnd();
    }
    s.runToEnd();
    let want = 0;
    const wantRefs: [number, number][] = [];
    for (let i = buf.first; i < buf.end; i++) {
      const c = (buf.line(i).match(/7/g) ?? []).length;
      want += c;
      for (let k = 0; k < c; k++) wantRefs.push([i, k]);
    }
    expect(s.count).toBe(want);
    expect(refs(s)).toEqual(wantRefs);
  });

  it("goes to the next and previous match, from the view with none current", () => {
    const buf = bufferOf(["a x", "b", "x c x", "d", "x"]);
    const s = searchAll(buf, "x");
    expect(s.current).toBe(-1);
    expect(s.next(1)).toEqual({ line: 2, nth: 0 });
    expect(s.current).toBe(1);
    expect(s.next(0)).toEqual({ line: 2, nth: 1 });
    expect(s.next(0)).toEqual({ line: 4, nth: 0 });
    expect(s.next(0)).toEqual({ line: 0, nth: 0 }); // wraps around
    expect(s.prev(0)).toEqual({ line: 4, nth: 0 }); // and back
    s.select(-1);
    expect(s.prev(3)).toEqual({ line: 2, nth: 1 });
    s.select(-1);
    expect(s.next(10)).toEqual({ line: 0, nth: 0 });
    expect(s.firstAtOrAfter(3)).toBe(3);
  });

  it("searches a million lines in slices", () => {
    const buf = new LogBuffer();
    const total = 1_000_000;
    const per = 10_000;
    for (let b = 0; b < total / per; b++) {
      const parts: string[] = [];
      for (let i = b * per; i < (b + 1) * per; i++) parts.push(`step ${i} ${i % 1000 === 999 ? "WARN slow" : "ok"}\n`);
      buf.append(parts.join(""));
    }
    const s = new LogSearch(buf, "warn");
    let slices = 0;
    while (s.step(performance.now() + 5)) slices++;
    expect(s.count).toBe(total / 1000);
    expect(s.matchAt(0)).toEqual({ line: 999, nth: 0 });
    expect(s.matchAt(s.count - 1)).toEqual({ line: total - 1, nth: 0 });
    expect(slices).toBeGreaterThanOrEqual(0);
  });
});
