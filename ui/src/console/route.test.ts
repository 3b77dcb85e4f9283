import { describe, expect, it } from "vitest";
import { parseRoute, routeHash, routeTitle, sameRoute, sectionOf, taskHash, type Route } from "./route";

describe("parseRoute", () => {
  it("reads each page", () => {
    expect(parseRoute("#/cluster")).toEqual({ page: "cluster" });
    expect(parseRoute("#/tasks")).toEqual({ page: "tasks" });
    expect(parseRoute("#/tasks/t-123")).toEqual({ page: "task", id: "t-123" });
    expect(parseRoute("#/submit")).toEqual({ page: "submit" });
    expect(parseRoute("#/tokens")).toEqual({ page: "tokens" });
  });

  it("takes the default for an empty, unknown or malformed hash", () => {
    for (const hash of ["", "#", "#/", "/", "#/nowhere", "#cluster/x", "#/tokens/x", "#/tasks/a/b"]) {
      expect(parseRoute(hash), hash).toEqual({ page: "cluster" });
    }
  });

  it("shows the task list for an id that does not decode", () => {
    expect(parseRoute("#/tasks/%E0%A4%A")).toEqual({ page: "tasks" });
  });

  it("accepts the hash without its #, a trailing slash and a query", () => {
    expect(parseRoute("/tokens")).toEqual({ page: "tokens" });
    expect(parseRoute("#/tasks/")).toEqual({ page: "tasks" });
    expect(parseRoute("#/tasks/abc/")).toEqual({ page: "task", id: "abc" });
    expect(parseRoute("#/submit?x=1")).toEqual({ page: "submit" });
  });

  it("decodes a task id", () => {
    expect(parseRoute("#/tasks/a%2Fb%20c")).toEqual({ page: "task", id: "a/b c" });
  });
});

describe("routeHash", () => {
  it("round-trips every page", () => {
    const routes: Route[] = [
      { page: "cluster" },
      { page: "tasks" },
      { page: "task", id: "0193-abc" },
      { page: "task", id: "we/ird id#?" },
      { page: "submit" },
      { page: "tokens" },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
  });

  it("writes the contract's hashes", () => {
    expect(routeHash({ page: "cluster" })).toBe("#/cluster");
    expect(taskHash("t1")).toBe("#/tasks/t1");
    expect(taskHash("a/b")).toBe("#/tasks/a%2Fb");
  });
});

describe("sections and titles", () => {
  it("lights Tasks for a task's page", () => {
    expect(sectionOf({ page: "task", id: "x" })).toBe("tasks");
    expect(sectionOf({ page: "tokens" })).toBe("tokens");
  });

  it("compares routes", () => {
    expect(sameRoute({ page: "task", id: "a" }, { page: "task", id: "a" })).toBe(true);
    expect(sameRoute({ page: "task", id: "a" }, { page: "task", id: "b" })).toBe(false);
    expect(sameRoute({ page: "tasks" }, { page: "cluster" })).toBe(false);
  });

  it("names pages", () => {
    expect(routeTitle({ page: "cluster" })).toBe("Cluster");
    expect(routeTitle({ page: "task", id: "x1" })).toBe("Task x1");
  });
});
