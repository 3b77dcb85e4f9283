import { describe, expect, it } from "vitest";
import { NO_FILTER, listFilter, pageTouched, parseTasksHash, sameQuery, tasksHash } from "./query";

describe("the Tasks page's hash", () => {
  it("round-trips the filters", () => {
    const q = { state: "running" as const, node: "gpu-1", label: "a100", name: "train x&y" };
    const hash = tasksHash(q);
    expect(hash).toBe("#/tasks?state=running&node=gpu-1&label=a100&name=train+x%26y");
    expect(parseTasksHash(hash)).toEqual(q);
  });

  it("is #/tasks without filters, and reads a bare #/tasks as none", () => {
    expect(tasksHash(NO_FILTER)).toBe("#/tasks");
    expect(parseTasksHash("#/tasks")).toEqual(NO_FILTER);
    expect(parseTasksHash("")).toEqual(NO_FILTER);
  });

  it("drops unknown states and keys, and trims node and label", () => {
    expect(parseTasksHash("#/tasks?state=bogus&node=%20n%20&x=1")).toEqual({ ...NO_FILTER, node: "n" });
    expect(tasksHash({ ...NO_FILTER, label: "  " })).toBe("#/tasks");
  });

  it("gives listTasks only the filters set", () => {
    expect(listFilter(NO_FILTER)).toEqual({});
    expect(listFilter({ state: "failed", node: "", label: " gpu ", name: " x " })).toEqual({
      state: "failed",
      label: "gpu",
      name: "x",
    });
    expect(sameQuery(NO_FILTER, { ...NO_FILTER })).toBe(true);
    expect(sameQuery(NO_FILTER, { ...NO_FILTER, name: "a" })).toBe(false);
  });
});

describe("pageTouched", () => {
  const shown = new Set(["a", "b"]);
  it("reads a page again when one of its tasks changed", () => {
    expect(pageTouched(shown, ["x", "b"], false)).toBe(true);
    expect(pageTouched(shown, ["x", "y"], false)).toBe(false);
  });
  it("reads the first page again when tasks it does not show appear", () => {
    expect(pageTouched(shown, ["new"], true)).toBe(true);
    expect(pageTouched(shown, [], true)).toBe(false);
  });
});
