import { describe, expect, it } from "vitest";
import type { GpuInfo, NodeSample } from "../hub";
import { CPU, DISK, MEMORY, gpuMemory, gpuUtil } from "../../shared/figures";
import { NodeHistory, nodeSampleTime, nodeSampleValues, nodeWindowSeconds } from "./samples";

const gpu = (index: number, util: number): GpuInfo => ({
  index,
  name: "NVIDIA A100",
  uuid: `GPU-${index}`,
  utilization_percent: util,
  memory_used_bytes: 1e9 * (index + 1),
  memory_total_bytes: 4e10,
  temperature_c: 50,
});

const sample = (at: number, over: Partial<NodeSample> = {}): NodeSample => ({
  at,
  cpu_percent: 10,
  memory_used_bytes: 4e9,
  memory_total_bytes: 16e9,
  disk_free_bytes: 4e11,
  disk_total_bytes: 1e12,
  gpus: [],
  ...over,
});

describe("node samples", () => {
  it("name CPU, memory, disk in use and each GPU's figures", () => {
    const s = sample(1_700_000_000_500, { gpus: [gpu(1, 90)] });
    expect(nodeSampleValues(s)).toEqual({
      [CPU]: 10,
      [MEMORY]: 4e9,
      [DISK]: 6e11,
      [gpuUtil(1)]: 90,
      [gpuMemory(1)]: 2e9,
    });
    expect(nodeSampleTime(s)).toBe(1_700_000_000.5);
  });

  it("leave a gap for a disk the agent could not read", () => {
    expect(nodeSampleValues(sample(1, { disk_total_bytes: 0, disk_free_bytes: 0 }))[DISK]).toBeNull();
  });

  it("put live samples that come during the load after the history, each once", () => {
    const h = new NodeHistory();
    expect(h.add(sample(30_000, { cpu_percent: 30 }))).toBe(false);
    expect(h.series.length).toBe(0);
    // The history the hub answers already holds the sample at 30 s.
    expect(h.load([sample(10_000, { cpu_percent: 10 }), sample(20_000, { cpu_percent: 20 }), sample(30_000, { cpu_percent: 30 })])).toBe(true);
    expect(h.series.data([CPU])).toEqual([
      [10, 20, 30],
      [10, 20, 30],
    ]);
    expect(h.add(sample(40_000, { cpu_percent: 40 }))).toBe(true);
    expect(h.add(sample(40_000, { cpu_percent: 41 }))).toBe(false);
    expect(h.series.latest(CPU)).toBe(40);
    expect(h.latest?.at).toBe(40_000);
  });

  it("keep a GPU that appears late aligned, and list the newest GPUs by index", () => {
    const h = new NodeHistory();
    h.load([sample(1000)]);
    h.add(sample(2000, { gpus: [gpu(1, 50), gpu(0, 70)] }));
    expect(h.series.data([gpuUtil(0), gpuUtil(1)])).toEqual([
      [1, 2],
      [null, 70],
      [null, 50],
    ]);
    expect(h.gpus().map((g) => g.index)).toEqual([0, 1]);
  });

  it("never grows past its capacity", () => {
    const h = new NodeHistory(3);
    h.load([1, 2, 3, 4, 5].map((t) => sample(t * 1000)));
    expect(h.series.data([CPU])[0]).toEqual([3, 4, 5]);
  });
});

describe("nodeWindowSeconds", () => {
  it("spans a minute for a node just heard from, the points' time with room after, and the hub's hour at most", () => {
    expect(nodeWindowSeconds([])).toBe(60);
    expect(nodeWindowSeconds([1000, 1006])).toBe(60);
    expect(nodeWindowSeconds([1000, 1600])).toBe(660);
    expect(nodeWindowSeconds([0, 7200])).toBe(3600);
  });
});
