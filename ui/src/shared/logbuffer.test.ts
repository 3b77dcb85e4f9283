import { describe, expect, it } from "vitest";
import {
  CHUNK_LINES,
  DEFAULT_MAX_LINES,
  LogBuffer,
  MAX_PARTIAL,
  cleanLine,
  countNewlines,
  formatLogTime,
  textColumns,
  visibleText,
} from "./logbuffer";

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Splits text into chunks at random places (including inside "\r\n" and escapes). */
function randomChunks(text: string, rand: () => number, maxLen: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const n = 1 + Math.floor(rand() * maxLen);
    out.push(text.slice(i, i + n));
    i += n;
  }
  return out;
}

/** The times the backend sends with a piece of text: one per "\n", from `next`. */
function timesFor(text: string, next: () => number): number[] {
  return Array.from({ length: countNewlines(text) }, next);
}

function times(buf: LogBuffer): number[] {
  const out: number[] = [];
  for (let i = buf.first; i < buf.end; i++) out.push(buf.time(i));
  return out;
}

describe("LogBuffer", () => {
  it("joins lines split across batches", () => {
    const buf = new LogBuffer();
    buf.append("hel");
    expect(buf.partial()).toBe("hel");
    buf.append("lo\nwor");
    expect(buf.completeLines()).toEqual(["hello"]);
    expect(buf.partial()).toBe("wor");
    buf.append("ld\n");
    expect(buf.completeLines()).toEqual(["hello", "world"]);
    expect(buf.partial()).toBe("");
    expect(buf.text()).toBe("hello\nworld\n");
    expect(buf.first).toBe(0);
    expect(buf.end).toBe(2);
    expect(buf.line(1)).toBe("world");
    expect(buf.dropped).toBe(0);
  });

  it("keeps empty lines", () => {
    const buf = new LogBuffer();
    buf.append("\n\na\n\n");
    expect(buf.completeLines()).toEqual(["", "", "a", ""]);
  });

  it("treats CRLF as a newline, even split across batches", () => {
    const buf = new LogBuffer();
    buf.append("one\r");
    expect(buf.partial()).toBe("one");
    buf.append("\ntwo\r\n");
    expect(buf.completeLines()).toEqual(["one", "two"]);
    buf.append("three\r\nfour\r");
    buf.append("\n");
    expect(buf.completeLines()).toEqual(["one", "two", "three", "four"]);
  });

  it("shows only the last rewrite of a progress line, keeping its colour", () => {
    const buf = new LogBuffer();
    buf.append("pull 10%\rpull 50%");
    expect(buf.partial()).toBe("pull 50%");
    buf.append("\rpull 100%\ndone\n");
    expect(buf.completeLines()).toEqual(["pull 100%", "done"]);
    expect(cleanLine("\x1b[32mold\rnew")).toBe("\x1b[32mnew");
    buf.append("\x1b[33mx\ry\n");
    expect(buf.line(2)).toBe("\x1b[33my");
    expect(buf.styleAt(3).fg).toBe(3);
  });

  it("keeps colours, drops other escape sequences, even cut across batches", () => {
    const buf = new LogBuffer();
    buf.append("\x1b[31mred\x1b[0m plain\x1b[2K\n\x1b[1");
    expect(buf.completeLines()).toEqual(["\x1b[31mred\x1b[0m plain"]);
    expect(buf.partial()).toBe(""); // only a cut sequence so far
    buf.append(";32mgreen\x1b[0m\n");
    expect(buf.completeLines()).toEqual(["\x1b[31mred\x1b[0m plain", "\x1b[1;32mgreen\x1b[0m"]);
    expect(cleanLine("\x1b]0;title\x07text")).toBe("text");
    expect(cleanLine("\x1b[Hhome\x1b(B")).toBe("home");
    expect(visibleText("\x1b[31mred\x1b[0m plain")).toBe("red plain");
  });

  it("gives each line the time of its batch's line_ms, in order", () => {
    const buf = new LogBuffer();
    expect(buf.hasTimes).toBe(false);
    buf.append("a\nb\nc", [1000, 2000]);
    expect(buf.completeLines()).toEqual(["a", "b"]);
    expect(times(buf)).toEqual([1000, 2000]);
    expect(buf.hasTimes).toBe(true);
    // "c" is finished by the next batch, which carries its time.
    buf.append("c\nd", [3000]);
    expect(buf.completeLines()).toEqual(["a", "b", "cc"]);
    expect(buf.time(2)).toBe(3000);
    // The done batch brings one more time for the unterminated last line.
    buf.append("\ne", [4000, 5000], true);
    expect(buf.completeLines()).toEqual(["a", "b", "cc", "d", "e"]);
    expect(times(buf)).toEqual([1000, 2000, 3000, 4000, 5000]);
    expect(buf.finished).toBe(true);
    expect(buf.partial()).toBe("");
  });

  it("has no times for a log without them", () => {
    const buf = new LogBuffer();
    buf.append("a\nb\n", []);
    buf.append("c", [], true);
    expect(buf.completeLines()).toEqual(["a", "b", "c"]);
    expect(times(buf).every(Number.isNaN)).toBe(true);
    expect(buf.hasTimes).toBe(false);
  });

  it("finishes with an empty done batch", () => {
    const buf = new LogBuffer();
    buf.append("x\ny", [1, 2]);
    buf.append("", [7], true);
    expect(buf.completeLines()).toEqual(["x", "y"]);
    expect(buf.time(1)).toBe(7);
    expect(buf.finished).toBe(true);
    const empty = new LogBuffer();
    empty.append("", [], true);
    expect(empty.length).toBe(0);
    expect(empty.finished).toBe(true);
  });

  it("drops the oldest chunks past the line cap and counts them", () => {
    const buf = new LogBuffer({ maxLines: 10, chunkLines: 4 });
    const all = Array.from({ length: 25 }, (_, i) => `line ${i}`);
    buf.append(all.map((l) => l + "\n").join(""), all.map((_, i) => i));
    expect(buf.length).toBeLessThanOrEqual(10);
    expect(buf.length).toBeGreaterThan(10 - 4);
    expect(buf.end).toBe(25);
    expect(buf.first).toBe(buf.dropped);
    expect(buf.dropped % 4).toBe(0);
    expect(buf.completeLines()).toEqual(all.slice(buf.first));
    for (let i = buf.first; i < buf.end; i++) {
      expect(buf.line(i)).toBe(`line ${i}`);
      expect(buf.time(i)).toBe(i);
    }
    expect(() => buf.line(buf.first - 1)).toThrow(RangeError);
  });

  it("drops the oldest chunks past the character cap", () => {
    const buf = new LogBuffer({ maxChars: 1000, chunkLines: 10 });
    for (let i = 0; i < 100; i++) buf.append("x".repeat(49) + "\n");
    expect(buf.chars).toBeLessThanOrEqual(1000);
    expect(buf.chars).toBe(buf.length * 49);
    expect(buf.dropped).toBeGreaterThan(0);
    expect(buf.end).toBe(100);
  });

  it("matches a reference for random splits, caps and times", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const rand = rng(seed);
      const chunkLines = 1 + Math.floor(rand() * 50);
      const maxLines = chunkLines + Math.floor(rand() * 700);
      const lineTotal = Math.floor(rand() * 2000);
      const all: string[] = [];
      for (let i = 0; i < lineTotal; i++) all.push(`#${i} ` + "x".repeat(Math.floor(rand() * 30)));
      const unfinished = rand() < 0.5 ? "still going" : "";
      const crlf = rand() < 0.5;
      const text = all.map((l) => l + (crlf ? "\r\n" : "\n")).join("") + unfinished;
      let t = 0;
      const buf = new LogBuffer({ maxLines, chunkLines });
      for (const chunk of randomChunks(text, rand, 1 + Math.floor(rand() * 3000))) {
        buf.append(chunk, timesFor(chunk, () => ++t));
        expect(buf.length).toBeLessThanOrEqual(maxLines);
      }
      expect(buf.end).toBe(all.length);
      expect(buf.completeLines()).toEqual(all.slice(buf.first));
      expect(buf.length).toBeGreaterThanOrEqual(Math.min(all.length, maxLines - chunkLines + 1));
      expect(buf.partial()).toBe(unfinished);
      // Line i ended with the (i+1)th newline: its time is i + 1.
      expect(times(buf)).toEqual(all.slice(buf.first).map((_, i) => buf.first + i + 1));
    }
  });

  it("breaks a line that never ends", () => {
    const buf = new LogBuffer();
    buf.append("y".repeat(MAX_PARTIAL + 1));
    expect(buf.length).toBe(1);
    expect(buf.partial()).toBe("");
    expect(Number.isNaN(buf.time(0))).toBe(true);
  });

  it("keeps server text as text", () => {
    const buf = new LogBuffer();
    buf.append("<img src=x onerror=alert(1)>\n");
    expect(buf.completeLines()).toEqual(["<img src=x onerror=alert(1)>"]);
  });

  it("counts columns for wrapping", () => {
    expect(textColumns("hello")).toBe(5);
    expect(textColumns("\x1b[31mred\x1b[0m")).toBe(3);
    expect(textColumns("a\tb")).toBe(5);
    expect(textColumns("\tb")).toBe(5);
    expect(textColumns("日本")).toBe(4);
    expect(textColumns("é")).toBe(1);
    expect(textColumns("e\u0301")).toBe(1);
    expect(textColumns("😀x")).toBe(3);
    const buf = new LogBuffer();
    buf.append("abc\n\x1b[1mbold\x1b[0m\n日本語\n");
    expect([buf.width(0), buf.width(1), buf.width(2)]).toEqual([3, 4, 6]);
  });

  it("formats times as local HH:MM:SS.mmm", () => {
    const ms = new Date(2024, 0, 2, 3, 4, 5, 6).getTime();
    expect(formatLogTime(ms)).toBe("03:04:05.006");
    expect(formatLogTime(new Date(2024, 0, 2, 23, 59, 59, 999).getTime())).toBe("23:59:59.999");
    expect(formatLogTime(NaN)).toBe("");
  });

  it("takes a million lines in batches, times included, without dropping any", () => {
    const lines = 1_000_000;
    const perBatch = 5_000; // ~250 KB a batch, as the backend sends at most 512 KB
    const buf = new LogBuffer();
    const base = 1_700_000_000_000;
    let n = 0;
    while (n < lines) {
      const parts: string[] = [];
      const ms: number[] = [];
      for (let i = 0; i < perBatch; i++, n++) {
        parts.push(`2024-01-01 worker[${n % 7}] step ${n} loss=${(n % 1000) / 1000}\n`);
        ms.push(base + n);
      }
      // Split the batch in two in the middle of a line, as the backend may.
      const text = parts.join("");
      const cut = Math.floor(text.length / 2) + 3;
      const before = countNewlines(text.slice(0, cut));
      buf.append(text.slice(0, cut), ms.slice(0, before));
      buf.append(text.slice(cut), ms.slice(before));
    }
    expect(buf.length).toBe(lines);
    expect(buf.dropped).toBe(0);
    expect(buf.line(0)).toBe("2024-01-01 worker[0] step 0 loss=0");
    expect(buf.line(123_457)).toBe(`2024-01-01 worker[${123_457 % 7}] step 123457 loss=0.457`);
    expect(buf.line(lines - 1)).toBe(`2024-01-01 worker[${(lines - 1) % 7}] step ${lines - 1} loss=0.999`);
    expect(buf.time(654_321)).toBe(base + 654_321);
    expect(buf.allChunks.length).toBe(Math.ceil(lines / CHUNK_LINES));
    expect(DEFAULT_MAX_LINES).toBeGreaterThanOrEqual(2 * lines);
  });
});
