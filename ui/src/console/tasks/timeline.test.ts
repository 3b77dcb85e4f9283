import { describe, expect, it } from "vitest";
import { pendingText, runTime, taskActions, timeline } from "./timeline";

describe("timeline", () => {
  it("orders the states and gives the time spent in each; the current one to now", () => {
    const t = timeline(
      [
        { state: "running", at: 5_000, reason: null },
        { state: "queued", at: 1_000, reason: null },
        { state: "assigned", at: 2_500, reason: "node gpu-1 took it" },
      ],
      65_000,
    );
    expect(t).toEqual([
      { state: "queued", at: 1_000, reason: null, lasted: 1_500 },
      { state: "assigned", at: 2_500, reason: "node gpu-1 took it", lasted: 2_500 },
      { state: "running", at: 5_000, reason: null, lasted: 60_000 },
    ]);
  });

  it("gives a finished task's last state no duration", () => {
    const t = timeline(
      [
        { state: "running", at: 0, reason: null },
        { state: "failed", at: 3_000, reason: "exit code 2" },
      ],
      99_000,
    );
    expect(t.map((e) => e.lasted)).toEqual([3_000, null]);
    expect(timeline([], 5)).toEqual([]);
  });
});

describe("runTime", () => {
  it("runs to now, to the finish, or not at all", () => {
    expect(runTime({ state: "queued", started_at: null, finished_at: null }, 10)).toBeNull();
    expect(runTime({ state: "running", started_at: 1_000, finished_at: null }, 4_000)).toBe(3_000);
    expect(runTime({ state: "succeeded", started_at: 1_000, finished_at: 2_000 }, 9_000)).toBe(1_000);
    expect(runTime({ state: "lost", started_at: 1_000, finished_at: null }, 9_000)).toBeNull();
  });
});

describe("taskActions", () => {
  it("follows the desktop's rules", () => {
    expect(taskActions("running")).toEqual({ pause: true, resume: false, cancel: true });
    expect(taskActions("paused")).toEqual({ pause: false, resume: true, cancel: true });
    expect(taskActions("queued")).toEqual({ pause: false, resume: false, cancel: true });
    for (const s of ["succeeded", "failed", "canceled", "lost"] as const) {
      expect(taskActions(s)).toEqual({ pause: false, resume: false, cancel: false });
    }
    expect(pendingText(null)).toBe("");
    expect(pendingText("cancel")).toMatch(/Cancel/);
  });
});
