import { describe, expect, it } from "vitest";
import type { LogTimes } from "../hub";
import { GAP_MS, LineTimes, TimedFeed, type FeedDoor } from "./logtimes";

const utf8 = (s: string) => new TextEncoder().encode(s);
const marks = (...pairs: [number, number][]) => pairs.map(([offset, at]) => ({ offset, at }));

describe("LineTimes", () => {
  it("gives each ended line the time of the append holding its first byte", () => {
    // Appends at 0, 6 and 9: "one\ntw" | "o\nt" | "hree\n"
    const t = new LineTimes(0);
    t.add(marks([0, 1000], [6, 2000], [9, 3000]));
    // "one\n" began at 0; "two\n" at 4 (in the first append); "three\n" at 8 (in the second).
    expect(t.lines(0, utf8("one\ntw"))).toEqual([1000]);
    expect(t.lines(6, utf8("o\nt"))).toEqual([1000]);
    expect(t.lines(9, utf8("hree\n"))).toEqual([2000]);
    expect(t.last(14)).toEqual([]);
  });

  it("gives the unterminated last line its time, and NaN before any mark", () => {
    const t = new LineTimes(0);
    t.add(marks([4, 500]));
    expect(t.lines(0, utf8("old\nnew"))).toEqual([NaN]);
    expect(t.last(7)).toEqual([500]);
  });

  it("starts at the tail's first byte, inside an append", () => {
    const t = new LineTimes(100);
    t.add(marks([90, 7], [104, 8]));
    expect(t.lines(100, utf8("ab\ncd\n"))).toEqual([7, 7]);
    expect(t.at(103)).toBe(7);
    expect(t.at(104)).toBe(8);
    expect(t.at(89)).toBeNaN();
  });

  it("ignores repeated marks and keeps exact times of appends in the same second", () => {
    const t = new LineTimes(0);
    t.add(marks([0, 1000], [2, 1001]));
    t.add(marks([2, 1001], [4, 1002]));
    expect(t.size).toBe(3);
    expect(t.lines(0, utf8("a\nb\nc\n"))).toEqual([1000, 1001, 1002]);
  });
});

/** A hub whose log grows as told: `marks` are what it holds now; reads are recorded. */
function fakeMarks(all: LogTimes["marks"], options: { pageSize?: number; fail?: boolean } = {}) {
  const reads: number[] = [];
  let clock = 0;
  const state = { known: all.length };
  const door: FeedDoor = {
    async logTimes(offset) {
      reads.push(offset);
      if (options.fail) throw new Error("no such route");
      const held = all.slice(0, state.known);
      const first = Math.max(0, held.filter((m) => m.offset <= offset).length - 1);
      const page = held.slice(first, first + (options.pageSize ?? 1e9));
      const rest = held[first + page.length];
      return { marks: page, next: rest?.offset };
    },
    sleep: async (ms) => {
      clock += ms;
    },
    now: () => clock,
  };
  return { door, reads, state, tick: (ms: number) => (clock += ms) };
}

type Out = { from: number; text: string; lineMs: number[] | undefined };

function feedOf(door: FeedDoor, start = 0) {
  const out: Out[] = [];
  const stop = new AbortController();
  const feed = new TimedFeed(
    start,
    door,
    (from, bytes, lineMs) => out.push({ from, text: new TextDecoder().decode(bytes), lineMs }),
    stop.signal,
  );
  return { feed, out, stop };
}

describe("TimedFeed", () => {
  it("reads the marks of what exists once, then passes its bytes with their lines' times", async () => {
    const hub = fakeMarks(marks([0, 10], [4, 20], [8, 30]));
    const { feed, out } = feedOf(hub.door);
    feed.prime(12);
    feed.push(utf8("one\ntwo\n"));
    feed.push(utf8("six\n"));
    await feed.drain();
    expect(hub.reads).toEqual([0]);
    expect(out).toEqual([
      { from: 0, text: "one\ntwo\n", lineMs: [10, 20] },
      { from: 8, text: "six\n", lineMs: [30] },
    ]);
  });

  it("holds live bytes until their marks are read, reading at most every GAP_MS", async () => {
    const hub = fakeMarks(marks([0, 10], [4, 20], [8, 30]));
    hub.state.known = 1;
    const { feed, out } = feedOf(hub.door);
    feed.prime(4);
    feed.push(utf8("one\n"));
    await feed.drain();
    expect(out.map((o) => o.lineMs)).toEqual([[10]]);
    // Two live appends reach the hub and the stream.
    hub.state.known = 3;
    feed.push(utf8("two\n"));
    feed.push(utf8("six\n"));
    await feed.drain();
    // One read for both, from the first byte without a mark, after the pause.
    expect(hub.reads).toEqual([0, 4]);
    expect(out.map((o) => o.lineMs)).toEqual([[10], [20], [30]]);
    expect(hub.door.now()).toBeGreaterThanOrEqual(GAP_MS);
  });

  it("follows next across pages", async () => {
    const hub = fakeMarks(marks([0, 1], [2, 2], [4, 3], [6, 4]), { pageSize: 3 });
    const { feed, out } = feedOf(hub.door);
    feed.prime(8);
    feed.push(utf8("a\nb\nc\nd\n"));
    await feed.drain();
    expect(hub.reads).toEqual([0, 6]);
    expect(out[0].lineMs).toEqual([1, 2, 3, 4]);
  });

  it("passes bytes without times when the marks cannot be read", async () => {
    const hub = fakeMarks([], { fail: true });
    const { feed, out } = feedOf(hub.door);
    feed.prime(4);
    feed.push(utf8("one\n"));
    await feed.drain();
    expect(feed.timeless).toBe(true);
    expect(out).toEqual([{ from: 0, text: "one\n", lineMs: undefined }]);
  });

  it("passes nothing after the stop", async () => {
    const hub = fakeMarks(marks([0, 1]));
    const { feed, out, stop } = feedOf(hub.door);
    feed.prime(2);
    feed.push(utf8("a\n"));
    stop.abort();
    await feed.drain();
    await new Promise((r) => setTimeout(r, 0));
    expect(out).toEqual([]);
  });
});
