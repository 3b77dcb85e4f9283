import { describe, expect, it } from "vitest";
import type { TaskView } from "../bindings";
import { connectionWord, formatClock, formatDuration, mergeTasks, taskDuration } from "./format";

const task = (over: Partial<TaskView>): TaskView => ({
  id: "t",
  name: "n",
  state: "running",
  image: null,
  reason: null,
  exit_code: null,
  started_at_ms: null,
  finished_at_ms: null,
  ...over,
});

describe("format", () => {
  it("formats durations", () => {
    expect(formatDuration(0)).toBe("0s");
    expect(formatDuration(59_999)).toBe("59s");
    expect(formatDuration(64_000)).toBe("1m 04s");
    expect(formatDuration(2 * 3600_000 + 5 * 60_000)).toBe("2h 05m");
    expect(formatDuration(3 * 86400_000 + 4 * 3600_000)).toBe("3d 4h");
    expect(formatDuration(-5)).toBe("0s");
  });

  it("runs the clock for unfinished tasks only", () => {
    expect(taskDuration(task({ started_at_ms: 1000 }), 6000)).toBe(5000);
    expect(taskDuration(task({ started_at_ms: 1000, finished_at_ms: 3000, state: "succeeded" }), 9000)).toBe(2000);
    expect(taskDuration(task({ started_at_ms: 1000, state: "lost" }), 9000)).toBeNull();
    expect(taskDuration(task({ state: "queued" }), 9000)).toBeNull();
  });

  it("formats HH:MM", () => {
    expect(formatClock(new Date(2024, 0, 1, 7, 5).getTime())).toBe("07:05");
    expect(formatClock(new Date(2024, 0, 1, 23, 59).getTime())).toBe("23:59");
  });

  it("maps connections to the badge word", () => {
    expect(connectionWord("connected")).toBe("connected");
    expect(connectionWord("setup")).toBe("connecting");
  });

  it("lists held tasks, then recent ones, once each", () => {
    const a = task({ id: "a" });
    const b = task({ id: "b" });
    const c = task({ id: "c" });
    expect(mergeTasks([a, b], [b, c]).map((t) => t.id)).toEqual(["a", "b", "c"]);
  });
});
