import { describe, expect, it } from "vitest";
import { chartStart, gpuHoursByDay, utcDay, type NodeUsage, type UsageTotals } from "./usage";

const totals = (gpuSeconds: number): UsageTotals => ({
  tasks: 1,
  wall_seconds: gpuSeconds,
  cpu_seconds: 0,
  gpu_seconds: gpuSeconds,
  energy_wh: 0,
  bytes_pulled: 0,
  bytes_uploaded: 0,
  bytes_downloaded: 0,
});

describe("a node's usage chart", () => {
  const now = Date.UTC(2026, 11, 7, 15, 30);
  it("starts at midnight UTC and names days as the hub does", () => {
    expect(utcDay(chartStart(now, 7))).toBe("2026-12-01");
    expect(chartStart(now, 1)).toBe(Date.UTC(2026, 11, 7));
  });
  it("gives every day its GPU hours, 0 where no task ended", () => {
    const usage: NodeUsage = {
      node: "n",
      since: chartStart(now, 7),
      totals: totals(10_800),
      days: [
        { day: "2026-12-02", totals: totals(3600) },
        { day: "2026-12-07", totals: totals(7200) },
      ],
    };
    const bars = gpuHoursByDay(usage, now, 7);
    expect(bars.map((b) => b.day)).toEqual([
      "2026-12-01",
      "2026-12-02",
      "2026-12-03",
      "2026-12-04",
      "2026-12-05",
      "2026-12-06",
      "2026-12-07",
    ]);
    expect(bars.map((b) => b.hours)).toEqual([0, 1, 0, 0, 0, 0, 2]);
  });
});
