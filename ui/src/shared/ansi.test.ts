import { describe, expect, it } from "vitest";
import { initialState, parseAnsi, stripAnsi, type Segment } from "./ansi";
import { LogBuffer } from "./logbuffer";

function parse(...lines: string[]): Segment[][] {
  const state = initialState();
  return lines.map((l) => parseAnsi(l, state));
}

describe("parseAnsi", () => {
  it("leaves plain text as one unstyled segment", () => {
    expect(parse("hello world")).toEqual([[{ text: "hello world", classes: "" }]]);
    expect(parse("")).toEqual([[]]);
  });

  it("colours red, then resets", () => {
    expect(parse("\x1b[31mred\x1b[0m plain")).toEqual([
      [
        { text: "red", classes: "ansi-fg-1" },
        { text: " plain", classes: "" },
      ],
    ]);
    expect(parse("\x1b[91;42mx\x1b[39my\x1b[49mz")).toEqual([
      [
        { text: "x", classes: "ansi-fg-9 ansi-bg-2" },
        { text: "y", classes: "ansi-bg-2" },
        { text: "z", classes: "" },
      ],
    ]);
  });

  it("combines bold and a colour, and resets each on its own", () => {
    expect(parse("\x1b[1;32mok\x1b[22m done\x1b[m!")).toEqual([
      [
        { text: "ok", classes: "ansi-fg-2 ansi-bold" },
        { text: " done", classes: "ansi-fg-2" },
        { text: "!", classes: "" },
      ],
    ]);
    expect(parse("\x1b[2;3;4ma\x1b[23;24mb")).toEqual([
      [
        { text: "a", classes: "ansi-dim ansi-italic ansi-underline" },
        { text: "b", classes: "ansi-dim" },
      ],
    ]);
  });

  it("maps 256 and true colours to the basic ones", () => {
    expect(parse("\x1b[38;5;9ma\x1b[48;5;196mb\x1b[38;2;0;0;0mc")).toEqual([
      [
        { text: "a", classes: "ansi-fg-9" },
        { text: "b", classes: "ansi-fg-9 ansi-bg-9" },
        { text: "c", classes: "ansi-fg-0 ansi-bg-9" },
      ],
    ]);
  });

  it("carries the style on to the next line until reset", () => {
    expect(parse("\x1b[33mwarn", "still yellow", "\x1b[0mplain")).toEqual([
      [{ text: "warn", classes: "ansi-fg-3" }],
      [{ text: "still yellow", classes: "ansi-fg-3" }],
      [{ text: "plain", classes: "" }],
    ]);
  });

  it("keeps markup as literal text", () => {
    const line = '\x1b[31m<script>alert("x")</script>\x1b[0m<img src=x onerror=alert(1)>';
    expect(parse(line)).toEqual([
      [
        { text: '<script>alert("x")</script>', classes: "ansi-fg-1" },
        { text: "<img src=x onerror=alert(1)>", classes: "" },
      ],
    ]);
  });

  it("drops unknown, cursor and OSC sequences", () => {
    expect(parse("\x1b]0;my title\x07a\x1b[2Kb\x1b[10;5Hc\x1b]8;;http://x\x1b\\d\x1b(Be\x1b[?25lf\x1b[5mg")).toEqual([
      [{ text: "abcdefg", classes: "" }],
    ]);
    expect(stripAnsi("\x1b[31mred\x1b[0m\x1b]0;t\x07!")).toBe("red!");
  });

  it("never shows a sequence cut at a chunk boundary", () => {
    const buf = new LogBuffer();
    buf.append("one \x1b[3");
    expect(parseAnsi(buf.partial(), buf.styleAt(buf.end))).toEqual([{ text: "one ", classes: "" }]);
    buf.append("1mred\x1b");
    expect(parseAnsi(buf.partial(), buf.styleAt(buf.end))).toEqual([
      { text: "one ", classes: "" },
      { text: "red", classes: "ansi-fg-1" },
    ]);
    buf.append("[0m\n");
    const [line] = buf.completeLines();
    expect(parse(line)).toEqual([
      [
        { text: "one ", classes: "" },
        { text: "red", classes: "ansi-fg-1" },
      ],
    ]);
    // A dangling escape given straight to the parser does not show either.
    expect(parse("a\x1b[3")).toEqual([[{ text: "a", classes: "" }]]);
  });
});

describe("ANSI style across the virtual window", () => {
  /** A log whose style changes now and then, and stays on across lines. */
  function colourfulLog(n: number): string[] {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      let l = `line ${i}`;
      if (i % 17 === 3) l = `\x1b[3${i % 8}m` + l; // a colour that carries on
      if (i % 23 === 5) l += "\x1b[1m"; // bold from the end of a line
      if (i % 41 === 7) l = "\x1b[0m" + l; // a reset
      if (i % 29 === 11) l = `\x1b[4${i % 8};2m` + l + "\x1b[22m";
      lines.push(l);
    }
    return lines;
  }

  /** Every line parsed from the first, carrying the style: what a full render shows. */
  function reference(lines: string[]): Segment[][] {
    const state = initialState();
    return lines.map((l) => parseAnsi(l, state));
  }

  it("renders any window on its own as a full render would", () => {
    const lines = colourfulLog(600);
    const want = reference(lines);
    const buf = new LogBuffer({ chunkLines: 16 });
    // Batches cut anywhere, even inside escape sequences.
    const text = lines.map((l) => l + "\n").join("");
    for (let i = 0; i < text.length; i += 97) buf.append(text.slice(i, i + 97));
    expect(buf.length).toBe(600);
    for (const [from, size] of [
      [0, 40],
      [15, 3],
      [16, 40],
      [257, 60],
      [560, 40],
      [599, 1],
    ]) {
      const state = buf.styleAt(from);
      for (let i = from; i < from + size; i++) {
        expect(parseAnsi(buf.line(i), state), `line ${i} from ${from}`).toEqual(want[i]);
      }
    }
    // The partial line starts in the style the last line left.
    buf.append("tail");
    const end = initialState();
    for (const l of lines) parseAnsi(l, end);
    expect(buf.styleAt(buf.end)).toEqual(end);
  });

  it("keeps the style right after the head is dropped", () => {
    const lines = colourfulLog(1000);
    const want = reference(lines);
    const buf = new LogBuffer({ maxLines: 100, chunkLines: 10 });
    for (let i = 0; i < lines.length; i += 7) {
      buf.append(
        lines
          .slice(i, i + 7)
          .map((l) => l + "\n")
          .join(""),
      );
    }
    expect(buf.first).toBeGreaterThan(800);
    for (let from = buf.first; from < buf.end; from += 13) {
      const state = buf.styleAt(from);
      for (let i = from; i < Math.min(buf.end, from + 20); i++) {
        expect(parseAnsi(buf.line(i), state)).toEqual(want[i]);
      }
    }
  });
});
