import { describe, expect, it } from "vitest";
import type { MetricsSample } from "../bindings";
import {
  CPU,
  MEMORY,
  dueForRedraw,
  gpuMemory,
  gpuUtil,
  noGpuReason,
  sampleTime,
  sampleValues,
} from "./metrics";

const sample = (over: Partial<MetricsSample> = {}): MetricsSample => ({
  at_ms: 1_700_000_000_500,
  cpu_percent: 12.5,
  cpu_cores: 8,
  memory_used_bytes: 4e9,
  memory_total_bytes: 16e9,
  disk_total_bytes: 1e12,
  disk_free_bytes: 4e11,
  gpu_state: "available",
  gpu_message: null,
  gpus: [],
  ...over,
});

describe("metrics", () => {
  it("names a value per series, per GPU", () => {
    const s = sample({
      gpus: [
        {
          index: 1,
          name: "RTX",
          utilization_percent: 90,
          memory_used_bytes: 2e9,
          memory_total_bytes: 8e9,
          temperature_c: 60,
        },
      ],
    });
    expect(sampleValues(s)).toEqual({ [CPU]: 12.5, [MEMORY]: 4e9, [gpuUtil(1)]: 90, [gpuMemory(1)]: 2e9 });
    expect(sampleTime(s)).toBe(1_700_000_000.5);
  });

  it("says why there is no GPU chart", () => {
    expect(noGpuReason(sample({ gpu_state: "no_driver" }))).toMatch(/driver/);
    expect(noGpuReason(sample({ gpu_state: "no_gpu" }))).toMatch(/No NVIDIA GPU/);
    expect(noGpuReason(sample({ gpu_state: "error", gpu_message: "NVML_ERROR_UNKNOWN" }))).toMatch(/NVML_ERROR_UNKNOWN/);
    expect(noGpuReason(sample({ gpus: [] }))).toMatch(/No NVIDIA GPU/);
    const gpu = { index: 0, name: "A", utilization_percent: 0, memory_used_bytes: 0, memory_total_bytes: 1, temperature_c: null };
    expect(noGpuReason(sample({ gpus: [gpu] }))).toBeNull();
  });
});

describe("dueForRedraw", () => {
  it("shows the first sample, then every other one of a once-a-second stream", () => {
    expect(dueForRedraw(0, -Infinity)).toBe(true);
    let last = 0;
    const shown: number[] = [];
    // A second apart, each a little early or late.
    for (const [i, jitter] of [0, 40, -60, 30, -90, 10, 0, -20].entries()) {
      const now = (i + 1) * 1000 + jitter;
      if (dueForRedraw(now, last)) {
        shown.push(i + 1);
        last = now;
      }
    }
    expect(shown).toEqual([2, 4, 6, 8]);
  });
});
