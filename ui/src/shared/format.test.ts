import { describe, expect, it } from "vitest";
import type { TaskView } from "../bindings";
import {
  connectionWord,
  exitText,
  formatBytes,
  formatClock,
  formatClockSeconds,
  formatDuration,
  formatMemory,
  formatPercent,
  formatWhen,
  matchesFilter,
  mergeTasks,
  pullText,
  ratio,
  taskDuration,
} from "./format";

const task = (over: Partial<TaskView>): TaskView => ({
  id: "t",
  name: "n",
  state: "running",
  image: null,
  reason: null,
  exit_code: null,
  started_at_ms: null,
  finished_at_ms: null,
  pull: null,
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

  it("filters tasks: running takes the states before it, failed takes lost", () => {
    expect(matchesFilter("pulling", "running")).toBe(true);
    expect(matchesFilter("assigned", "running")).toBe(true);
    expect(matchesFilter("queued", "running")).toBe(false);
    expect(matchesFilter("paused", "running")).toBe(false);
    expect(matchesFilter("lost", "failed")).toBe(true);
    expect(matchesFilter("canceled", "canceled")).toBe(true);
    expect(matchesFilter("succeeded", "failed")).toBe(false);
    expect(matchesFilter("queued", "all")).toBe(true);
  });

  it("formats sizes in powers of 1000 and memory in powers of 1024", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(1234)).toBe("1.2 kB");
    expect(formatBytes(123_000_000)).toBe("123 MB");
    expect(formatBytes(12_340_000)).toBe("12.3 MB");
    expect(formatBytes(2_000_000_000)).toBe("2 GB");
    expect(formatBytes(999_999)).toBe("1 MB");
    expect(formatBytes(-1)).toBe("0 B");
    expect(formatMemory(512 * 1024 ** 2)).toBe("512 MiB");
    expect(formatMemory(11.8 * 1024 ** 3)).toBe("11.8 GiB");
    expect(formatMemory(24 * 1024 ** 3)).toBe("24 GiB");
  });

  it("formats percentages and shares", () => {
    expect(formatPercent(87.4)).toBe("87%");
    expect(formatPercent(Number.NaN)).toBe("—");
    expect(ratio(5, 10)).toBe(0.5);
    expect(ratio(15, 10)).toBe(1);
    expect(ratio(1, 0)).toBe(0);
  });

  it("formats times", () => {
    const t = new Date(2024, 0, 3, 14, 22, 7).getTime();
    expect(formatClockSeconds(t)).toBe("14:22:07");
    expect(formatWhen(t, new Date(2024, 0, 3, 20, 0).getTime())).toBe("14:22");
    expect(formatWhen(t, new Date(2024, 5, 1).getTime())).toBe("3 Jan 14:22");
    expect(formatWhen(t, new Date(2025, 5, 1).getTime())).toBe("3 Jan 2024");
  });

  it("says how far a pull is", () => {
    expect(pullText(123e6, 456e6)).toBe("123 MB of 456 MB");
    expect(pullText(5e6, 0)).toBe("5 MB");
    expect(pullText(0, 0)).toBe("Starting…");
  });

  it("says how a task ended", () => {
    expect(exitText(task({ exit_code: 3, reason: "out of memory" }))).toBe("exit code 3 · out of memory");
    expect(exitText(task({ exit_code: 0 }))).toBe("exit code 0");
    expect(exitText(task({}))).toBe("");
  });
});
