import { describe, expect, it } from "vitest";
import { HISTORY_POINTS, Ring, SeriesSet } from "./series";

describe("Ring", () => {
  it("keeps values oldest first until full", () => {
    const r = new Ring(3);
    expect(r.length).toBe(0);
    expect(r.last()).toBeUndefined();
    r.push(1);
    r.push(null);
    expect(r.toArray()).toEqual([1, null]);
    expect(r.last()).toBeNull();
  });

  it("drops the oldest when full and never grows", () => {
    const r = new Ring(3);
    for (let i = 1; i <= 7; i++) r.push(i);
    expect(r.length).toBe(3);
    expect(r.toArray()).toEqual([5, 6, 7]);
    expect(r.at(0)).toBe(5);
    expect(r.at(2)).toBe(7);
    expect(r.at(3)).toBeUndefined();
    expect(r.at(-1)).toBeUndefined();
    expect(r.last()).toBe(7);
  });

  it("empties", () => {
    const r = new Ring(2);
    r.push(1);
    r.push(2);
    r.push(3);
    r.clear();
    expect(r.toArray()).toEqual([]);
    r.push(4);
    expect(r.toArray()).toEqual([4]);
  });

  it("refuses a size below one", () => {
    expect(() => new Ring(0)).toThrow(RangeError);
    expect(() => new Ring(1.5)).toThrow(RangeError);
  });
});

describe("SeriesSet", () => {
  it("holds five minutes at one a second by default", () => {
    const s = new SeriesSet();
    for (let t = 0; t < 1000; t++) s.push(t, { a: t });
    expect(HISTORY_POINTS).toBe(300);
    expect(s.length).toBe(300);
    const [times, a] = s.data(["a"]);
    expect(times.length).toBe(300);
    expect(times[0]).toBe(700);
    expect(times[299]).toBe(999);
    expect(a[299]).toBe(999);
  });

  it("keeps series aligned when one starts late or skips a point", () => {
    const s = new SeriesSet(4);
    s.push(1, { cpu: 10 });
    s.push(2, { cpu: 20, gpu: 5 });
    s.push(3, { gpu: 6 });
    expect(s.data(["cpu", "gpu"])).toEqual([
      [1, 2, 3],
      [10, 20, null],
      [null, 5, 6],
    ]);
    expect(s.latest("cpu")).toBeNull();
    expect(s.latest("gpu")).toBe(6);
    expect(s.latest("nothing")).toBeNull();
  });

  it("gives gaps for a series it never saw", () => {
    const s = new SeriesSet(4);
    s.push(1, { a: 1 });
    s.push(2, { a: 2 });
    expect(s.data(["b"])).toEqual([
      [1, 2],
      [null, null],
    ]);
  });

  it("ignores points that are not newer (an overlapping history)", () => {
    const s = new SeriesSet(5);
    expect(s.push(10, { a: 1 })).toBe(true);
    expect(s.push(10, { a: 2 })).toBe(false);
    expect(s.push(9, { a: 3 })).toBe(false);
    expect(s.push(11, { a: 4 })).toBe(true);
    expect(s.data(["a"])).toEqual([
      [10, 11],
      [1, 4],
    ]);
    expect(s.lastTime()).toBe(11);
  });

  it("stores non-finite values as gaps", () => {
    const s = new SeriesSet(3);
    s.push(1, { a: Number.NaN });
    s.push(2, { a: Number.POSITIVE_INFINITY });
    expect(s.data(["a"])[1]).toEqual([null, null]);
  });

  it("reads a point by position", () => {
    const s = new SeriesSet(2);
    s.push(1, { a: 1 });
    s.push(2, { a: 2 });
    s.push(3, { a: 3 });
    expect(s.timeAt(0)).toBe(2);
    expect(s.valueAt("a", 1)).toBe(3);
    expect(s.valueAt("a", 2)).toBeNull();
    expect(s.timeAt(5)).toBeUndefined();
  });

  it("hands out new arrays, so a chart's copy does not change under it", () => {
    const s = new SeriesSet(3);
    s.push(1, { a: 1 });
    const before = s.data(["a"]);
    s.push(2, { a: 2 });
    expect(before).toEqual([[1], [1]]);
  });
});
