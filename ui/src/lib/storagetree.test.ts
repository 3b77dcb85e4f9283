import { describe, expect, it } from "vitest";
import type { StorageEntry } from "../bindings";
import { ancestorPaths, flattenTree, parentPath, scrollToRow, sortEntries, visibleRange } from "./storagetree";

const entry = (path: string, over: Partial<StorageEntry> = {}): StorageEntry => ({
  name: path.split("/").pop() ?? path,
  path,
  dir: false,
  size_bytes: 0,
  modified_ms: 0,
  files: 0,
  deletable: true,
  ...over,
});

describe("sortEntries", () => {
  const a = entry("a", { size_bytes: 10, modified_ms: 3 });
  const b = entry("B", { size_bytes: 30, modified_ms: 1, dir: true });
  const c = entry("c10", { size_bytes: 20, modified_ms: 2 });
  const d = entry("c9", { size_bytes: 20, modified_ms: 2 });

  it("puts the largest first, ties by name", () => {
    expect(sortEntries([a, b, c, d], "size").map((e) => e.name)).toEqual(["B", "c9", "c10", "a"]);
  });

  it("puts the newest first", () => {
    expect(sortEntries([b, c, a], "date").map((e) => e.name)).toEqual(["a", "c10", "B"]);
  });

  it("sorts by name, numbers in order, case aside", () => {
    expect(sortEntries([c, a, d, b], "name").map((e) => e.name)).toEqual(["a", "B", "c9", "c10"]);
  });

  it("leaves its input alone", () => {
    const input = [a, b];
    sortEntries(input, "size");
    expect(input).toEqual([a, b]);
  });
});

describe("flattenTree", () => {
  const top = [
    entry("tasks", { dir: true, size_bytes: 100 }),
    entry("cache", { dir: true, size_bytes: 50 }),
    entry("x.txt", { size_bytes: 50 }),
  ];
  const children = new Map<string, StorageEntry[]>([
    ["tasks", [entry("tasks/t1", { dir: true, size_bytes: 75 }), entry("tasks/t2", { dir: true, size_bytes: 25 })]],
    ["tasks/t1", [entry("tasks/t1/out.bin", { size_bytes: 75 })]],
    ["cache", [entry("cache/a", { size_bytes: 50 })]],
  ]);

  it("shows only the top when nothing is open", () => {
    const rows = flattenTree(top, 200, children, new Set());
    expect(rows.map((r) => r.entry.path)).toEqual(["tasks", "cache", "x.txt"]);
    expect(rows.map((r) => r.share)).toEqual([0.5, 0.25, 0.25]);
    expect(rows.every((r) => r.depth === 0 && !r.open)).toBe(true);
  });

  it("puts open folders' entries under them, depth first", () => {
    const rows = flattenTree(top, 200, children, new Set(["tasks", "tasks/t1"]));
    expect(rows.map((r) => `${r.depth}:${r.entry.path}`)).toEqual([
      "0:tasks",
      "1:tasks/t1",
      "2:tasks/t1/out.bin",
      "1:tasks/t2",
      "0:cache",
      "0:x.txt",
    ]);
    expect(rows[0].open).toBe(true);
    expect(rows[1].share).toBe(0.75);
    expect(rows[2].share).toBe(1);
  });

  it("hides what is under a closed folder even when it is open inside", () => {
    const rows = flattenTree(top, 200, children, new Set(["tasks/t1"]));
    expect(rows.map((r) => r.entry.path)).toEqual(["tasks", "cache", "x.txt"]);
  });

  it("shows an open folder whose entries are not loaded yet as open and empty", () => {
    const rows = flattenTree(top, 200, new Map(), new Set(["tasks"]));
    expect(rows.length).toBe(3);
    expect(rows[0].open).toBe(true);
  });

  it("gives no share for an empty parent", () => {
    const rows = flattenTree([entry("e")], 0, new Map(), new Set());
    expect(rows[0].share).toBe(0);
  });

  it("flattens 100k rows quickly, and a deep tree without overflowing", () => {
    const many = Array.from({ length: 1000 }, (_, i) => entry(`d${i}`, { dir: true, size_bytes: 100 }));
    const kids = new Map<string, StorageEntry[]>();
    for (const d of many) kids.set(d.path, Array.from({ length: 99 }, (_, j) => entry(`${d.path}/f${j}`, { size_bytes: 1 })));
    const open = new Set(many.map((d) => d.path));
    const t0 = performance.now();
    const rows = flattenTree(many, 100_000, kids, open);
    const ms = performance.now() - t0;
    expect(rows.length).toBe(100_000);
    expect(ms).toBeLessThan(500);

    const deep = new Map<string, StorageEntry[]>();
    const openDeep = new Set<string>();
    // Paths are only keys here: short ones keep the test fast.
    for (let i = 0; i < 20_000; i++) {
      const path = i === 0 ? "r" : `n${i}`;
      deep.set(path, [entry(`n${i + 1}`, { dir: true })]);
      openDeep.add(path);
    }
    expect(flattenTree([entry("r", { dir: true })], 0, deep, openDeep).length).toBe(20_001);
  });
});

describe("paths", () => {
  it("finds the parent", () => {
    expect(parentPath("a/b/c.txt")).toBe("a/b");
    expect(parentPath("a")).toBe("");
  });

  it("lists the ancestors outermost first", () => {
    expect(ancestorPaths("a/b/c.txt")).toEqual(["a", "a/b"]);
    expect(ancestorPaths("a")).toEqual([]);
    expect(ancestorPaths("")).toEqual([]);
  });
});

describe("the virtual window", () => {
  it("covers the visible rows plus some either side", () => {
    expect(visibleRange(0, 300, 30, 1000, 5)).toEqual({ start: 0, end: 16 });
    expect(visibleRange(3000, 300, 30, 1000, 5)).toEqual({ start: 95, end: 116 });
    expect(visibleRange(29_990, 300, 30, 1000, 5)).toEqual({ start: 994, end: 1000 });
    expect(visibleRange(0, 300, 30, 0)).toEqual({ start: 0, end: 0 });
  });

  it("stays in bounds when the list shrinks under the scroll", () => {
    const r = visibleRange(100_000, 300, 30, 10, 2);
    expect(r.start).toBeLessThanOrEqual(r.end);
    expect(r.end).toBeLessThanOrEqual(10);
  });

  it("scrolls only as far as needed to show a row", () => {
    expect(scrollToRow(5, 0, 300, 30)).toBeNull();
    expect(scrollToRow(20, 0, 300, 30)).toBe(330);
    expect(scrollToRow(2, 300, 300, 30)).toBe(60);
  });
});
