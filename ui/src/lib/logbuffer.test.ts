import { describe, expect, it } from "vitest";
import { BLOCK_LINES, LogBuffer, MAX_PARTIAL, cleanLine, type LogSink } from "./logbuffer";

/** A sink that keeps what a view would show, as the DOM would: blocks + partial. */
class FakeSink implements LogSink {
  blocks: string[] = [];
  partial = "";
  ops = 0;
  removeFirst(): void {
    if (this.blocks.length === 0) throw new Error("removeFirst on an empty sink");
    this.blocks.shift();
    this.ops++;
  }
  setFirst(text: string): void {
    if (this.blocks.length === 0) throw new Error("setFirst on an empty sink");
    this.blocks[0] = text;
    this.ops++;
  }
  append(text: string): void {
    expect(text.endsWith("\n")).toBe(true);
    this.blocks.push(text);
    this.ops++;
  }
  setPartial(text: string): void {
    this.partial = text;
    this.ops++;
  }
  text(): string {
    return this.blocks.join("") + this.partial;
  }
  lineCount(): number {
    return this.blocks.join("").split("\n").length - 1;
  }
}

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Splits text into chunks at random places (including inside "\r\n"). */
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

describe("LogBuffer", () => {
  it("joins lines split across chunks", () => {
    const buf = new LogBuffer(10);
    buf.append("hel");
    buf.append("lo\nwor");
    expect(buf.completeLines()).toEqual(["hello"]);
    expect(buf.partial()).toBe("wor");
    buf.append("ld\n");
    expect(buf.completeLines()).toEqual(["hello", "world"]);
    expect(buf.partial()).toBe("");
    expect(buf.text()).toBe("hello\nworld\n");
    expect(buf.dropped).toBe(0);
  });

  it("keeps the last N lines and counts what it dropped", () => {
    const buf = new LogBuffer(3);
    buf.append("1\n2\n3\n4");
    expect(buf.completeLines()).toEqual(["1", "2", "3"]);
    expect(buf.dropped).toBe(0);
    buf.append("\n5\n");
    expect(buf.completeLines()).toEqual(["3", "4", "5"]);
    expect(buf.lines).toBe(3);
    expect(buf.dropped).toBe(2);
  });

  it("keeps the tail of a first chunk larger than the buffer", () => {
    const buf = new LogBuffer(5);
    buf.append("a\n");
    const big = Array.from({ length: 100 }, (_, i) => `line ${i}`).join("\n") + "\ntail";
    buf.append(big);
    expect(buf.completeLines()).toEqual(["line 95", "line 96", "line 97", "line 98", "line 99"]);
    expect(buf.partial()).toBe("tail");
    expect(buf.dropped).toBe(96); // "a" and lines 0..94
  });

  it("matches a reference for random splits, sizes and flush points", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = rng(seed);
      const max = 1 + Math.floor(rand() * 700);
      const lineTotal = Math.floor(rand() * 2000);
      const all: string[] = [];
      for (let i = 0; i < lineTotal; i++) all.push(`#${i} ` + "x".repeat(Math.floor(rand() * 30)));
      const unfinished = rand() < 0.5 ? "still going" : "";
      const text = all.map((l) => l + "\n").join("") + unfinished;

      const buf = new LogBuffer(max);
      const sink = new FakeSink();
      for (const chunk of randomChunks(text, rand, 1 + Math.floor(rand() * 3000))) {
        buf.append(chunk);
        if (rand() < 0.3) {
          buf.flush(sink);
          expect(sink.text()).toBe(buf.text());
        }
      }
      buf.flush(sink);
      const kept = all.slice(Math.max(0, all.length - max));
      expect(buf.completeLines()).toEqual(kept);
      expect(buf.partial()).toBe(unfinished);
      expect(buf.dropped).toBe(all.length - kept.length);
      expect(sink.text()).toBe(kept.map((l) => l + "\n").join("") + unfinished);
      expect(sink.lineCount()).toBe(kept.length);
      expect(sink.lineCount()).toBeLessThanOrEqual(max);
      for (const b of sink.blocks) expect(b.split("\n").length - 1).toBeLessThanOrEqual(BLOCK_LINES);
      expect(buf.dirty).toBe(false);
    }
  });

  it("tells the sink only what changed", () => {
    const buf = new LogBuffer(1000);
    const sink = new FakeSink();
    buf.append("a\nb\n");
    buf.flush(sink);
    const ops = sink.ops;
    buf.flush(sink);
    expect(sink.ops).toBe(ops);
    expect(buf.dirty).toBe(false);
    buf.append("c");
    expect(buf.dirty).toBe(true);
    buf.flush(sink);
    expect(sink.ops).toBe(ops + 1); // just the partial line
    expect(sink.text()).toBe("a\nb\nc");
  });

  it("treats CRLF as a newline, even split across chunks", () => {
    const buf = new LogBuffer(10);
    buf.append("one\r");
    expect(buf.partial()).toBe("one");
    buf.append("\ntwo\r\n");
    expect(buf.completeLines()).toEqual(["one", "two"]);
  });

  it("shows only the last rewrite of a progress line", () => {
    const buf = new LogBuffer(10);
    buf.append("pull 10%\rpull 50%");
    expect(buf.partial()).toBe("pull 50%");
    buf.append("\rpull 100%\ndone\n");
    expect(buf.completeLines()).toEqual(["pull 100%", "done"]);
  });

  it("keeps colours, drops other escape sequences, even cut across chunks", () => {
    const buf = new LogBuffer(10);
    buf.append("\x1b[31mred\x1b[0m plain\x1b[2K\n\x1b[1");
    expect(buf.completeLines()).toEqual(["\x1b[31mred\x1b[0m plain"]);
    expect(buf.partial()).toBe("");
    buf.append(";32mgreen\x1b[0m\n");
    expect(buf.completeLines()).toEqual(["\x1b[31mred\x1b[0m plain", "\x1b[1;32mgreen\x1b[0m"]);
    expect(cleanLine("\x1b]0;title\x07text")).toBe("text");
    expect(cleanLine("\x1b[Hhome\x1b(B")).toBe("home");
  });

  it("starts each block and the partial line in the style in force there", () => {
    const buf = new LogBuffer(3);
    const sink = new FakeSink();
    buf.append("\x1b[31ma\nb\n");
    buf.flush(sink);
    buf.append("c\nd\x1b[0m\ne");
    buf.flush(sink);
    // "a" was dropped from the head block; "b" is still red.
    expect(sink.blocks[0]).toBe("\x1b[31mb\n");
    expect(sink.blocks[1]).toBe("\x1b[31mc\nd\x1b[0m\n");
    expect(sink.partial).toBe("e");
    buf.append("\x1b[1m");
    expect(buf.partial()).toBe("e\x1b[1m");
    buf.append("f\n\x1b[3");
    expect(buf.partial()).toBe(""); // only a cut sequence so far
  });

  it("breaks a line that never ends", () => {
    const buf = new LogBuffer(10);
    buf.append("y".repeat(MAX_PARTIAL + 1));
    expect(buf.lines).toBe(1);
    expect(buf.partial()).toBe("");
  });

  it("keeps server text as text", () => {
    const buf = new LogBuffer(10);
    buf.append("<img src=x onerror=alert(1)>\n");
    expect(buf.completeLines()).toEqual(["<img src=x onerror=alert(1)>"]);
  });
});
